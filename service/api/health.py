"""Liveness, readiness and metrics: outside the FHIR base."""

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from service.api.context import FhirContext, get_context
from service.api.outcome import FhirError
from service.config import Settings

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and the profiles are loaded")
async def readyz(ctx: Annotated[FhirContext, Depends(get_context)]) -> Response:
    try:
        async with ctx.db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ready", "database": ctx.db.dialect, "profiles": len(ctx.package.resources)})


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request, ctx: Annotated[FhirContext, Depends(get_context)]) -> Response:
    _may_scrape(request, ctx.settings)
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")


def _may_scrape(request: Request, settings: Settings) -> None:
    """Metrics say how busy each service is and when; under jwt only the configured scraper reads
    them, and with no scraper configured nobody does (fail closed). They hold no identifiers."""
    if settings.auth == "off":
        return
    expected = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise FhirError(
            401,
            "/metrics needs the scraper's bearer token (DYAD_METRICS_TOKEN)",
            code="login",
            headers={"WWW-Authenticate": "Bearer"},
        )
