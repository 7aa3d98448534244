"""The audit trail cannot be dropped (issue 11, "Audit that cannot be dropped"): a batch whose
write fails is retried until it is written, the queue is bounded by refusing new requests (503)
rather than by losing records, and failures are counted in a metric. Under DYAD_AUTH=jwt."""

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from service.config import Settings
from service.security.audit import AuditRecord, AuditTrail
from tests.fhir_samples import infant
from tests.security.hostile import MAT, Mint, app_client, auth, jwt_settings, mint, put  # noqa: F401

AUDITOR = "system/AuditEvent.rs"
SCRAPER = "scraper-secret"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return jwt_settings(
        database_url,
        tmp_path,
        audit_queue_limit=8,
        audit_retry_initial_seconds=0.01,
        audit_retry_max_seconds=0.05,
        metrics_token=SCRAPER,
    )


class FailingDatabase:
    """Wraps the real writer; while `down`, every write fails as a lost database would."""

    def __init__(self, real: Callable[[list[AuditRecord]], Awaitable[None]]) -> None:
        self.real, self.down, self.attempts = real, True, 0

    async def __call__(self, batch: list[AuditRecord]) -> None:
        self.attempts += 1
        if self.down:
            raise ConnectionError("database unreachable")
        await self.real(batch)


def _trail(client: httpx.AsyncClient) -> AuditTrail:
    return client.app.state.gate.trail  # type: ignore[attr-defined,no-any-return]


async def _poll(condition: Callable[[], bool], what: str) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def _audited_reads_of_baby(client: httpx.AsyncClient, mint: Mint) -> int:
    params = {"entity": "Patient/baby", "subtype": "read", "_summary": "count"}
    response = await client.get("/fhir/AuditEvent", params=params, headers=auth(mint(AUDITOR)))
    return int(response.json()["total"])


async def test_a_failed_write_is_retried_until_nothing_is_lost(app_client: httpx.AsyncClient, mint: Mint) -> None:
    assert (await put(app_client, mint(org=MAT), {**infant(), "id": "baby"})).status_code == 201
    trail = _trail(app_client)
    await _poll(lambda: trail.pending == 0, "start-up records written")
    failing = FailingDatabase(trail.write)
    trail.write = failing
    reader = auth(mint("system/Patient.rs"))
    for _ in range(5):
        assert (await app_client.get("/fhir/Patient/baby", headers=reader)).status_code == 200
    await _poll(lambda: failing.attempts >= 3, "three failed attempts")
    assert trail.pending >= 5  # kept, not dropped
    metrics = (await app_client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPER}"})).text
    assert "dyad_audit_write_failures_total" in metrics
    failures = next(line for line in metrics.splitlines() if line.startswith("dyad_audit_write_failures_total"))
    assert float(failures.split()[-1]) >= 3
    failing.down = False
    await _poll(lambda: trail.pending == 0, "the queue written once the database is back")
    assert await _audited_reads_of_baby(app_client, mint) == 5


async def test_a_full_queue_refuses_new_requests_instead_of_dropping_records(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    assert (await put(app_client, mint(org=MAT), {**infant(), "id": "baby"})).status_code == 201
    trail = _trail(app_client)
    await _poll(lambda: trail.pending == 0, "start-up records written")
    failing = FailingDatabase(trail.write)
    trail.write = failing
    reader = auth(mint("system/Patient.rs"))
    answered = 0
    while trail.accepting:
        assert (await app_client.get("/fhir/Patient/baby", headers=reader)).status_code == 200
        answered += 1
    refused = await app_client.get("/fhir/Patient/baby", headers=reader)
    assert refused.status_code == 503, refused.text
    assert refused.json()["issue"][0]["code"] == "transient"
    assert "Retry-After" in refused.headers
    failing.down = False
    await _poll(lambda: trail.pending == 0, "the queue written once the database is back")
    assert (await app_client.get("/fhir/Patient/baby", headers=reader)).status_code == 200
    await _poll(lambda: trail.pending == 0, "the last read written")
    assert await _audited_reads_of_baby(app_client, mint) == answered + 1


class HeldWrite:
    """A writer whose first write waits until released, as a slow database commit would."""

    def __init__(self) -> None:
        self.started, self.release = asyncio.Event(), asyncio.Event()
        self.committed: list[AuditRecord] = []

    async def __call__(self, batch: list[AuditRecord]) -> None:
        self.started.set()
        await self.release.wait()
        self.committed.extend(batch)


async def test_a_flush_returns_only_after_the_batch_the_background_writer_took_has_committed(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    """A caller that flushes and then searches AuditEvents must find every record queued before:
    the background writer may have taken them from the queue but not yet committed them."""
    assert (await put(app_client, mint(org=MAT), {**infant(), "id": "baby"})).status_code == 201
    trail = _trail(app_client)
    await _poll(lambda: trail.pending == 0, "start-up records written")
    held = HeldWrite()
    trail.write = held
    assert (await app_client.get("/fhir/Patient/baby", headers=auth(mint("system/Patient.rs")))).status_code == 200
    await asyncio.wait_for(held.started.wait(), timeout=20)  # the background writer has the batch
    flushing = asyncio.create_task(trail.flush())
    try:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        returned_early = flushing.done()
    finally:
        held.release.set()  # else the held writer would keep the app from shutting down
    await asyncio.wait_for(flushing, timeout=20)
    assert not returned_early  # it waited for the batch under way instead of finding an empty queue
    assert len(held.committed) == 1
