"""From request bytes to a structurally valid resource dict.

Structure is decided by the R4 core validator (validation/core.py) over the specification's own
definitions, strictly as FHIR JSON; the fhir.resources models no longer decide validity (their
lax mode accepts "1.2" for a decimal and "true" for a boolean)."""

import re
from typing import Any

import orjson

from service.conformance.issues import InvalidResource, Issue
from service.conformance.supported import SUPPORTED_TYPES
from service.conformance.validation.core import shared_core
from service.conformance.validation.elements import Context
from service.errors import DyadError


class UnsupportedType(DyadError):
    status, code = 404, "not-supported"

    def __init__(self, res_type: str) -> None:
        self.res_type = res_type
        super().__init__(f"Resource type '{res_type}' is not supported by this server")


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidResource([Issue("error", "structure", f"Body is not valid JSON: {exc}")]) from None


def parse_resource(body: bytes, expected_type: str | None = None) -> dict[str, Any]:
    return check_resource(parse_json(body), expected_type)


def check_resource(document: Any, expected_type: str | None = None) -> dict[str, Any]:
    """The document, if it is a well-formed resource of a supported type."""
    resource = check_envelope(document, expected_type)
    check_structure(resource)
    return resource


def check_envelope(document: Any, expected_type: str | None = None) -> dict[str, Any]:
    """The document, if it is a resource of the expected, supported type without control
    characters; its content is judged by the validator."""
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise InvalidResource([Issue("error", "structure", "Body is not a FHIR resource: resourceType is missing")])
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
    try:
        check_characters(document, res_type)
    except RecursionError:
        raise InvalidResource([_TOO_DEEP]) from None
    return document


_TOO_DEEP = Issue("error", "structure", "The resource nests too deeply to be a FHIR resource Dyad can check")

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
                raise InvalidResource(
                    [Issue("error", "invalid", f"{path}: control characters in an element name", path)]
                )
            check_characters(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            check_characters(item, f"{path}[{index}]")


def check_structure(document: dict[str, Any]) -> None:
    """InvalidResource (400) if the document is not well-formed R4 JSON of its type."""
    ctx = Context(document)
    shared_core().validate(document, ctx)
    if ctx.structure:
        raise InvalidResource(ctx.structure)
