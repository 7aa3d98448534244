"""Hostile review (2026-11-30 night): the audit trail's rounds and its hand-built index rows.

Over the real app: AuditEvents about a restricted record, found by an organisation with the audit
scope, stay its owner's, whichever viewer's statement was built first, and a flushed trail is
searchable at once. Over a fake writer: failures mid-round, stop and flush during a round lose
nothing and write nothing twice, and the queue bound counts the round under way.
"""

import asyncio
from typing import Any

import httpx

from service.security.audit import AuditPolicy, AuditRecord, AuditTrail
from service.security.tokens import Caller
from service.telemetry.metrics import Metrics
from tests.security.test_http_enforcement import (  # noqa: F401 (fixtures)
    ALL,
    HV,
    MAT,
    PMH,
    Mint,
    _family,
    app_client,
    auth,
    mint,
    settings,
)

AUDITOR = f"{ALL} system/AuditEvent.rs"


async def _audit_search(client: httpx.AsyncClient, token: str, about: str, **params: str) -> tuple[Any, int]:
    """The total, and how many of the page's AuditEvents are about `about`."""
    response = await client.get("/fhir/AuditEvent", params=params, headers=auth(token))
    assert response.status_code == 200, response.text
    bundle = response.json()
    events = [e["resource"] for e in bundle.get("entry", [])]
    return bundle.get("total"), sum(any(x["what"]["reference"] == about for x in e.get("entity", [])) for e in events)


async def test_audit_events_about_a_restricted_record_stay_its_owners_whoever_searched_first(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    obs = await _family(app_client, mint)
    pmh = mint(AUDITOR, org=PMH, subject="client-pmh")
    for _ in range(3):  # reads by the owner: each an AuditEvent about the restricted record
        assert (await app_client.get(f"/fhir/Observation/{obs}", headers=auth(pmh))).status_code == 200
    await app_client.app.state.gate.trail.flush()  # type: ignore[attr-defined]
    viewers = {
        "pmh": pmh,
        "hv": mint(AUDITOR, org=HV),
        "mat-treat": mint(AUDITOR, org=MAT, purpose_of_use="TREAT"),
        "nobody": mint(AUDITOR, org=None),
    }
    searches: list[dict[str, str]] = [
        {"entity": f"Observation/{obs}"},
        {"entity": f"Observation/{obs},Patient/baby,Patient/mother"},
        {"entity": f"Observation/{obs}", "_summary": "count"},
        {"entity": f"Observation/{obs}", "_total": "accurate", "_count": "1", "_offset": "1"},
        {"agent": PMH, "entity:Observation": obs},
        {"subtype": "read,vread", "entity": f"Observation/{obs}"},
    ]
    for order in (list(viewers), list(reversed(viewers))):
        for params in searches:
            for name in order:
                total, about = await _audit_search(app_client, viewers[name], f"Observation/{obs}", **params)
                if name == "pmh":
                    # Its own reads, all of them, as soon as the trail was flushed.
                    assert (total if params.get("_summary") else about) >= (1 if "_offset" in params else 3)
                else:
                    assert about == 0, (name, params)
                    if "," not in params.get("entity", ""):
                        assert total == 0, (name, params)


def _record(number: int) -> AuditRecord:
    return AuditRecord(Caller.local_unauthenticated(), "read", 200, (f"Patient/p{number}",))


class Writer:
    """Commits each batch, or fails the ones listed; can hold a write open until released."""

    def __init__(self, fail: set[int] | None = None) -> None:
        self.calls = 0
        self.committed: list[str] = []
        self.fail = fail or set()
        self.hold = asyncio.Event()
        self.hold.set()
        self.holding = asyncio.Event()

    async def __call__(self, batch: list[AuditRecord]) -> None:
        self.calls += 1
        call = self.calls
        self.holding.set()
        await self.hold.wait()
        await asyncio.sleep(0.001)
        if call in self.fail:
            raise RuntimeError("database went away")
        self.committed += [r.entities[0] for r in batch]


def _trail(writer: Writer, limit: int = 10_000) -> AuditTrail:
    return AuditTrail(writer, AuditPolicy(0.01, limit, 0.005, 0.02), Metrics())


async def _until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


async def test_a_round_failing_between_batches_loses_and_repeats_nothing(monkeypatch: Any) -> None:
    monkeypatch.setattr(AuditTrail, "BATCH", 3)
    writer = Writer(fail={2, 4})
    trail = _trail(writer)
    trail.start()
    try:
        for n in range(10):
            trail.record(_record(n))
        await _until(lambda: trail.pending == 0)
    finally:
        await trail.stop()
    assert writer.committed == [f"Patient/p{n}" for n in range(10)]


async def test_stop_and_flush_during_a_round_lose_and_repeat_nothing() -> None:
    writer = Writer()
    writer.hold.clear()
    trail = _trail(writer)
    trail.start()
    for n in range(5):
        trail.record(_record(n))
    await writer.holding.wait()  # the round has taken p0..p4 and is writing them
    for n in range(5, 8):
        trail.record(_record(n))
    flushing = asyncio.create_task(trail.flush())
    stopping = asyncio.create_task(trail.stop())
    await asyncio.sleep(0.02)
    assert not flushing.done()  # the flush waits for the round it cannot see the end of
    trail.record(_record(8))
    writer.hold.set()
    await flushing
    assert set(writer.committed) >= {f"Patient/p{n}" for n in range(8)}
    await stopping
    assert sorted(writer.committed, key=lambda e: int(e.split("p")[-1])) == [f"Patient/p{n}" for n in range(9)]
    assert len(writer.committed) == len(set(writer.committed)) == 9


async def test_the_queue_bound_counts_the_round_being_written(monkeypatch: Any) -> None:
    writer = Writer()
    writer.hold.clear()
    trail = _trail(writer, limit=5)
    trail.start()
    try:
        for n in range(5):
            trail.record(_record(n))
        await writer.holding.wait()
        assert not trail.accepting  # all five are in the write, none committed
        writer.hold.set()
        await _until(lambda: trail.pending == 0)
        assert trail.accepting
    finally:
        await trail.stop()


async def test_a_cancelled_write_puts_its_records_back() -> None:
    writer = Writer()
    writer.hold.clear()
    trail = _trail(writer)
    for n in range(3):
        trail.record(_record(n))
    flushing = asyncio.create_task(trail.flush())
    await writer.holding.wait()
    flushing.cancel()
    await asyncio.gather(flushing, return_exceptions=True)
    assert trail.pending == 3
    writer.hold.set()
    await trail.flush()
    assert writer.committed == ["Patient/p0", "Patient/p1", "Patient/p2"]
