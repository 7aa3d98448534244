"""The audit trail's background writer writes in rounds: what was queued when a round began, after
the oldest of it has waited `flush_seconds`. Records that arrive during a write wait for the next
round instead of being chased in a string of small batches, each paying a transaction of its own
(under steady load that made the audit write a third of a read's CPU)."""

import asyncio
import time

from service.security.audit import AuditPolicy, AuditRecord, AuditTrail
from service.security.tokens import Caller
from service.telemetry.metrics import Metrics

FLUSH = 0.05
RECORDS = 60


class SlowWriter:
    """Takes a few milliseconds a batch, as a commit would, and notes when each began."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, list[AuditRecord]]] = []

    async def __call__(self, batch: list[AuditRecord]) -> None:
        self.batches.append((time.monotonic(), list(batch)))
        await asyncio.sleep(0.004)


def _record(number: int) -> AuditRecord:
    return AuditRecord(Caller.local_unauthenticated(), "read", 200, (f"Patient/p{number}",))


async def _steady_requests(trail: AuditTrail, queued: dict[str, float]) -> None:
    """One record every millisecond or so, as a busy server's reads would queue them."""
    for number in range(RECORDS):
        record = _record(number)
        queued[record.entities[0]] = time.monotonic()
        trail.record(record)
        await asyncio.sleep(0.001)


async def test_under_steady_load_a_write_waits_for_its_oldest_record_to_have_waited_the_flush_pause() -> None:
    writer = SlowWriter()
    trail = AuditTrail(writer, AuditPolicy(FLUSH, 10_000, 0.01, 0.05), Metrics())
    queued: dict[str, float] = {}
    trail.start()
    try:
        await _steady_requests(trail, queued)
        await trail.flush()
    finally:
        await trail.stop()
    written = [r.entities[0] for _, batch in writer.batches for r in batch]
    assert written == [f"Patient/p{n}" for n in range(RECORDS)]  # all, once, in order
    background = writer.batches[:-1] if len(writer.batches) > 1 else writer.batches  # the last may be flush()'s
    for began, batch in background:
        # The loop's clock may round a sleep's end a little early; a tail-chasing write starts
        # about a millisecond after its oldest record, far inside this margin.
        assert began - queued[batch[0].entities[0]] >= FLUSH * 0.8


async def test_a_round_leaves_what_arrives_during_its_write_to_the_next_round() -> None:
    class Arriving(SlowWriter):
        async def __call__(self, batch: list[AuditRecord]) -> None:
            await super().__call__(batch)
            if len(self.batches) == 1:
                trail.record(_record(1))  # a request answered while the first batch commits

    writer = Arriving()
    trail = AuditTrail(writer, AuditPolicy(FLUSH, 10_000, 0.01, 0.05), Metrics())
    trail.start()
    try:
        trail.record(_record(0))
        for _ in range(500):
            if len(writer.batches) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await trail.stop()
    assert [[r.entities[0] for r in batch] for _, batch in writer.batches] == [["Patient/p0"], ["Patient/p1"]]
    first, second = writer.batches[0][0], writer.batches[1][0]
    assert second - first >= FLUSH * 0.8  # the second record waited for its own round
    assert trail.pending == 0
