"""From request bytes to a structurally valid resource dict (fhir.resources R4B models)."""

import re
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from service.conformance.issues import InvalidResource, Issue
from service.conformance.supported import SUPPORTED_TYPES


class UnsupportedType(Exception):
    def __init__(self, res_type: str) -> None:
        self.res_type = res_type
        super().__init__(f"Resource type '{res_type}' is not supported by this server")


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidResource([Issue("error", "structure", f"Body is not valid JSON: {exc}")])


def parse_resource(body: bytes, expected_type: str | None = None) -> dict[str, Any]:
    return check_resource(parse_json(body), expected_type)


def check_resource(document: Any, expected_type: str | None = None) -> dict[str, Any]:
    """The document, if it is a resource of a supported type that the R4B model accepts."""
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise InvalidResource(
            [Issue("error", "structure", "Body is not a FHIR resource: resourceType is missing")]
        )
    res_type = document["resourceType"]
    if expected_type is not None and res_type != expected_type:
        raise InvalidResource(
            [
                Issue(
                    "error",
                    "invalid",
                    f"resourceType '{res_type}' does not match the URL's type '{expected_type}'",
                    "resourceType",
                )
            ]
        )
    if res_type not in SUPPORTED_TYPES:
        raise UnsupportedType(res_type)
    check_characters(document, res_type)
    check_structure(document)
    return document


# FHIR strings hold no character below U+0020 except tab, line feed and carriage return; NUL in
# particular cannot even be stored in PostgreSQL's jsonb.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def check_characters(node: Any, path: str) -> None:
    if isinstance(node, str):
        if _FORBIDDEN.search(node):
            raise InvalidResource(
                [Issue("error", "invalid", f"{path}: control characters are not allowed in FHIR strings", path)]
            )
    elif isinstance(node, dict):
        for key, value in node.items():
            if _FORBIDDEN.search(key):
                raise InvalidResource([Issue("error", "invalid", f"{path}: control characters in an element name", path)])
            check_characters(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            check_characters(item, f"{path}[{index}]")


def check_structure(document: dict[str, Any]) -> None:
    model = get_fhir_model_class(document["resourceType"])
    try:
        model.model_validate(document)
    except ValidationError as exc:
        raise InvalidResource(
            [_structure_issue(document["resourceType"], error) for error in exc.errors()]
        ) from None


def _structure_issue(res_type: str, error: Any) -> Issue:
    path = fhirpath_of(res_type, error.get("loc", ()))
    return Issue("error", "structure", f"{path}: {error.get('msg', 'invalid')}", path)


def fhirpath_of(res_type: str, loc: tuple[Any, ...]) -> str:
    """('component', 1, 'valueQuantity') -> Observation.component[1].valueQuantity"""
    path = res_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ("__root__",) and not str(part).startswith("function-"):
            path += f".{part}"
    return path
