"""`dyad serve`: check what can be checked before start-up, bind, run uvicorn, say where it listens.

Failures an operator can fix (a busy port, a missing key source, an unreachable database) end
as one plain line on stderr and a non-zero exit, not as a traceback inside a JSON log line.

One process, or N uvicorn worker processes on the one bound socket and a notification worker
beside them. On PostgreSQL notifications are delivered from a `dyad notify-worker` process beside
the server even with one worker: in the server's own event loop delivery queued behind busy
requests (p99 7.4 s at 70 creates/s against ~0.1 s from its own process, docs/benchmarks.md).
SQLite keeps delivery in the one process, where a commit wakes it directly (no channel crosses
processes there). uvloop and httptools are uvicorn's fastest event loop and HTTP parser (C); Dyad names
them rather than leaving uvicorn to pick whatever is installed, so every install serves the same
way. With several workers each process is a whole Dyad (its own pools, audit trail, clock check
and rate limiter), except that the schema and the profile package are brought up to date once,
here, before any worker starts (workers migrating side by side would race), and notifications are
delivered by one `dyad notify-worker` process rather than by every worker. What stays per
process is listed in docs/capacity.md.
"""

import asyncio
import errno
import logging
import os
import socket
import sys
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from uvicorn.supervisors import Multiprocess

from service.app import build_context, create_app
from service.config import ConfigurationError, Settings
from service.notifier_process import NotifierProcess, start_notify_worker
from service.security.tokens import SecurityConfigurationError, verifier_from_settings
from service.store.database import Database

log = logging.getLogger("dyad.serve")

EXIT_STARTUP_FAILED = 3
LOOP = "uvloop"
HTTP = "httptools"
DATABASE_CHECK_SECONDS = 10.0


class StartupError(Exception):
    """Something outside the code stops the server from starting; the message says what to do."""

    exit_code = 1


class AddressInUse(StartupError):
    exit_code = 2


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before start-up so a busy port is reported at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise AddressInUse(
                f"address {host}:{port} already in use: stop what holds it, or choose another port "
                "with --port or DYAD_PORT"
            ) from None
        raise StartupError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.set_inheritable(True)
    return sock


def database_label(url: str) -> str:
    """The database as an operator reads it: kind and location, never a password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite {parsed.database}"
    return f"postgresql {parsed.set(drivername='postgresql').render_as_string(hide_password=True)}"


def check_security(settings: Settings) -> None:
    try:
        verifier_from_settings(settings)
    except SecurityConfigurationError as error:
        raise ConfigurationError(str(error)) from None


async def _reach(url: str) -> None:
    db = Database(url, pool_size=1)
    try:
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await db.dispose()


def check_database(settings: Settings) -> None:
    try:
        asyncio.run(asyncio.wait_for(_reach(settings.database_url), DATABASE_CHECK_SECONDS))
    except (OSError, TimeoutError) as error:
        raise StartupError(_unreachable(settings, error)) from None
    except Exception as error:  # the drivers' own connection errors share no base class
        raise StartupError(_unreachable(settings, error)) from None


def _unreachable(settings: Settings, error: BaseException) -> str:
    reason = "no answer" if isinstance(error, TimeoutError) else type(error).__name__
    return f"cannot reach the database ({database_label(settings.database_url)}): {reason}"


def uvicorn_config(app: FastAPI | str, *, workers: int = 1) -> uvicorn.Config:
    """uvicorn as Dyad runs it: its own logging, no access log (URLs carry NHS numbers), C loop and parser."""
    return uvicorn.Config(
        app, factory=isinstance(app, str), workers=workers, log_config=None, access_log=False, loop=LOOP, http=HTTP
    )


class _Server(uvicorn.Server):
    """uvicorn's server, which says in one line where Dyad listens once it really does, and stops
    what runs beside it (its notifier) as it shuts down: after a signal uvicorn raises the signal
    again once it has shut down, which ends the process before any `finally` of the caller runs."""

    def __init__(
        self, app: FastAPI, address: str, settings: Settings, on_shutdown: Callable[[], None] | None = None
    ) -> None:
        super().__init__(uvicorn_config(app))
        self._app = app
        self._address = address
        self._settings = settings
        self._on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        if self._on_shutdown is not None:
            await asyncio.to_thread(self._on_shutdown)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            log.info(ready_line(self._address, self._settings, len(self._app.state.fhir.package.resources)))


def ready_line(address: str, settings: Settings, resources: int, workers: int = 1) -> str:
    processes = f"; {workers} workers" if workers > 1 else ""
    return (
        f"Dyad listening on {address}/fhir (database {database_label(settings.database_url)}; "
        f"auth {settings.auth}; {resources} guide resources{processes})"
    )


def serve(settings: Settings, host: str, port: int, workers: int) -> int:
    """Run the server until it is stopped; the exit code says how it ended."""
    try:
        check_security(settings)
        if workers > 1 and not settings.database_url.startswith("postgresql"):
            raise ConfigurationError("--workers above 1 needs PostgreSQL: SQLite takes one writer at a time")
        sock = bind(host, port)
        check_database(settings)
    except ConfigurationError as error:
        print(f"dyad: {error}", file=sys.stderr)
        return 2
    except StartupError as error:
        print(f"dyad: {error}", file=sys.stderr)
        return error.exit_code
    shown_host = f"[{host}]" if ":" in host else host
    address = f"http://{shown_host}:{sock.getsockname()[1]}"
    try:
        if workers > 1:
            return _serve_workers(settings, sock, address, workers)
        return _serve_one(settings, sock, address)
    finally:
        sock.close()


def delivers_apart(settings: Settings) -> bool:
    """Whether notifications go out from their own process rather than the server's."""
    return settings.notify_worker_enabled and make_url(settings.database_url).get_backend_name() == "postgresql"


def _serve_one(settings: Settings, sock: socket.socket, address: str) -> int:
    notifier = None
    if delivers_apart(settings):
        if _prepared(settings) is None:  # before the notifier reads the schema
            return EXIT_STARTUP_FAILED
        notifier = NotifierProcess(start_notify_worker)
        settings = settings.model_copy(update={"notify_worker_enabled": False, "migrate_on_start": False})
    try:
        server = _Server(create_app(settings), address, settings, notifier.stop if notifier else None)
        server.run(sockets=[sock])
        return 0 if server.started else EXIT_STARTUP_FAILED
    finally:
        if notifier is not None:
            notifier.stop()  # also when the server never started


def _prepared(settings: Settings) -> int | None:
    """The guide's size once the schema and the package are current; None (said on stderr) if not."""
    try:
        return asyncio.run(prepare_database(settings))
    except Exception as error:  # a migration or the package install failed: no traceback for an operator
        reason = type(error).__name__  # the message may carry SQL and its values
        print(f"dyad: cannot prepare the database ({database_label(settings.database_url)}): {reason}", file=sys.stderr)
        return None


def _serve_workers(settings: Settings, sock: socket.socket, address: str, workers: int) -> int:
    resources = _prepared(settings)
    if resources is None:
        return EXIT_STARTUP_FAILED
    os.environ.update(worker_environment(settings))
    notifier = NotifierProcess(start_notify_worker) if settings.notify_worker_enabled else None
    config = uvicorn_config("service.app:create_app", workers=workers)
    log.info(ready_line(address, settings, resources, workers))
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        if notifier is not None:
            notifier.stop()
    return 0


def worker_environment(settings: Settings) -> dict[str, str]:
    """What the worker processes read on top of this process's settings."""
    env = {"DYAD_MIGRATE_ON_START": "false"}
    if settings.notify_worker_enabled:
        env["DYAD_NOTIFY_WORKER_ENABLED"] = "false"
    return env


async def prepare_database(settings: Settings) -> int:
    """Migrate and install the profile package once, before the workers start; the guide's size."""
    context = await build_context(settings.model_copy(update={"notify_worker_enabled": False}))
    await context.db.dispose()
    return len(context.package.resources)
