"""Waking the delivery worker when events are committed, instead of polling for them.

In one process the pool's check-in hook pokes the worker (service.notify.runtime). Across
processes (several `dyad serve` workers, a separate `dyad notify-worker`, other replicas) on
PostgreSQL, the writing transaction sends NOTIFY on a channel the worker LISTENs to: PostgreSQL
delivers it only if and when that transaction commits, so a woken worker finds the events. The
worker's slow poll (DYAD_NOTIFY_POLL_INTERVAL_SECONDS) stays as the safety net for a lost
listening connection, and for SQLite's separate worker processes, which have no such channel.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.store.database import Database

log = logging.getLogger("dyad.notify")

CHANNEL = "dyad_outbox"
_NOTIFIED_KEY = "dyad_notify_notified"
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)


async def notify_on_commit(conn: AsyncConnection) -> None:
    """Have this transaction wake the listening workers when it commits (PostgreSQL; once each).

    Keyed by the innermost transaction: a NOTIFY sent inside a savepoint that is rolled back is
    discarded with it, so the outer transaction sends its own.
    """
    if conn.dialect.name != "postgresql":
        return
    transaction = conn.get_nested_transaction() or conn.get_transaction()
    if conn.info.get(_NOTIFIED_KEY) is transaction:
        return
    await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    conn.info[_NOTIFIED_KEY] = transaction


class PostgresWakeups:
    """Listens on CHANNEL over a connection of its own and calls wake() for every notification."""

    def __init__(self, db: Database, wake: Callable[[], None]) -> None:
        self._dsn = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._wake = wake
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()  # set while a LISTEN is in place (tests wait for it)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dyad-notify-listen")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._listen_until_lost()
                failures = 0
            except (TimeoutError, OSError, asyncpg.PostgresError):
                log.warning("notify listen connection failed")
                failures += 1
            self.listening.clear()
            self._wake()  # whatever was committed while not listening is found by a claim round
            delay = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except TimeoutError:
                pass

    async def _listen_until_lost(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=10)
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(CHANNEL, self._on_notification)
            self.listening.set()
            stopping = asyncio.ensure_future(self._stopping.wait())
            gone = asyncio.ensure_future(lost.wait())
            await asyncio.wait({stopping, gone}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            gone.cancel()
        finally:
            if not conn.is_closed():
                await conn.close(timeout=5)

    def _on_notification(self, *_args: Any) -> None:
        self._wake()
