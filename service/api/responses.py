"""Writing a FHIR response: JSON or XML (as `_format` or Accept ask), with the headers clients rely on."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import format_datetime
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from service.api.outcome import FhirError, operation_outcome
from service.api.requests import Prefer
from service.api.shaping import apply_elements, apply_summary
from service.conformance.fhir_xml import to_xml
from service.conformance.issues import Issue
from service.store.records import StoredJSON, StoredResource

FHIR_JSON = "application/fhir+json; charset=utf-8"
FHIR_XML = "application/fhir+xml; charset=utf-8"
_JSON_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir", "text/json"}
_XML_FORMATS = {"xml", "application/xml", "application/fhir+xml", "text/xml"}


async def check_format(request: Request) -> None:
    """Dyad speaks FHIR's two formats, JSON and XML; a `_format` naming anything else gets 406."""
    wanted = request.query_params.get("_format")
    if wanted is not None and _media(wanted) not in _JSON_FORMATS | _XML_FORMATS:
        raise FhirError(406, f"_format={wanted} is not supported; use json or xml", code="not-supported")


def _media(value: str) -> str:
    return value.split(";")[0].strip().lower()


def wants_xml(request: Request) -> bool:
    """`_format` decides; else the Accept type of highest quality (JSON on a tie, for `*/*`, or
    when Accept names neither format)."""
    wanted = request.query_params.get("_format")
    if wanted is not None:
        return _media(wanted) in _XML_FORMATS
    best_json = best_xml = 0.0
    for part in request.headers.get("accept", "").split(","):
        media, quality = _media(part), _quality(part)
        if media in _XML_FORMATS:
            best_xml = max(best_xml, quality)
        elif media in _JSON_FORMATS or media in ("*/*", "application/*"):
            best_json = max(best_json, quality)
    return best_xml > best_json


def _quality(part: str) -> float:
    for parameter in part.split(";")[1:]:
        key, _, value = parameter.strip().partition("=")
        if key.strip() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def dump(body: Any, request: Request) -> bytes:
    """Every FHIR response body goes out through here, so secrets are left out here, once."""
    pretty = request.query_params.get("_pretty") == "true"
    return orjson.dumps(without_secrets(body), option=orjson.OPT_INDENT_2 if pretty else 0)


def without_secrets(body: Any) -> Any:
    """The body with every Subscription's channel.header left out, at any depth of Bundles.

    The headers carry the subscriber's credentials for its endpoint (`Authorization: Bearer ...`):
    they are kept for delivery but returned to nobody, the owner included (docs/security.md).
    """
    if not isinstance(body, dict):
        return body
    kind = body.get("resourceType")
    if kind == "Subscription" and isinstance(body.get("channel"), dict) and "header" in body["channel"]:
        channel = {k: v for k, v in body["channel"].items() if k != "header"}
        return {**body, "channel": channel}
    if kind == "Bundle" and isinstance(body.get("entry"), list):
        entries = [_entry_without_secrets(e) for e in body["entry"]]
        if any(new is not old for new, old in zip(entries, body["entry"], strict=True)):
            return {**body, "entry": entries}
    return body


def _entry_without_secrets(entry: Any) -> Any:
    resource = entry.get("resource") if isinstance(entry, dict) else None
    if isinstance(resource, dict) and resource.get("resourceType") in ("Subscription", "Bundle"):
        cleaned = without_secrets(resource)
        return entry if cleaned is resource else {**entry, "resource": cleaned}
    return entry


def fhir_json(body: Any, request: Request, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The body in the format the request asked for (the name stays: JSON is the default)."""
    if wants_xml(request):
        pretty = request.query_params.get("_pretty") == "true"
        # The same secrets filter as `dump`: a Subscription's channel.header is returned to nobody.
        xml = to_xml(without_secrets(body), pretty=pretty)
        return Response(xml, status_code=status, media_type=FHIR_XML, headers=headers)
    return Response(dump(body, request), status_code=status, media_type=FHIR_JSON, headers=headers)


def etag(version: int) -> str:
    return f'W/"{version}"'


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def version_headers(stored: StoredResource, base: str, *, location: bool) -> dict[str, str]:
    headers = {"ETag": etag(stored.version), "Last-Modified": http_date(stored.last_updated)}
    if location:
        headers["Location"] = f"{base}/{stored.res_type}/{stored.res_id}/_history/{stored.version}"
        headers["Content-Location"] = headers["Location"]
    return headers


def shaped(resource: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
    """The resource as _summary and _elements ask for it."""
    summary = params.get("_summary")
    if summary:
        resource = apply_summary(resource, summary)
    elements = params.get("_elements")
    if elements:
        resource = apply_elements(resource, [e.strip() for e in elements.split(",") if e.strip()])
    return resource


def resource_response(
    stored: StoredResource,
    request: Request,
    base: str,
    *,
    status: int = 200,
    prefer: Prefer | None = None,
    location: bool = False,
    warnings: Sequence[str] = (),
) -> Response:
    """`warnings` (e.g. the pathway could not route a concern) go in the OperationOutcome a client
    asks for with Prefer: return=OperationOutcome, and in a Warning header (199) whatever it asks."""
    headers = version_headers(stored, base, location=location)
    if warnings:
        headers["Warning"] = ", ".join(f'199 dyad "{w}"' for w in warnings)
    mode = prefer.return_mode if prefer else "representation"
    if mode == "minimal":
        return Response(status_code=status, headers=headers)
    if mode == "OperationOutcome":
        message = f"{stored.res_type}/{stored.res_id} version {stored.version} stored"
        issues = [Issue("information", "informational", message)] + [
            Issue("warning", "incomplete", w) for w in warnings
        ]
        return fhir_json(operation_outcome(issues), request, status=status, headers=headers)
    assert stored.content is not None
    return fhir_json(shaped(stored.content, request.query_params), request, status=status, headers=headers)


# Types whose stored JSON may hold what no response carries (a Subscription's channel headers,
# directly or inside a Bundle): they always go through `dump`, which leaves the secrets out.
_NEVER_AS_STORED = frozenset({"Subscription", "Bundle"})
# Parameters that change the body: each needs the general path.
_SHAPING = ("_summary", "_elements", "_pretty")


def servable_as_stored(res_type: str, request: Request) -> bool:
    """Whether the stored JSON text is already the response body: JSON asked for, nothing to
    shape, and a type whose stored form carries no secret."""
    if res_type in _NEVER_AS_STORED or wants_xml(request):
        return False
    params = request.query_params
    return not any(name in params for name in _SHAPING)


def stored_response(stored: StoredJSON, request: Request, base: str) -> Response:
    """A read's response: the stored text as it is where that is the answer (no parse, no
    dump), else the general path. tests/api/test_stored_reads.py holds the two to the same body."""
    if not servable_as_stored(stored.res_type, request):
        return resource_response(stored.parsed(), request, base)
    headers = {"ETag": etag(stored.version), "Last-Modified": http_date(stored.last_updated)}
    return Response(stored.text.encode(), media_type=FHIR_JSON, headers=headers)
