"""Reading a FHIR request: body, content type, conditional headers, Prefer, query."""

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Header, Request

from service.api.outcome import FhirError
from service.conformance.fhir_xml import FhirXmlError, from_xml
from service.conformance.parse import parse_json

JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
XML_TYPES = ("application/fhir+xml", "application/xml", "application/xml+fhir", "text/xml")
RESOURCE_TYPES = JSON_TYPES + XML_TYPES
JSON_PATCH_TYPE = "application/json-patch+json"
_ETAG = re.compile(r'^(W/)?"?(\d+)"?$')

# Parameters about how to render, not what to find.
RENDER_PARAMS = frozenset({"_format", "_pretty"})


@dataclass(frozen=True)
class Prefer:
    return_mode: str = "representation"  # minimal | representation | OperationOutcome
    strict: bool = False


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, *, accept: tuple[str, ...] = RESOURCE_TYPES) -> Any:
    """The parsed body (FHIR XML read into its JSON form), after the content type and size checks
    FHIR clients expect."""
    if media_type(request) not in accept:
        raise FhirError(415, f"Content-Type must be one of {', '.join(accept)}", code="not-supported")
    limit: int = request.app.state.fhir.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = await request.body()
    if len(body) > limit:
        raise _too_large(limit)
    if not body:
        raise FhirError(400, "The request has no body", code="required")
    if media_type(request) in XML_TYPES:
        return parse_xml(body)
    return parse_json(body)


def parse_xml(body: bytes) -> Any:
    try:
        return from_xml(body)
    except FhirXmlError as exc:
        raise FhirError(400, f"The XML body is not FHIR XML Dyad can read: {exc}", code="structure") from None


def _too_large(limit: int) -> FhirError:
    return FhirError(413, f"The request body is larger than {limit} bytes", code="too-costly")


def parse_if_match(value: str | None) -> int | None:
    if value is None:
        return None
    match = _ETAG.match(value.strip())
    if not match:
        raise FhirError(400, f'If-Match must be a version ETag such as W/"1", not {value!r}', code="invalid")
    return int(match.group(2))


def parse_prefer(value: str | None) -> Prefer:
    return_mode, strict = "representation", False
    for part in (value or "").split(","):
        for token in part.split(";"):
            key, _, val = token.strip().partition("=")
            val = val.strip('"')
            if key == "return" and val in ("minimal", "representation", "OperationOutcome"):
                return_mode = val
            elif key == "handling":
                strict = val == "strict"
    return Prefer(return_mode, strict)


def search_items(request: Request) -> list[tuple[str, str]]:
    """The query's search parameters, in order, without the rendering ones."""
    return [(k, v) for k, v in request.query_params.multi_items() if k not in RENDER_PARAMS]


def parse_criteria(query: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in RENDER_PARAMS]


async def _if_match_header(if_match: Annotated[str | None, Header()] = None) -> int | None:
    return parse_if_match(if_match)


async def _prefer_header(prefer: Annotated[str | None, Header()] = None) -> Prefer:
    return parse_prefer(prefer)


IfMatch = Annotated[int | None, Depends(_if_match_header)]
PreferHeader = Annotated[Prefer, Depends(_prefer_header)]
