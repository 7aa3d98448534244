"""A search whose client has gone is cancelled rather than left running against the database."""

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import Request

from service.api import interactions
from service.api.disconnect import CLIENT_CLOSED_REQUEST, ClientDisconnected, unless_disconnected
from service.app import create_app
from service.config import Settings


def _request(messages: list[dict[str, Any]], gone: asyncio.Event) -> Request:
    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await gone.wait()
        return {"type": "http.disconnect"}

    return Request({"type": "http", "method": "GET", "path": "/", "headers": []}, receive)


async def test_work_is_cancelled_when_the_client_disconnects() -> None:
    gone, started, cancelled = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def search() -> str:
        started.set()
        try:
            await asyncio.Event().wait()  # a statement that would run for ever
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    request = _request([{"type": "http.request", "body": b"", "more_body": False}], gone)
    waiting = asyncio.ensure_future(unless_disconnected(request, search()))
    await started.wait()
    gone.set()
    try:
        await waiting
    except ClientDisconnected:
        pass
    else:
        raise AssertionError("the disconnect was not noticed")
    assert cancelled.is_set()


async def test_work_that_finishes_first_is_answered_and_the_watcher_stops() -> None:
    gone = asyncio.Event()
    request = _request([{"type": "http.request", "body": b"", "more_body": False}], gone)

    async def search() -> str:
        return "page"

    assert await unless_disconnected(request, search()) == "page"
    assert not gone.is_set()


async def test_searches_still_answer_over_http(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/Observation", params={"subject": "Patient/nobody"})
    assert response.status_code == 200
    assert response.json()["total"] == 0


async def test_the_search_route_cancels_its_search_when_the_client_goes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, cancelled, gone = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def endless_search(*_args: Any, **_kwargs: Any) -> Any:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    monkeypatch.setattr(interactions, "search", endless_search)
    app = create_app(settings)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    request = _request([{"type": "http.request", "body": b"", "more_body": False}], gone)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/fhir/Observation",
        "raw_path": b"/fhir/Observation",
        "query_string": b"subject=Patient/a",
        "root_path": "",
        "headers": [(b"host", b"dyad.test")],
        "client": ("127.0.0.1", 1),
        "server": ("dyad.test", 80),
    }
    async with app.router.lifespan_context(app):
        answering = asyncio.ensure_future(app(scope, request.receive, send))
        await started.wait()
        gone.set()
        # a guard against hanging, not a timing assertion: without cancellation it never ends
        done, _ = await asyncio.wait({answering}, timeout=60)
        if not done:
            answering.cancel()
    assert cancelled.is_set()
    assert sent[0]["status"] == CLIENT_CLOSED_REQUEST
