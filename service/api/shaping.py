"""_summary and _elements: the subsets of a resource a client may ask for."""

from collections.abc import Callable
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}
_ALWAYS = ("resourceType", "id", "meta")


def _element_names(res_type: str, wanted: Callable[[Any, dict[str, Any]], bool]) -> frozenset[str]:
    """JSON names of the R4B model's elements that `wanted` picks, with their `_name` twins."""
    names: set[str] = set()
    for name, field in get_fhir_model_class(res_type).model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if wanted(field, extra):
            alias = field.alias or name
            names.update((alias, f"_{alias}"))
    return frozenset(names)


@cache
def summary_elements(res_type: str) -> frozenset[str]:
    return _element_names(res_type, lambda _field, extra: bool(extra.get("summary_element_property")))


@cache
def mandatory_elements(res_type: str) -> frozenset[str]:
    return _element_names(res_type, lambda field, extra: bool(extra.get("element_required")) or field.is_required())


def apply_summary(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    if mode in ("", "false"):
        return resource
    res_type = resource["resourceType"]
    if mode == "true":
        keep = summary_elements(res_type)
        shaped = {k: v for k, v in resource.items() if k in keep or k in _ALWAYS}
    elif mode == "text":
        keep = mandatory_elements(res_type) | {"text"}
        shaped = {k: v for k, v in resource.items() if k in keep or k in _ALWAYS}
    elif mode == "data":
        shaped = {k: v for k, v in resource.items() if k != "text"}
    else:
        return resource
    return _mark_subsetted(shaped)


def apply_elements(resource: dict[str, Any], elements: list[str]) -> dict[str, Any]:
    if not elements:
        return resource
    res_type = resource["resourceType"]
    wanted = {e.split(".", 1)[1] if e.startswith(res_type + ".") else e for e in elements}
    wanted |= mandatory_elements(res_type)
    shaped = {k: v for k, v in resource.items() if k in _ALWAYS or k.lstrip("_") in wanted}
    return _mark_subsetted(shaped)


def _mark_subsetted(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if t.get("code") != "SUBSETTED"]
    meta["tag"] = tags + [SUBSETTED]
    return {**resource, "meta": meta}
