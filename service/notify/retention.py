"""How long finished notifications are kept: delivered and dead events are purged after a while.

The outbox keeps every finished event so an operator can see what was sent and what gave up;
without a limit it would grow with every write for as long as the service runs. Pending events
are never touched. Each round deletes in bounded batches, so no replica holds the write lock long,
and several replicas purging at once only repeat each other's (idempotent) deletes.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from service.notify.tables import DEAD, DELIVERED, NotifyEventRow
from service.store.database import Database


class OutboxRetention:
    def __init__(self, db: Database, keep: timedelta, batch: int = 1000) -> None:
        self.db, self.keep, self.batch = db, keep, batch

    async def purge(self, now: datetime | None = None) -> int:
        """Delete finished events queued before now - keep; returns how many went."""
        cutoff = (now or datetime.now(UTC)) - self.keep
        purged = 0
        while True:
            async with self.db.write() as conn:
                doomed = (
                    select(NotifyEventRow.pk)
                    .where(NotifyEventRow.state.in_((DELIVERED, DEAD)), NotifyEventRow.created_at < cutoff)
                    .limit(self.batch)
                    .scalar_subquery()
                )
                deleted = (await conn.execute(delete(NotifyEventRow).where(NotifyEventRow.pk.in_(doomed)))).rowcount
            purged += deleted
            if deleted < self.batch:
                return purged
