"""Commit-to-receiver latency of Subscription notifications, on SQLite and on PostgreSQL.

    python -m bench.notify_bench [--rate 200] [--seconds 20] [--backends sqlite,postgresql]

Starts the real server (`python -m service serve`, DYAD_DATABASE_URL) on a fresh database, a
local receiver, and one rest-hook Subscription on Observation; then writes Observations at a
fixed rate and times, for each, the client's 201 against the receiver's notification.
"""

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from bench.notify_receiver import Receiver, free_port
from bench.servers import wait_ready

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
CODE = {"system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-concepts", "code": "relationship-assessment"}
FHIR_JSON = {"Content-Type": "application/fhir+json"}


@dataclass(frozen=True)
class Result:
    backend: str
    written: int
    write_rate: float
    notified: int
    duplicates: int
    p50_ms: float
    p99_ms: float
    max_ms: float


# --- the pieces: database, server, receiver ----------------------------------------------------


@contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite+aiosqlite:///{folder}/bench.sqlite3"
        return
    name = f"dyad_notify_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        rest = POSTGRES_ADMIN.split("://", 1)[1].rsplit("/", 1)[0]
        yield f"postgresql+asyncpg://{rest}/{name}"
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _postgres_admin(statement: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def dyad_server(database_url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DYAD_DATABASE_URL": database_url, "DYAD_LOG_LEVEL": "WARNING"}
    log = tempfile.NamedTemporaryFile(prefix="dyad-notify-bench-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, f"{base}/readyz", Path(log.name))
        yield base
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def receiver_thread() -> Iterator[Receiver]:
    """The receiver on its own event loop, so the load generator cannot delay its clock readings."""
    receiver = Receiver()
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(receiver.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield receiver
    finally:
        asyncio.run_coroutine_threadsafe(receiver.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


# --- the load ----------------------------------------------------------------------------------


def observation(n: int) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [CODE]},
        "subject": {"reference": f"Patient/bench-infant-{n % 50}"},
        "effectiveDateTime": "2026-10-02T10:30:00Z",
    }


async def write_load(base: str, rate: float, seconds: float, in_flight: int) -> dict[str, float]:
    """POST Observations on a fixed schedule for `seconds`; returns id -> time.time() of the 201.

    At most `in_flight` requests are outstanding: a server slower than the rate asked for is
    then measured at the rate it manages (reported) rather than buried under a growing queue.
    """
    committed: dict[str, float] = {}
    slots = asyncio.Semaphore(in_flight)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def one(n: int) -> None:
            try:
                response = await client.post("/fhir/Observation", json=observation(n), headers=FHIR_JSON)
                if response.status_code == 201:
                    committed[response.json()["id"]] = time.time()
            finally:
                slots.release()

        tasks = []
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds:
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            tasks.append(asyncio.create_task(one(n)))
            n += 1
        await asyncio.gather(*tasks)
    return committed


def run_backend(backend: str, rate: float, seconds: float, in_flight: int) -> Result:
    with fresh_database(backend) as url, dyad_server(url) as base, receiver_thread() as receiver:
        subscription = {
            "resourceType": "Subscription", "status": "requested", "reason": "benchmark",
            "criteria": f"Observation?code={CODE['system']}|{CODE['code']}",
            "channel": {"type": "rest-hook", "endpoint": receiver.url, "payload": "application/fhir+json"},
        }
        assert httpx.post(f"{base}/fhir/Subscription", json=subscription, headers=FHIR_JSON).status_code == 201
        began = time.monotonic()
        committed = asyncio.run(write_load(base, rate, seconds, in_flight))
        elapsed = time.monotonic() - began
        deadline = time.monotonic() + 60
        while len(receiver.requests) < len(committed) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        return summarise(backend, committed, list(receiver.requests), elapsed)


def summarise(backend: str, committed: dict[str, float], received: list[object], elapsed: float) -> Result:
    arrivals: dict[str, float] = {}
    duplicates = 0
    for request in received:
        res_id = request.headers["content-location"].split("/")[1]  # type: ignore[attr-defined]
        if res_id in arrivals:
            duplicates += 1
            continue
        arrivals[res_id] = request.at  # type: ignore[attr-defined]
    latencies = sorted((arrivals[i] - t) * 1000 for i, t in committed.items() if i in arrivals)
    if not latencies:
        raise RuntimeError("no notification arrived")
    return Result(
        backend=backend,
        written=len(committed),
        write_rate=len(committed) / elapsed,
        notified=len(latencies),
        duplicates=duplicates,
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        max_ms=latencies[-1],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="Observations written per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to write")
    parser.add_argument("--in-flight", type=int, default=16, help="most requests outstanding at once")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    results = []
    for backend in args.backends.split(","):
        results.append(run_backend(backend.strip(), args.rate, args.seconds, args.in_flight))
        print(results[-1], flush=True)
    print(f"{'backend':<11} {'written':>7} {'writes/s':>8} {'notified':>8} {'dups':>4} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for r in results:
        print(
            f"{r.backend:<11} {r.written:>7} {r.write_rate:>8.1f} {r.notified:>8} {r.duplicates:>4} "
            f"{r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {r.max_ms:>7.1f}"
        )
    return 0 if all(r.notified == r.written and r.p99_ms < 1000 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
