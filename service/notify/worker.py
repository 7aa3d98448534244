"""The delivery worker: claims lanes with due events and POSTs them, oldest first, with retries.

Delivery is at least once: an event is marked delivered only after its endpoint answered 2xx,
so a worker that dies between the two leaves it pending and it is sent again (same event id)
once the lease runs out.
"""

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from service import __version__
from service.conformance.issues import InvalidResource
from service.notify.claims import (
    Lane,
    PendingEvent,
    abandon_lane,
    claim_lanes,
    lanes_with_work,
    mark_delivered,
    pending_events,
    record_failure,
    release_lane,
    renew_lease,
    set_lane_health,
)
from service.notify.delivery import Attempt, send
from service.notify.endpoints import EndpointPolicy, guarded_transport
from service.notify.retry import RetryPolicy
from service.notify.status import set_delivery_status
from service.notify.subscriptions import Subscriber, read_subscriber
from service.search.registry import SearchRegistry
from service.store.access import Viewer
from service.store.database import Database
from service.store.errors import ResourceGone, ResourceNotFound
from service.store.repository import ResourceRepository

log = logging.getLogger("dyad.notify")


@dataclass(frozen=True)
class WorkerConfig:
    poll_interval: float
    lease: timedelta
    retry: RetryPolicy
    timeout: float
    errors_before_error_status: int
    batch_size: int = 100
    max_lanes: int = 32
    linger: float = 2.0  # how long a drained lane is kept, waiting for more events, before release
    fhir_base: str = ""
    endpoints: EndpointPolicy = EndpointPolicy.of(False, ())  # public endpoints only, unless configured


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def utc_now() -> datetime:
    return datetime.now(UTC)


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        repository: ResourceRepository,
        registry: SearchRegistry,
        config: WorkerConfig,
        *,
        name: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = db
        self.repository = repository
        self.registry = registry
        self.config = config
        self.name = name or worker_name()
        self.clock = clock
        self._wake = asyncio.Event()
        self._lane_wakes: dict[str, asyncio.Event] = {}
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    # --- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._client = httpx.AsyncClient(
            transport=guarded_transport(self.config.endpoints),
            timeout=self.config.timeout,
            headers={"User-Agent": f"Dyad/{__version__}"},
        )
        self._task = asyncio.create_task(self._run(), name="dyad-notify-worker")

    async def stop(self) -> None:
        """Finish the requests in flight, record them and release every lease held."""
        self._stopping = True
        self._wake.set()
        for wake in self._lane_wakes.values():
            wake.set()
        if self._task is not None:
            await self._task
        lanes = list(self._lanes.values())
        if lanes:
            _, late = await asyncio.wait(lanes, timeout=self.config.timeout + 5)
            for task in late:
                task.cancel()
        if self._client is not None:
            await self._client.aclose()

    def poke(self, subscription_ids: Iterable[str]) -> None:
        """New events were committed for these subscriptions; skip the rest of the poll wait."""
        for sub_id in subscription_ids:
            lane_wake = self._lane_wakes.get(sub_id)
            (lane_wake or self._wake).set()

    def poke_all(self) -> None:
        """Events were committed somewhere (another process): look for work now."""
        self._wake.set()
        for wake in self._lane_wakes.values():
            wake.set()

    # --- claiming --------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._claim_round()
            except Exception:  # the database may be briefly away; the next poll tries again
                log.exception("notify claim round failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.config.poll_interval)
            except TimeoutError:
                pass
            self._wake.clear()

    async def _claim_round(self) -> None:
        capacity = self.config.max_lanes - len(self._lanes)
        if capacity <= 0:
            return
        async with self.db.read() as conn:
            candidates = [s for s in await lanes_with_work(conn) if s not in self._lanes]
        if not candidates:
            return
        async with self.db.write() as conn:
            lanes = await claim_lanes(
                conn, candidates, worker=self.name, now=self.clock(), lease=self.config.lease, limit=capacity
            )
        for lane in lanes:
            self._lane_wakes[lane.subscription_id] = asyncio.Event()
            self._lanes[lane.subscription_id] = asyncio.create_task(self._drain(lane))

    # --- one lane --------------------------------------------------------------------------------

    async def _drain(self, lane: Lane) -> None:
        sub_id = lane.subscription_id
        next_attempt_at: datetime | None = None
        try:
            next_attempt_at = await _LaneRun(self, lane).run()
        except Exception:
            log.exception("notify lane failed", extra={"subscription": sub_id})
            next_attempt_at = self.clock() + self.config.retry.initial_backoff
        finally:
            self._lane_wakes.pop(sub_id, None)
            self._lanes.pop(sub_id, None)
            try:
                async with self.db.write() as conn:
                    await release_lane(conn, sub_id, worker=self.name, next_attempt_at=next_attempt_at)
            except Exception:  # the lease runs out on its own
                log.exception("notify lane release failed", extra={"subscription": sub_id})


class _LaneRun:
    """Delivers one claimed lane until it is drained (and stays idle), fails, or the worker stops."""

    def __init__(self, worker: DeliveryWorker, lane: Lane) -> None:
        self.w = worker
        self.sub_id = lane.subscription_id
        self.failures = lane.consecutive_failures
        self.error_reported = lane.error_reported
        self.renewed_at = time.monotonic()
        self._subscriber_cache: tuple[Subscriber, float] | None = None

    async def run(self) -> datetime | None:
        """Returns when the lane may be tried next (None: as soon as it has events)."""
        config = self.w.config
        idle_since: float | None = None
        while not self.w._stopping:
            subscriber, events = await self._next_batch()
            if subscriber is None:
                return None
            if not events:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= config.linger:
                    return None
                await self._idle_wait()
                if not await self._keep_lease():
                    return None
                continue
            idle_since = None
            retry_at, keep_going = await self._deliver(subscriber, events)
            if not keep_going:
                return retry_at
        return None

    async def _next_batch(self) -> tuple[Subscriber | None, list[PendingEvent]]:
        async with self.w.db.read() as conn:
            found = await self._current_subscriber(conn)
            if isinstance(found, Subscriber):
                return found, await pending_events(conn, self.sub_id, limit=self.w.config.batch_size)
        # Abandoned after the read has given its connection back: a lane holding one connection
        # while it waits for another could take the whole fixed pool with its neighbours.
        await self._abandon(found)
        return None, []

    async def _current_subscriber(self, conn: AsyncConnection) -> Subscriber | str:
        """Re-read at most once a poll interval: a lane streaming events would otherwise pay a
        read and a criteria parse per batch, for a resource that almost never changes."""
        now = time.monotonic()
        if self._subscriber_cache is not None and now - self._subscriber_cache[1] < self.w.config.poll_interval:
            return self._subscriber_cache[0]
        found = await self._subscriber(conn)
        self._subscriber_cache = (found, now) if isinstance(found, Subscriber) else None
        return found

    async def _subscriber(self, conn: AsyncConnection) -> Subscriber | str:
        """The Subscription as it is now, or why it can no longer fire."""
        try:
            stored = await self.w.repository.read(conn, "Subscription", self.sub_id, viewer=Viewer.system())
            subscriber = read_subscriber(self.w.registry, stored.content or {}, stored.version)
        except (ResourceNotFound, ResourceGone):
            return "subscription was deleted"
        except InvalidResource as exc:
            return f"subscription cannot be delivered: {exc}"[:300]
        return subscriber if subscriber.queues(self.w.clock()) else f"subscription is {subscriber.status}"

    async def _abandon(self, reason: str) -> None:
        """The lane's events are dropped (kept as dead) once its Subscription cannot fire."""
        async with self.w.db.write() as write_conn:
            dropped = await abandon_lane(write_conn, self.sub_id, reason=reason, now=self.w.clock())
        log.info("notify events dropped", extra={"subscription": self.sub_id, "events": dropped})

    async def _idle_wait(self) -> None:
        wake = self.w._lane_wakes.get(self.sub_id)
        if wake is None:
            return
        try:
            await asyncio.wait_for(wake.wait(), self.w.config.poll_interval)
        except TimeoutError:
            pass
        wake.clear()

    def _lease_fresh(self) -> bool:
        return time.monotonic() - self.renewed_at < self.w.config.lease.total_seconds() / 3

    async def _keep_lease(self) -> bool:
        if self._lease_fresh():
            return True
        async with self.w.db.write() as conn:
            return await self._renew(conn)

    async def _keep_lease_in(self, conn: AsyncConnection) -> bool:
        return True if self._lease_fresh() else await self._renew(conn)

    async def _renew(self, conn: AsyncConnection) -> bool:
        self.renewed_at = time.monotonic()
        until = self.w.clock() + self.w.config.lease
        return await renew_lease(conn, self.sub_id, worker=self.w.name, until=until)

    async def _deliver(self, subscriber: Subscriber, events: list[PendingEvent]) -> tuple[datetime | None, bool]:
        """POST events in order, stopping at the first failure; returns (retry at, carry on)."""
        assert self.w._client is not None
        delivered: list[int] = []
        last_ok: Attempt | None = None
        failed: tuple[PendingEvent, Attempt] | None = None
        for event in events:
            # Stop to renew before the lease could run out mid-batch and let another worker in.
            if self.w._stopping or not self._lease_fresh():
                break
            attempt = await send(self.w._client, subscriber, event, fhir_base=self.w.config.fhir_base)
            if not attempt.ok:
                failed = (event, attempt)
                break
            delivered.append(event.pk)
            last_ok = attempt
        return await self._record(delivered, last_ok, failed)

    async def _record(
        self, delivered: list[int], last_ok: Attempt | None, failed: tuple[PendingEvent, Attempt] | None
    ) -> tuple[datetime | None, bool]:
        config = self.w.config
        now = self.w.clock()
        retry_at: datetime | None = None
        failures_before = self.failures
        if delivered:
            self.failures = 0
        if failed is not None:
            self.failures += 1
        report_error = (
            failed is not None and self.failures >= config.errors_before_error_status and not self.error_reported
        )
        report_recovery = bool(delivered) and self.error_reported
        async with self.w.db.write() as conn:
            if delivered and last_ok is not None:
                await mark_delivered(conn, delivered, status=last_ok.status or 200, now=now)
            dead = False
            if failed is not None:
                event, attempt = failed
                dead = config.retry.gives_up(event.created_at, now)
                await record_failure(
                    conn, event.pk, status=attempt.status, error=attempt.error or "", now=now, dead=dead
                )
                if not dead:
                    retry_at = now + config.retry.delay(event.attempts + 1)
            if failed is not None or report_recovery or failures_before != 0:
                await set_lane_health(
                    conn,
                    self.sub_id,
                    consecutive_failures=self.failures,
                    error_reported=(self.error_reported or report_error) and not report_recovery,
                )
            lease_held = await self._keep_lease_in(conn)
        if failed is not None and dead:
            log.warning("notify event dead", extra={"subscription": self.sub_id, "attempts": failed[0].attempts + 1})
        await self._report(report_error, report_recovery, failed)
        carry_on = lease_held and (failed is None or retry_at is None)
        return retry_at, carry_on

    async def _report(
        self, report_error: bool, report_recovery: bool, failed: tuple[PendingEvent, Attempt] | None
    ) -> None:
        if report_error and failed is not None:
            # No reason is given: "connection refused" against "answered 404" would map the network
            # for whoever wrote the endpoint. The reason stays in the outbox for the operator.
            text = f"delivery failed {self.failures} times in a row"
            await set_delivery_status(self.w.db, self.w.repository, self.sub_id, status="error", error=text)
            self.error_reported = True
        elif report_recovery:
            await set_delivery_status(self.w.db, self.w.repository, self.sub_id, status="active", error=None)
            self.error_reported = False
