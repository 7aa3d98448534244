"""`python -m bench.request_profile`: the CPU one read or search costs inside the app, over ASGI.

No sockets and no load client: the real app (`create_app`, its lifespan, its middlewares and
background tasks such as the audit writer) is called directly with ASGI scopes, one request at a
time, and the process CPU time per request is reported. On a shared, noisy machine CPU time per
request is far steadier than requests/s, and it is what limits a one-worker server. With
`--profile FILE` the loop runs under cProfile (pstats file; `--top N` prints the heaviest
functions); `--without NAME` removes a middleware by class name to measure its share.

    .venv/bin/python -m bench.request_profile --backend sqlite --observations 2000 --requests 2000
    .venv/bin/python -m bench.request_profile --backend postgresql --kind search --profile /tmp/s.prof --top 40
"""

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson
from fastapi import FastAPI

from bench.observations import ASSESSMENTS, draw_keys, infant_count, people, search_path, transaction
from service.app import create_app
from service.config import Settings

POSTGRES = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


async def call(app: FastAPI, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request through the whole ASGI stack, as uvicorn would hand it over."""
    parts = urlsplit(target)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:18500"),
            (b"accept", b"application/fhir+json"),
            (b"content-type", b"application/fhir+json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 18500),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)  # type: ignore[arg-type]
    return status, b"".join(chunks)


@asynccontextmanager
async def database(backend: str, keep: str | None) -> AsyncIterator[str]:
    """A fresh database, dropped afterwards; or with `keep`, the one named (a SQLite file or a
    PostgreSQL database), made if missing and kept, so that repeated runs skip the load."""
    if backend == "sqlite":
        if keep:
            yield f"sqlite+aiosqlite:///{Path(keep).resolve()}"
            return
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite+aiosqlite:///{folder}/dyad.sqlite3"
        return
    name = keep or f"speedread_profile_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES)
    if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://{urlsplit(POSTGRES).netloc}/{name}"
    finally:
        if not keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def strip_middleware(app: FastAPI, names: list[str]) -> None:
    app.user_middleware = [m for m in app.user_middleware if getattr(m.cls, "__name__", "") not in names]


async def load(app: FastAPI, observations: int) -> tuple[list[str], list[str]]:
    """Observation ids to read and searches to run; the Observations are loaded unless there."""
    searches = [search_path(i, a) for i in range(infant_count(observations)) for a in range(len(ASSESSMENTS))]
    status, body = await call(app, "GET", f"/fhir/Observation?_count={observations}&_total=none&_elements=id")
    held = [e["resource"]["id"] for e in orjson.loads(body).get("entry", [])]
    if len(held) >= observations:
        return held, searches
    rng = random.Random(16)
    keys = draw_keys(observations, infant_count(observations), rng)
    status, body = await call(app, "POST", "/fhir", people(infant_count(observations)))
    if status != 200:
        raise RuntimeError(f"storing the infants failed: {status} {body[:300]!r}")
    ids: list[str] = []
    for start in range(0, observations, 1000):
        status, body = await call(app, "POST", "/fhir", transaction(keys[start : start + 1000], rng))
        if status != 200:
            raise RuntimeError(f"load failed: {status} {body[:300]!r}")
        ids += [e["response"]["location"].split("/")[1] for e in orjson.loads(body)["entry"]]
    return ids, searches


async def run(args: argparse.Namespace) -> None:
    async with database(args.backend, args.keep) as url:
        settings = Settings(
            database_url=url, auth="off", rate_limit_per_minute=0, log_level="WARNING", max_page_size=100_000
        )
        app = create_app(settings)
        strip_middleware(app, args.without)
        async with app.router.lifespan_context(app):
            ids, searches = await load(app, args.observations)
            if args.backend == "postgresql":
                await call(app, "GET", "/healthz")
            targets = [f"/fhir/Observation/{i}" for i in ids] if args.kind == "read" else searches
            rng = random.Random(1)
            for _ in range(min(200, args.requests)):  # warm caches (statements, compiled paths)
                await call(app, "GET", rng.choice(targets))
            await asyncio.sleep(0.5)
            profiler = cProfile.Profile() if args.profile else None
            latencies = []
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            for _ in range(args.requests):
                began = time.perf_counter()
                status, _body = await call(app, "GET", rng.choice(targets))
                latencies.append(time.perf_counter() - began)
                if status != 200:
                    raise RuntimeError(f"{args.kind} answered {status}")
            await asyncio.sleep(settings.audit_flush_seconds * 2)  # let the audit writer catch up
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    latencies.sort()
    print(
        f"{args.backend} {args.kind}: {args.requests} requests, CPU {cpu / args.requests * 1e6:.0f} us/request, "
        f"wall {wall / args.requests * 1e6:.0f} us/request, p50 {statistics.median(latencies) * 1e3:.2f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1e3:.2f} ms"
        + (f" (without {', '.join(args.without)})" if args.without else "")
    )
    if profiler and args.profile:
        profiler.dump_stats(args.profile)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--kind", choices=("read", "search"), default="read")
    parser.add_argument("--observations", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile stats here")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--keep", help="SQLite file or PostgreSQL database to load once and keep")
    parser.add_argument("--without", action="append", default=[], help="middleware class to leave out")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
