"""The periodic clock check: each breached clock is marked on its Task and announced, once.

Safe on several replicas at once: the Task's new version is written with If-Match semantics
(its row lock is taken first, in the same order as a client's write, so no deadlock), then the
clock row is claimed with a conditional UPDATE; a second replica either fails the version check
or claims nothing, and its transaction — Task version and Communication — rolls back.
"""

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.pathway.clock_store import Clock, claim_breach, past_due
from service.pathway.derived import create_once, derived_identifier, record_derivation
from service.periodic import Periodic
from service.search.registry import SearchRegistry
from service.store.access import Viewer
from service.store.database import Database
from service.store.errors import StoreError
from service.store.records import format_instant
from service.store.repository import ResourceRepository

log = logging.getLogger("dyad.pathway.clocks")

BREACH_EXT = "https://w3id.org/dyad/fhir/StructureDefinition/dyad-ext-clock-breach"
CLOCKS_SYSTEM = "https://w3id.org/dyad/fhir/CodeSystem/dyad-pathway-clocks"
_DISPLAY = {
    "assessment": "Assessment within 2 weeks of referral received",
    "intervention": "Intervention within 1 month of assessment",
}


class _AlreadyRaised(Exception):
    """Another check raised this breach, or the clock was met meanwhile: undo this attempt."""


def _breach_marked(task: dict[str, Any], clock: str) -> dict[str, Any]:
    extension = [
        e
        for e in task.get("extension") or []
        if not (e.get("url") == BREACH_EXT and (e.get("valueCoding") or {}).get("code") == clock)
    ]
    extension.append(
        {"url": BREACH_EXT, "valueCoding": {"system": CLOCKS_SYSTEM, "code": clock, "display": _DISPLAY[clock]}}
    )
    return {**task, "extension": extension}


def _notification(task: dict[str, Any], clock: Clock, now: datetime) -> dict[str, Any]:
    recipients = [r for r in (task.get("owner"), task.get("requester")) if isinstance(r, dict) and r.get("reference")]
    return {
        "resourceType": "Communication",
        "identifier": [derived_identifier(f"clock-breach:Task/{clock.task_id}:{clock.clock}")],
        "status": "completed",
        "category": [
            {"coding": [{"system": CLOCKS_SYSTEM, "code": "clock-breach", "display": "Pathway clock breached"}]}
        ],
        "priority": "urgent",
        "subject": task.get("for"),
        "about": [{"reference": f"Task/{clock.task_id}"}] + ([{"reference": clock.referral}] if clock.referral else []),
        "sent": format_instant(now),
        "recipient": recipients,
        "reasonCode": [{"coding": [{"system": CLOCKS_SYSTEM, "code": clock.clock, "display": _DISPLAY[clock.clock]}]}],
        "payload": [
            {
                "contentString": f"{_DISPLAY[clock.clock]}: due {format_instant(clock.due_at)}, not met.",
            }
        ],
    }


async def raise_breach(
    conn: AsyncConnection, repository: ResourceRepository, registry: SearchRegistry, clock: Clock, now: datetime
) -> None:
    current = await repository.read(conn, "Task", clock.task_id, viewer=Viewer.system())
    assert current.content is not None
    marked, _ = await repository.update(
        conn,
        _breach_marked(current.content, clock.clock),
        clock.task_id,
        expected_version=current.version,
        viewer=Viewer.system(),
    )
    if not await claim_breach(conn, clock.task_id, clock.clock, now):
        raise _AlreadyRaised()
    notice = await create_once(conn, repository, registry, _notification(current.content, clock, now), None)
    await record_derivation(conn, repository, [marked] + ([notice] if notice else []), None)


async def raise_breaches(
    db: Database, repository: ResourceRepository, registry: SearchRegistry, now: datetime | None = None
) -> int:
    """Raise every breach due by `now`; returns how many this call raised."""
    now = now or datetime.now(UTC)
    async with db.read() as conn:
        candidates = await past_due(conn, now)
    raised = 0
    for clock in candidates:
        try:
            async with db.write() as conn:
                await raise_breach(conn, repository, registry, clock, now)
            raised += 1
        except (_AlreadyRaised, StoreError):
            continue  # another replica, a concurrent client write, or a deleted task: next round sees
    if raised:
        log.info("clock breaches raised", extra={"count": raised})
    return raised


def clock_check(db: Database, repository: ResourceRepository, registry: SearchRegistry, interval: float) -> Periodic:
    """raise_breaches every `interval` seconds until stopped (safe on several replicas)."""
    return Periodic("dyad-pathway-clock-check", lambda: raise_breaches(db, repository, registry), interval)
