"""The Tasks the rules raise during one write, created together when its announcements end.

Created one by one, each derived resource cost a search for its identifier, a savepoint and two
rounds of INSERTs (the resource, then its Provenance): about twenty statements per concern
Observation, most of a 1,000-entry Bundle's time. Inside a `deferring` scope (the announcements
of one create, or of all a Bundle's creates) `create_once` only notes what to create; at the end
of the outermost scope the identifiers are looked up in one search per type and every resource
and its Provenance go into one INSERT per table. The result is what the one-by-one path writes:
the same resources, once per identifier, each with its Provenance, announced in the same order.

Anything that reads what may be waiting sees it written first (`flush_for`: the pathway's own
searches and reads call it), so no rule can miss a Task raised earlier in the same write. A scope
left by an exception drops what waits: the write it belonged to is failing.
"""

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.pathway.derived import create_once, derivation, derived_key
from service.search.query import parse_search
from service.search.registry import SearchRegistry
from service.store.access import Viewer
from service.store.records import StoredResource
from service.store.repository import NewResource, ResourceRepository
from service.store.search import run_search

_KEY = "dyad_pathway_deferred"
# Identifiers per search: a few hundred OR'ed token conditions stay well inside SQLite's limits.
LOOKUP_CHUNK = 100


@dataclass(frozen=True)
class _Waiting:
    resource: dict[str, Any]
    cause: StoredResource | None
    created: Callable[[], None] | None  # told when it is created (the unassigned notice)

    @property
    def identifier(self) -> tuple[str, str, str]:
        first = self.resource["identifier"][0]
        return (self.resource["resourceType"], str(first["system"]), str(first["value"]))


@dataclass
class _Scope:
    transaction: Any
    depth: int = 0
    waiting: list[_Waiting] = field(default_factory=list)


def _scope(conn: AsyncConnection) -> _Scope | None:
    """The open scope of this transaction (conn.info outlives the transaction, so it names it)."""
    held: _Scope | None = conn.info.get(_KEY)
    transaction = conn.sync_connection.get_transaction() if conn.sync_connection else None
    return held if held is not None and held.transaction is transaction and held.depth > 0 else None


@asynccontextmanager
async def deferring(
    conn: AsyncConnection, repository: ResourceRepository, registry: SearchRegistry
) -> AsyncIterator[None]:
    scope = _scope(conn)
    if scope is None:
        transaction = conn.sync_connection.get_transaction() if conn.sync_connection else None
        scope = conn.info[_KEY] = _Scope(transaction)
    scope.depth += 1
    try:
        yield
    except BaseException:
        scope.depth -= 1
        if scope.depth == 0:
            scope.waiting.clear()
        raise
    try:
        if scope.depth == 1:
            await _flush(conn, repository, registry, scope)
    finally:
        scope.depth -= 1


async def create_deferred(
    conn: AsyncConnection,
    repository: ResourceRepository,
    registry: SearchRegistry,
    resource: dict[str, Any],
    cause: StoredResource | None,
    created: Callable[[], None] | None = None,
) -> None:
    """create_once, held back to the end of the scope when one is open; `created` is called if it
    is created (not when its identifier exists already)."""
    scope = _scope(conn)
    if scope is not None:
        scope.waiting.append(_Waiting(resource, cause, created))
        return
    if await create_once(conn, repository, registry, resource, cause) is not None and created is not None:
        created()


async def flush_for(
    conn: AsyncConnection, repository: ResourceRepository, registry: SearchRegistry, res_type: str
) -> None:
    """Write what waits before anything reads resources of `res_type`, so the read sees it."""
    scope = _scope(conn)
    if scope is not None and any(w.resource["resourceType"] == res_type for w in scope.waiting):
        await _flush(conn, repository, registry, scope)


async def _flush(
    conn: AsyncConnection, repository: ResourceRepository, registry: SearchRegistry, scope: _Scope
) -> None:
    # Creating announces, and the announcements may raise more: until nothing waits.
    while scope.waiting:
        waiting, scope.waiting = scope.waiting, []
        fresh = await _not_yet_created(conn, registry, waiting)
        await _create(conn, repository, fresh)


async def _not_yet_created(conn: AsyncConnection, registry: SearchRegistry, waiting: list[_Waiting]) -> list[_Waiting]:
    """The first of each identifier that no stored resource carries."""
    unique: dict[tuple[str, str, str], _Waiting] = {}
    for item in waiting:
        unique.setdefault(item.identifier, item)
    by_type: dict[str, list[tuple[str, str]]] = {}
    for res_type, system, value in unique:
        by_type.setdefault(res_type, []).append((system, value))
    existing: set[tuple[str, str, str]] = set()
    for res_type, pairs in by_type.items():
        for start in range(0, len(pairs), LOOKUP_CHUNK):
            existing |= await _stored_identifiers(conn, registry, res_type, pairs[start : start + LOOKUP_CHUNK])
    return [item for key, item in unique.items() if key not in existing]


async def _stored_identifiers(
    conn: AsyncConnection, registry: SearchRegistry, res_type: str, pairs: list[tuple[str, str]]
) -> set[tuple[str, str, str]]:
    """Which (type, system, value) of `pairs` a stored resource carries: one search, values OR'ed."""
    value = ",".join(f"{_escaped(system)}|{_escaped(code)}" for system, code in pairs)
    query = parse_search(registry, res_type, [("identifier", value), ("_total", "none")], strict=True)
    query.count = None
    wanted = set(pairs)
    found: set[tuple[str, str, str]] = set()
    for match in (await run_search(conn, registry, query, viewer=Viewer.system())).matches:
        for identifier in (match.content or {}).get("identifier") or []:
            pair = (str(identifier.get("system")), str(identifier.get("value")))
            if pair in wanted:
                found.add((res_type, *pair))
    return found


def _escaped(text: str) -> str:
    """A search value's own separators escaped (FHIR search: `\\,` `\\|` `\\$` `\\\\`)."""
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|").replace("$", "\\$")


async def _create(conn: AsyncConnection, repository: ResourceRepository, fresh: list[_Waiting]) -> None:
    """Every resource with its Provenance in one INSERT per table; should a concurrent writer hold
    one of the identifiers (the batch's savepoint fails on its key), one by one, that one skipped."""
    if not fresh:
        return
    pairs = [_with_provenance(item) for item in fresh]
    try:
        async with conn.begin_nested():
            await repository.create_many(conn, [new for pair in pairs for new in pair])
    except IntegrityError:
        created = []
        for item, pair in zip(fresh, pairs, strict=True):
            try:
                async with conn.begin_nested():
                    await repository.create_many(conn, list(pair))
                created.append(item)
            except IntegrityError:
                continue  # a concurrent write created it first
        fresh = created
    for item in fresh:
        if item.created is not None:
            item.created()


def _with_provenance(item: _Waiting) -> tuple[NewResource, NewResource]:
    res_type, system, value = item.identifier
    res_id = str(uuid.uuid4())
    provenance = derivation([f"{res_type}/{res_id}/_history/1"], item.cause, create=True)
    return NewResource(item.resource, res_id=res_id, conditional_key=derived_key(res_type, system, value)), NewResource(
        provenance
    )
