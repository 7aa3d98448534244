"""Pathway clocks: assessment within 2 weeks of the referral being received, intervention within 1 month of assessment."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from service.pathway.breaches import raise_breaches
from service.pathway.clock_store import clocks_of
from service.pathway.clocks import one_month_after
from service.store.database import Database
from tests.pathway.conftest import RunningApp
from tests.pathway.family import put, referral, search, seed_family
from tests.pathway.test_referrals import move, referral_task

RECEIVED_AT = datetime(2026, 9, 16, 9, 0, tzinfo=UTC)


async def received_referral(client: httpx.AsyncClient) -> dict[str, Any]:
    await seed_family(client)
    await put(client, referral())
    task = await referral_task(client)
    response = await move(client, task, "received", "received", lastModified="2026-09-16T09:00:00Z")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def breach_notices(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return await search(
        client, "Communication?category=https://w3id.org/dyad/fhir/CodeSystem/dyad-pathway-clocks|clock-breach"
    )


def test_one_month_after_keeps_the_day_or_takes_the_months_last() -> None:
    assert one_month_after(datetime(2026, 1, 31, tzinfo=UTC)).date().isoformat() == "2026-02-28"
    assert one_month_after(datetime(2026, 12, 5, tzinfo=UTC)).date().isoformat() == "2027-01-05"


REFERRED_AT = datetime(2026, 9, 15, 8, 20, tzinfo=UTC)  # the referral's authoredOn


async def test_the_assessment_clock_runs_from_the_referral_not_from_its_receipt(running: RunningApp) -> None:
    task = await received_referral(running.http)
    async with running.fhir.db.read() as conn:
        clocks = await clocks_of(conn, task["id"])
    assert clocks["assessment"].started_at == REFERRED_AT
    assert clocks["assessment"].due_at == REFERRED_AT + timedelta(days=14)
    assert clocks["assessment"].due_at.date().isoformat() == task["restriction"]["period"]["end"]
    assert "intervention" not in clocks


async def test_a_referral_nobody_opens_breaches_while_still_requested(running: RunningApp) -> None:
    await seed_family(running.http)
    await put(running.http, referral())
    task = await referral_task(running.http)
    assert task["status"] == "requested"
    ctx = running.fhir
    assert await raise_breaches(ctx.db, ctx.repository, ctx.registry, REFERRED_AT + timedelta(days=15)) == 1
    assert [t["id"] for t in await search(running.http, "Task?overdue=true")] == [task["id"]]


async def test_assessment_meets_its_clock_and_starts_the_one_month_intervention_clock(running: RunningApp) -> None:
    task = await received_referral(running.http)
    task = (await move(running.http, task, "accepted", "accepted")).json()
    assessed = await move(running.http, task, "in-progress", "assessed", lastModified="2026-09-25T09:00:00Z")
    async with running.fhir.db.read() as conn:
        clocks = await clocks_of(conn, assessed.json()["id"])
    assert clocks["assessment"].met_at == datetime(2026, 9, 25, 9, tzinfo=UTC)
    assert clocks["intervention"].due_at == datetime(2026, 10, 25, 9, tzinfo=UTC)


async def test_a_missed_clock_raises_one_breach_notice_and_marks_the_task_breached_and_overdue(
    running: RunningApp,
) -> None:
    task = await received_referral(running.http)
    later = RECEIVED_AT + timedelta(days=15)
    ctx = running.fhir
    assert await raise_breaches(ctx.db, ctx.repository, ctx.registry, later) == 1
    assert await raise_breaches(ctx.db, ctx.repository, ctx.registry, later + timedelta(days=1)) == 0
    notices = await breach_notices(running.http)
    assert len(notices) == 1
    assert {"reference": f"Task/{task['id']}"} in notices[0]["about"]
    assert [t["id"] for t in await search(running.http, "Task?breached=assessment")] == [task["id"]]
    assert [t["id"] for t in await search(running.http, "Task?overdue=true")] == [task["id"]]


async def test_a_clock_met_late_is_no_longer_overdue_but_stays_breached(running: RunningApp) -> None:
    await received_referral(running.http)
    ctx = running.fhir
    await raise_breaches(ctx.db, ctx.repository, ctx.registry, RECEIVED_AT + timedelta(days=15))
    task = (await search(running.http, "Task?breached=assessment"))[0]
    task = (await move(running.http, task, "accepted", "accepted")).json()
    assert (await move(running.http, task, "in-progress", "assessed")).status_code == 200
    assert await search(running.http, "Task?overdue=true") == []
    assert len(await search(running.http, "Task?breached=assessment")) == 1


async def test_a_clock_met_in_time_never_breaches(running: RunningApp) -> None:
    task = await received_referral(running.http)
    task = (await move(running.http, task, "accepted", "accepted")).json()
    await move(running.http, task, "in-progress", "assessed", lastModified="2026-09-20T09:00:00Z")
    ctx = running.fhir
    # The assessment clock was met; only the intervention clock (due 20 October) may breach.
    assert await raise_breaches(ctx.db, ctx.repository, ctx.registry, datetime(2026, 10, 1, tzinfo=UTC)) == 0
    assert await breach_notices(running.http) == []


async def test_a_rejected_referral_stops_its_clocks(running: RunningApp) -> None:
    task = await received_referral(running.http)
    await move(running.http, task, "rejected", "rejected", statusReason={"text": "Family moved out of area"})
    ctx = running.fhir
    assert await raise_breaches(ctx.db, ctx.repository, ctx.registry, RECEIVED_AT + timedelta(days=30)) == 0


async def test_concurrent_checks_on_several_replicas_raise_each_breach_once(running: RunningApp, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("replicas share PostgreSQL; SQLite has one writer")
    await received_referral(running.http)
    ctx = running.fhir
    replicas = [Database(str(ctx.db.url.render_as_string(hide_password=False))) for _ in range(4)]
    later = RECEIVED_AT + timedelta(days=15)
    try:
        raised = await asyncio.gather(*(raise_breaches(db, ctx.repository, ctx.registry, later) for db in replicas))
    finally:
        for db in replicas:
            await db.dispose()
    assert sum(raised) == 1
    assert len(await breach_notices(running.http)) == 1
