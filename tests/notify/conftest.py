"""Notification tests run the real app (lifespan, worker and all) against a real HTTP receiver."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from service.app import create_app
from service.config import Settings
from service.notify.subscriptions import PAYLOAD_CONTENT_URL
from service.notify.tables import NotifyEventRow
from service.store.database import Database
from tests.fhir_samples import FHIR_JSON, store_infants
from tests.polling import until

CODE_SYSTEM = "https://w3id.org/dyad/fhir/CodeSystem/dyad-concepts"


def fast_settings(database_url: str, **overrides: Any) -> Settings:
    """Delivery settings squeezed from hours and minutes into fractions of a second."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "auth": "off",
        "notify_poll_interval_seconds": 0.05,
        "notify_initial_backoff_seconds": 0.05,
        "notify_max_backoff_seconds": 0.2,
        "notify_retry_horizon_seconds": 3600,
        "notify_lease_seconds": 5,
        "notify_errors_before_error_status": 2,
        "notify_timeout_seconds": 2,
        "notify_subscription_refresh_seconds": 0.5,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dyad.test") as client:
            # Seeded once per database: a second replica's first write would load its subscription
            # cache before the test's subscriptions exist (refreshed only after a while).
            if (await client.get("/fhir/Patient/infant-1")).status_code == 404:
                await store_infants(client)
            yield app, client


def subscription(
    endpoint: str,
    criteria: str = f"Observation?code={CODE_SYSTEM}|relationship-assessment",
    *,
    payload: str | None = "application/fhir+json",
    content: str | None = None,
    headers: list[str] | None = None,
    status: str = "requested",
) -> dict[str, Any]:
    channel: dict[str, Any] = {"type": "rest-hook", "endpoint": endpoint}
    if payload is not None:
        channel["payload"] = payload
    if content is not None:
        channel["_payload"] = {"extension": [{"url": PAYLOAD_CONTENT_URL, "valueCode": content}]}
    if headers:
        channel["header"] = headers
    return {
        "resourceType": "Subscription",
        "status": status,
        "reason": "test",
        "criteria": criteria,
        "channel": channel,
    }


async def create(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def events(database_url: str, **where: Any) -> list[Any]:
    """The outbox as the database holds it, oldest first."""
    db = Database(database_url)
    try:
        async with db.read() as conn:
            statement = select(NotifyEventRow).order_by(NotifyEventRow.pk)
            for column, value in where.items():
                statement = statement.where(getattr(NotifyEventRow, column) == value)
            return list((await conn.execute(statement)).all())
    finally:
        await db.dispose()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll check until it holds; the worker runs on its own clock."""
    await until(check, timeout)
