"""AuditEvents: who, for which organisation, did what to which resources (by reference only), when,
and how it ended. Writes are audited in their own transaction; reads, searches and refusals go
through a short buffer, so that reading stays a read."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from service.security.tokens import Caller
from service.store.database import Database
from service.store.records import format_instant
from service.store.repository import NewResource, ResourceRepository

log = logging.getLogger("dyad.audit")

_ACTIONS = {
    "create": "C", "update": "U", "patch": "U", "delete": "D", "read": "R", "vread": "R",
    "search-type": "E", "search-system": "E", "history-instance": "R", "history-type": "R",
    "history-system": "R", "transaction": "E", "batch": "E", "capabilities": "R",
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
        "recorded": format_instant(record.when or datetime.now(timezone.utc)),
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
        event["subtype"].append({"system": "https://w3id.org/dyad/fhir/CodeSystem/operations", "code": record.interaction[10:]})
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


class AuditTrail:
    """Buffers AuditEvents of requests that wrote nothing, and writes them in small batches."""

    def __init__(self, db: Database, repository: ResourceRepository, flush_seconds: float) -> None:
        self._db, self._repository, self._flush_seconds = db, repository, flush_seconds
        self._pending: list[AuditRecord] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def record(self, record: AuditRecord) -> None:
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
        await self.flush()

    async def flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:500], self._pending[500:]
            async with self._db.write() as conn:
                await self._repository.create_many(conn, [NewResource(audit_event(r)) for r in batch], announce=False)

    async def _run(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            if not self._stopping:
                await asyncio.sleep(self._flush_seconds)
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001 - the trail must outlive a failed batch
                log.error("audit flush failed", extra={"error_type": type(exc).__name__})
