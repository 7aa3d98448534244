"""Planner statistics for SQLite.

SQLite plans from statistics only once ANALYZE has run, and never gathers them by itself:
without them a search by subject, code and date starts from every Observation instead of the
subject's few. PostgreSQL's autovacuum keeps its own statistics, so this is SQLite only.
"""


from sqlalchemy import func, select

from service.periodic import Periodic
from service.store.database import Database
from service.store.tables import ResourceRow

# ANALYZE reads this many rows of each index at most: seconds become milliseconds, and the
# estimates stay good enough to choose between the index tables.
ANALYSIS_LIMIT = 1000


async def analyze(db: Database) -> None:
    async with db.write() as conn:
        await conn.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        await conn.exec_driver_sql("ANALYZE")


class StatisticsRefresher:
    """Re-analyzes when the number of resources has grown by a quarter since the last time."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._analyzed_at_rows = -1

    def periodic(self, check_seconds: float) -> Periodic:
        """The check, every check_seconds, on SQLite only (PostgreSQL keeps its own statistics)."""
        return Periodic("dyad-sqlite-statistics", self.refresh_if_grown, check_seconds if self._db.dialect == "sqlite" else 0)

    async def refresh_if_grown(self) -> bool:
        async with self._db.read() as conn:
            rows = int(await conn.scalar(select(func.count()).select_from(ResourceRow)) or 0)
        if rows <= self._analyzed_at_rows * 1.25 + 100:
            return False
        await analyze(self._db)
        self._analyzed_at_rows = rows
        return True
