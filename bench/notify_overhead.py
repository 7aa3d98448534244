"""What the outbox listener adds to a write: creates/s through the repository, in-process.

    python -m bench.notify_overhead [--writes 2000]

Same database, same run, with 0, 1 and 10 matching Subscriptions (the worker off, so only the
write path is measured). Disk speed varies run to run on these machines: read the ratios.
"""

import argparse
import asyncio
import sys
import time

from bench.notify_bench import CODE, fresh_database, observation
from service.app import build_context
from service.config import Settings
from service.notify.runtime import Notifications
from service.store.access import Viewer


def subscription(n: int) -> dict[str, object]:
    return {
        "resourceType": "Subscription",
        "id": f"bench-{n}",
        "status": "active",
        "reason": "benchmark",
        "criteria": f"Observation?code={CODE['system']}|{CODE['code']}&subject=Patient/bench-infant-{n % 50}"
        if n
        else f"Observation?code={CODE['system']}|{CODE['code']}",
        "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/unused", "payload": "application/fhir+json"},
    }


async def creates_per_second(url: str, subscriptions: int, writes: int) -> float:
    settings = Settings(database_url=url, auth="off", notify_worker_enabled=False)
    notifications = Notifications(settings)
    ctx = await build_context(settings, notifications)
    try:
        async with ctx.db.write() as conn:
            for n in range(subscriptions):
                await ctx.repository.update(conn, subscription(n), f"bench-{n}", viewer=Viewer.system())
        start = time.perf_counter()
        for n in range(writes):
            async with ctx.db.write() as conn:
                await ctx.repository.create(conn, observation(n))
        return writes / (time.perf_counter() - start)
    finally:
        async with ctx.db.write() as conn:
            for n in range(subscriptions):
                await ctx.repository.delete(conn, "Subscription", f"bench-{n}", viewer=Viewer.system())
        await ctx.db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    print(f"{'backend':<11} {'subscriptions':>13} {'creates/s':>10} {'ratio':>6}")
    for backend in args.backends.split(","):
        with fresh_database(backend) as url:
            base = None
            for count in (0, 1, 10, 0):
                rate = asyncio.run(creates_per_second(url, count, args.writes))
                base = base or rate
                print(f"{backend:<11} {count:>13} {rate:>10.0f} {rate / base:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
