"""The read route's one-statement path (`read_json`) against the general one (`read`): over the
same rows and for every kind of viewer, the same resource or the same refusal, on both databases.

The fast path compiles its statement once per viewer shape with the viewer's values as
parameters; any difference in the access rule from `visible` would show here as a resource one
path returns and the other refuses.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.config import PROJECT_ROOT
from service.conformance.package import load_package
from service.search.registry import SearchRegistry
from service.store.access import Grant, Viewer, replace_grants
from service.store.database import Database
from service.store.errors import ResourceGone, ResourceNotFound
from service.store.repository import ResourceRepository
from service.store.search import SearchIndexer

PMH, HV, GP, GP2 = "Organization/pmh", "Organization/hv", "Organization/gp", "Organization/gp2"
RESTRICTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
VIEWERS = [
    Viewer.system(),
    Viewer(None),
    Viewer(HV),
    Viewer(PMH),
    Viewer(GP),  # granted p1 by PMH, any purpose
    Viewer(GP2),  # granted p1 only for TREAT: no purpose stated opens nothing
    Viewer(GP2, purpose="TREAT"),
    Viewer(GP2, purpose="ETREAT"),
    Viewer("Organization/stranger", purpose="TREAT"),
]


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return SearchRegistry.from_definitions(list(load_package(PROJECT_ROOT / "profiles").search_parameters()))


def _observation(subject: str, *, restricted: bool = False) -> dict[str, Any]:
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Beobachtung – naïve ✓"},  # non-ASCII text survives as it was stored
        "subject": {"reference": subject},
        "valueQuantity": {"value": 1.25, "unit": "score"},
    }
    if restricted:
        observation["meta"] = {"security": [RESTRICTED]}
    return observation


async def _store(database: Database, repository: ResourceRepository) -> list[tuple[str, str]]:
    async with database.write() as conn:
        plain = await repository.create(conn, _observation("Patient/p1"), owner_org=HV)
        restricted = await repository.create(conn, _observation("Patient/p1", restricted=True), owner_org=PMH)
        other = await repository.create(conn, _observation("Patient/p2", restricted=True), owner_org=PMH)
        subscription = await repository.create(
            conn,
            {"resourceType": "Subscription", "status": "off", "reason": "r", "criteria": "Observation?"},
            owner_org=HV,
        )
        gone = await repository.create(conn, _observation("Patient/p1"), owner_org=HV)
        await repository.delete(conn, "Observation", gone.res_id, viewer=Viewer.system())
        consent = await repository.create(conn, {"resourceType": "Basic", "code": {"text": "grants"}}, owner_org=PMH)
        now = datetime.now(UTC)
        await replace_grants(conn, consent.pk, PMH, [Grant("p1", GP, None, now - timedelta(days=1), None)])
        other_consent = await repository.create(conn, {"resourceType": "Basic", "code": {"text": "g"}}, owner_org=PMH)
        await replace_grants(conn, other_consent.pk, PMH, [Grant("p1", GP2, "TREAT", None, now + timedelta(days=1))])
    stored = [plain, restricted, other, subscription, gone]
    return [(s.res_type, s.res_id) for s in stored] + [("Observation", "missing"), ("Patient", plain.res_id)]


async def _general(database: Database, repository: ResourceRepository, key: tuple[str, str], viewer: Viewer) -> Any:
    try:
        async with database.read() as conn:
            stored = await repository.read(conn, *key, viewer=viewer)
    except (ResourceNotFound, ResourceGone) as refusal:
        return type(refusal).__name__
    return (stored.res_type, stored.res_id, stored.version, stored.last_updated, stored.content)


async def _direct(database: Database, repository: ResourceRepository, key: tuple[str, str], viewer: Viewer) -> Any:
    try:
        stored = (await repository.read_json(database, *key, viewer=viewer)).parsed()
    except (ResourceNotFound, ResourceGone) as refusal:
        return type(refusal).__name__
    return (stored.res_type, stored.res_id, stored.version, stored.last_updated, stored.content)


async def test_the_one_statement_read_answers_as_the_general_read_for_every_viewer(
    database: Database, registry: SearchRegistry
) -> None:
    repository = ResourceRepository(SearchIndexer(registry))
    keys = await _store(database, repository)
    outcomes = set()
    for viewer in VIEWERS:
        for key in keys:
            general = await _general(database, repository, key, viewer)
            assert await _direct(database, repository, key, viewer) == general, (viewer, key)
            outcomes.add(general if isinstance(general, str) else "found")
            # Twice: the second read reuses the statement compiled for this viewer's shape.
            assert await _direct(database, repository, key, viewer) == general, (viewer, key)
    assert outcomes == {"found", "ResourceNotFound", "ResourceGone"}  # the data exercises each answer


async def test_a_restricted_record_stays_invisible_to_another_organisation(
    database: Database, registry: SearchRegistry
) -> None:
    repository = ResourceRepository(SearchIndexer(registry))
    keys = await _store(database, repository)
    restricted, other = keys[1], keys[2]
    assert (await repository.read_json(database, *restricted, viewer=Viewer(PMH))).res_id == restricted[1]
    assert (await repository.read_json(database, *restricted, viewer=Viewer(GP))).res_id == restricted[1]
    for viewer in (Viewer(HV), Viewer(None), Viewer(GP2), Viewer(GP2, purpose="ETREAT")):
        with pytest.raises(ResourceNotFound):
            await repository.read_json(database, *restricted, viewer=viewer)
    with pytest.raises(ResourceNotFound):  # GP's grant is for p1, not p2
        await repository.read_json(database, *other, viewer=Viewer(GP))
