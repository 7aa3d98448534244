"""`dyad serve`: one process, or N uvicorn worker processes and a notification worker beside them.

uvloop and httptools are uvicorn's fastest event loop and HTTP parser (C); Dyad names them rather
than leaving uvicorn to pick whatever is installed, so every install serves the same way.

With several workers each process is a whole Dyad (its own pools, audit trail, clock check and
rate limiter), except that the schema and the profile package are brought up to date once, here,
before any worker starts (workers migrating side by side would race), and notifications are
delivered by one `dyad notify-worker` process rather than by every worker. What stays per
process is listed in docs/capacity.md.
"""

import asyncio
import os
import signal
import subprocess
import sys

import uvicorn

from service.config import Settings
from service.telemetry.logs import configure_logging

LOOP = "uvloop"
HTTP = "httptools"


def serve(settings: Settings, *, host: str, port: int, workers: int) -> int:
    configure_logging(settings.log_level)
    if workers <= 1:
        from service.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False, loop=LOOP, http=HTTP)
        return 0
    if not settings.database_url.startswith("postgresql"):
        print("--workers above 1 needs PostgreSQL: SQLite takes one writer at a time", file=sys.stderr)
        return 2
    asyncio.run(prepare_database(settings))
    os.environ.update(worker_environment(settings))
    notifier = _start_notify_worker() if settings.notify_worker_enabled else None
    try:
        uvicorn.run(
            "service.app:create_app", factory=True, workers=workers, host=host, port=port,
            log_config=None, access_log=False, loop=LOOP, http=HTTP,
        )
    finally:
        if notifier is not None:
            _stop(notifier)
    return 0


def worker_environment(settings: Settings) -> dict[str, str]:
    """What the worker processes read on top of this process's settings."""
    env = {"DYAD_MIGRATE_ON_START": "false"}
    if settings.notify_worker_enabled:
        env["DYAD_NOTIFY_WORKER_ENABLED"] = "false"
    return env


async def prepare_database(settings: Settings) -> None:
    """Migrate and install the profile package once, before the workers start."""
    from service.app import build_context

    context = await build_context(settings.model_copy(update={"notify_worker_enabled": False}))
    await context.db.dispose()


def _start_notify_worker() -> subprocess.Popen[bytes]:
    env = {**os.environ, "DYAD_NOTIFY_WORKER_ENABLED": "true"}
    return subprocess.Popen([sys.executable, "-m", "service", "notify-worker"], env=env)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
