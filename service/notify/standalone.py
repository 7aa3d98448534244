"""`dyad notify-worker`: deliver notifications from a process that serves no HTTP.

`dyad serve` on PostgreSQL starts one beside itself; a deployment that runs its own sets
DYAD_NOTIFY_WORKER_ENABLED=false on the API replicas. It is woken by LISTEN/NOTIFY on PostgreSQL;
on SQLite no channel crosses processes and it finds new events by its safety poll.
"""

import asyncio
import logging
import signal

from service.config import Settings
from service.notify.runtime import Notifications

log = logging.getLogger("dyad.notify")


async def run_worker(settings: Settings) -> None:
    from service.app import build_context  # the same wiring as the server: store, listener, profiles

    settings = settings.model_copy(update={"notify_worker_enabled": True})
    notifications = Notifications(settings)
    context = await build_context(settings, notifications)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    notifications.start()
    log.info("notify worker started", extra={"database": context.db.dialect})
    try:
        await stop.wait()
    finally:
        await notifications.stop()
        await context.db.dispose()


def main(settings: Settings) -> int:
    asyncio.run(run_worker(settings))
    return 0
