"""What the base FHIR R4 types look like, read from the fhir.resources R4B models.

The models are the only copy of the base StructureDefinitions Dyad ships, so element names,
repetition, choice groups and child types all come from their field metadata; it is read once
per model class and cached.
"""

import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

PRIMITIVE_TYPES: frozenset[str] = frozenset(
    {
        "boolean",
        "integer",
        "string",
        "decimal",
        "uri",
        "url",
        "canonical",
        "base64Binary",
        "instant",
        "date",
        "dateTime",
        "time",
        "code",
        "oid",
        "id",
        "markdown",
        "unsignedInt",
        "positiveInt",
        "uuid",
        "xhtml",
    }
)
_PRIMITIVE_BY_MARKER = {name[0].upper() + name[1:]: name for name in PRIMITIVE_TYPES}


@dataclass(frozen=True, slots=True)
class Field:
    json_name: str  # the key in FHIR JSON: 'valueCodeableConcept'
    element: str  # the element it belongs to: 'value[x]' for a choice, else json_name
    type_code: str  # FHIR type: 'CodeableConcept', 'dateTime', 'BackboneElement', 'Resource'
    is_list: bool
    model: type | None  # child model class of a complex type


@dataclass(frozen=True, slots=True)
class TypeShape:
    """The fields of one base type, by JSON name and by element name."""

    name: str
    by_json: dict[str, Field]
    by_element: dict[str, tuple[Field, ...]]


def shape_of_type(type_name: str) -> TypeShape | None:
    try:
        return shape_of_model(get_fhir_model_class(type_name))
    except (KeyError, ValueError, AttributeError):
        return None


@cache
def shape_of_model(model: Any) -> TypeShape:
    by_json: dict[str, Field] = {}
    by_element: dict[str, list[Field]] = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        if not isinstance(extra, dict) or not extra.get("element_property"):
            continue
        json_name = info.alias or name
        choice = extra.get("one_of_many")
        element = f"{choice}[x]" if choice else json_name
        type_code, child, is_list = _describe(info.annotation, json_name, choice)
        field = Field(json_name, element, type_code, is_list, child)
        by_json[json_name] = field
        by_element.setdefault(element, []).append(field)
    return TypeShape(model.get_resource_type(), by_json, {k: tuple(v) for k, v in by_element.items()})


def _describe(annotation: Any, json_name: str, choice: str | None) -> tuple[str, type | None, bool]:
    is_list = False
    inner = _strip_optional(annotation)
    if typing.get_origin(inner) in (list, typing.List):  # noqa: UP006 - models use typing.List
        is_list = True
        inner = _strip_optional(typing.get_args(inner)[0])
    if typing.get_origin(inner) is typing.Annotated:
        for marker in typing.get_args(inner)[1:]:
            primitive = _PRIMITIVE_BY_MARKER.get(type(marker).__name__)
            if primitive:
                return primitive, None, is_list
        return "string", None, is_list
    if inner is bool:
        return "boolean", None, is_list
    get_klass = getattr(inner, "get_model_klass", None)
    if get_klass is not None:
        child = get_klass()
        return _complex_type_code(child, json_name, choice), child, is_list
    if choice:  # a choice field's type is in its name: valueString -> string
        suffix = json_name[len(choice) :]
        return _PRIMITIVE_BY_MARKER.get(suffix, suffix), None, is_list
    return "string", None, is_list


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _complex_type_code(child: type, json_name: str, choice: str | None) -> str:
    if choice:
        return json_name[len(choice) :]
    if child.__mro__[1].__name__ == "BackboneElement":
        return "BackboneElement"
    if child.__name__ in ("Resource", "DomainResource"):
        return "Resource"
    return str(child.get_resource_type())  # type: ignore[attr-defined]  # a fhir.resources model class


def choice_type_of(json_name: str, element: str) -> str:
    """'valueCodeableConcept', 'value[x]' -> 'CodeableConcept'; 'valueDateTime' -> 'dateTime'."""
    suffix = json_name[len(element) - 3 :]
    return _PRIMITIVE_BY_MARKER.get(suffix, suffix)
