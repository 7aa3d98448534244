"""Work a client stops waiting for is stopped too.

Starlette keeps running a handler whose client has gone; for a search that means a database
statement nobody will read the answer of, holding a connection and a PostgreSQL backend (issue
16 saw abandoned searches run on for over a minute). Cancelling the task cancels the statement:
asyncpg sends PostgreSQL a cancel request for the query in flight.
"""

import asyncio
from collections.abc import Awaitable
from contextlib import suppress
from typing import TypeVar

from fastapi import Request

T = TypeVar("T")

# nginx's convention for "client closed the request": the client never sees it, the metrics do.
CLIENT_CLOSED_REQUEST = 499


class ClientDisconnected(Exception):
    """The client went away before the answer was ready; the work was cancelled."""


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """The result of work, or ClientDisconnected (with work cancelled) once the client is gone.

    Only for requests whose body has been read already, or that have none (a GET search): the
    watcher consumes what the client sends.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    raise ClientDisconnected()
