"""Per request: an id, a log line without identifiers, and the metrics."""

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import Response

from service.conformance.supported import SUPPORTED_TYPES
from service.telemetry.logs import request_id
from service.telemetry.metrics import Metrics

log = logging.getLogger("dyad.request")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_telemetry(metrics: Metrics) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = _incoming_id(request) or uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-Id"] = rid
            return response
        finally:
            elapsed = time.perf_counter() - started
            interaction = getattr(request.state, "interaction", "other")
            res_type = _resource_type(request)
            metrics.observe(interaction, res_type, status, elapsed)
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "route": _route_template(request),
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "interaction": interaction,
                    "resource_type": res_type,
                },
            )
            request_id.reset(token)

    return middleware


def _incoming_id(request: Request) -> str | None:
    given = request.headers.get("x-request-id", "")
    return given if _SAFE_ID.match(given) else None


def _resource_type(request: Request) -> str:
    parts = request.url.path.split("/")
    candidate = parts[2] if len(parts) > 2 and parts[1] == "fhir" else ""
    return candidate if candidate in SUPPORTED_TYPES else "-"


def _route_template(request: Request) -> str:
    """The matched route's template (/fhir/{res_type}/{res_id}), never the concrete path."""
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")
