"""Per request: an id, a log line without identifiers, and the metrics.

Plain ASGI rather than `@app.middleware("http")`: that form wraps every request in an extra
task and body stream, which a server answering thousands of reads a second should not pay.
"""

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.conformance.supported import SUPPORTED_TYPES
from service.telemetry.logs import request_id
from service.telemetry.metrics import Metrics

log = logging.getLogger("dyad.request")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestTelemetry:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-Id", rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            request_id.reset(token)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        state: dict[str, Any] = scope.get("state") or {}
        interaction = str(state.get("interaction", "other"))
        res_type = _resource_type(scope)
        self.metrics.observe(interaction, res_type, status, elapsed)
        log.info(
            "request",
            extra={
                "method": scope["method"],
                "route": getattr(scope.get("route"), "path", "unmatched"),
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "interaction": interaction,
                "resource_type": res_type,
            },
        )


def _incoming_id(scope: Scope) -> str | None:
    given = Headers(scope=scope).get("x-request-id", "")
    return given if _SAFE_ID.match(given) else None


def _resource_type(scope: Scope) -> str:
    parts = str(scope.get("path", "")).split("/")
    candidate = parts[2] if len(parts) > 2 and parts[1] == "fhir" else ""
    return candidate if candidate in SUPPORTED_TYPES else "-"
