"""HTTP for the pathway: $extract, $dyad and $pathway-metrics (logic in service/pathway/)."""

from datetime import UTC, datetime
from typing import Any

from fastapi.responses import Response

from service.api import interactions
from service.api.operations import OperationCall, operation
from service.api.outcome import FhirError
from service.api.responses import fhir_json
from service.pathway.clock_store import breaches_in_period, clocks_for_period
from service.pathway.extraction import Extractor, revision_of, withdrawn
from service.pathway.metrics import INTERVALS, Period, TooManyIntervals, intervals, pathway_metrics
from service.pathway.summary import dyad_summary
from service.store.access import Viewer
from service.store.errors import ResourceGone, ResourceNotFound

SDC = "http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract"


def _extractor(call: OperationCall) -> Extractor:
    extractor: Extractor | None = call.request.app.state.pathway.extractor
    assert extractor is not None
    return extractor


async def _response_to_extract(call: OperationCall) -> tuple[dict[str, Any], str]:
    if call.res_id is not None:
        async with call.ctx.db.read() as conn:
            stored = await interactions.read(call.ctx, conn, call.access, "QuestionnaireResponse", call.res_id)
        assert stored.content is not None
        return stored.content, f"QuestionnaireResponse/{call.res_id}"
    response = call.value("questionnaire-response")
    if response is None and isinstance(call.body, dict) and call.body.get("resourceType") == "QuestionnaireResponse":
        response = call.body
    if not isinstance(response, dict):
        raise FhirError(
            400,
            "$extract needs a QuestionnaireResponse (the body, or parameter questionnaire-response)",
            code="required",
        )
    response = call.ctx.admission.admit(response, "QuestionnaireResponse")
    source = f"QuestionnaireResponse/{response['id']}" if response.get("id") else "QuestionnaireResponse"
    return response, source


@operation("extract", levels={"type", "instance"}, types={"QuestionnaireResponse"}, definition=SDC)
async def extract(call: OperationCall) -> Response:
    """SDC $extract: a transaction Bundle of the Observations, nothing stored.

    An Observation not yet stored is a conditional create on its identifier (the response and
    the caregiver), so the Bundle stores it once however often it is sent. One the response has
    changed since (an amended response) is an update of the stored Observation, status amended,
    guarded by If-Match: a Bundle made before someone else's revision fails (412) rather than
    undoing it. The write path can also extract on its own (DYAD_PATHWAY_EXTRACT_ON_WRITE).
    """
    response, source = await _response_to_extract(call)
    observations = _extractor(call).observations(response, source)
    async with call.ctx.db.read() as conn:
        entries = [await _extract_entry(call, conn, observation) for observation in observations]
        if call.res_id is not None:
            entries += await _withdrawn_entries(call, conn, source, observations)
    return fhir_json({"resourceType": "Bundle", "type": "transaction", "entry": entries}, call.request)


async def _withdrawn_entries(
    call: OperationCall, conn: Any, source: str, observations: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """An update to entered-in-error for each Observation extracted before for a caregiver the
    response no longer names (If-Match: never over someone else's revision)."""
    keep = {o["identifier"][0]["value"] for o in observations}
    search = await _searcher(call, conn)
    entries: list[dict[str, Any]] = []
    for stored in await search("Observation", [("derived-from", source)]):
        values = {
            i.get("value")
            for i in stored.get("identifier") or []
            if i.get("system") == "https://w3id.org/dyad/fhir/Id/extracted-observation"
        }
        revised = withdrawn(stored) if values and not values & keep else None
        if revised is not None:
            entries.append(
                {
                    "resource": revised,
                    "request": {
                        "method": "PUT",
                        "url": f"Observation/{stored['id']}",
                        "ifMatch": f'W/"{stored["meta"]["versionId"]}"',
                    },
                }
            )
    return entries


async def _extract_entry(call: OperationCall, conn: Any, observation: dict[str, Any]) -> dict[str, Any]:
    identifier = observation["identifier"][0]
    criteria = f"{identifier['system']}|{identifier['value']}"
    matches = await interactions.find_matches(call.ctx, conn, call.access, "Observation", [("identifier", criteria)])
    stored = interactions.one_or_none("Observation", matches)
    revised = revision_of(stored.content, observation) if stored is not None and stored.content else None
    if stored is None or revised is None:
        return {
            "resource": observation,
            "request": {"method": "POST", "url": "Observation", "ifNoneExist": f"identifier={criteria}"},
        }
    return {
        "resource": revised,
        "request": {"method": "PUT", "url": f"Observation/{stored.res_id}", "ifMatch": f'W/"{stored.version}"'},
    }


async def _searcher(call: OperationCall, conn: Any) -> Any:
    """Every match the caller may see, page after page: a summary or a measure built on the first
    page alone would silently leave out the rest."""

    async def search(res_type: str, items: list[tuple[str, str]]) -> list[dict[str, Any]]:
        size = call.ctx.settings.max_page_size
        found: list[dict[str, Any]] = []
        while True:
            paging = [("_count", str(size)), ("_offset", str(len(found))), ("_total", "none")]
            _, page = await interactions.search(call.ctx, conn, call.access, res_type, items + paging, strict=True)
            found += [m.content for m in page.matches if m.content is not None]
            if len(page.matches) < size:
                return found

    return search


@operation("dyad", levels={"instance"}, types={"Patient"})
async def dyad(call: OperationCall) -> Response:
    """Patient/[id]/$dyad: the infant, caregivers and everything recorded about their relationships."""
    assert call.res_id is not None
    async with call.ctx.db.read() as conn:
        search = await _searcher(call, conn)

        async def read(res_type: str, res_id: str) -> dict[str, Any] | None:
            try:
                return (await interactions.read(call.ctx, conn, call.access, res_type, res_id)).content
            except (ResourceNotFound, ResourceGone):
                return None

        await interactions.read(call.ctx, conn, call.access, "Patient", call.res_id)  # 404 when unseen
        resources = await dyad_summary(call.res_id, search, read, lambda t: call.access.may(t, "s"))
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "total": len(resources),
        "entry": [{"fullUrl": f"{call.base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }
    return fhir_json(bundle, call.request)


def _instant(call: OperationCall, name: str) -> datetime:
    value = call.value(name)
    if not isinstance(value, str):
        raise FhirError(400, f"$pathway-metrics needs {name} (a date or dateTime)", code="required")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FhirError(400, f"{name} is not a date or dateTime: {value}", code="invalid") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _periods(call: OperationCall, period: Period) -> list[Period] | None:
    """The intervals asked for (`interval=week|month`), or None for one report over the period."""
    interval = call.value("interval")
    if interval is None:
        return None
    if interval not in INTERVALS:
        raise FhirError(400, f"interval must be one of: {', '.join(INTERVALS)}", code="invalid")
    try:
        return intervals(period, interval)
    except TooManyIntervals as exc:
        raise FhirError(
            400, f"$pathway-metrics: the period splits into {exc}; ask for a shorter one", code="too-costly"
        ) from None


@operation("pathway-metrics", levels={"system", "type"}, types={"Organization"}, permission=None)
async def metrics(call: OperationCall) -> Response:
    """$pathway-metrics?periodStart=&periodEnd=[&organization=Organization/x][&interval=week|month]:
    a summary MeasureReport; with `interval`, a collection Bundle of one per week or month, in order."""
    period = Period(_instant(call, "periodStart"), _instant(call, "periodEnd"))
    organization = call.value("organization")
    if organization is not None and not (isinstance(organization, str) and organization.startswith("Organization/")):
        raise FhirError(400, "organization must be a reference: Organization/<id>", code="invalid")
    periods = _periods(call, period)
    for res_type in ("Encounter", "Observation", "ServiceRequest", "Task"):
        call.access.require(res_type, "s")
    async with call.ctx.db.read() as conn:
        search = await _searcher(call, conn)
        reports = [await _report(conn, search, call.access.viewer, p, organization) for p in periods or [period]]
    if periods is None:
        return fhir_json(reports[0], call.request)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "total": len(reports),
        "entry": [{"resource": r} for r in reports],
    }
    return fhir_json(bundle, call.request)


async def _report(conn: Any, search: Any, viewer: Viewer, period: Period, organization: str | None) -> dict[str, Any]:
    clocks = [
        c for c in await clocks_for_period(conn, period.start, period.end, organization, viewer=viewer) if c.met_at
    ]
    breaches = await breaches_in_period(conn, period.start, period.end, organization, viewer=viewer)
    return await pathway_metrics(search, period, organization, clocks, breaches)
