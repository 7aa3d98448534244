"""System-level interactions: CapabilityStatement, transaction and batch, system history."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from service.api import bundles
from service.api.capability import capability_statement
from service.api.context import FhirContext, fhir_base, get_context
from service.api.history_params import history_params
from service.api.requests import parse_prefer, read_body
from service.api.responses import check_format, fhir_json
from service.api.transaction import process_bundle

router = APIRouter(prefix="/fhir", tags=["FHIR system"], dependencies=[Depends(check_format)])

Context = Annotated[FhirContext, Depends(get_context)]
Base = Annotated[str, Depends(fhir_base)]


@router.get("/metadata", summary="CapabilityStatement")
async def metadata(request: Request, ctx: Context, base: Base) -> Response:
    request.state.interaction = "capabilities"
    return fhir_json(capability_statement(ctx, base), request)


@router.post("", summary="Transaction or batch Bundle")
@router.post("/", include_in_schema=False)
async def transaction(request: Request, ctx: Context, base: Base) -> Response:
    bundle = await read_body(request)
    kind = bundle.get("type") if isinstance(bundle, dict) else None
    request.state.interaction = kind if kind in ("transaction", "batch") else "bundle"
    prefer = parse_prefer(request.headers.get("prefer"))
    return fhir_json(await process_bundle(ctx, bundle, base, prefer), request)


@router.get("/_history", summary="System history")
async def system_history(request: Request, ctx: Context, base: Base) -> Response:
    request.state.interaction = "history-system"
    count, offset, since = history_params(request, ctx.settings)
    async with ctx.db.read() as conn:
        total, versions = await ctx.repository.history(conn, since=since, count=count, offset=offset)
    return fhir_json(bundles.history(total, versions, f"{base}/_history", base, count, offset), request)
