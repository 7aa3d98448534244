"""Source records in and out over REST: $ingest maps a system's record into Dyad, $render maps what
Dyad holds back into a system's record. The mapping itself is service/mapping; storing goes
through the same transaction path (scopes, validation, audit) as any Bundle."""

from typing import Any

import orjson
from fastapi.responses import JSONResponse, Response

from service.api import interactions
from service.api.ingest_additions import add_to_existing
from service.api.operations import OperationCall, operation
from service.api.outcome import FhirError, operation_outcome
from service.api.requests import parse_prefer
from service.api.responses import fhir_json
from service.api.transaction import process_bundle
from service.mapping.system import MappingSystem

NDJSON_TYPES = ("application/x-ndjson", "application/fhir+ndjson", "application/ndjson")
JSON_TYPES = ("application/json", "application/fhir+json")


def _system(call: OperationCall) -> MappingSystem:
    name = call.request.query_params.get("system") or call.value("system")
    if not isinstance(name, str) or not name:
        raise FhirError(
            400, "Name the source system: ?system=maternity|health-visiting|perinatal-mental-health", code="required"
        )
    try:
        return call.ctx.mappings.system(name)
    except KeyError as exc:
        raise FhirError(404, str(exc.args[0]), code="not-found") from None


async def _records(call: OperationCall) -> tuple[list[Any], bool]:
    """The records in the body, and whether it was NDJSON (many) rather than one JSON record."""
    media = call.request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await call.request.body()
    if len(body) > call.ctx.settings.max_body_bytes:
        raise FhirError(
            413, f"The request body is larger than {call.ctx.settings.max_body_bytes} bytes", code="too-costly"
        )
    try:
        if media in NDJSON_TYPES:
            return [orjson.loads(line) for line in body.splitlines() if line.strip()], True
        if media in JSON_TYPES:
            return [orjson.loads(body)], False
    except orjson.JSONDecodeError as exc:
        raise FhirError(400, f"Body is not valid JSON: {exc}", code="structure") from None
    raise FhirError(415, f"$ingest takes JSON or NDJSON ({', '.join(JSON_TYPES + NDJSON_TYPES)})", code="not-supported")


@operation("ingest", levels={"system"}, idempotent=False, raw_body=True, permission=None)
async def ingest(call: OperationCall) -> Response:
    """Map and store source records; each record is one transaction, re-sending one updates it."""
    system = _system(call)
    records, many = await _records(call)
    dry_run = call.request.query_params.get("_dryRun", "false") == "true"
    outcomes = [await _ingest_one(call, system, record, dry_run) for record in records]
    if not many:
        status, body = outcomes[0]
        return fhir_json(body, call.request, status=status)
    entries = [{"resource": body, "response": {"status": str(status)}} for status, body in outcomes]
    return fhir_json({"resourceType": "Bundle", "type": "batch-response", "entry": entries}, call.request)


async def _ingest_one(
    call: OperationCall, system: MappingSystem, record: Any, dry_run: bool
) -> tuple[int, dict[str, Any]]:
    try:
        _sent_by_caller(call, system, record)
    except FhirError as exc:
        return exc.status, operation_outcome(exc.issues)
    result = system.to_fhir(record)
    if not result.ok or result.bundle is None:
        return 422, result.operation_outcome()
    if dry_run:
        return 200, result.bundle
    prefer = parse_prefer(call.request.headers.get("prefer") or "return=minimal")
    try:
        await add_to_existing(call.ctx, call.access, result.bundle)
        return 200, await process_bundle(call.ctx, call.access, result.bundle, call.base, prefer)
    except FhirError as exc:
        return exc.status, operation_outcome(exc.issues)


def _sent_by_caller(call: OperationCall, system: MappingSystem, record: Any) -> None:
    """A record is its sending organisation's word: a token for another organisation may not
    send it. The sender's ODS code names Organization/<code>, the organisation a token for that
    code speaks for (service.store.ods), so what the record writes is owned by the organisation
    it comes from. Without authentication there is no caller to compare."""
    field = system.manifest.organisation_field
    caller = call.access.organization
    if caller is None or field is None or not isinstance(record, dict):
        return
    sender = record.get(field)
    if isinstance(sender, str) and f"Organization/{sender}" != caller:
        raise FhirError(
            403,
            f"The record's {field} names another organisation than the token's: an organisation sends its own records",
            code="forbidden",
            expression=field,
        )


@operation("render", levels={"instance"}, permission="r")
async def render(call: OperationCall) -> Response:
    """What Dyad holds about this resource (for a Patient: the family) as the system's record."""
    system = _system(call)
    bundle = await _gathered(call)
    subject = f"Patient/{call.res_id}" if call.res_type == "Patient" else None
    organisation = call.request.query_params.get("organisation")
    result = system.from_fhir(bundle, subject=subject, organisation=organisation)
    call.request.state.audit_entities = tuple(
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]
    )
    if not result.ok or result.record is None:
        return fhir_json(result.operation_outcome(), call.request, status=422)
    return JSONResponse(
        {
            "system": system.name,
            "record": result.record,
            "unmappable": [{"field": u.field, "reason": u.reason, "values": u.values} for u in result.unmappable],
            "outcome": result.operation_outcome(),
        }
    )


async def _gathered(call: OperationCall) -> dict[str, Any]:
    """The resource, what refers to it (a Patient's family record) and what those refer to,
    searched with the caller's rights so labels, consent and scopes apply as in any search."""
    items = [("_id", call.res_id or ""), ("_include:iterate", "*"), ("_count", "1")]
    if call.res_type == "Patient":
        items.append(("_revinclude", "*"))
    async with call.ctx.db.read() as conn:
        _, page = await interactions.search(call.ctx, conn, call.access, call.res_type or "", items, strict=True)
    if not page.matches:
        raise FhirError(404, f"{call.res_type}/{call.res_id} is not known", code="not-found")
    resources = [s.content for s in page.matches + page.included if s.content is not None]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
