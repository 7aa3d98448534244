"""The request body limit, enforced while the body arrives rather than after it has been read.

A declared Content-Length above the limit is refused before a byte of the body is read; a
chunked body is counted as it streams and refused (413) at the first chunk that passes the
limit, so no route (create, update, transaction, POST _search, $validate, $ingest...) ever holds
more than the limit in memory. Once the app stops reading, the server stops reading the socket.
"""

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.outcome import FhirError, operation_outcome
from service.api.responses import FHIR_JSON


def too_large(limit: int) -> FhirError:
    return FhirError(413, f"The request body is larger than {limit} bytes", code="too-costly")


class BodyLimit:
    """ASGI middleware: at most `limit` bytes of any request body reach the app."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Raised inside the app's read of the body: the route answers it as any refusal.
                    raise too_large(self.limit)
            return message

        return counted

    async def _refuse(self, send: Send) -> None:
        error = too_large(self.limit)
        body = orjson.dumps(operation_outcome(error.issues))
        headers = [
            (b"content-type", FHIR_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
