"""The earlier relationship Observations of a batch's (infant, caregiver) pairs, looked up together.

The persistent-concern rule searches, for every concern Observation written, the earlier valid
relationship Observations of the same infant and caregiver: one statement per entry of a Bundle.
Before a batch's announcements `prefetch_earlier` runs that search for the pairs of every entry
the rule fires on (its concern Observations) at once, a hundred infants per search, and tells the
matches apart by the same index rows each pair's own search would match (`Type/id` references'
type and id; only those two parameters are extracted), so each pair gets what its own search finds. The batch's own rows are all written before its announcements, so the prefetch sees what
the per-entry searches would; any other Observation announced in the same transaction (one the
pathway derives or revises) drops the prefetch, and the rule searches on its own again.
"""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.pathway.tasks import CONCERN_LEVELS, RAISED_LEVELS
from service.search.extract import param_rows, reference_row
from service.search.query import parse_search
from service.search.registry import SearchRegistry
from service.store.access import Viewer
from service.store.records import StoredResource
from service.store.search import run_search

_KEY = "dyad_pathway_earlier"
CHUNK = 100
VALID = "final,amended,corrected"
RELATIONSHIP = "https://w3id.org/dyad/fhir/CodeSystem/dyad-concepts|parent-infant-relationship"
# Only an earlier concern makes one persist (tasks.concern_level: a raised level, overall or in a
# domain), and combo-value-concept indexes exactly the value and the domains' values; so the search
# leaves out the records of no concern, most of an infant's history.
CONCERNED = ",".join(f"{CONCERN_LEVELS}|{level}" for level in RAISED_LEVELS)
Pair = tuple[str, str]  # (infant reference, caregiver reference)
_PAIR_PARAMS = frozenset({"subject", "focus"})


@dataclass
class _Prefetched:
    transaction: Any
    batch: set[tuple[str, int]]  # (id, version) of the batch's Observations
    found: dict[Pair, list[StoredResource]] = field(default_factory=dict)


def _local(reference: str) -> tuple[str, str] | None:
    row = reference_row("subject", reference)
    if row.target_type is None or any(c in reference for c in ",|$\\"):
        return None
    return str(row.target_type), str(row.target_id)


def transaction_of(conn: AsyncConnection) -> Any:
    """The connection's root transaction: what a prefetch held in conn.info is valid for."""
    return conn.sync_connection.get_transaction() if conn.sync_connection else None


def earlier_criteria(infants: str, caregivers: str) -> list[tuple[str, str]]:
    """The search for the earlier concerns of these infants about these caregivers."""
    return [
        ("subject", infants),
        ("focus", caregivers),
        ("category", RELATIONSHIP),
        ("status", VALID),
        ("combo-value-concept", CONCERNED),
    ]


async def prefetch_earlier(
    conn: AsyncConnection, registry: SearchRegistry, batch: list[StoredResource], pairs: list[Pair]
) -> None:
    wanted = {p: (_local(p[0]), _local(p[1])) for p in pairs}
    wanted = {p: keys for p, keys in wanted.items() if keys[0] is not None and keys[1] is not None}
    held = _Prefetched(transaction_of(conn), {(c.res_id, c.version) for c in batch if c.res_type == "Observation"})
    conn.info[_KEY] = held
    infants = sorted({p[0] for p in wanted})
    for start in range(0, len(infants), CHUNK):
        chunk = set(infants[start : start + CHUNK])
        chosen = {p: keys for p, keys in wanted.items() if p[0] in chunk}
        for p in chosen:
            held.found[p] = []
        items = [
            *earlier_criteria(",".join(sorted(chunk)), ",".join(sorted({p[1] for p in chosen}))),
            ("_total", "none"),
        ]
        query = parse_search(registry, "Observation", items, strict=True)
        query.count = None
        for match in (await run_search(conn, registry, query, viewer=Viewer.system())).matches:
            refs = param_rows(registry, "Observation", match.content or {}, _PAIR_PARAMS).reference
            subjects = {(r.target_type, r.target_id) for r in refs if r.param == "subject"}
            focuses = {(r.target_type, r.target_id) for r in refs if r.param == "focus"}
            for p, (infant, caregiver) in chosen.items():
                if infant in subjects and caregiver in focuses:
                    held.found[p].append(match)


def earlier(conn: AsyncConnection, pair: Pair) -> list[StoredResource] | None:
    """What the pair's own search would find, when this transaction's prefetch holds it."""
    held: _Prefetched | None = conn.info.get(_KEY)
    if held is None or held.transaction is not transaction_of(conn):
        return None
    return held.found.get(pair)


def seen(conn: AsyncConnection, change: StoredResource) -> None:
    """An Observation written outside the prefetched batch makes the prefetch stale: drop it."""
    held: _Prefetched | None = conn.info.get(_KEY)
    if held is not None and change.res_type == "Observation" and (change.res_id, change.version) not in held.batch:
        conn.info.pop(_KEY, None)
