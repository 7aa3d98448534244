"""A minimal FHIR XML -> JSON reader for the FHIRPath test inputs.

The R4 FHIRPath test resources are mostly XML. Which elements repeat and which primitives
are numbers or booleans is taken from the fhir.resources R4B model classes (R4B and R4 agree on
the elements these examples use). Only what the test inputs need: no xml:lang, no comments.
"""

import re
from decimal import Decimal
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from lxml import etree

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_TYPE_NAME = re.compile(r"abc\.(\w+)Type")


def read_xml(data: bytes) -> dict[str, Any]:
    root = etree.fromstring(data)
    return _resource(root)


def _local(element: Any) -> str:
    return etree.QName(element).localname


def _resource(element: Any) -> dict[str, Any]:
    resource_type = _local(element)
    out: dict[str, Any] = {"resourceType": resource_type}
    _fill(element, get_fhir_model_class(resource_type), out)
    return out


def _fill(element: Any, cls: Any, out: dict[str, Any]) -> None:
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments, processing instructions
        name = _local(child)
        field = cls.model_fields.get(name)
        if field is None:
            raise ValueError(f"{cls.__name__} has no element {name}")
        annotation = str(field.annotation)
        repeats = "List[" in annotation
        value, ext = _value(child, annotation)
        if value is not None:
            _put(out, name, value, repeats)
        if ext is not None or (repeats and value is not None and f"_{name}" in out):
            _put_ext(out, name, ext, repeats)


def _put(out: dict[str, Any], name: str, value: Any, repeats: bool) -> None:
    if repeats:
        out.setdefault(name, []).append(value)
    else:
        out[name] = value


def _put_ext(out: dict[str, Any], name: str, ext: dict[str, Any] | None, repeats: bool) -> None:
    if not repeats:
        out[f"_{name}"] = ext
        return
    values = out.setdefault(name, [])
    exts = out.setdefault(f"_{name}", [])
    while len(exts) < len(values) - 1:
        exts.append(None)
    exts.append(ext)


def _value(child: Any, annotation: str) -> tuple[Any, dict[str, Any] | None]:
    if child.tag == f"{{{XHTML_NS}}}div":
        return etree.tostring(child, encoding="unicode", with_tail=False), None
    match = _TYPE_NAME.search(annotation)
    if match is not None and match.group(1) == "Resource":
        inner = next(c for c in child if isinstance(c.tag, str))
        return _resource(inner), None
    if match is not None and match.group(1) not in ("Xhtml",):
        complex_out: dict[str, Any] = {}
        if child.get("id") is not None:
            complex_out["id"] = child.get("id")
        if child.get("url") is not None:
            complex_out["url"] = child.get("url")
        _fill(child, get_fhir_model_class(match.group(1)), complex_out)
        return complex_out, None
    raw = child.get("value")
    ext: dict[str, Any] = {}
    if child.get("id") is not None:
        ext["id"] = child.get("id")
    extensions = [c for c in child if isinstance(c.tag, str) and _local(c) == "extension"]
    if extensions:
        holder: dict[str, Any] = {}
        _fill(child, get_fhir_model_class("Element"), holder)
        ext.update(holder)
    return (None if raw is None else _primitive(raw, annotation)), (ext or None)


def _primitive(raw: str, annotation: str) -> Any:
    if annotation.startswith("bool") or "[bool" in annotation:
        return raw == "true"
    if "[int," in annotation or "Annotated[int" in annotation:
        return int(raw)
    if "decimal.Decimal" in annotation:
        return Decimal(raw)
    return raw
