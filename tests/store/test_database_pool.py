"""A process's database pool is fixed: it never opens more connections than its size, however many
requests wait, and a wait that runs out is answered 503, not dropped."""

import asyncio

import pytest
from sqlalchemy import event, text

from service.api.errors import status_and_issues
from service.store.database import Database
from service.store.errors import NoConnectionFree


def _sleep(backend: str) -> str:
    # SQLite has no sleep; a recursive count of a few hundred thousand rows holds the connection.
    if backend == "postgresql":
        return "SELECT pg_sleep(0.05)"
    return "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) SELECT count(*) FROM n"


async def test_many_waiting_readers_open_no_connection_beyond_the_pool(database_url: str, backend: str) -> None:
    db = Database(database_url, pool_size=2)
    opened: list[object] = []
    event.listen(db.read_engine.sync_engine, "connect", lambda conn, _record: opened.append(conn))
    in_use = 0
    most = 0

    async def read() -> None:
        nonlocal in_use, most
        async with db.read() as conn:
            in_use += 1
            most = max(most, in_use)
            await conn.execute(text(_sleep(backend)))
            in_use -= 1

    try:
        for _ in range(3):  # rounds: an overflowing pool opens (and closes) connections every round
            await asyncio.gather(*(read() for _ in range(8)))
    finally:
        await db.dispose()
    assert most == 2
    assert len(opened) == 2


async def test_a_wait_for_a_connection_that_runs_out_is_the_stores_503(database_url: str) -> None:
    db = Database(database_url, pool_size=1, pool_wait=0.2)
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with db.read():
            held.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    try:
        await held.wait()
        with pytest.raises(NoConnectionFree):
            async with db.read():
                pass
        release.set()
        await holder
        async with db.read() as conn:  # the pool serves again once the connection is back
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        release.set()
        await holder
        await db.dispose()


def test_no_connection_free_answers_503_transient() -> None:
    status, issues = status_and_issues(NoConnectionFree())
    assert (status, issues[0].code) == (503, "transient")
