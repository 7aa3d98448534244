"""A job run every few seconds in the server's event loop, stopped between runs.

Stopping never cancels a run in the middle: a job cancelled inside a database transaction can
leave SQLite's write lock held by a connection nobody will finish with.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("dyad.periodic")


class Periodic:
    def __init__(self, name: str, job: Callable[[], Awaitable[object]], interval: float) -> None:
        self.name, self._job, self._interval = name, job, interval
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        # Finished runs, failed ones included: lets an operator (and a test) see that the job is alive.
        self.runs = 0

    def start(self) -> None:
        if self._interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._job()
            except Exception:
                log.exception("periodic job failed", extra={"interaction": self.name})
            self.runs += 1
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
            except TimeoutError:
                pass
