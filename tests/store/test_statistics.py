"""SQLite gets planner statistics once it holds data, so searches start from the selective index."""

import pytest
from sqlalchemy import text

from service.store.database import Database
from service.store.statistics import StatisticsRefresher


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_refresher_analyzes_sqlite_when_resources_have_grown(database: Database) -> None:
    refresher = StatisticsRefresher(database)
    assert await refresher.refresh_if_grown()  # the guide's definitions are already there
    async with database.read() as conn:
        analyzed = (await conn.execute(text("SELECT count(*) FROM sqlite_stat1"))).scalar_one()
    assert analyzed > 0
    assert not await refresher.refresh_if_grown()  # nothing new since
