"""The server keeps planner statistics current, so searches start from the selective index."""

import asyncio
import time

import pytest
from sqlalchemy import text

from service.config import get_settings
from service.conformance.guide import compiled_guide
from service.store.database import Database
from service.store.repository import NewResource, ResourceRepository
from service.store.search import SearchIndexer
from service.store.statistics import StatisticsRefresher


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_refresher_analyzes_sqlite_when_resources_have_grown(database: Database) -> None:
    refresher = StatisticsRefresher(database)
    assert await refresher.refresh_if_grown()  # the guide's definitions are already there
    async with database.read() as conn:
        analyzed = (await conn.execute(text("SELECT count(*) FROM sqlite_stat1"))).scalar_one()
    assert analyzed > 0
    assert not await refresher.refresh_if_grown()  # nothing new since


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_refresher_analyzes_postgres_tables_that_changed(database: Database) -> None:
    """Autovacuum is off on these machines: without the server's own ANALYZE the planner would
    plan searches over these tables blind."""
    refresher = StatisticsRefresher(database)
    await _create_observations(database, 300)
    deadline = time.monotonic() + 30
    analyzed = False
    while not analyzed and time.monotonic() < deadline:  # the write's counters reach pg_stat within ~1 s
        analyzed = await refresher.refresh_if_grown()
        if not analyzed:
            await asyncio.sleep(0.2)
    assert analyzed
    async with database.read() as conn:
        last = await conn.scalar(
            text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'search_reference'")
        )
    assert last is not None
    assert not await refresher.refresh_if_grown()  # nothing changed since


async def _create_observations(database: Database, count: int) -> None:
    registry = compiled_guide(get_settings().profiles_dir).registry
    repository = ResourceRepository(SearchIndexer(registry))
    items = [
        NewResource(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "subject": {"reference": f"Patient/p{i % 10}"},
            }
        )
        for i in range(count)
    ]
    async with database.write() as conn:
        await repository.create_many(conn, items, announce=False)
