"""Type- and instance-level FHIR interactions over HTTP: a thin layer over `interactions`."""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response

from service.api import bundles, interactions
from service.api.context import FhirContext, fhir_base, get_context
from service.api.disconnect import unless_disconnected
from service.api.history_params import history_params
from service.api.incoming import IncomingResource
from service.api.openapi_bodies import FORM_BODY, PATCH_BODY, RESOURCE_BODY
from service.api.outcome import FhirError
from service.api.paths import ResourceId, ResourceType, VersionId
from service.api.requests import (
    JSON_PATCH_TYPE,
    IfMatch,
    Prefer,
    PreferHeader,
    parse_criteria,
    read_body,
    search_items,
)
from service.api.responses import check_format, fhir_json, resource_response, stored_response
from service.api.write_unit import write_unit
from service.search.query import SearchQuery
from service.security.access import Access
from service.security.gate import Authenticated, authenticate
from service.store.errors import ResourceNotFound
from service.store.search import SearchPage

# Authentication runs before anything reads the body, so an unauthenticated caller learns nothing.
router = APIRouter(prefix="/fhir", tags=["FHIR resources"], dependencies=[Depends(authenticate), Depends(check_format)])

Context = Annotated[FhirContext, Depends(get_context)]
Base = Annotated[str, Depends(fhir_base)]


def _mark(request: Request, interaction: str) -> None:
    request.state.interaction = interaction


def _entities(request: Request, *refs: str) -> None:
    """What a read touched, for its AuditEvent (by reference only)."""
    request.state.audit_entities = refs


@router.get("/{res_type}/_history", summary="Type history")
async def type_history(
    request: Request, res_type: ResourceType, ctx: Context, base: Base, access: Authenticated
) -> Response:
    _mark(request, "history-type")
    access.require(res_type, "s")
    return await _history(request, ctx, base, access, f"{base}/{res_type}/_history", res_type=res_type)


@router.get("/{res_type}/{res_id}/_history", summary="Instance history")
async def instance_history(
    request: Request, res_type: ResourceType, res_id: ResourceId, ctx: Context, base: Base, access: Authenticated
) -> Response:
    _mark(request, "history-instance")
    access.require(res_type, "r")
    url = f"{base}/{res_type}/{res_id}/_history"
    return await _history(request, ctx, base, access, url, res_type=res_type, res_id=res_id)


async def _history(
    request: Request,
    ctx: FhirContext,
    base: str,
    access: Access,
    url: str,
    *,
    res_type: str | None = None,
    res_id: str | None = None,
) -> Response:
    count, offset, since = history_params(request, ctx.settings)
    async with ctx.db.read() as conn:
        total, versions = await ctx.repository.history(
            conn, res_type=res_type, res_id=res_id, since=since, count=count, offset=offset, viewer=access.viewer
        )
    if res_id is not None and total == 0 and since is None:
        raise ResourceNotFound(res_type or "", res_id)
    _entities(request, *(f"{v.res_type}/{v.res_id}/_history/{v.version}" for v in versions))
    return fhir_json(bundles.history(total, versions, url, base, count, offset), request)


@router.get("/{res_type}/{res_id}/_history/{vid}", summary="Read a version (vread)")
async def vread(
    request: Request,
    res_type: ResourceType,
    res_id: ResourceId,
    vid: VersionId,
    ctx: Context,
    base: Base,
    access: Authenticated,
) -> Response:
    _mark(request, "vread")
    _entities(request, f"{res_type}/{res_id}/_history/{vid}")
    async with ctx.db.read() as conn:
        stored = await interactions.vread(ctx, conn, access, res_type, res_id, vid)
    return resource_response(stored, request, base)


@router.get("/{res_type}/{res_id}", summary="Read")
async def read(
    request: Request, res_type: ResourceType, res_id: ResourceId, ctx: Context, base: Base, access: Authenticated
) -> Response:
    _mark(request, "read")
    _entities(request, f"{res_type}/{res_id}")
    stored = await interactions.read_json(ctx, access, res_type, res_id)
    return stored_response(stored, request, base)


@router.get("/{res_type}", summary="Search")
async def search_get(
    request: Request, res_type: ResourceType, ctx: Context, base: Base, prefer: PreferHeader, access: Authenticated
) -> Response:
    return await _search(request, res_type, ctx, base, prefer, access, search_items(request))


@router.post("/{res_type}/_search", summary="Search by POST (form-encoded parameters)", openapi_extra=FORM_BODY)
async def search_post(
    request: Request, res_type: ResourceType, ctx: Context, base: Base, prefer: PreferHeader, access: Authenticated
) -> Response:
    form_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if form_type not in ("application/x-www-form-urlencoded", ""):
        raise FhirError(415, "POST _search takes application/x-www-form-urlencoded", code="not-supported")
    body = (await request.body()).decode("utf-8", errors="replace")
    return await _search(request, res_type, ctx, base, prefer, access, search_items(request) + parse_criteria(body))


async def _search(
    request: Request,
    res_type: str,
    ctx: FhirContext,
    base: str,
    prefer: Prefer,
    access: Access,
    items: list[tuple[str, str]],
) -> Response:
    _mark(request, "search-type")
    query, page = await unless_disconnected(request, _run_search(ctx, access, res_type, items, prefer))
    _entities(request, *(f"{s.res_type}/{s.res_id}" for s in page.matches + page.included))
    return fhir_json(bundles.searchset(query, page, request.query_params, base, res_type), request)


async def _run_search(
    ctx: FhirContext, access: Access, res_type: str, items: list[tuple[str, str]], prefer: Prefer
) -> tuple[SearchQuery, SearchPage]:
    # A page without includes needs no transaction around it: it is one statement, and the count
    # a page with more after it adds is never taken below what the page showed
    # (store.search.run_search). Includes are further statements, which must see what the page saw.
    including = any(name.split(":")[0] in ("_include", "_revinclude") for name, _ in items)
    async with ctx.db.read(snapshot=including) as conn:
        return await interactions.search(ctx, conn, access, res_type, items, strict=prefer.strict)


@router.post(
    "/{res_type}",
    summary="Create (conditional with If-None-Exist or search parameters in the URL)",
    status_code=201,
    openapi_extra=RESOURCE_BODY,
)
async def create(
    request: Request,
    resource: IncomingResource,
    ctx: Context,
    base: Base,
    prefer: PreferHeader,
    access: Authenticated,
    if_none_exist: Annotated[str | None, Header()] = None,
) -> Response:
    criteria = _create_criteria(if_none_exist, search_items(request))
    async with write_unit(request, ctx, access, "create") as unit:
        outcome = unit.done(
            await interactions.create(
                ctx, unit.conn, access, resource, if_none_exist=criteria, along=unit.records_along()
            )
        )
        warnings = unit.warnings()
    return _written(request, outcome, base, prefer, warnings)


def _create_criteria(header: str | None, query: list[tuple[str, str]]) -> list[tuple[str, str]] | None:
    """A conditional create's criteria: If-None-Exist, or search parameters in the URL (as fhirpy's
    get_or_create sends them), never silently ignored; both at once must agree."""
    from_header = parse_criteria(header) if header is not None else None
    if from_header is not None and query and sorted(from_header) != sorted(query):
        raise FhirError(
            400, "If-None-Exist and the URL's search parameters differ; send the criteria once", code="invalid"
        )
    return from_header if from_header is not None else (query or None)


@router.put("/{res_type}/{res_id}", summary="Update, or create with this id", openapi_extra=RESOURCE_BODY)
async def update(
    request: Request,
    resource: IncomingResource,
    res_id: ResourceId,
    ctx: Context,
    base: Base,
    if_match: IfMatch,
    prefer: PreferHeader,
    access: Authenticated,
) -> Response:
    async with write_unit(request, ctx, access, "update") as unit:
        outcome = unit.done(await interactions.update(ctx, unit.conn, access, resource, res_id, if_match=if_match))
        warnings = unit.warnings()
    return _written(request, outcome, base, prefer, warnings)


@router.put("/{res_type}", summary="Conditional update", openapi_extra=RESOURCE_BODY)
async def conditional_update(
    request: Request,
    resource: IncomingResource,
    ctx: Context,
    base: Base,
    if_match: IfMatch,
    prefer: PreferHeader,
    access: Authenticated,
) -> Response:
    async with write_unit(request, ctx, access, "update") as unit:
        outcome = unit.done(
            await interactions.conditional_update(
                ctx, unit.conn, access, resource, search_items(request), if_match=if_match
            )
        )
        warnings = unit.warnings()
    return _written(request, outcome, base, prefer, warnings)


@router.patch("/{res_type}/{res_id}", summary="JSON Patch", openapi_extra=PATCH_BODY)
async def patch(
    request: Request,
    res_type: ResourceType,
    res_id: ResourceId,
    ctx: Context,
    base: Base,
    if_match: IfMatch,
    prefer: PreferHeader,
    access: Authenticated,
) -> Response:
    _mark(request, "patch")
    operations = await read_body(request, accept=(JSON_PATCH_TYPE,))
    async with write_unit(request, ctx, access, "patch") as unit:
        outcome = unit.done(
            await interactions.patch(ctx, unit.conn, access, res_type, res_id, operations, if_match=if_match)
        )
        warnings = unit.warnings()
    return _written(request, outcome, base, prefer, warnings)


@router.delete("/{res_type}/{res_id}", summary="Delete", status_code=204)
async def delete(
    request: Request,
    res_type: ResourceType,
    res_id: ResourceId,
    ctx: Context,
    if_match: IfMatch,
    access: Authenticated,
) -> Response:
    async with write_unit(request, ctx, access, "delete") as unit:
        outcome = unit.done(await interactions.delete(ctx, unit.conn, access, res_type, res_id, if_match=if_match))
    return _deleted(outcome)


@router.delete("/{res_type}", summary="Conditional delete", status_code=204)
async def conditional_delete(request: Request, res_type: ResourceType, ctx: Context, access: Authenticated) -> Response:
    async with write_unit(request, ctx, access, "delete") as unit:
        outcome = unit.done(
            await interactions.conditional_delete(ctx, unit.conn, access, res_type, search_items(request))
        )
    return _deleted(outcome)


def _written(
    request: Request, outcome: interactions.Outcome, base: str, prefer: Prefer, warnings: list[str]
) -> Response:
    """Every write answers with the pathway's warnings (a concern it could not route), whichever route wrote."""
    assert outcome.stored is not None
    return resource_response(
        outcome.stored,
        request,
        base,
        status=outcome.status,
        prefer=prefer,
        location=outcome.created,
        warnings=warnings,
    )


def _deleted(outcome: interactions.Outcome) -> Response:
    headers = {"ETag": f'W/"{outcome.stored.version}"'} if outcome.stored else {}
    return Response(status_code=204, headers=headers)
