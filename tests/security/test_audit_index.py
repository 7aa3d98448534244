"""The audit trail's hand-built index rows (service/store/audit_index.py) against the reference:
the generic FHIRPath-based extraction (`index_rows`) of the same AuditEvent, over varied records,
in memory and as stored on both databases, restricted AuditEvents included."""

import dataclasses
import itertools
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.app import create_app
from service.config import PROJECT_ROOT, Settings
from service.conformance.package import load_package
from service.search.extract import IndexRows, index_rows
from service.search.registry import SearchRegistry
from service.security.audit import AuditRecord, AuditWriter, audit_event
from service.security.tokens import Caller
from service.store.access import RESTRICTED, Viewer, keep_restriction
from service.store.audit_index import AuditEventIndexer, audit_event_rows, knows_parameters_of
from service.store.repository import NewResource, stamp
from service.store.tables import (
    DateIndexRow,
    NumberIndexRow,
    QuantityIndexRow,
    ReferenceIndexRow,
    ResourceRow,
    StringIndexRow,
    TokenIndexRow,
    UriIndexRow,
)

PMH = "Organization/pmh-team"
RESTRICTED_OBSERVATION = "Observation/pmh-obs"

_LOCAL = Caller.local_unauthenticated()
CALLERS = [
    _LOCAL,
    dataclasses.replace(
        _LOCAL, subject="u1", client_id="app", organization="Organization/RX1", issuer="https://iss", authenticated=True
    ),
    dataclasses.replace(_LOCAL, subject="u2", authenticated=True),  # no issuer, client or organisation
    dataclasses.replace(_LOCAL, subject=None, client_id="c", authenticated=True),  # an agent by display only
    dataclasses.replace(_LOCAL, subject="u3", organization=PMH, client_id="pmh-app", authenticated=True),
    # Not a shape a token makes (organisations are normalised), but the patient parameter reads agents too.
    dataclasses.replace(_LOCAL, subject="u4", organization="Patient/baby/_history/2", authenticated=True),
]
INTERACTIONS = ["read", "vread", "search-type", "history-instance", "capabilities", "operation-everything", "odd"]
STATUSES = [200, 401, 404, 500]
ENTITIES: list[tuple[str, ...]] = [
    (),
    ("Patient/baby",),
    ("Observation/o1/_history/3",),
    ("Observation/o1", "Patient/baby", "Patient/baby", "Patient/mum/_history/1", RESTRICTED_OBSERVATION),
    tuple(f"Observation/o{n}" for n in range(12)),
]
FAILURES = [None, "the token has expired"]
WHEN = datetime(2026, 11, 30, 21, 0, 0, 123000, tzinfo=UTC)


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return SearchRegistry.from_definitions(load_package(PROJECT_ROOT / "profiles").search_parameters())


def _records() -> list[AuditRecord]:
    return [
        AuditRecord(caller, interaction, status, entities, WHEN, failure)
        for caller, interaction, status, entities, failure in itertools.product(
            CALLERS, INTERACTIONS, STATUSES, ENTITIES, FAILURES
        )
    ]


def _as_set(rows: IndexRows) -> set[tuple[Any, ...]]:
    return {(kind, *row) for kind in IndexRows.__slots__ for row in getattr(rows, kind)}


@pytest.mark.parametrize("restricted", [False, True])
def test_the_trails_events_index_as_the_generic_extraction_indexes_them(
    registry: SearchRegistry, restricted: bool
) -> None:
    for record in _records():
        content = stamp(audit_event(record), "a1", 1, WHEN)
        if restricted:
            content = keep_restriction(content)
        fast = audit_event_rows(content)
        assert fast is not None, content
        reference = index_rows(registry, "AuditEvent", content)
        assert _as_set(fast) == _as_set(reference), content
        for kind in IndexRows.__slots__:  # no duplicate rows either
            assert len(getattr(fast, kind)) == len(set(getattr(fast, kind)))


def _other_shapes() -> list[dict[str, Any]]:
    event = stamp(audit_event(AuditRecord(CALLERS[1], "read", 200, ("Patient/baby",), WHEN)), "a1", 1, WHEN)
    entity_named = {**event, "entity": [{"what": {"reference": "Patient/baby"}, "name": "Baby"}]}
    url_entity = {**event, "entity": [{"what": {"reference": "https://elsewhere.example/fhir/Patient/1"}}]}
    tagged = {**event, "meta": {**event["meta"], "tag": [{"system": "urn:t", "code": "x"}]}}
    period = {**event, "period": {"start": "2026-11-30"}}
    site = {**event, "source": {**event["source"], "site": "ward 3"}}
    agent_named = {**event, "agent": [{**event["agent"][0], "name": "Dr Who"}]}
    bad_date = {**event, "recorded": "yesterday"}
    return [entity_named, url_entity, tagged, period, site, agent_named, bad_date, {**event, "resourceType": "Basic"}]


def test_any_other_shape_is_left_to_the_generic_writer(registry: SearchRegistry) -> None:
    for content in _other_shapes():
        assert audit_event_rows(content) is None, content


ENTITY_DETAIL = {
    "resourceType": "SearchParameter",
    "url": "https://example.org/fhir/SearchParameter/audit-entity-detail",
    "name": "entity-detail",
    "status": "active",
    "code": "entity-detail",
    "base": ["AuditEvent"],
    "type": "string",
    "expression": "AuditEvent.entity.detail.type",
}


def test_a_registry_with_other_audit_event_parameters_gets_the_generic_writer(registry: SearchRegistry) -> None:
    """A deployment's own SearchParameter on AuditEvent would be left unindexed by rows built by
    hand for R4's parameters: the hand-built rows are used only for the set they were written for."""
    assert knows_parameters_of(registry)
    definitions = load_package(PROJECT_ROOT / "profiles").search_parameters()
    extended = SearchRegistry.from_definitions([*definitions, ENTITY_DETAIL])
    assert not knows_parameters_of(extended)
    assert AuditEventIndexer(lambda *a, **k: None, registry).by_hand  # type: ignore[arg-type]
    assert not AuditEventIndexer(lambda *a, **k: None, extended).by_hand  # type: ignore[arg-type]


# --- as stored, on both databases --------------------------------------------------------------


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    app = create_app(Settings(database_url=database_url, auth="off", rate_limit_per_minute=0))
    async with app.router.lifespan_context(app):
        yield app


_COLUMNS = {
    "token": (TokenIndexRow, ("param", "system", "code", "text")),
    "date": (DateIndexRow, ("param", "low", "high")),
    "reference": (ReferenceIndexRow, ("param", "target_type", "target_id", "url")),
    "string": (StringIndexRow, ("param", "value", "exact")),
    "number": (NumberIndexRow, ("param", "value", "low", "high")),
    "quantity": (QuantityIndexRow, ("param", "value", "low", "high", "system", "code")),
    "uri": (UriIndexRow, ("param", "value")),
}


def _utc(value: Any) -> Any:
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


async def _stored_rows(conn: AsyncConnection, pk: int) -> set[tuple[Any, ...]]:
    found: set[tuple[Any, ...]] = set()
    for kind, (table, columns) in _COLUMNS.items():
        result = await conn.execute(select(*(getattr(table, c) for c in columns)).where(table.resource_pk == pk))
        found |= {(kind, *(_utc(v) for v in row)) for row in result}
    return found


async def _store_restricted_observation(app: FastAPI) -> None:
    fhir = app.state.fhir
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "EPDS"},
        "meta": {"security": [RESTRICTED]},
    }
    async with fhir.db.write() as conn:
        await fhir.repository.create(conn, observation, res_id="pmh-obs", owner_org=PMH)


async def test_the_writer_stores_the_rows_the_generic_extraction_gives_for_what_it_stored(app: FastAPI) -> None:
    await _store_restricted_observation(app)
    fhir = app.state.fhir
    batch = random.Random(16).sample(_records(), 80)
    await AuditWriter(fhir.db, fhir.repository, fhir.registry)(batch)
    async with fhir.db.read() as conn:
        pks = [
            int(pk) for (pk,) in await conn.execute(select(ResourceRow.pk).where(ResourceRow.res_type == "AuditEvent"))
        ]
        restricted_owners = {
            owner
            for (owner,) in await conn.execute(
                select(ResourceRow.owner_org).where(
                    ResourceRow.res_type == "AuditEvent", ResourceRow.restricted.is_(True)
                )
            )
        }
        about_restricted = sum(RESTRICTED_OBSERVATION in r.entities for r in batch)
        assert about_restricted > 0 and restricted_owners == {PMH}  # labelled and owned as before
        checked = 0
        for pk, res_id in await conn.execute(select(ResourceRow.pk, ResourceRow.res_id).where(ResourceRow.pk.in_(pks))):
            stored = await fhir.repository.read(conn, "AuditEvent", res_id, viewer=Viewer.system())
            assert audit_event_rows(stored.content) is not None  # the fast path wrote these
            expected = _as_set(index_rows(fhir.registry, "AuditEvent", stored.content))
            assert await _stored_rows(conn, pk) == expected, stored.content
            checked += 1
    assert checked == len(batch) >= 80


async def test_a_mixed_batch_stores_the_generic_rows_for_the_shapes_it_does_not_know(app: FastAPI) -> None:
    await _store_restricted_observation(app)
    fhir = app.state.fhir
    repository = fhir.repository.indexing_with(lambda generic: AuditEventIndexer(generic, fhir.registry))
    trail_events = [audit_event(r) for r in random.Random(3).sample(_records(), 10)]
    others = [{k: v for k, v in shape.items() if k != "id"} for shape in _other_shapes()]
    contents = [c for pair in zip(trail_events, others, strict=False) for c in pair]
    async with fhir.db.write() as conn:
        created = await repository.create_many(conn, [NewResource(c) for c in contents], announce=False)
    assert len(created) == len(contents) == 16
    async with fhir.db.read() as conn:
        for stored in created:
            assert stored.pk is not None
            expected = _as_set(index_rows(fhir.registry, stored.res_type, stored.content))
            assert await _stored_rows(conn, stored.pk) == expected, stored.content
