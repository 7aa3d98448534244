"""The change listener: inside the writer's transaction, queue one event per matching subscription.

Because the events are rows written in the same transaction as the change, a rolled-back write
leaves none behind and a committed one cannot lose its notifications.
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service.conformance.issues import InvalidResource, Issue
from service.notify.cache import SubscriptionCache
from service.notify.endpoints import EndpointPolicy
from service.notify.subscriptions import Subscriber, read_subscriber
from service.notify.tables import PENDING, NotifyEventRow
from service.notify.wakeups import notify_on_commit
from service.search.query import SearchQuery, parse_search
from service.search.registry import SearchRegistry
from service.store.access import Viewer
from service.store.records import StoredResource
from service.store.repository import ResourceRepository
from service.store.search import find_pks, write_index
from service.store.tables import ResourceRow, ResourceVersionRow

EVENT_NAMESPACE = uuid.UUID("6f1d3c52-8f0e-4a43-9a55-2b8c3d1e7a10")
_INTERACTIONS = {"POST": "create", "DELETE": "delete"}
POKE_KEY = "dyad_notify_poke"
# Verdicts prepared for a batch of new versions: (type, id, version) -> (criteria searched, criteria
# matched); dropped when the connection goes back to the pool (service.notify.runtime).
PREPARED_KEY = "dyad_notify_prepared"
CriteriaKey = tuple[str, str | None]  # (criteria, owning organisation): what one search answers


def event_id(sub_id: str, change: StoredResource) -> str:
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{sub_id}|{change.res_type}/{change.res_id}/_history/{change.version}"))


class OutboxListener:
    """A ChangeListener (see service.store.repository) that writes the notification outbox."""

    def __init__(
        self,
        registry: SearchRegistry,
        cache: SubscriptionCache,
        endpoints: EndpointPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = registry
        self.cache = cache
        self.endpoints = endpoints
        self.clock = clock
        self._repository: ResourceRepository | None = None

    def bind(self, repository: ResourceRepository) -> None:
        """The repository this listener is part of; it writes the requested → active step."""
        self._repository = repository

    async def __call__(self, conn: AsyncConnection, change: StoredResource) -> None:
        if change.res_type == "Subscription":
            await self._on_subscription_write(conn, change)
        now = self.clock()
        subscribers = await self.cache.for_type(conn, change.res_type, now)
        if not subscribers:
            return
        matched = await self._matching(conn, change, subscribers)
        if not matched:
            return
        await conn.execute(
            insert(NotifyEventRow),
            [_event_row(s.sub_id, change, now) for s in matched],
        )
        # Read by the pool check-in hook (service.notify.runtime) once the transaction is over;
        # workers in other processes are woken by the commit itself (PostgreSQL).
        conn.info.setdefault(POKE_KEY, set()).update(s.sub_id for s in matched)
        await notify_on_commit(conn)

    async def prepare(self, conn: AsyncConnection, changes: Sequence[StoredResource]) -> None:
        """Match a batch of new versions against each criteria in one search, not one per version.

        The per-change calls that follow take their verdicts from here; a criteria not searched
        here (a Subscription written in the same batch) is still searched for each change.
        """
        now = self.clock()
        by_type: dict[str, list[StoredResource]] = {}
        for change in changes:
            if change.content is not None and change.res_type != "Subscription":
                by_type.setdefault(change.res_type, []).append(change)
        prepared: dict[tuple[str, str, int], tuple[set[CriteriaKey], set[CriteriaKey]]] = {}
        for res_type, batch in by_type.items():
            subscribers = await self.cache.for_type(conn, res_type, now)
            matching = await _matching_batch(conn, self.registry, subscribers, batch)
            searched = set(matching)
            for change in batch:
                prepared[(change.res_type, change.res_id, change.version)] = (
                    searched,
                    {k for k, pks in matching.items() if change.pk in pks},
                )
        conn.info[PREPARED_KEY] = prepared

    async def _on_subscription_write(self, conn: AsyncConnection, change: StoredResource) -> None:
        self.cache.note_write(conn, change.res_id, change.version)
        if change.content is None:
            return
        subscriber = read_subscriber(self.registry, change.content, change.version)  # 422 if unusable
        problem = self.endpoints.url_problem(subscriber.endpoint)
        if problem is not None:
            raise InvalidResource([Issue("error", "security", problem, "Subscription.channel.endpoint")], status=422)
        if subscriber.status == "requested":
            # R4 leaves activation to the server; the criteria and channel were checked just above.
            assert self._repository is not None, "OutboxListener.bind was not called"
            await self._repository.update(
                conn, {**change.content, "status": "active"}, change.res_id, viewer=Viewer.system()
            )

    async def _matching(
        self, conn: AsyncConnection, change: StoredResource, subscribers: list[Subscriber]
    ) -> list[Subscriber]:
        if change.content is not None:
            prepared = conn.info.get(PREPARED_KEY, {}).pop((change.res_type, change.res_id, change.version), None)
            return await _matching_now(conn, self.registry, subscribers, change, prepared)
        return await self._matching_deleted(conn, change, subscribers)

    async def _matching_deleted(
        self, conn: AsyncConnection, change: StoredResource, subscribers: list[Subscriber]
    ) -> list[Subscriber]:
        """A delete notifies the subscriptions whose criteria the deleted version matched.

        Its index rows are gone by now, so the version before the delete is put back for a moment
        inside a savepoint, searched with the real engine, and the savepoint rolled back.
        """
        previous = await conn.scalar(
            select(ResourceVersionRow.content).where(
                ResourceVersionRow.resource_pk == change.pk,
                ResourceVersionRow.version == change.version - 1,
            )
        )
        if previous is None:
            return []
        savepoint = await conn.begin_nested()
        try:
            await conn.execute(update(ResourceRow).where(ResourceRow.pk == change.pk).values(deleted=False))
            await write_index(conn, self.registry, change.pk, change.res_type, previous, fresh=True)
            return await _matching_now(conn, self.registry, subscribers, change)
        finally:
            await savepoint.rollback()


async def _matching_now(
    conn: AsyncConnection,
    registry: SearchRegistry,
    subscribers: list[Subscriber],
    change: StoredResource,
    prepared: tuple[set[CriteriaKey], set[CriteriaKey]] | None = None,
) -> list[Subscriber]:
    """Each distinct criteria is searched once per owning organisation, however many share it."""
    verdicts: dict[CriteriaKey, bool] = {}
    if prepared is not None:
        searched, matched = prepared
        verdicts = {key: key in matched for key in searched}
    for subscriber in subscribers:
        key = (subscriber.criteria_key, subscriber.owner_org)
        if key not in verdicts:
            verdicts[key] = await _matches(conn, registry, subscriber, change)
    return [s for s in subscribers if verdicts[(s.criteria_key, s.owner_org)]]


async def _matches(
    conn: AsyncConnection, registry: SearchRegistry, subscriber: Subscriber, change: StoredResource
) -> bool:
    # The search runs as the subscription's owner would see it: a restricted resource is never
    # announced to an organisation that could not read it.
    query = _restricted(registry, subscriber.criteria, change.res_id)
    return bool(await find_pks(conn, query, limit=1, viewer=subscriber.viewer))


async def _matching_batch(
    conn: AsyncConnection, registry: SearchRegistry, subscribers: list[Subscriber], batch: list[StoredResource]
) -> dict[CriteriaKey, set[int]]:
    """For each distinct criteria (and owner), which of the batch's resources it matches."""
    matching: dict[CriteriaKey, set[int]] = {}
    res_ids = [change.res_id for change in batch]
    for subscriber in subscribers:
        key = (subscriber.criteria_key, subscriber.owner_org)
        if key not in matching:
            query = _restricted(registry, subscriber.criteria, *res_ids)
            matching[key] = set(await find_pks(conn, query, viewer=subscriber.viewer))
    return matching


def _restricted(registry: SearchRegistry, criteria: SearchQuery, *res_ids: str) -> SearchQuery:
    """The criteria AND `_id=<the changed resources>`: the search engine answers for them alone.

    Equivalent to parse_search(criteria items + [("_id", ids)]) without re-parsing the criteria
    on every write.
    """
    only = parse_search(registry, criteria.res_type, [("_id", ",".join(res_ids))], strict=True)
    return replace(criteria, filters=[*only.filters, *criteria.filters])


def _event_row(sub_id: str, change: StoredResource, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id(sub_id, change),
        "subscription_id": sub_id,
        "resource_pk": change.pk,
        "res_type": change.res_type,
        "res_id": change.res_id,
        "version": change.version,
        "interaction": _INTERACTIONS.get(change.method, "update"),
        "state": PENDING,
        "created_at": now,
        "attempts": 0,
    }
