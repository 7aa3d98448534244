"""The pathway clocks table: one row per referral task and clock, written in the writer's transaction.

The clocks live in a table rather than only on the Task because the periodic check must find
the running, past-due ones without scanning resources, and claim each breach exactly once.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Index, String, UniqueConstraint, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, mapped_column

from service.store.access import Viewer, visible
from service.store.tables import Base, ResourceRow
from service.store.types import BigIntPK, UTCDateTime


class PathwayClockRow(Base):
    __tablename__ = "pathway_clock"
    __table_args__ = (
        UniqueConstraint("task_id", "clock", name="uq_pathway_clock_task_clock"),
        Index("ix_pathway_clock_running_due", "due_at"),
        Index("ix_pathway_clock_owner", "owner"),
    )

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(64))
    clock: Mapped[str] = mapped_column(String(32))  # assessment | intervention
    referral: Mapped[str | None] = mapped_column(String(200), nullable=True)  # ServiceRequest/<id>
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)  # receiving service
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True), nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True), nullable=True)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class Clock:
    task_id: str
    clock: str
    referral: str | None
    owner: str | None
    started_at: datetime
    due_at: datetime
    met_at: datetime | None = None
    stopped_at: datetime | None = None
    breached_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.met_at is None and self.stopped_at is None


def _clock(row: Any) -> Clock:
    return Clock(
        row.task_id,
        row.clock,
        row.referral,
        row.owner,
        row.started_at,
        row.due_at,
        row.met_at,
        row.stopped_at,
        row.breached_at,
    )


_COLUMNS = (
    PathwayClockRow.task_id,
    PathwayClockRow.clock,
    PathwayClockRow.referral,
    PathwayClockRow.owner,
    PathwayClockRow.started_at,
    PathwayClockRow.due_at,
    PathwayClockRow.met_at,
    PathwayClockRow.stopped_at,
    PathwayClockRow.breached_at,
)


async def clocks_of(conn: AsyncConnection, task_id: str) -> dict[str, Clock]:
    result = await conn.execute(select(*_COLUMNS).where(PathwayClockRow.task_id == task_id))
    return {row.clock: _clock(row) for row in result}


async def save_clock(conn: AsyncConnection, clock: Clock) -> None:
    """Insert or update the (task, clock) row; breached_at is the check's to set, never overwritten here."""
    values = {
        "task_id": clock.task_id,
        "clock": clock.clock,
        "referral": clock.referral,
        "owner": clock.owner,
        "started_at": clock.started_at,
        "due_at": clock.due_at,
        "met_at": clock.met_at,
        "stopped_at": clock.stopped_at,
    }
    changing = {k: v for k, v in values.items() if k not in ("task_id", "clock")}
    dialect = conn.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(PathwayClockRow).values(**values, breached_at=None)
    await conn.execute(statement.on_conflict_do_update(index_elements=["task_id", "clock"], set_=changing))


async def past_due(conn: AsyncConnection, now: datetime, limit: int = 200) -> list[Clock]:
    """Running clocks whose due time has passed and whose breach is not yet raised (no lock taken)."""
    result = await conn.execute(
        select(*_COLUMNS)
        .where(
            PathwayClockRow.due_at < now,
            PathwayClockRow.met_at.is_(None),
            PathwayClockRow.stopped_at.is_(None),
            PathwayClockRow.breached_at.is_(None),
        )
        .order_by(PathwayClockRow.due_at)
        .limit(limit)
    )
    return [_clock(row) for row in result]


async def claim_breach(conn: AsyncConnection, task_id: str, clock: str, now: datetime) -> bool:
    """Mark the breach raised; False when another check (or the clock being met) got there first.

    The conditional UPDATE is the once-only guarantee: on PostgreSQL a second replica's UPDATE
    waits for the first's commit, then re-checks `breached_at IS NULL` and matches nothing.
    """
    result = await conn.execute(
        update(PathwayClockRow)
        .where(
            PathwayClockRow.task_id == task_id,
            PathwayClockRow.clock == clock,
            PathwayClockRow.breached_at.is_(None),
            PathwayClockRow.met_at.is_(None),
            PathwayClockRow.stopped_at.is_(None),
        )
        .values(breached_at=now)
        .returning(PathwayClockRow.pk)
    )
    return result.first() is not None


def _seen_by(viewer: Viewer) -> ColumnElement[bool]:
    """A clock counts only for a viewer who may see its Task: a restricted referral's wait is the
    referral's own, and a figure cut fine enough (one team, one week) is that one referral."""
    return exists().where(
        ResourceRow.res_type == "Task", ResourceRow.res_id == PathwayClockRow.task_id, visible(viewer, ResourceRow)
    )


async def clocks_for_period(
    conn: AsyncConnection, start: datetime, end: datetime, owner: str | None, *, viewer: Viewer
) -> list[Clock]:
    """Clocks started in [start, end), optionally for one receiving service, that the viewer may see."""
    query = select(*_COLUMNS).where(
        PathwayClockRow.started_at >= start, PathwayClockRow.started_at < end, _seen_by(viewer)
    )
    if owner:
        query = query.where(PathwayClockRow.owner == owner)
    return [_clock(row) for row in await conn.execute(query)]


async def breaches_in_period(
    conn: AsyncConnection, start: datetime, end: datetime, owner: str | None, *, viewer: Viewer
) -> list[Clock]:
    query = select(*_COLUMNS).where(
        PathwayClockRow.breached_at >= start, PathwayClockRow.breached_at < end, _seen_by(viewer)
    )
    if owner:
        query = query.where(PathwayClockRow.owner == owner)
    return [_clock(row) for row in await conn.execute(query)]
