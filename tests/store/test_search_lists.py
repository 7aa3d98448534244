"""OR-lists searched as one `IN (...)` find exactly what the OR-chain of single conditions finds.

`_value_conditions` turns the alternatives of a filter that differ only in one compared value
into one IN; the reference is the chain of `_value_condition`s it replaces. Both run the same
searches over the same varied data (every parameter type, modifiers, :missing, chains, _has,
sorts, paging, restricted records and viewers) on SQLite and on PostgreSQL.
"""

import random
from collections.abc import Sequence
from typing import Any

import pytest

from service.config import PROJECT_ROOT
from service.conformance.package import load_package
from service.search.query import FilterValue, parse_search
from service.search.registry import SearchRegistry
from service.store import search
from service.store.access import Viewer
from service.store.database import Database
from service.store.repository import ResourceRepository
from service.store.search import SearchIndexer, find_pks, run_search
from service.store.search_statements import SearchStatements

DYAD = "https://w3id.org/dyad/fhir/CodeSystem/dyad"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
LOCAL = "urn:dyad:local-id"
PROFILE = "https://w3id.org/dyad/fhir/StructureDefinition"
RESTRICTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
PMH, HV = "Organization/pmh-team", "Organization/hv-team"
CODES = ["relationship", "concern", "feeding", "sleep", "mood"]
STATUSES = ["final", "amended", "preliminary", "cancelled"]
VIEWERS = [Viewer.system(), Viewer(PMH), Viewer(HV), Viewer(None)]


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return SearchRegistry.from_definitions(list(load_package(PROJECT_ROOT / "profiles").search_parameters()))


def _patients() -> list[dict[str, Any]]:
    out = []
    for n in range(8):
        identifiers = [{"system": NHS, "value": f"9{n:03d}"}]
        if n % 2:
            identifiers.append({"system": LOCAL, "value": f"L{n}"})
        if n % 3 == 0:
            identifiers.append({"value": f"bare{n}"})  # no system: matches `|bare{n}`
        out.append(
            {
                "resourceType": "Patient",
                "id": f"p{n}",
                "identifier": identifiers,
                "name": [{"family": ["Smith", "Jones", "Smithers", "Brown"][n % 4]}],
                "birthDate": f"202{n % 4}-0{1 + n % 9}-15",
            }
        )
    return out


def _observation(n: int, rng: random.Random) -> dict[str, Any]:
    coding: dict[str, Any] = {"code": rng.choice(CODES)}
    if rng.random() < 0.8:
        coding["system"] = DYAD
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"o{n:02d}",
        "status": rng.choice(STATUSES),
        "code": {"coding": [coding], "text": rng.choice(["Parent infant relationship", "Feeding plan", "Mood"])},
        "meta": {"profile": [f"{PROFILE}/{rng.choice(['dyad-observation', 'dyad-concern'])}"]},
    }
    if rng.random() < 0.9:
        target = rng.choice(["Patient/p", "Patient/p", "RelatedPerson/p"]) + str(rng.randrange(8))
        resource["subject"] = {"reference": target}
    if rng.random() < 0.5:
        resource["focus"] = [{"reference": f"RelatedPerson/m{rng.randrange(4)}"}]
    if rng.random() < 0.7:
        resource["effectiveDateTime"] = f"2024-0{1 + rng.randrange(9)}-{10 + rng.randrange(18)}"
    if rng.random() < 0.4:
        resource["valueQuantity"] = {"value": rng.randrange(1, 40), "system": "http://unitsofmeasure.org", "code": "mg"}
    elif rng.random() < 0.5:
        resource["valueString"] = rng.choice(["Settled", "settling well", "Unsettled"])
    if rng.random() < 0.3:
        resource["meta"]["security"] = [RESTRICTED]
    return resource


@pytest.fixture
async def stored(database: Database, registry: SearchRegistry) -> None:
    repository = ResourceRepository(SearchIndexer(registry))
    rng = random.Random(16)
    async with database.write() as conn:
        for patient in _patients():
            await repository.create(conn, patient, res_id=patient["id"])
        for n in range(60):
            resource = _observation(n, rng)
            owner = PMH if "security" in resource["meta"] else rng.choice([PMH, HV, None])
            await repository.create(conn, resource, res_id=resource["id"], owner_org=owner)


def _patient_list(count: int) -> str:
    return ",".join(f"Patient/p{n}" for n in range(count))


SEARCHES: list[tuple[str, list[tuple[str, str]]]] = [
    # references: typed, bare ids, :Type, absolute URLs mixed in, long lists
    ("Observation", [("subject", _patient_list(8))]),
    ("Observation", [("subject", "Patient/p1,RelatedPerson/p1,Patient/p3,RelatedPerson/p5")]),
    ("Observation", [("subject", "p1,p2,p7")]),
    ("Observation", [("subject:Patient", "p1,p2,p5")]),
    ("Observation", [("subject", "Patient/p1,p2,https://other.example/Patient/p3,Patient/p4")]),
    ("Observation", [("subject", ",".join(f"Patient/x{n}" for n in range(100)) + ",Patient/p2")]),
    ("Observation", [("patient", "p0,p3,p6"), ("focus", "RelatedPerson/m1,RelatedPerson/m2")]),
    ("Observation", [("subject", "Patient/p1"), ("focus", "RelatedPerson/m0,RelatedPerson/m3")]),
    # tokens: code, system|code, |code, system|, :not, :text, mixed
    ("Observation", [("code", "relationship,concern,mood")]),
    ("Observation", [("code", f"{DYAD}|relationship,{DYAD}|feeding,sleep,|mood,|concern")]),
    ("Observation", [("code", f"{DYAD}|,|sleep,concern")]),
    ("Observation", [("code:not", f"{DYAD}|relationship,{DYAD}|mood")]),
    ("Observation", [("code:text", "parent,feed")]),
    ("Observation", [("status", "final,amended"), ("code", "relationship,concern")]),
    ("Observation", [("status:not", "final,cancelled")]),
    ("Patient", [("identifier", f"{NHS}|9001,{NHS}|9002,{LOCAL}|L3,{LOCAL}|L5,|bare0,|bare3,9004")]),
    ("Patient", [("identifier", f"{NHS}|9001,{LOCAL}|L1,{NHS}|,|bare6")]),
    ("Patient", [("_id", "p1,p2,p9"), ("identifier", f"{NHS}|9001,{NHS}|9002")]),
    ("Patient", [("identifier", f"{NHS}|9003,{NHS}|9005")]),
    ("Patient", [("identifier", "|bare0,|bare3")]),  # no system: a shape of its own
    # strings, uri, dates, quantities
    ("Patient", [("name", "smi,jon")]),
    ("Patient", [("name:exact", "Smith,Brown,smith")]),
    ("Patient", [("name:contains", "ith,own")]),
    ("Patient", [("birthdate", "2021,ge2023-01-01,lt2020-06-01")]),
    ("Observation", [("_profile", f"{PROFILE}/dyad-observation,{PROFILE}/dyad-concern,urn:none")]),
    ("Observation", [("_profile:below", f"{PROFILE}/dyad-obs,{PROFILE}/dyad-con")]),
    ("Observation", [("_profile:above", f"{PROFILE}/dyad-concern/x,{PROFILE}/dyad-observation/y")]),
    ("Observation", [("date", "ge2024-03-01,lt2024-02-01"), ("code", "mood,sleep")]),
    ("Observation", [("date", "ap2024-05-15,eb2024-02-01,sa2024-08-01")]),
    ("Observation", [("value-quantity", "gt10,lt3,ap20||mg")]),
    ("Observation", [("value-string", "sett,unsett")]),
    # :missing, chains, _has, _lastUpdated
    ("Observation", [("focus:missing", "true"), ("subject", "Patient/p1,Patient/p2,Patient/p3")]),
    ("Observation", [("value-quantity:missing", "false"), ("code", "mood,feeding,concern")]),
    ("Observation", [("subject:Patient.identifier", f"{NHS}|9001,{NHS}|9002,{LOCAL}|L5")]),
    ("Observation", [("subject:Patient.name", "smith,brown"), ("status", "final,amended")]),
    ("Patient", [("_has:Observation:subject:code", "concern,mood")]),
    ("Patient", [("_has:Observation:subject:status", "final,cancelled"), ("identifier", f"{NHS}|9001,{NHS}|9003")]),
    ("Observation", [("_lastUpdated", "gt2000-01-01"), ("code", "relationship,sleep")]),
    # sorts, paging, totals, includes
    ("Observation", [("code", "relationship,concern,mood"), ("_sort", "-date,status"), ("_count", "7")]),
    (
        "Observation",
        [("subject", _patient_list(6)), ("_sort", "subject,-_lastUpdated"), ("_count", "5"), ("_offset", "5")],
    ),
    ("Observation", [("status", "final,amended,preliminary"), ("_sort", "_id"), ("_count", "4"), ("_offset", "100")]),
    ("Observation", [("code", "feeding,sleep"), ("_summary", "count")]),
    ("Observation", [("code", "feeding,sleep"), ("_count", "0")]),
    ("Observation", [("subject", "Patient/p1,Patient/p2,Patient/p4"), ("_include", "Observation:subject")]),
    ("Patient", [("_id", "p1,p2,p3"), ("_revinclude", "Observation:subject")]),
    # the same shapes as searches above with other values: served by the statements kept for those
    # (SAME_SHAPES of them, at the end)
    ("Observation", [("subject", "Patient/p2,Patient/p5,Patient/p6")]),
    ("Observation", [("code", f"{DYAD}|sleep,{DYAD}|mood,relationship,|concern,|feeding")]),
    ("Patient", [("identifier", f"{LOCAL}|L1,{LOCAL}|L7,{NHS}|9000,{NHS}|9006,|bare6,|bare0,9001")]),
    ("Patient", [("name", "bro,smithe")]),
    ("Patient", [("birthdate", "2022,ge2021-06-01,lt2021-01-01")]),
    ("Observation", [("date", "ge2024-06-01,lt2024-03-01"), ("code", "relationship,concern")]),
    ("Observation", [("date", "ap2024-02-15,eb2024-05-01,sa2024-03-01")]),
    ("Observation", [("value-quantity", "gt30,lt10,ap5||mg")]),
    ("Observation", [("subject:Patient.identifier", f"{NHS}|9003,{NHS}|9005,{LOCAL}|L1")]),
    ("Patient", [("_has:Observation:subject:code", "feeding,sleep")]),
    ("Observation", [("code", "feeding,mood,sleep"), ("_sort", "-date,status"), ("_count", "3")]),
    (
        "Observation",
        [("subject", _patient_list(3)), ("_sort", "subject,-_lastUpdated"), ("_count", "2"), ("_offset", "1")],
    ),
    ("Patient", [("_id", "p4,p6"), ("_revinclude", "Observation:subject")]),
]
SAME_SHAPES = 13


def _one_by_one(values: Sequence[FilterValue], modifier: str | None) -> list[FilterValue]:
    """The reference for IN-lists: every alternative its own condition (the code before them)."""
    return list(values)


async def _results(database: Database, registry: SearchRegistry, statements: SearchStatements | None) -> list[Any]:
    out: list[Any] = []
    async with database.read() as conn:
        for viewer in VIEWERS:
            for res_type, items in SEARCHES:
                query = parse_search(registry, res_type, items, strict=True)
                page = await run_search(conn, registry, query, viewer=viewer, statements=statements)
                matches = [m.res_id for m in page.matches]
                included = sorted((r.res_type, r.res_id) for r in page.included)
                again = parse_search(registry, res_type, items, strict=True)
                pks = await find_pks(conn, again, viewer=viewer, statements=statements)
                first = await find_pks(conn, again, viewer=viewer, limit=1, statements=statements)
                out.append((viewer, res_type, items, page.total, matches, included, pks, first))
    return out


def _check_exercised(results: list[Any]) -> None:
    """The data exercises the searches: a comparison of empty results would prove nothing."""
    system_results = [r for r in results if r[0] == Viewer.system()]
    assert sum(1 for r in system_results if r[4] or r[3]) >= len(SEARCHES) - 3
    by_viewer = [[r[4] for r in results if r[0] == viewer] for viewer in VIEWERS]
    assert by_viewer[1] != by_viewer[2]  # the restricted records' owner sees more than another organisation


@pytest.mark.usefixtures("stored")
async def test_in_lists_find_what_or_chains_find(
    database: Database, registry: SearchRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = await _results(database, registry, None)
    with monkeypatch.context() as patch:
        patch.setattr(search, "_alternatives", _one_by_one)
        reference = await _results(database, registry, None)
    for got, expected in zip(fast, reference, strict=True):
        assert got == expected
    _check_exercised(reference)


@pytest.mark.usefixtures("stored")
async def test_statements_kept_per_shape_find_what_statements_built_per_search_find(
    database: Database, registry: SearchRegistry
) -> None:
    """One SearchStatements for every search and viewer, as in the app: a statement built for
    one search (one organisation, one set of values) serves every later one of its shape."""
    statements = SearchStatements()
    kept = await _results(database, registry, statements)
    reference = await _results(database, registry, None)
    for got, expected in zip(kept, reference, strict=True):
        assert got == expected
    _check_exercised(reference)
    # Reused, not rebuilt: three statements per search (page, pks, first pk) and viewer shape (the
    # two organisations share one), none for the searches that repeat an earlier one's shape.
    assert len(statements) <= 3 * (len(SEARCHES) - SAME_SHAPES) * (len(VIEWERS) - 1)


def test_alternatives_that_differ_in_one_value_become_one_in(registry: SearchRegistry) -> None:
    """The fast path is taken: a hundred references are one condition, not a hundred."""
    query = parse_search(registry, "Observation", [("subject", _patient_list(100))], strict=True)
    assert len(search._alternatives(query.filters[0].values, None)) == 1  # type: ignore[union-attr]
    mixed = parse_search(registry, "Observation", [("code", f"{DYAD}|a,{DYAD}|b,{NHS}|c,d,e,|f")], strict=True)
    # DYAD|a,b as one IN; NHS|c alone; d,e as one IN; |f alone.
    assert len(search._alternatives(mixed.filters[0].values, None)) == 4  # type: ignore[union-attr]


def test_searches_of_one_shape_share_a_statement_whatever_their_values(registry: SearchRegistry) -> None:
    def shape(*items: tuple[str, str], viewer: Viewer = VIEWERS[0]) -> Any:
        return search._query_shape(parse_search(registry, "Observation", list(items), strict=True), viewer)

    assert shape(("subject", _patient_list(3))) == shape(("subject", _patient_list(90)))
    assert shape(("code", f"{DYAD}|a,{DYAD}|b")) == shape(("code", f"{NHS}|x,{NHS}|y"))
    assert shape(("date", "ge2024"), ("_count", "5")) == shape(("date", "ge2020-01-01"), ("_count", "50"))
    assert shape(("status", "final"), viewer=Viewer(PMH)) == shape(("status", "amended"), viewer=Viewer(HV))
    assert shape(("code", f"{DYAD}|a,{DYAD}|b")) != shape(("code", f"{DYAD}|a,{NHS}|b"))
    assert shape(("date", "ge2024")) != shape(("date", "le2024"))
    assert shape(("subject", "p1,p2")) != shape(("subject", "Patient/p1,Patient/p2"))
    assert shape(("status", "final")) != shape(("status", "final"), viewer=Viewer(PMH))
    assert shape(("status", "final"), ("_offset", "5")) != shape(("status", "final"))
