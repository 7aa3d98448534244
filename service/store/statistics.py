"""Planner statistics for SQLite.

SQLite plans from statistics only once ANALYZE has run, and never gathers them by itself:
without them a search by subject, code and date starts from every Observation instead of the
subject's few. PostgreSQL's autovacuum keeps its own statistics, so this is SQLite only.
"""

import asyncio
import logging

from sqlalchemy import func, select

from service.store.database import Database
from service.store.tables import ResourceRow

log = logging.getLogger("dyad.store")

# ANALYZE reads this many rows of each index at most: seconds become milliseconds, and the
# estimates stay good enough to choose between the index tables.
ANALYSIS_LIMIT = 1000


async def analyze(db: Database) -> None:
    async with db.write() as conn:
        await conn.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        await conn.exec_driver_sql("ANALYZE")


class StatisticsRefresher:
    """Re-analyzes when the number of resources has grown by a quarter since the last time."""

    def __init__(self, db: Database, check_seconds: float) -> None:
        self._db = db
        self._check_seconds = check_seconds
        self._analyzed_at_rows = -1
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._db.dialect == "sqlite" and self._check_seconds > 0:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def refresh_if_grown(self) -> bool:
        async with self._db.read() as conn:
            rows = int(await conn.scalar(select(func.count()).select_from(ResourceRow)) or 0)
        if rows <= self._analyzed_at_rows * 1.25 + 100:
            return False
        await analyze(self._db)
        self._analyzed_at_rows = rows
        return True

    async def _run(self) -> None:
        while True:
            try:
                # Shielded: a stop during ANALYZE waits for it rather than leaving the write lock held.
                await asyncio.shield(self.refresh_if_grown())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - statistics are an optimisation, never fatal
                log.warning("statistics refresh failed", extra={"error_type": type(exc).__name__})
            await asyncio.sleep(self._check_seconds)
