"""The application factory: it only wires the rooms together."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service import __version__
from service.api import (
    health,
    mapping_operations,  # noqa: F401 - registers its operations
    operations,
    package_routes,
    pathway_operations,  # noqa: F401 - registers its operations
    resource_routes,
    security_routes,
    system_routes,
    terminology_operations,  # noqa: F401 - registers its operations
    validate_operation,  # noqa: F401 - registers its operations
)
from service.api.body_limit import BodyLimit
from service.api.context import FhirContext
from service.api.errors import install_error_handlers
from service.config import Settings, get_settings
from service.conformance.admission import Admission
from service.conformance.guide import compiled_guide
from service.conformance.install import install_package
from service.console.routes import console_router
from service.mapping.catalog import loaded_catalog
from service.notify.runtime import Notifications
from service.pathway.runtime import Pathway
from service.security.audit import AuditPolicy, AuditTrail, AuditWriter
from service.security.consent import consent_listener
from service.security.gate import AuditUnrecorded, Gate
from service.store.database import Database
from service.store.migrate import migrate
from service.store.repository import ResourceRepository
from service.store.search import SearchIndexer
from service.store.search_statements import SearchStatements
from service.store.statistics import StatisticsRefresher
from service.telemetry.metrics import Metrics
from service.telemetry.middleware import RequestTelemetry

log = logging.getLogger("dyad.app")


async def build_context(
    settings: Settings, notifications: Notifications | None = None, pathway: Pathway | None = None
) -> FhirContext:
    guide = compiled_guide(settings.profiles_dir, settings.mappings_dir)
    package, registry, terminology = guide.package, guide.registry, guide.terminology
    admission = Admission(guide.validator, settings.required_profiles)
    db = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_wait=settings.db_pool_wait_seconds,
        echo=settings.sql_echo,
        statement_timeout=settings.statement_timeout_seconds,
    )
    notifications = notifications or Notifications(settings)
    pathway = pathway or Pathway(settings)
    listeners = (consent_listener, notifications.listener(registry, db), pathway.listener(registry, admission))
    repository = ResourceRepository(SearchIndexer(registry), listeners=listeners)
    notifications.bind(repository)
    pathway.bind(db, repository)
    if settings.migrate_on_start:
        await migrate(db)
    written = await install_package(db, repository, package)
    log.info("started", extra={"database": db.dialect, "written": written})
    mappings = loaded_catalog(settings.mappings_dir, settings.profiles_dir)
    return FhirContext(
        settings, db, repository, registry, package, terminology, admission, mappings, SearchStatements()
    )


def audit_policy(settings: Settings) -> AuditPolicy:
    return AuditPolicy(
        settings.audit_flush_seconds,
        settings.audit_queue_limit,
        settings.audit_retry_initial_seconds,
        settings.audit_retry_max_seconds,
    )


def _freeze_startup_objects() -> None:
    """Start-up's objects live as long as the process: leave them out of every later collection.

    Without this each full collection rescans the compiled guide, and a 1,000-entry Bundle (which
    allocates enough to set several off) spent ~0.4 s in collector pauses of up to ~200 ms.
    """
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.notifications = notifications = Notifications(settings)
        app.state.pathway = pathway = Pathway(settings)
        app.state.fhir = context = await build_context(settings, notifications, pathway)
        trail = AuditTrail(
            AuditWriter(context.db, context.repository, context.registry), audit_policy(settings), app.state.metrics
        )
        app.state.gate = Gate.from_settings(settings, trail)
        statistics = StatisticsRefresher(context.db).periodic(settings.statistics_check_seconds)
        trail.start()
        notifications.start()
        statistics.start()
        pathway.start()
        app.state.metrics.watch([job for job in (pathway.clock_check, statistics) if job is not None])
        if settings.gc_freeze_after_start:
            _freeze_startup_objects()
        try:
            yield
        finally:
            if settings.gc_freeze_after_start:
                gc.unfreeze()
            await pathway.stop()
            await statistics.stop()
            await notifications.stop()
            await trail.stop()
            await context.db.dispose()

    app = FastAPI(
        title="Dyad",
        version=__version__,
        description="FHIR R4 service for the perinatal parent-infant relationship care pathway",
        lifespan=lifespan,
    )
    app.state.metrics = Metrics()
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(AuditUnrecorded)
    app.add_middleware(RequestTelemetry, metrics=app.state.metrics)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(package_routes.router)
    app.include_router(security_routes.router)
    app.include_router(operations.router)
    app.include_router(system_routes.public_router)
    app.include_router(system_routes.router)
    app.include_router(resource_routes.router)
    app.include_router(console_router(settings))
    return app
