"""Commit-to-receiver latency of Subscription notifications, on SQLite and on PostgreSQL.

    python -m bench.notify_bench [--rate 200] [--seconds 20] [--bundle 20] [--clients 4]
                                 [--backends sqlite,postgresql]

Starts the real server (`python -m service serve`, DYAD_DATABASE_URL) on a fresh database, a
local receiver, one rest-hook Subscription on relationship Observations and the people they
refer to; then writes the server bench's relationship Observations (bench/observations.py) at a
fixed rate (by default as 10 transaction Bundles of 20 per second) and times, for each, the
moment its commit reached the client (the 201, or the Bundle's transaction-response) against
the receiver's notification. The write rate achieved is reported, and a run that did not reach
the rate asked for says so and exits non-zero.
"""

import argparse
import asyncio
import os
import random
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import observations as obs
from bench.notify_receiver import Receiver, free_port
from bench.postgres import DATABASE_PREFIX
from bench.servers import wait_ready

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
CODE = {"system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-concepts", "code": "relationship-assessment"}
FHIR_JSON = {"Content-Type": "application/fhir+json"}
INFANTS = 50  # the relationship Observations' subjects
CATEGORY = f"{obs.CONCEPTS_SYSTEM}|parent-infant-relationship"


RATE_TOLERANCE = 0.95  # a run that wrote less than 95 % of the rate asked for did not reach it
P99_TARGET_MS = 1000.0


@dataclass(frozen=True)
class Result:
    backend: str
    target_rate: float
    written: int
    failed: int
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
    name = f"{DATABASE_PREFIX}notify_{uuid.uuid4().hex[:8]}"
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
def dyad_server(database_url: str, workers: int, separate_notifier: bool) -> Iterator[str]:
    """`dyad serve`. With workers > 1 (PostgreSQL) serve runs the notification worker in its own
    process beside the request workers, as a deployment does; separate_notifier does the same
    beside one request process (serve with DYAD_NOTIFY_WORKER_ENABLED=false, plus `dyad notify-worker`)."""
    port = free_port()
    env = {
        **os.environ,
        "DYAD_DATABASE_URL": database_url,
        "DYAD_AUTH": "off",
        "DYAD_LOG_LEVEL": "WARNING",
        "DYAD_NOTIFY_ALLOWED_HOSTS": '["127.0.0.1"]',
    }  # its receiver is on loopback
    serve_env = {**env, "DYAD_NOTIFY_WORKER_ENABLED": "false"} if separate_notifier else env
    log = tempfile.NamedTemporaryFile(prefix="dyad-notify-bench-", suffix=".log", delete=False)
    processes = [
        _start([*SERVE, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)], serve_env, log)
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(processes[0], f"{base}/readyz", Path(log.name))
        if separate_notifier:  # after serve has migrated the database
            processes.append(_start_notifier(env))
        yield base
    finally:
        for process in processes:
            _stop(process)


SERVE = [sys.executable, "-m", "service", "serve"]


def _start(command: list[str], env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _start_notifier(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`dyad notify-worker`, once it has started: events written while it compiles the profiles
    would otherwise count its start-up as delivery latency."""
    log = tempfile.NamedTemporaryFile(prefix="dyad-notify-worker-", suffix=".log", delete=False)
    process = _start([sys.executable, "-m", "service", "notify-worker"], {**env, "DYAD_LOG_LEVEL": "INFO"}, log)
    deadline = time.monotonic() + NOTIFIER_START_SECONDS
    while "notify worker started" not in Path(log.name).read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            raise RuntimeError(f"notify worker did not start; see {log.name}")
        time.sleep(0.2)
    return process


NOTIFIER_START_SECONDS = 120.0


def _stop(process: subprocess.Popen[bytes]) -> None:
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
        "subject": {"reference": f"Patient/bench-infant-{n % INFANTS}"},
        "effectiveDateTime": "2026-10-02T10:30:00Z",
    }


def relationship_observation(n: int) -> dict[str, Any]:
    """The server bench's relationship Observation (profile-conformant; a concern in 15 %, as the
    data generator draws them, so the pathway raises its Tasks as it would in use), about one of
    INFANTS infants."""
    rng = random.Random(n)
    key = obs.Key(n % INFANTS, n % len(obs.ASSESSMENTS), datetime(2026, 10, 2, 10, 30, tzinfo=UTC))
    return obs.observation(key, rng)


def transaction(first: int, size: int) -> dict[str, object]:
    entries = [
        {"resource": relationship_observation(n), "request": {"method": "POST", "url": "Observation"}}
        for n in range(first, first + size)
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def created_ids(response: httpx.Response, bundle: int) -> list[str]:
    """The ids a 201 (single create) or a transaction-response (every entry 201) committed."""
    if bundle == 1:
        return [response.json()["id"]] if response.status_code == 201 else []
    if response.status_code != 200:
        return []
    return [
        e["response"]["location"].split("/")[1]
        for e in response.json()["entry"]
        if e["response"]["status"].startswith("201")
    ]


@dataclass
class Load:
    committed: dict[str, float]  # Observation id -> time.time() its commit reached the client
    requests: int
    failed: int
    elapsed: float  # first request sent -> last response received


async def write_load(base: str, rate: float, seconds: float, bundle: int, clients: int) -> Load:
    """Observations at `rate`/s for `seconds`: `bundle` per request (1 = single creates, more =
    a transaction Bundle), requests started on a fixed schedule by up to `clients` at once.

    A server slower than the rate runs out of free clients, the schedule slips, and the rate it
    managed is what is reported (not the rate asked for): an open-loop client would instead
    measure a queue that grows without bound.
    """
    committed: dict[str, float] = {}
    counts = {"requests": 0, "failed": 0}
    slots = asyncio.Semaphore(clients)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:

        async def one(first: int) -> None:
            try:
                if bundle == 1:
                    response = await client.post(
                        "/fhir/Observation", json=relationship_observation(first), headers=FHIR_JSON
                    )
                else:
                    response = await client.post("/fhir", json=transaction(first, bundle), headers=FHIR_JSON)
                at = time.time()
                ids = created_ids(response, bundle)
                counts["requests"] += 1
                counts["failed"] += bundle - len(ids)
                committed.update((i, at) for i in ids)
            finally:
                slots.release()

        tasks = []
        start = time.monotonic()
        per_second = rate / bundle
        n = 0
        while time.monotonic() - start < seconds:
            delay = start + n / per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            tasks.append(asyncio.create_task(one(n * bundle)))
            n += 1
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - start
    return Load(committed, counts["requests"], counts["failed"], elapsed)


def run_backend(
    backend: str, rate: float, seconds: float, bundle: int, clients: int, workers: int, separate_notifier: bool
) -> Result:
    with (
        fresh_database(backend) as url,
        dyad_server(url, workers, separate_notifier) as base,
        receiver_thread() as receiver,
    ):
        subscription = {
            "resourceType": "Subscription",
            "status": "requested",
            "reason": "benchmark",
            "criteria": f"Observation?category={CATEGORY}",
            "channel": {"type": "rest-hook", "endpoint": receiver.url, "payload": "application/fhir+json"},
        }
        assert httpx.post(f"{base}/fhir/Subscription", json=subscription, headers=FHIR_JSON).status_code == 201
        # The people the Observations refer to: Dyad refuses a write whose references do not resolve.
        for body in obs.people_transactions(INFANTS):
            assert httpx.post(f"{base}/fhir", content=body, headers=FHIR_JSON, timeout=120).status_code == 200
        _delivery_ready(base, receiver)
        load = asyncio.run(write_load(base, rate, seconds, bundle, clients))
        deadline = time.monotonic() + 60
        while len(receiver.requests) < len(load.committed) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        return summarise(backend, rate, load, list(receiver.requests))


def _delivery_ready(base: str, receiver: Any) -> None:
    """One Observation written and its notification waited for, then forgotten: whichever process
    delivers (serve's own notifier on PostgreSQL starts beside it), its start-up is not counted as
    the measured writes' latency."""
    probe = relationship_observation(10**6)
    assert httpx.post(f"{base}/fhir/Observation", json=probe, headers=FHIR_JSON, timeout=60).status_code == 201
    deadline = time.monotonic() + NOTIFIER_START_SECONDS
    while not receiver.requests:
        if time.monotonic() > deadline:
            raise RuntimeError("no notification arrived for the probe: is a notifier running?")
        time.sleep(0.1)
    receiver.requests.clear()


def summarise(backend: str, rate: float, load: Load, received: list[object]) -> Result:
    arrivals: dict[str, float] = {}
    duplicates = 0
    for request in received:
        res_id = request.headers["content-location"].split("/")[1]  # type: ignore[attr-defined]
        if res_id in arrivals:
            duplicates += 1
            continue
        arrivals[res_id] = request.at  # type: ignore[attr-defined]
    # Negative when the notification beat the response to the client: both follow the commit.
    latencies = sorted((arrivals[i] - t) * 1000 for i, t in load.committed.items() if i in arrivals)
    if not latencies:
        raise RuntimeError("no notification arrived")
    return Result(
        backend=backend,
        target_rate=rate,
        written=len(load.committed),
        failed=load.failed,
        write_rate=len(load.committed) / load.elapsed,
        notified=len(latencies),
        duplicates=duplicates,
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        max_ms=latencies[-1],
    )


def verdicts(r: Result) -> list[str]:
    """What the run missed, each with its factor; empty when it met every target."""
    missed = []
    if r.write_rate < RATE_TOLERANCE * r.target_rate:
        missed.append(
            f"{r.backend}: write rate NOT reached: {r.write_rate:.1f}/s of {r.target_rate:.0f}/s ({r.target_rate / r.write_rate:.2f}x short)"
        )
    if r.p99_ms >= P99_TARGET_MS:
        missed.append(
            f"{r.backend}: p99 {r.p99_ms:.0f} ms, target < {P99_TARGET_MS:.0f} ms ({r.p99_ms / P99_TARGET_MS:.2f}x over)"
        )
    if r.notified < r.written:
        missed.append(
            f"{r.backend}: {r.written - r.notified} of {r.written} committed Observations were never notified"
        )
    if r.failed:
        missed.append(f"{r.backend}: {r.failed} Observations were not created (non-2xx)")
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="Observations written per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to write")
    parser.add_argument(
        "--bundle",
        type=int,
        default=20,
        help="Observations per request: 1 = single creates, more = a transaction Bundle",
    )
    parser.add_argument("--clients", type=int, default=4, help="most requests outstanding at once")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="request worker processes (above 1: PostgreSQL only, the notification worker in its own process)",
    )
    parser.add_argument(
        "--separate-notifier",
        action="store_true",
        help="one request process and the notification worker in its own process (`dyad notify-worker`)",
    )
    args = parser.parse_args(argv)
    if args.workers > 1 and args.backends != "postgresql":
        parser.error("--workers above 1 needs --backends postgresql")
    results = []
    for backend in args.backends.split(","):
        results.append(
            run_backend(
                backend.strip(),
                args.rate,
                args.seconds,
                args.bundle,
                args.clients,
                args.workers,
                args.separate_notifier,
            )
        )
        print(results[-1], flush=True)
    how = "single creates" if args.bundle == 1 else f"transaction Bundles of {args.bundle}"
    print(f"\n{args.rate:.0f} Observations/s asked for, {args.seconds:.0f} s, {how}, {args.clients} clients")
    print(
        f"{'backend':<11} {'written':>7} {'writes/s':>8} {'notified':>8} {'dups':>4} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
    )
    for r in results:
        print(
            f"{r.backend:<11} {r.written:>7} {r.write_rate:>8.1f} {r.notified:>8} {r.duplicates:>4} "
            f"{r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {r.max_ms:>7.1f}"
        )
    missed = [m for r in results for m in verdicts(r)]
    print("\n".join(missed) if missed else "every target met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
