"""Planner statistics kept current by the server itself, on both databases.

SQLite plans from statistics only once ANALYZE has run, and never gathers them by itself.
PostgreSQL's autovacuum would, but it may be off (it is on this project's machines) or lag a bulk
load: measured at 100,000 Observations without statistics, a search's count took 13.7 s and its
page 1.6 s; after ANALYZE, 1-9 ms each (docs/benchmarks.md). Either way the search by subject,
code and date must start from the subject's few reference rows, not from every Observation.
"""

from sqlalchemy import func, select, text

from service.periodic import Periodic
from service.store.database import Database
from service.store.tables import ResourceRow

# ANALYZE reads this many rows of each index at most: seconds become milliseconds, and the
# estimates stay good enough to choose between the index tables.
ANALYSIS_LIMIT = 1000
# PostgreSQL: a table is analysed again once this many rows plus this share of it changed since
# the last time (autovacuum's own defaults).
CHANGED_ROWS_FLOOR = 50
CHANGED_SHARE = 0.1
# One replica analyses at a time; the others skip the round (an arbitrary constant key).
ANALYZE_LOCK_KEY = 0x44794144


async def analyze(db: Database) -> None:
    async with db.write() as conn:
        await conn.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        await conn.exec_driver_sql("ANALYZE")


async def analyze_changed_postgres_tables(db: Database) -> list[str]:
    """ANALYZE the tables that changed enough since their last analysis; returns their names."""
    async with db.write() as conn:
        if not await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ANALYZE_LOCK_KEY}):
            return []
        stale = text(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() "
            "AND n_mod_since_analyze > :floor + :share * n_live_tup ORDER BY relname"
        )
        tables = [
            str(name)
            for name in (await conn.execute(stale, {"floor": CHANGED_ROWS_FLOOR, "share": CHANGED_SHARE})).scalars()
        ]
        for table in tables:
            await conn.exec_driver_sql(f'ANALYZE "{table}"')
    return tables


class StatisticsRefresher:
    """SQLite: re-analyzes when the number of resources has grown by a quarter since the last time.
    PostgreSQL: analyzes each table that changed by a tenth since its last analysis."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._analyzed_at_rows = -1

    def periodic(self, check_seconds: float) -> Periodic:
        """The check, every check_seconds (0: never)."""
        return Periodic("dyad-statistics", self.refresh_if_grown, check_seconds)

    async def refresh_if_grown(self) -> bool:
        if self._db.is_postgres:
            return bool(await analyze_changed_postgres_tables(self._db))
        async with self._db.read() as conn:
            rows = int(await conn.scalar(select(func.count()).select_from(ResourceRow)) or 0)
        if rows <= self._analyzed_at_rows * 1.25 + 100:
            return False
        await analyze(self._db)
        self._analyzed_at_rows = rows
        return True
