"""Retention: finished notification events are purged after the configured time; pending ones never are."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bench.notify_receiver import Receiver, free_port
from service.notify.retention import OutboxRetention
from service.notify.tables import DEAD, DELIVERED, PENDING, NotifyEventRow
from service.store.database import Database
from tests.fhir_samples import observation
from tests.notify.conftest import create, events, eventually, fast_settings, running, subscription


async def _delivered_and_pending(database_url: str, receiver: Receiver) -> None:
    """One event delivered to the receiver, one still owed to an endpoint that is not there."""
    nobody = f"http://127.0.0.1:{free_port()}/hook"
    async with running(fast_settings(database_url)) as (_, client):
        await create(client, subscription(receiver.url))
        await create(client, subscription(nobody))
        await create(client, observation())
        await receiver.wait_for(1)

        async def one_delivered() -> bool:
            return len(await events(database_url, state=DELIVERED)) == 1

        await eventually(one_delivered)


async def _purge(database_url: str, now: datetime, keep: timedelta = timedelta(hours=1)) -> int:
    db = Database(database_url)
    try:
        return await OutboxRetention(db, keep, batch=1).purge(now)
    finally:
        await db.dispose()


async def test_delivered_events_older_than_the_retention_are_purged_and_pending_ones_kept(
    database_url: str, receiver: Receiver
) -> None:
    await _delivered_and_pending(database_url, receiver)
    assert await _purge(database_url, datetime.now(UTC) + timedelta(hours=2)) == 1
    assert [e.state for e in await events(database_url)] == [PENDING]


async def test_events_younger_than_the_retention_are_kept(database_url: str, receiver: Receiver) -> None:
    await _delivered_and_pending(database_url, receiver)
    assert await _purge(database_url, datetime.now(UTC)) == 0
    assert sorted(e.state for e in await events(database_url)) == [DELIVERED, PENDING]


async def test_dead_events_are_purged_like_delivered_ones(database_url: str, receiver: Receiver) -> None:
    await _delivered_and_pending(database_url, receiver)
    db = Database(database_url)
    try:
        async with db.write() as conn:
            await conn.execute(update(NotifyEventRow).where(NotifyEventRow.state == PENDING).values(state=DEAD))
    finally:
        await db.dispose()
    assert await _purge(database_url, datetime.now(UTC) + timedelta(hours=2)) == 2
    assert await events(database_url) == []


async def test_a_retention_of_zero_keeps_every_event(database_url: str) -> None:
    async with running(fast_settings(database_url, notify_retention_hours=0)) as (app, _):
        assert app.state.notifications.purge is None
    async with running(fast_settings(database_url)) as (app, _):
        assert app.state.notifications.purge is not None
