"""System-level interactions: CapabilityStatement, transaction and batch, system history."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from service.api import bundles
from service.api.capability import capability_statement
from service.api.context import FhirContext, fhir_base, get_context
from service.api.history_params import history_params
from service.api.openapi_bodies import BUNDLE_BODY
from service.api.requests import parse_prefer, read_body
from service.api.responses import check_format, fhir_json
from service.api.transaction import process_bundle
from service.security.gate import Authenticated, authenticate

# The CapabilityStatement is public (clients read it to learn how to authenticate); the rest is not.
public_router = APIRouter(prefix="/fhir", tags=["FHIR system"], dependencies=[Depends(check_format)])
router = APIRouter(prefix="/fhir", tags=["FHIR system"], dependencies=[Depends(authenticate), Depends(check_format)])

Context = Annotated[FhirContext, Depends(get_context)]
Base = Annotated[str, Depends(fhir_base)]


@public_router.get("/metadata", summary="CapabilityStatement")
async def metadata(request: Request, ctx: Context, base: Base) -> Response:
    request.state.interaction = "capabilities"
    return fhir_json(capability_statement(ctx, base), request)


@router.post("", summary="Transaction or batch Bundle", openapi_extra=BUNDLE_BODY)
@router.post("/", include_in_schema=False)
async def transaction(request: Request, ctx: Context, base: Base, access: Authenticated) -> Response:
    bundle = await read_body(request)
    kind = bundle.get("type") if isinstance(bundle, dict) else None
    request.state.interaction = kind if kind in ("transaction", "batch") else "batch"
    prefer = parse_prefer(request.headers.get("prefer"))
    response = fhir_json(await process_bundle(ctx, access, bundle, base, prefer), request)
    request.state.audited = True  # each entry's transaction recorded itself
    return response


@router.get("/_history", summary="System history")
async def system_history(request: Request, ctx: Context, base: Base, access: Authenticated) -> Response:
    request.state.interaction = "history-system"
    access.require("*", "s")  # whole-system history crosses every type: only a wildcard scope covers it
    count, offset, since = history_params(request, ctx.settings)
    async with ctx.db.read() as conn:
        total, versions = await ctx.repository.history(
            conn, since=since, count=count, offset=offset, viewer=access.viewer
        )
    versions = [v for v in versions if access.may(v.res_type, "r")]
    request.state.audit_entities = tuple(f"{v.res_type}/{v.res_id}/_history/{v.version}" for v in versions)
    return fhir_json(bundles.history(total, versions, f"{base}/_history", base, count, offset), request)
