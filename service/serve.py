"""`dyad serve`: check what can be checked before start-up, bind, run uvicorn, say where it listens.

Failures an operator can fix (a busy port, a missing key source, an unreachable database) end
as one plain line on stderr and a non-zero exit, not as a traceback inside a JSON log line.
"""

import asyncio
import errno
import logging
import socket
import sys

import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from service.app import create_app
from service.config import ConfigurationError, Settings
from service.security.tokens import SecurityConfigurationError, verifier_from_settings
from service.store.database import Database

log = logging.getLogger("dyad.serve")

EXIT_STARTUP_FAILED = 3
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


class _Server(uvicorn.Server):
    """uvicorn's server, which says in one line where Dyad listens once it really does."""

    def __init__(self, app: FastAPI, address: str, settings: Settings) -> None:
        super().__init__(uvicorn.Config(app, log_config=None, access_log=False))
        self._app = app
        self._address = address
        self._settings = settings

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            log.info(ready_line(self._address, self._settings, self._app))


def ready_line(address: str, settings: Settings, app: FastAPI) -> str:
    resources = len(app.state.fhir.package.resources)
    return (
        f"Dyad listening on {address}/fhir (database {database_label(settings.database_url)}; "
        f"auth {settings.auth}; {resources} guide resources)"
    )


def serve(settings: Settings, host: str, port: int) -> int:
    """Run the server until it is stopped; the exit code says how it ended."""
    try:
        check_security(settings)
        sock = bind(host, port)
        check_database(settings)
    except ConfigurationError as error:
        print(f"dyad: {error}", file=sys.stderr)
        return 2
    except StartupError as error:
        print(f"dyad: {error}", file=sys.stderr)
        return error.exit_code
    shown_host = f"[{host}]" if ":" in host else host
    server = _Server(create_app(settings), f"http://{shown_host}:{sock.getsockname()[1]}", settings)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0 if server.started else EXIT_STARTUP_FAILED
