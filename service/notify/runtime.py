"""Notifications in one server process: the outbox listener, the pool hook, the worker."""

from datetime import timedelta
from typing import Any

from sqlalchemy import event

from service.config import Settings
from service.notify.cache import SubscriptionCache
from service.notify.endpoints import EndpointPolicy
from service.notify.outbox import POKE_KEY, PREPARED_KEY, OutboxListener
from service.notify.retention import OutboxRetention
from service.notify.retry import RetryPolicy
from service.notify.wakeups import PostgresWakeups
from service.notify.worker import DeliveryWorker, WorkerConfig
from service.periodic import Periodic
from service.search.registry import SearchRegistry
from service.store.database import Database
from service.store.repository import ResourceRepository


def endpoint_policy(settings: Settings) -> EndpointPolicy:
    return EndpointPolicy.of(settings.notify_allow_private, settings.notify_allowed_hosts)


def worker_config(settings: Settings) -> WorkerConfig:
    return WorkerConfig(
        poll_interval=settings.notify_poll_interval_seconds,
        lease=timedelta(seconds=settings.notify_lease_seconds),
        retry=RetryPolicy(
            initial_backoff=timedelta(seconds=settings.notify_initial_backoff_seconds),
            max_backoff=timedelta(seconds=settings.notify_max_backoff_seconds),
            horizon=timedelta(seconds=settings.notify_retry_horizon_seconds),
        ),
        timeout=settings.notify_timeout_seconds,
        errors_before_error_status=settings.notify_errors_before_error_status,
        batch_size=settings.notify_batch_size,
        max_lanes=settings.notify_max_lanes,
        fhir_base=settings.base_url,
        endpoints=endpoint_policy(settings),
    )


class Notifications:
    """Built before the repository (which takes the listener), started once the store is ready."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.outbox: OutboxListener | None = None
        self.worker: DeliveryWorker | None = None
        self.purge: Periodic | None = None
        self.wakeups: PostgresWakeups | None = None
        self._db: Database | None = None
        self._repository: ResourceRepository | None = None

    def listener(self, registry: SearchRegistry, db: Database) -> OutboxListener:
        cache = SubscriptionCache(registry, self.settings.notify_subscription_refresh_seconds)
        self.outbox = OutboxListener(registry, cache, endpoint_policy(self.settings))
        self._db = db
        # Poke the worker once the writing transaction is over (its connection goes back to the
        # pool): a poke from inside the transaction would race the commit.
        event.listen(db.write_engine.sync_engine, "checkin", self._on_checkin)
        return self.outbox

    def bind(self, repository: ResourceRepository) -> None:
        """The repository built with the listener; the listener and the worker write through it."""
        assert self.outbox is not None, "listener() first"
        self.outbox.bind(repository)
        self._repository = repository

    def start(self) -> None:
        """Start delivering (when DYAD_NOTIFY_WORKER_ENABLED); call once the schema is migrated."""
        assert self.outbox is not None and self._db is not None and self._repository is not None, "bind() first"
        if self.settings.notify_worker_enabled:
            config = worker_config(self.settings)
            self.worker = DeliveryWorker(self._db, self._repository, self.outbox.registry, config)
            self.worker.start()
            if self._db.is_postgres:
                self.wakeups = PostgresWakeups(self._db, self.worker.poke_all)
                self.wakeups.start()
            self._start_purge(self._db)

    def _start_purge(self, db: Database) -> None:
        if self.settings.notify_retention_hours <= 0:
            return
        retention = OutboxRetention(db, timedelta(hours=self.settings.notify_retention_hours))
        self.purge = Periodic("notify-purge", retention.purge, self.settings.notify_purge_interval_seconds)
        self.purge.start()

    async def stop(self) -> None:
        if self.wakeups is not None:
            await self.wakeups.stop()
            self.wakeups = None
        if self.purge is not None:
            await self.purge.stop()
            self.purge = None
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None

    def _on_checkin(self, _dbapi_connection: Any, record: Any) -> None:
        if record is None:
            return
        record.info.pop(PREPARED_KEY, None)
        subscription_ids = record.info.pop(POKE_KEY, None)
        if subscription_ids and self.worker is not None:
            self.worker.poke(subscription_ids)
