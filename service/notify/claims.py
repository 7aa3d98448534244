"""Leases on delivery lanes, and the state changes of the events in them.

A worker claims a lane (one subscription) with a time-limited lease, delivers that lane's
pending events oldest first, and records each outcome. On PostgreSQL claims use
`SELECT ... FOR UPDATE SKIP LOCKED`, so replicas claiming at once take different lanes without
waiting on each other; on SQLite one UPDATE ... RETURNING runs under the database's single write
lock. A lease that is not renewed (a worker that died) expires and the lane is claimed again.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from service.notify.tables import DEAD, DELIVERED, PENDING, DeliveryLaneRow, NotifyEventRow
from service.store.tables import ResourceVersionRow

_lane = DeliveryLaneRow
_event = NotifyEventRow


@dataclass(frozen=True, slots=True)
class PendingEvent:
    pk: int
    event_id: str
    res_type: str
    res_id: str
    version: int
    interaction: str
    created_at: datetime
    attempts: int
    content: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Lane:
    subscription_id: str
    consecutive_failures: int
    error_reported: bool


async def lanes_with_work(conn: AsyncConnection) -> list[str]:
    """Subscriptions that have pending events; cheap, read-only, so idle polling takes no write lock."""
    result = await conn.execute(select(_event.subscription_id).where(_event.state == PENDING).distinct())
    return [row[0] for row in result]


async def claim_lanes(
    conn: AsyncConnection,
    candidates: list[str],
    *,
    worker: str,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[Lane]:
    """Lease up to `limit` of the candidate lanes that are due and not held by a live lease."""
    if not candidates or limit <= 0:
        return []
    await _ensure_lanes(conn, candidates)
    claimable = and_(
        _lane.subscription_id.in_(candidates),
        or_(_lane.next_attempt_at.is_(None), _lane.next_attempt_at <= now),
        or_(_lane.claimed_until.is_(None), _lane.claimed_until < now),
        exists().where(_event.subscription_id == _lane.subscription_id, _event.state == PENDING),
    )
    lease_values = {"claimed_by": worker, "claimed_until": now + lease}
    returning = (_lane.subscription_id, _lane.consecutive_failures, _lane.error_reported)
    if conn.dialect.name == "postgresql":
        locked = await conn.execute(
            select(_lane.subscription_id)
            .where(claimable)
            .order_by(_lane.next_attempt_at.nulls_first())
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = [row[0] for row in locked]
        if not ids:
            return []
        statement = update(_lane).where(_lane.subscription_id.in_(ids))
    else:
        chosen = select(_lane.subscription_id).where(claimable).limit(limit).scalar_subquery()
        statement = update(_lane).where(_lane.subscription_id.in_(chosen))
    claimed = await conn.execute(statement.values(**lease_values).returning(*returning))
    return [Lane(*row) for row in claimed]


async def _ensure_lanes(conn: AsyncConnection, subscription_ids: list[str]) -> None:
    """Lanes are created on demand, so the writers of events never touch (or lock) a lane row."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        insert(_lane)
        .values([{"subscription_id": s, "consecutive_failures": 0, "error_reported": False} for s in subscription_ids])
        .on_conflict_do_nothing()
    )


async def renew_lease(conn: AsyncConnection, sub_id: str, *, worker: str, until: datetime) -> bool:
    """Extend our lease; False when it was lost (it expired and another worker took the lane)."""
    result = await conn.execute(
        update(_lane).where(_lane.subscription_id == sub_id, _lane.claimed_by == worker).values(claimed_until=until)
    )
    return result.rowcount == 1


async def release_lane(
    conn: AsyncConnection, sub_id: str, *, worker: str, next_attempt_at: datetime | None = None
) -> None:
    await conn.execute(
        update(_lane)
        .where(_lane.subscription_id == sub_id, _lane.claimed_by == worker)
        .values(claimed_by=None, claimed_until=None, next_attempt_at=next_attempt_at)
    )


async def pending_events(conn: AsyncConnection, sub_id: str, *, limit: int) -> list[PendingEvent]:
    """The lane's oldest pending events with the resource version each one is about."""
    result = await conn.execute(
        select(
            _event.pk,
            _event.event_id,
            _event.res_type,
            _event.res_id,
            _event.version,
            _event.interaction,
            _event.created_at,
            _event.attempts,
            ResourceVersionRow.content,
        )
        .outerjoin(
            ResourceVersionRow,
            and_(ResourceVersionRow.resource_pk == _event.resource_pk, ResourceVersionRow.version == _event.version),
        )
        .where(_event.subscription_id == sub_id, _event.state == PENDING)
        .order_by(_event.pk)
        .limit(limit)
    )
    return [PendingEvent(*row) for row in result]


async def mark_delivered(conn: AsyncConnection, pks: list[int], *, status: int, now: datetime) -> None:
    if pks:
        await conn.execute(
            update(_event)
            .where(_event.pk.in_(pks), _event.state == PENDING)
            .values(
                state=DELIVERED,
                attempts=_event.attempts + 1,
                last_attempt_at=now,
                last_status=status,
                last_error=None,
                finished_at=now,
            )
        )


async def record_failure(
    conn: AsyncConnection, pk: int, *, status: int | None, error: str, now: datetime, dead: bool
) -> None:
    values: dict[str, Any] = {
        "attempts": _event.attempts + 1,
        "last_attempt_at": now,
        "last_status": status,
        "last_error": error,
    }
    if dead:
        values.update(state=DEAD, finished_at=now)
    await conn.execute(update(_event).where(_event.pk == pk, _event.state == PENDING).values(**values))


async def abandon_lane(conn: AsyncConnection, sub_id: str, *, reason: str, now: datetime) -> int:
    """Mark every pending event of a lane dead (its subscription was deleted or turned off)."""
    result = await conn.execute(
        update(_event)
        .where(_event.subscription_id == sub_id, _event.state == PENDING)
        .values(state=DEAD, last_error=reason, finished_at=now)
    )
    return int(result.rowcount or 0)


async def set_lane_health(
    conn: AsyncConnection, sub_id: str, *, consecutive_failures: int, error_reported: bool
) -> None:
    await conn.execute(
        update(_lane)
        .where(_lane.subscription_id == sub_id)
        .values(consecutive_failures=consecutive_failures, error_reported=error_reported)
    )
