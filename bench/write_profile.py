"""`python -m bench.write_profile`: the write path in process, one request at a time, over ASGI.

    python -m bench.write_profile [--backend sqlite|postgresql] [--creates 300] [--bundles 2] [--bundle-size 1000]
                                  [--profile cprofile|pyinstrument] [--out FILE]

The real app (lifespan and all) on a fresh database, the bench's people loaded, then single
creates of the bench's relationship Observations and 1,000-entry transaction Bundles of them.
Prints the mean time and the SQL statements per create and per Bundle. With --profile, the
creates and Bundles run under cProfile (sorted by cumulative time) or pyinstrument, so the cost
of a write can be read without a server, wrk or py-spy. One request at a time: this is the
cost of a write, not the throughput under concurrency (that is `bench.server_bench`).
"""

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import random
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from bench import observations as obs
from bench.notify_bench import fresh_database
from service.app import create_app
from service.config import Settings

JSON = {"Content-Type": "application/fhir+json"}


@asynccontextmanager
async def app_client(url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    os.environ.setdefault("DYAD_LOG_LEVEL", "WARNING")
    app = create_app(Settings(database_url=url, auth="off", rate_limit_per_minute=0))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dyad.bench", timeout=600) as http:
            yield http, app


class StatementCounter:
    """SQL statements sent (executemany counts once: it is one round trip on asyncpg's batch)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1


@contextmanager
def counting(app: Any) -> Iterator[StatementCounter]:
    db = app.state.fhir.db
    engines = {id(e): e.sync_engine for e in (db.read_engine, db.write_engine)}.values()
    counter = StatementCounter()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", counter)


@contextmanager
def profiled(kind: str | None, out: Path | None) -> Iterator[None]:
    if kind is None:
        yield
        return
    if kind == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="enabled")
        profiler.start()
        try:
            yield
        finally:
            profiler.stop()
            text = profiler.output_text(unicode=False, color=False, show_all=False)
            (out.write_text(text) if out else print(text))
        return
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        buffer = io.StringIO()
        pstats.Stats(prof, stream=buffer).sort_stats("cumulative").print_stats(60)
        if out:
            prof.dump_stats(str(out.with_suffix(".pstats")))
            out.write_text(buffer.getvalue())
        else:
            print(buffer.getvalue())


async def timed(n: int, one: Callable[[int], Any]) -> float:
    began = time.perf_counter()
    for i in range(n):
        await one(i)
    return (time.perf_counter() - began) / max(n, 1)


async def run(args: argparse.Namespace, url: str) -> None:
    async with app_client(url) as (http, app):
        for body in obs.people_transactions(obs.CREATE_INFANTS):
            response = await http.post("/fhir", content=body, headers=JSON)
            response.raise_for_status()
        rng = random.Random(20261130)
        keys = obs.draw_keys(args.creates + args.bundles * args.bundle_size + 50, obs.CREATE_INFANTS, rng)
        bodies = [obs.observation_body(k, rng) for k in keys[: args.creates + 50]]
        bundles = [
            obs.transaction(
                keys[args.creates + 50 + b * args.bundle_size : args.creates + 50 + (b + 1) * args.bundle_size], rng
            )
            for b in range(args.bundles)
        ]

        async def create(i: int) -> None:
            response = await http.post("/fhir/Observation", content=bodies[i], headers=JSON)
            assert response.status_code == 201, response.text[:300]

        async def transaction(i: int) -> None:
            response = await http.post("/fhir", content=bundles[i], headers=JSON)
            assert response.status_code == 200, response.text[:300]

        for i in range(50):  # warm: caches, statement compilation
            await create(args.creates + i)
        bodies = bodies[: args.creates]
        with counting(app) as statements, profiled(args.profile if args.what != "bundle" else None, args.out):
            per_create = await timed(args.creates, create)
        creates_statements = statements.count / max(args.creates, 1)
        print(f"{args.backend}: create {per_create * 1000:.2f} ms, {creates_statements:.1f} statements")
        if args.bundles:
            out = args.out.with_name(args.out.stem + "-bundle" + args.out.suffix) if args.out else None
            with counting(app) as statements, profiled(args.profile if args.what != "create" else None, out):
                per_bundle = await timed(args.bundles, transaction)
            print(
                f"{args.backend}: {args.bundle_size:,}-entry transaction {per_bundle:.3f} s, "
                f"{statements.count / args.bundles:.0f} statements"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--creates", type=int, default=300)
    parser.add_argument("--bundles", type=int, default=2)
    parser.add_argument("--bundle-size", type=int, default=1000)
    parser.add_argument("--profile", choices=["cprofile", "pyinstrument"])
    parser.add_argument("--what", choices=["create", "bundle", "both"], default="both", help="what to profile")
    parser.add_argument("--out", type=Path, help="write the profile here (else stdout)")
    args = parser.parse_args(argv)
    with fresh_database(args.backend) as url:  # made and dropped outside the loop (it runs its own)
        asyncio.run(run(args, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
