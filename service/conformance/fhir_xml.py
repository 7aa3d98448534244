"""FHIR's XML wire format, to and from the JSON form Dyad stores.

The two forms differ in ways only the element definitions settle: XML elements come in the
StructureDefinition's order, a primitive is an element with a `value` attribute (its id and
extensions inside it, where JSON puts them in `_name`), Element.id and Extension.url are
attributes, a resource sits inside its parent element (`<contained><Patient>`), and the
narrative's `div` is XHTML. What each element is comes from one place, `shape_of`, over the
fhir.resources (R4B) models' element order and types.

Parsing is with lxml, set up to refuse what an XML body could use against the server: no DTD
is loaded, no entity is expanded, nothing is fetched from the network, and a document that
declares a DOCTYPE is refused outright (FHIR XML never has one).
"""

import re
import typing
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.types import Xhtml
from lxml import etree

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_F = f"{{{FHIR_NS}}}"
_INTEGER = re.compile(r"^-?\d+$")
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


class FhirXmlError(ValueError):
    """The document is not FHIR XML this server can read; the message says where."""


@dataclass(frozen=True, slots=True)
class Element:
    """What one element of a type is, as far as the wire formats differ on it."""

    kind: str  # "primitive" | "complex" | "resource" | "xhtml"
    many: bool
    model: Any = None  # the model class of a complex element
    json_type: str = "string"  # of a primitive: "boolean" | "integer" | "decimal" | "string"


@dataclass(frozen=True, slots=True)
class Shape:
    order: tuple[str, ...]
    elements: dict[str, Element]


def model_of(type_name: str) -> Any:
    try:
        return get_fhir_model_class(type_name)
    except (KeyError, ValueError, AttributeError):
        raise FhirXmlError(f"Unknown resource or data type {type_name!r}") from None


@cache
def shape_of(model: Any) -> Shape:
    """The elements of a type in the StructureDefinition's order, each with what it is."""
    order = tuple(model.elements_sequence())
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    return Shape(order, {name: _element(fields[name].annotation) for name in order if name in fields})


def _element(annotation: Any) -> Element:
    many, inner = _unwrap(annotation)
    if typing.get_origin(inner) is typing.Annotated:
        base, *marks = typing.get_args(inner)
        if any(isinstance(m, Xhtml) for m in marks):
            return Element("xhtml", many)
        return Element("primitive", many, json_type=_json_type(base))
    if isinstance(inner, type) and not hasattr(inner, "get_model_klass"):
        return Element("primitive", many, json_type=_json_type(inner))
    model = inner.get_model_klass()
    if model.__name__ in ("Resource", "DomainResource"):
        return Element("resource", many)
    return Element("complex", many, model=model)


def _unwrap(annotation: Any) -> tuple[bool, Any]:
    """(is a list, the item type) of Optional[List[X]], X | None and the like."""
    many = False
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
            annotation = args[0]
        elif origin in (list, list):
            many, annotation = True, args[0]
        else:
            return many, annotation


def _json_type(base: Any) -> str:
    if base is bool:
        return "boolean"
    if base is int:
        return "integer"
    if base in (Decimal, float):
        return "decimal"
    return "string"


# --- JSON to XML ---------------------------------------------------------------------------------


def to_xml(resource: dict[str, Any], *, pretty: bool = False) -> bytes:
    """The resource as FHIR XML (UTF-8, with declaration)."""
    root = _resource_element(resource)
    body: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=pretty)
    return body


def _resource_element(resource: dict[str, Any]) -> Any:
    res_type = resource.get("resourceType")
    if not isinstance(res_type, str):
        raise FhirXmlError("A resource without resourceType cannot be written as XML")
    element = etree.Element(_F + res_type, nsmap={None: FHIR_NS})
    _fill(element, resource, model_of(res_type), is_resource=True, path=res_type)
    return element


def _fill(parent: Any, node: dict[str, Any], model: Any, *, is_resource: bool, path: str) -> None:
    shape = shape_of(model)
    unknown = [k for k in node if k.lstrip("_") not in shape.elements and k != "resourceType"]
    if unknown:
        raise FhirXmlError(f"{path} has no element {unknown[0]!r}")
    attributes = _attributes(model, is_resource)
    for attribute in attributes:
        if isinstance(node.get(attribute), str):
            parent.set(attribute, node[attribute])
    for name in shape.order:
        if name in attributes or (name not in node and f"_{name}" not in node):
            continue
        element = shape.elements[name]
        _write(parent, name, element, node.get(name), node.get(f"_{name}"), f"{path}.{name}")


def _write(parent: Any, name: str, element: Element, value: Any, extra: Any, path: str) -> None:
    values = value if isinstance(value, list) else [value]
    extras = extra if isinstance(extra, list) else [extra]
    for index in range(max(len(values), len(extras))):
        item = values[index] if index < len(values) else None
        more = extras[index] if index < len(extras) else None
        if item is None and more is None:
            continue
        _write_one(parent, name, element, item, more, path)


def _write_one(parent: Any, name: str, element: Element, value: Any, extra: Any, path: str) -> None:
    if element.kind == "xhtml":
        parent.append(_xhtml(value, path))
        return
    child = etree.SubElement(parent, _F + name)
    if element.kind == "primitive":
        if value is not None:
            child.set("value", _primitive_text(value))
        if isinstance(extra, dict):
            _fill(child, extra, model_of("Element"), is_resource=False, path=path)
    elif element.kind == "resource":
        if not isinstance(value, dict):
            raise FhirXmlError(f"{path} must hold a resource")
        child.append(_resource_element(value))
    else:
        if not isinstance(value, dict):
            raise FhirXmlError(f"{path} must be an object")
        _fill(child, value, element.model, is_resource=False, path=path)


def _attributes(model: Any, is_resource: bool) -> tuple[str, ...]:
    """Elements XML carries as attributes: Element.id (not Resource.id) and Extension.url."""
    if is_resource:
        return ()
    return ("id", "url") if model.__name__ == "Extension" else ("id",)


def _primitive_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _xhtml(value: Any, path: str) -> Any:
    if not isinstance(value, str):
        raise FhirXmlError(f"{path} must be an XHTML string")
    try:
        div = etree.fromstring(value.encode(), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise FhirXmlError(f"{path} is not well-formed XHTML: {exc}") from None
    return div


# --- XML to JSON ---------------------------------------------------------------------------------


def from_xml(data: bytes) -> dict[str, Any]:
    """The JSON form of a FHIR XML resource; FhirXmlError names what is wrong."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise FhirXmlError(f"The body is not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise FhirXmlError("FHIR XML has no DOCTYPE; a document that declares one is refused")
    return _read_resource(root)


def _local(element: Any, path: str) -> str:
    qname = etree.QName(element)
    if qname.namespace != FHIR_NS:
        raise FhirXmlError(f"{path}: element {qname.localname!r} is not in the FHIR namespace {FHIR_NS}")
    return str(qname.localname)


def _read_resource(element: Any) -> dict[str, Any]:
    res_type = _local(element, "/")
    out: dict[str, Any] = {"resourceType": res_type}
    _read(element, model_of(res_type), out, is_resource=True, path=res_type)
    return out


def _read(element: Any, model: Any, out: dict[str, Any], *, is_resource: bool, path: str) -> None:
    shape = shape_of(model)
    attributes = _attributes(model, is_resource)
    for attribute in attributes:
        if element.get(attribute) is not None:
            out[attribute] = element.get(attribute)
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if etree.QName(child).namespace == XHTML_NS and "div" in shape.elements:
            out["div"] = _xhtml_text(child)
            continue
        name = _local(child, path)
        spec = shape.elements.get(name)
        if spec is None or name in attributes:
            raise FhirXmlError(f"{path} has no element {name!r}")
        _read_child(child, name, spec, out, f"{path}.{name}")
    _align(out, shape)


def _read_child(child: Any, name: str, spec: Element, out: dict[str, Any], path: str) -> None:
    extra: dict[str, Any] | None = None
    if spec.kind == "primitive":
        text = child.get("value")
        value: Any = None if text is None else _primitive_value(text, spec.json_type, path)
        found: dict[str, Any] = {}
        _read(child, model_of("Element"), found, is_resource=False, path=path)
        extra = found or None
        if value is None and extra is None:
            raise FhirXmlError(f"{path} has neither a value nor extensions")
    elif spec.kind == "resource":
        inner = [c for c in child if isinstance(c.tag, str)]
        if len(inner) != 1:
            raise FhirXmlError(f"{path} must hold exactly one resource")
        value = _read_resource(inner[0])
    else:
        value = {}
        _read(child, spec.model, value, is_resource=False, path=path)
    if spec.many:
        out.setdefault(name, []).append(value)
        if spec.kind == "primitive":
            out.setdefault(f"_{name}", []).append(extra)
    else:
        if name in out or f"_{name}" in out:
            raise FhirXmlError(f"{path} may appear only once")
        if value is not None:
            out[name] = value
        if extra is not None:
            out[f"_{name}"] = extra


def _align(out: dict[str, Any], shape: Shape) -> None:
    """JSON keeps a repeating primitive's extensions in a parallel `_name` list, null where none."""
    for name, spec in shape.elements.items():
        if not (spec.many and spec.kind == "primitive" and name in out):
            continue
        if all(e is None for e in out.get(f"_{name}", [])):
            out.pop(f"_{name}", None)
        if all(v is None for v in out[name]):
            out.pop(name)


def _primitive_value(text: str, json_type: str, path: str) -> Any:
    if json_type == "boolean":
        if text not in ("true", "false"):
            raise FhirXmlError(f"{path}: {text!r} is not a boolean (true or false)")
        return text == "true"
    if json_type == "integer":
        if not _INTEGER.match(text):
            raise FhirXmlError(f"{path}: {text!r} is not an integer")
        return int(text)
    if json_type == "decimal":
        try:
            number = Decimal(text)
        except ArithmeticError:
            raise FhirXmlError(f"{path}: {text!r} is not a decimal") from None
        if not number.is_finite():
            raise FhirXmlError(f"{path}: {text!r} is not a decimal")
        return int(text) if _INTEGER.match(text) else float(text)
    return text


def _xhtml_text(div: Any) -> str:
    text: str = etree.tostring(div, encoding="unicode", with_tail=False)
    return text
