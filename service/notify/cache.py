"""The subscriptions that can fire, per resource type, kept in memory between writes.

Loaded from the database inside the writer's own transaction (no second connection, so a busy
pool cannot deadlock on it). Refreshed every `refresh_seconds` because other replicas write
Subscriptions too, and at once after this process writes one.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.conformance.issues import InvalidResource
from service.notify.subscriptions import Subscriber, read_subscriber
from service.search.registry import SearchRegistry
from service.store.records import select_current
from service.store.tables import ResourceRow

log = logging.getLogger("dyad.notify")

# How long a Subscription write this process saw is awaited in the database before it is taken
# to have been rolled back.
AWAIT_COMMIT_SECONDS = 30.0
_DIRTY_KEY = "dyad_notify_subscription_tx"


@dataclass(frozen=True)
class _Snapshot:
    by_type: dict[str, tuple[Subscriber, ...]]
    versions: dict[str, int]  # every Subscription id seen, deleted ones included


@dataclass
class SubscriptionCache:
    registry: SearchRegistry
    refresh_seconds: float
    clock: Callable[[], float] = time.monotonic
    _snapshot: _Snapshot = field(default_factory=lambda: _Snapshot({}, {}))
    _loaded_at: float = float("-inf")
    # Subscription writes seen in a transaction but not yet in a loaded snapshot: id -> (version, give up at)
    _awaited: dict[str, tuple[int, float]] = field(default_factory=dict)

    def note_write(self, conn: AsyncConnection, sub_id: str, version: int) -> None:
        """A Subscription changed in conn's transaction: reload until that version is seen committed."""
        self._awaited[sub_id] = (version, self.clock() + AWAIT_COMMIT_SECONDS)
        conn.info[_DIRTY_KEY] = conn.sync_connection.get_transaction() if conn.sync_connection else None

    async def for_type(self, conn: AsyncConnection, res_type: str, now: datetime) -> list[Subscriber]:
        snapshot = self._snapshot
        if self._stale():
            snapshot = await _load(conn, self.registry)
            # A snapshot read inside a transaction that wrote a Subscription holds uncommitted
            # state; it may serve that transaction but must not outlive a rollback.
            if not _wrote_subscriptions(conn):
                self._install(snapshot)
        return [s for s in snapshot.by_type.get(res_type, ()) if s.queues(now)]

    def _stale(self) -> bool:
        return bool(self._awaited) or self.clock() - self._loaded_at >= self.refresh_seconds

    def _install(self, snapshot: _Snapshot) -> None:
        now = self.clock()
        self._snapshot = snapshot
        self._loaded_at = now
        self._awaited = {
            sub_id: (version, give_up)
            for sub_id, (version, give_up) in self._awaited.items()
            if snapshot.versions.get(sub_id, 0) < version and give_up > now
        }


def _wrote_subscriptions(conn: AsyncConnection) -> bool:
    marked = conn.info.get(_DIRTY_KEY)
    return marked is not None and conn.sync_connection is not None and marked is conn.sync_connection.get_transaction()


async def _load(conn: AsyncConnection, registry: SearchRegistry) -> _Snapshot:
    versions: dict[str, int] = {}
    for res_id, version in await conn.execute(
        select(ResourceRow.res_id, ResourceRow.version).where(ResourceRow.res_type == "Subscription")
    ):
        versions[res_id] = version
    by_type: dict[str, list[Subscriber]] = {}
    current = await conn.execute(
        select_current()
        .add_columns(ResourceRow.owner_org)
        .where(ResourceRow.res_type == "Subscription", ResourceRow.deleted.is_(False))
    )
    for row in current:
        subscriber = _subscriber_or_none(registry, row.content, row.version, row.owner_org)
        if subscriber is not None:
            by_type.setdefault(subscriber.res_type, []).append(subscriber)
    return _Snapshot({k: tuple(v) for k, v in by_type.items()}, versions)


def _subscriber_or_none(
    registry: SearchRegistry, content: dict[str, Any] | None, version: int, owner_org: str | None
) -> Subscriber | None:
    """Stored Subscriptions were checked when written; one that no longer reads (say a search
    parameter was removed from the profiles) is skipped rather than failing every write."""
    if content is None:
        return None
    try:
        return read_subscriber(registry, content, version, owner_org)
    except InvalidResource:
        log.warning("subscription unusable", extra={"subscription": content.get("id")})
        return None
