"""AuditEvents: who, for which organisation, did what to which resources (by reference only), when,
and how it ended. Writes are audited in their own transaction; reads, searches and refusals go
through a short buffer, so that reading stays a read."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.search.registry import SearchRegistry
from service.security.tokens import Caller
from service.store.audit_index import AuditEventIndexer
from service.store.database import Database
from service.store.records import format_instant
from service.store.repository import NewResource, ResourceRepository
from service.telemetry.metrics import Metrics

log = logging.getLogger("dyad.audit")

_ACTIONS = {
    "create": "C",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "read": "R",
    "vread": "R",
    "search-type": "E",
    "search-system": "E",
    "history-instance": "R",
    "history-type": "R",
    "history-system": "R",
    "transaction": "E",
    "batch": "E",
    "capabilities": "R",
}
_REST_INTERACTIONS = set(_ACTIONS) | {"operation"}


@dataclass(frozen=True)
class AuditRecord:
    """What happened, before it becomes an AuditEvent resource."""

    caller: Caller
    interaction: str  # restful-interaction code, or operation-<name>
    status: int
    entities: tuple[str, ...] = ()  # Type/id or Type/id/_history/n, never content
    when: datetime | None = None
    failure: str | None = None  # a reason safe to record (no token or resource content)


def audit_event(record: AuditRecord) -> dict[str, Any]:
    interaction = record.interaction if record.interaction in _REST_INTERACTIONS else "operation"
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": interaction}],
        "action": _ACTIONS.get(record.interaction, "E"),
        "recorded": format_instant(record.when or datetime.now(UTC)),
        "outcome": _outcome(record.status),
        "agent": _agents(record.caller),
        "source": {
            "observer": {"display": "Dyad"},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4"}],
        },
    }
    if record.failure or record.status >= 400:
        event["outcomeDesc"] = record.failure or f"HTTP {record.status}"
    if record.interaction.startswith("operation-"):
        event["subtype"].append(
            {"system": "https://w3id.org/dyad/fhir/CodeSystem/operations", "code": record.interaction[10:]}
        )
    if record.entities:
        event["entity"] = [{"what": {"reference": ref}} for ref in record.entities]
    return event


def _outcome(status: int) -> str:
    return "0" if status < 400 else "4" if status < 500 else "8"


def _agents(caller: Caller) -> list[dict[str, Any]]:
    who: dict[str, Any]
    if caller.authenticated and caller.subject:
        who = {"identifier": {"system": caller.issuer or "urn:dyad:issuer", "value": caller.subject}}
    else:
        who = {"display": "unauthenticated local user (DYAD_AUTH=off)" if not caller.authenticated else "unknown"}
    agent: dict[str, Any] = {"who": who, "requestor": True}
    if caller.client_id:
        agent["altId"] = caller.client_id
    agents = [agent]
    if caller.organization:
        agents.append({"who": {"reference": caller.organization}, "requestor": False})
    return agents


class AuditWriter:
    """Writes a batch of AuditEvents in one transaction: all of them, or (raising) none."""

    def __init__(self, db: Database, repository: ResourceRepository, registry: SearchRegistry) -> None:
        self._db = db
        self._repository = repository.indexing_with(lambda generic: AuditEventIndexer(generic, registry))

    async def __call__(self, batch: list[AuditRecord]) -> None:
        async with self._db.write() as conn:
            await self._repository.create_many(conn, [NewResource(audit_event(r)) for r in batch], announce=False)


BatchWriter = Callable[[list[AuditRecord]], Awaitable[None]]


@dataclass(frozen=True)
class AuditPolicy:
    flush_seconds: float  # longest a record waits before a write is tried
    queue_limit: int  # records waiting beyond which new requests are refused
    retry_initial_seconds: float
    retry_max_seconds: float


class AuditTrail:
    """Buffers AuditEvents of requests that wrote nothing, and writes them in small batches.

    Each round writes what was queued when it began; what arrives during its write waits for the
    next round (`flush_seconds` after it arrived, or when the write under way ends if later).
    Chasing the tail instead, as a drain loop does under steady load, wrote a read's records 12
    at a time and a search's 3 at a time, and a batch's fixed cost (transaction, one statement
    per table, commit) then made the audit write a third of a read's CPU and nearly half a
    search's (docs/benchmarks.md, speed-audit).

    Nothing is dropped: a batch whose write fails goes back to the front of the queue and is
    tried again after a growing pause. The queue is bounded: once `queue_limit` records wait,
    `accepting` turns false and the gate refuses new requests (503) until the writes succeed
    again, so no request is answered that the trail could not record. Failures are counted in
    the `dyad_audit_write_failures_total` metric.
    """

    BATCH = 500

    def __init__(self, write: BatchWriter, policy: AuditPolicy, metrics: Metrics) -> None:
        self.write, self._policy, self._metrics = write, policy, metrics
        self._pending: list[AuditRecord] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failures_in_a_row = 0
        self._writing = 0  # records taken from the queue whose write has not committed yet
        self._oldest: float | None = None  # when the oldest record not yet in a round was queued
        # One writer at a time, so that a flush returns only after every record queued before
        # it has committed, including a batch the background writer had already taken.
        self._flushing = asyncio.Lock()
        metrics.audit_pending.set_function(lambda: self.pending)

    @property
    def accepting(self) -> bool:
        return self.pending < self._policy.queue_limit

    @property
    def pending(self) -> int:
        """Records not yet committed: queued, or in a write under way."""
        return len(self._pending) + self._writing

    def record(self, record: AuditRecord) -> None:
        """Queue a record. Requests already admitted may take the queue a little past its bound
        (by the requests in flight); new ones are held off by `accepting`."""
        if self._oldest is None:
            self._oldest = time.monotonic()
        self._pending.append(record)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Let the writer finish its batch and end; cancelling it mid-transaction would leave the
        database locked (SQLite) for whoever writes next."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        try:
            await self.flush()
        except Exception as exc:
            log.error(
                "audit records lost at shutdown",
                extra={"error_type": type(exc).__name__, "pending": len(self._pending)},
            )

    async def flush(self) -> None:
        """Write everything queued; on a failure the batch goes back in front and this raises."""
        async with self._flushing:
            while self._pending:
                await self._write_next_batch()

    async def _write_round(self) -> None:
        """Write the records queued now, not those queued meanwhile (they start the next round);
        on a failure the batch goes back in front and this raises."""
        async with self._flushing:
            self._oldest = None
            left = len(self._pending)
            while left > 0 and self._pending:
                left -= await self._write_next_batch(min(left, self.BATCH))

    def _pause(self) -> float:
        """How long the next round waits for more records: what is left of `flush_seconds` for
        the oldest record waiting."""
        if self._oldest is None:
            return 0.0
        return max(0.0, self._policy.flush_seconds - (time.monotonic() - self._oldest))

    async def _write_next_batch(self, size: int = BATCH) -> int:
        batch, self._pending = self._pending[:size], self._pending[size:]
        self._writing += len(batch)
        try:
            await self.write(batch)
        except BaseException:
            self._pending[:0] = batch
            raise
        finally:
            self._writing -= len(batch)
        return len(batch)

    async def _run(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            if not self._stopping:
                await asyncio.sleep(self._pause())
            try:
                await (self.flush() if self._stopping else self._write_round())
                self._failures_in_a_row = 0
            except Exception as exc:
                self._failures_in_a_row += 1
                self._metrics.audit_write_failures.inc()
                log.error("audit write failed; will retry", extra={"error_type": type(exc).__name__})
                self._wake.set()
                if not self._stopping:
                    await asyncio.sleep(self._backoff())

    def _backoff(self) -> float:
        pause = self._policy.retry_initial_seconds * 2 ** min(self._failures_in_a_row - 1, 16)
        return float(min(pause, self._policy.retry_max_seconds))
