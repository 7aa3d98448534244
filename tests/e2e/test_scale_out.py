"""The deployment a region runs: several Dyad processes and one notification worker on one PostgreSQL.

Two `dyad serve` processes share the writes and both run the clock check; one `dyad notify-worker`
delivers (woken by the commits, its poll left at the slow default). A missed clock must breach
once, and every notification must reach the subscriber once.
"""

import asyncio
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.notify_receiver import Receiver
from tests.e2e.conftest import start_dyad, start_server, stop_dyad
from tests.fhir_samples import FHIR_JSON, observation, store_infants
from tests.notify.conftest import events, eventually
from tests.pathway.family import put, referral, search, seed_family
from tests.pathway.test_referrals import move, referral_task

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["postgresql"], indirect=True)]

OBSERVATIONS = 24
CONCEPTS = "https://w3id.org/dyad/fhir/CodeSystem/dyad-concepts"
BREACHES = "Communication?category=https://w3id.org/dyad/fhir/CodeSystem/dyad-pathway-clocks|clock-breach"


@pytest.fixture
def region(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str, list[Path]]]:
    """Two server processes (started one after the other: the first migrates) and a worker."""
    env = {
        "DYAD_DATABASE_URL": database_url,
        "DYAD_AUTH": "off",
        "DYAD_LOG_LEVEL": "INFO",
        "DYAD_RATE_LIMIT_PER_MINUTE": "0",
        "DYAD_NOTIFY_WORKER_ENABLED": "false",
        "DYAD_PATHWAY_CLOCK_CHECK_SECONDS": "0.3",
    }
    logs = [tmp_path / "server-a.log", tmp_path / "server-b.log", tmp_path / "worker.log"]
    processes = []
    try:
        first, base_a = start_server(env, logs[0], within=180)
        processes.append(first)
        second, base_b = start_server(env, logs[1], within=180)
        processes.append(second)
        processes.append(start_dyad(["notify-worker"], {**env, "DYAD_NOTIFY_WORKER_ENABLED": "true"}, logs[2]))
        yield base_a, base_b, logs
    finally:
        for process in processes:
            stop_dyad(process)


def _subscription(endpoint: str, criteria: str) -> dict[str, object]:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "scale-out test",
        "criteria": criteria,
        "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json"},
    }


async def _created(client: httpx.AsyncClient, resource: dict[str, object]) -> dict[str, object]:
    response = await client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


async def _all_delivered(database_url: str) -> bool:
    states = {row.state for row in await events(database_url)}
    return states == {"delivered"}


async def test_two_servers_and_a_worker_breach_once_and_deliver_each_notification_once(
    region: tuple[str, str, list[Path]], receiver: Receiver, database_url: str
) -> None:
    base_a, base_b, logs = region
    async with httpx.AsyncClient(base_url=base_a, timeout=60) as a, httpx.AsyncClient(base_url=base_b, timeout=60) as b:
        await _created(a, _subscription(receiver.url, f"Observation?code={CONCEPTS}|relationship-assessment"))
        await _created(b, _subscription(receiver.url, BREACHES))
        await store_infants(a)  # what the observations refer to (references resolve on write)
        # Writes through both servers at once: each commit wakes the worker in its own process.
        written = await asyncio.gather(*(_created((a, b)[i % 2], observation()) for i in range(OBSERVATIONS)))
        # A referral received on 16 September 2026: its two-week assessment clock is long past due,
        # and both servers' clock checks find it.
        await seed_family(b)
        await put(b, referral())
        task = await referral_task(a)
        moved = await move(b, task, "received", "received", lastModified="2026-09-16T09:00:00Z")
        assert moved.status_code == 200, moved.text

        await receiver.wait_for(OBSERVATIONS + 1, timeout=60)
        breaches = await search(a, BREACHES)
    await eventually(lambda: _all_delivered(database_url), timeout=60)

    got = list(receiver.requests)  # everything the outbox holds has been sent: no more can come
    event_ids = Counter(r.headers["x-dyad-event-id"] for r in got)
    assert len(got) == OBSERVATIONS + 1 and max(event_ids.values()) == 1
    delivered = {r.headers["content-location"].split("/_history")[0].split("/")[-1] for r in got}
    assert {str(o["id"]) for o in written} <= delivered
    assert len(breaches) == 1 and {"reference": f"Task/{task['id']}"} in breaches[0]["about"]
    raised = sum(line.count('"clock breaches raised"') for line in (p.read_text() for p in logs[:2]))
    assert raised == 1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_postgresql_delivers_from_a_worker_process_of_its_own(
    database_url: str, tmp_path: Path, workers: str
) -> None:
    """Also with one worker: in the server's own event loop delivery queued behind busy requests."""
    env = {
        "DYAD_DATABASE_URL": database_url,
        "DYAD_AUTH": "off",
        "DYAD_LOG_LEVEL": "INFO",
        "DYAD_RATE_LIMIT_PER_MINUTE": "0",
    }
    log_path = tmp_path / "serve.log"
    process, base = start_server(env, log_path, extra=("--workers", workers), within=240)
    try:
        asyncio.run(_one_notification(base))
    finally:
        stop_dyad(process)
    logs = log_path.read_text()
    assert logs.count('"notify worker started"') == 1  # one delivering process beside the workers


def _notifier_of(server: "subprocess.Popen[bytes]") -> int:
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    [pid] = [int(c) for c in children if b"notify-worker" in Path(f"/proc/{c}/cmdline").read_bytes()]
    return pid


def test_a_notifier_that_dies_is_restarted_and_delivers(database_url: str, tmp_path: Path) -> None:
    """The server's own delivery is off while its notifier delivers: a dead notifier must not
    leave the outbox with nothing to send it."""
    env = {
        "DYAD_DATABASE_URL": database_url,
        "DYAD_AUTH": "off",
        "DYAD_LOG_LEVEL": "INFO",
        "DYAD_RATE_LIMIT_PER_MINUTE": "0",
    }
    log_path = tmp_path / "serve.log"
    process, base = start_server(env, log_path, within=240)
    try:
        os.kill(_notifier_of(process), signal.SIGKILL)
        asyncio.run(_one_notification(base))
    finally:
        stop_dyad(process)
    logs = log_path.read_text()
    assert '"notify worker exited; restarting it"' in logs
    assert '"notify worker started"' in logs  # the one started again (the first may die starting)


def test_stopping_serve_stops_its_notifier(database_url: str, tmp_path: Path) -> None:
    """uvicorn raises a caught SIGTERM again once it has shut down, ending the process before any
    `finally`: the notifier must be stopped on the way down, not left running on its own."""
    env = {"DYAD_DATABASE_URL": database_url, "DYAD_AUTH": "off", "DYAD_RATE_LIMIT_PER_MINUTE": "0"}
    process, _ = start_server(env, tmp_path / "serve.log", within=240)
    notifier = _notifier_of(process)
    stop_dyad(process)
    asyncio.run(eventually(lambda: _gone(notifier), timeout=30))


async def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # exited, not yet reaped by whoever adopted it


async def _one_notification(base: str) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            await _created(client, _subscription(receiver.url, f"Observation?code={CONCEPTS}|relationship-assessment"))
            await store_infants(client)
            await _created(client, observation())
            [got] = await receiver.wait_for(1, timeout=60)
        assert got.headers["x-dyad-interaction"] == "create"
    finally:
        await receiver.stop()
