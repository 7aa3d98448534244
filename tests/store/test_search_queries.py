"""FHIR search against real databases: every test runs on SQLite and on PostgreSQL.

Resources go in through the repository with the real index writer, so what is searched is
exactly what a create or update would have indexed.
"""

import copy
from typing import Any

import pytest

from service.config import PROJECT_ROOT
from service.conformance.package import load_package
from service.search.query import SearchError, parse_search
from service.search.registry import SearchRegistry
from service.store.access import Viewer
from service.store.database import Database
from service.store.repository import ResourceRepository
from service.store.search import SearchIndexer, SearchPage, find_pks, run_search

DYAD = "https://w3id.org/dyad/fhir/CodeSystem/dyad"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
UCUM = "http://unitsofmeasure.org"
# The base IG has no number parameter on Dyad's types; this test-only one exercises the type.
SCORE = {
    "resourceType": "SearchParameter",
    "url": "https://w3id.org/dyad/fhir/SearchParameter/test-score",
    "code": "score",
    "base": ["Observation"],
    "type": "number",
    "expression": "(Observation.value as Quantity).value",
}


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    definitions = list(load_package(PROJECT_ROOT / "profiles").search_parameters())
    return SearchRegistry.from_definitions([*definitions, SCORE])


@pytest.fixture
def repository(registry: SearchRegistry) -> ResourceRepository:
    return ResourceRepository(SearchIndexer(registry))


async def _put(database: Database, repository: ResourceRepository, *resources: dict[str, Any]) -> None:
    async with database.write() as conn:
        for resource in resources:
            await repository.update(conn, copy.deepcopy(resource), resource["id"], viewer=Viewer.system())


async def _search(
    database: Database, registry: SearchRegistry, res_type: str, items: list[tuple[str, str]]
) -> SearchPage:
    query = parse_search(registry, res_type, items, strict=True)
    async with database.read() as conn:
        return await run_search(conn, registry, query, viewer=Viewer.system())


async def _ids(database: Database, registry: SearchRegistry, res_type: str, *items: tuple[str, str]) -> list[str]:
    page = await _search(database, registry, res_type, list(items))
    return sorted(m.res_id for m in page.matches)


def _obs(res_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": res_id,
        "status": "final",
        "code": {"coding": [{"system": DYAD, "code": "relationship"}]},
        **fields,
    }


def _patient(res_id: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": res_id, **fields}


# --- token -------------------------------------------------------------------------------------


async def test_token_search_by_code_system_and_code_no_system_and_system_only(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        _obs("a", code={"coding": [{"system": DYAD, "code": "x"}]}),
        _obs("b", code={"coding": [{"system": "http://other", "code": "x"}]}),
        _obs("c", code={"coding": [{"code": "x"}]}),
        _obs("d", code={"coding": [{"system": DYAD, "code": "y"}]}),
    )
    assert await _ids(database, registry, "Observation", ("code", "x")) == ["a", "b", "c"]
    assert await _ids(database, registry, "Observation", ("code", f"{DYAD}|x")) == ["a"]
    assert await _ids(database, registry, "Observation", ("code", "|x")) == ["c"]
    assert await _ids(database, registry, "Observation", ("code", f"{DYAD}|")) == ["a", "d"]


async def test_token_not_excludes_resources_with_any_matching_value(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(database, repository, _patient("m", gender="male"), _patient("f", gender="female"), _patient("n"))
    assert await _ids(database, registry, "Patient", ("gender:not", "male")) == ["f", "n"]
    assert await _ids(database, registry, "Patient", ("gender:not", "male,female")) == ["n"]


async def test_token_text_matches_the_start_of_words_in_display_and_text(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        _obs("a", code={"coding": [{"system": DYAD, "code": "r", "display": "Parent–infant relationship"}]}),
        _obs("b", code={"text": "Émotional sensitivity"}),
        _obs("c", code={"coding": [{"system": DYAD, "code": "relationship"}]}),
    )
    assert await _ids(database, registry, "Observation", ("code:text", "relation")) == ["a"]
    assert await _ids(database, registry, "Observation", ("code:text", "emotional")) == ["b"]


async def test_identifier_and_boolean_and_contact_point_tokens(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        _patient(
            "a",
            identifier=[{"system": NHS, "value": "9000000009"}],
            active=True,
            telecom=[{"system": "email", "value": "a@x.org"}],
        ),
        _patient("b", identifier=[{"system": "urn:local", "value": "9000000009"}], active=False),
    )
    assert await _ids(database, registry, "Patient", ("identifier", f"{NHS}|9000000009")) == ["a"]
    assert await _ids(database, registry, "Patient", ("identifier", "9000000009")) == ["a", "b"]
    assert await _ids(database, registry, "Patient", ("active", "false")) == ["b"]
    assert await _ids(database, registry, "Patient", ("email", "a@x.org")) == ["a"]


# --- string ------------------------------------------------------------------------------------


async def test_string_search_is_starts_with_and_ignores_case_and_accents(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        _patient("a", name=[{"family": "Núñez", "given": ["Zoë"]}]),
        _patient("b", name=[{"family": "Nunn"}]),
        _patient("c", name=[{"family": "Brunez"}]),
    )
    assert await _ids(database, registry, "Patient", ("family", "NUN")) == ["a", "b"]
    assert await _ids(database, registry, "Patient", ("name", "zoe")) == ["a"]
    assert await _ids(database, registry, "Patient", ("family", "unez")) == []


async def test_string_exact_is_case_and_accent_sensitive_and_contains_matches_inside(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database, repository, _patient("a", name=[{"family": "Núñez"}]), _patient("c", name=[{"family": "Brunez"}])
    )
    assert await _ids(database, registry, "Patient", ("family:exact", "Núñez")) == ["a"]
    assert await _ids(database, registry, "Patient", ("family:exact", "Nunez")) == []
    assert await _ids(database, registry, "Patient", ("family:contains", "UNEZ")) == ["a", "c"]


async def test_like_wildcards_in_a_search_value_are_taken_literally(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database, repository, _patient("a", name=[{"family": "Smith"}]), _patient("b", name=[{"family": "S_m%"}])
    )
    assert await _ids(database, registry, "Patient", ("family", "s_")) == ["b"]
    assert await _ids(database, registry, "Patient", ("family:contains", "%")) == ["b"]


# --- date --------------------------------------------------------------------------------------


async def test_date_search_with_year_precision_matches_whole_year(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        _obs("jan", effectiveDateTime="2024-01-01T00:00:00Z"),
        _obs("dec", effectiveDateTime="2024-12-31T23:59:59Z"),
        _obs("next", effectiveDateTime="2025-01-01T00:00:00Z"),
        _obs("span", effectivePeriod={"start": "2023-12-31", "end": "2024-01-02"}),
    )
    assert await _ids(database, registry, "Observation", ("date", "2024")) == ["dec", "jan"]


async def test_date_without_zone_is_utc_and_zoned_times_compare_as_instants(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        _obs("a", effectiveDateTime="2024-03-05T00:30:00+01:00"),  # 4 March in UTC
        _obs("b", effectiveDateTime="2024-03-05T00:30:00"),
    )
    assert await _ids(database, registry, "Observation", ("date", "2024-03-04")) == ["a"]
    assert await _ids(database, registry, "Observation", ("date", "2024-03-05")) == ["b"]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("eq", ["day"]),
        ("ne", ["after", "before", "open", "span"]),
        ("gt", ["after", "open", "span"]),
        ("lt", ["before", "span"]),
        ("ge", ["after", "day", "open", "span"]),
        ("le", ["before", "day", "span"]),
        ("sa", ["after", "open"]),
        ("eb", ["before"]),
    ],
)
async def test_date_prefixes_compare_ranges_as_the_spec_defines(
    database: Database, registry: SearchRegistry, repository: ResourceRepository, prefix: str, expected: list[str]
) -> None:
    await _put(
        database,
        repository,
        _obs("before", effectiveDateTime="2024-03-04T12:00:00Z"),
        _obs("day", effectiveDateTime="2024-03-05T12:00:00Z"),
        _obs("after", effectiveDateTime="2024-03-06T12:00:00Z"),
        _obs("span", effectivePeriod={"start": "2024-03-04", "end": "2024-03-06"}),
        _obs("open", effectivePeriod={"start": "2024-03-06"}),
    )
    assert await _ids(database, registry, "Observation", ("date", f"{prefix}2024-03-05")) == expected


async def test_date_approximately_matches_near_values_only(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database, repository, _obs("near", effectiveDateTime="2020-01-20"), _obs("far", effectiveDateTime="2015-01-01")
    )
    assert await _ids(database, registry, "Observation", ("date", "ap2020-01-01")) == ["near"]


async def test_last_updated_comes_from_the_resource_table(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(database, repository, _patient("a"))
    assert await _ids(database, registry, "Patient", ("_lastUpdated", "gt2000-01-01")) == ["a"]
    assert await _ids(database, registry, "Patient", ("_lastUpdated", "lt2000-01-01")) == []


# --- reference and chains ----------------------------------------------------------------------


async def test_reference_by_id_by_type_and_id_by_url_and_with_type_modifier(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        _obs("a", subject={"reference": "Patient/p1"}),
        _obs("b", subject={"reference": "Practitioner/p1"}),
        _obs("c", subject={"reference": "Patient/p2/_history/3"}),
        _obs("d", subject={"reference": "https://other.example/fhir/Patient/p1"}),
    )
    assert await _ids(database, registry, "Observation", ("subject", "p1")) == ["a", "b"]
    assert await _ids(database, registry, "Observation", ("subject", "Patient/p1")) == ["a"]
    assert await _ids(database, registry, "Observation", ("subject:Patient", "p1")) == ["a"]
    assert await _ids(database, registry, "Observation", ("subject", "p2")) == ["c"]
    assert await _ids(database, registry, "Observation", ("subject", "https://other.example/fhir/Patient/p1")) == ["d"]
    assert await _ids(database, registry, "Observation", ("patient", "p1")) == ["a"]


async def test_chained_search_through_a_typed_and_an_untyped_reference(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        _patient("p1", identifier=[{"system": NHS, "value": "111"}], name=[{"family": "Smith"}]),
        _patient("p2", identifier=[{"system": NHS, "value": "222"}], name=[{"family": "Jones"}]),
        {"resourceType": "Practitioner", "id": "h1", "name": [{"family": "Smithers"}]},
        _obs("a", subject={"reference": "Patient/p1"}),
        _obs("b", subject={"reference": "Patient/p2"}),
        _obs("c", subject={"reference": "Practitioner/h1"}),
    )
    assert await _ids(database, registry, "Observation", ("subject:Patient.identifier", f"{NHS}|111")) == ["a"]
    assert await _ids(database, registry, "Observation", ("subject.name", "smith")) == ["a", "c"]
    assert await _ids(database, registry, "Observation", ("subject:Patient.name", "smith")) == ["a"]


async def test_chain_ignores_deleted_targets(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database, repository, _patient("p1", name=[{"family": "Smith"}]), _obs("a", subject={"reference": "Patient/p1"})
    )
    async with database.write() as conn:
        await repository.delete(conn, "Patient", "p1", viewer=Viewer.system())
    assert await _ids(database, registry, "Observation", ("subject:Patient.name", "smith")) == []


async def test_has_finds_resources_referred_to_by_matching_resources(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        _patient("p1"),
        _patient("p2"),
        _patient("p3"),
        _obs("a", subject={"reference": "Patient/p1"}, code={"coding": [{"system": DYAD, "code": "concern"}]}),
        _obs("b", subject={"reference": "Patient/p2"}),
    )
    assert await _ids(database, registry, "Patient", ("_has:Observation:subject:code", "concern")) == ["p1"]
    assert await _ids(database, registry, "Patient", ("_has:Observation:subject:status", "final")) == ["p1", "p2"]


# --- number, quantity, uri ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100", ["100"]),
        ("1e2", ["100", "120", "80"]),
        ("gt100", ["120"]),
        ("ge100", ["100", "120"]),
        ("lt100", ["80"]),
        ("le100", ["100", "80"]),
        ("ne100", ["120", "80"]),
        ("ap100", ["100"]),
        ("sa100", ["120"]),
        ("eb100", ["80"]),
    ],
)
async def test_number_prefixes_and_significant_figures(
    database: Database, registry: SearchRegistry, repository: ResourceRepository, value: str, expected: list[str]
) -> None:
    await _put(database, repository, *(_obs(v, valueQuantity={"value": int(v)}) for v in ("80", "100", "120")))
    assert await _ids(database, registry, "Observation", ("score", value)) == expected


async def test_quantity_with_units_by_system_and_code_or_code_alone(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        _obs("mg", valueQuantity={"value": 5.4, "system": UCUM, "code": "mg"}),
        _obs("g", valueQuantity={"value": 5.4, "system": UCUM, "code": "g"}),
        _obs("big", valueQuantity={"value": 9, "system": UCUM, "code": "mg"}),
    )
    assert await _ids(database, registry, "Observation", ("value-quantity", f"5.4|{UCUM}|mg")) == ["mg"]
    assert await _ids(database, registry, "Observation", ("value-quantity", "5.4||g")) == ["g"]
    assert await _ids(database, registry, "Observation", ("value-quantity", "5.4")) == ["g", "mg"]
    assert await _ids(database, registry, "Observation", ("value-quantity", "gt5||mg")) == ["big", "mg"]


async def test_uri_exact_below_and_above(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    base = "https://w3id.org/dyad/fhir/StructureDefinition"
    await _put(
        database,
        repository,
        _obs("a", meta={"profile": [f"{base}/dyad-observation"]}),
        _obs("b", meta={"profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]}),
    )
    assert await _ids(database, registry, "Observation", ("_profile", f"{base}/dyad-observation")) == ["a"]
    assert await _ids(database, registry, "Observation", ("_profile:below", "https://w3id.org/dyad/")) == ["a"]
    assert await _ids(database, registry, "Observation", ("_profile:above", f"{base}/dyad-observation/v2")) == ["a"]


# --- meta, _id, :missing, OR and AND -----------------------------------------------------------


async def test_id_tag_and_security(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        _obs("a", meta={"tag": [{"system": "urn:t", "code": "hv"}], "security": [{"system": "urn:s", "code": "R"}]}),
        _obs("b"),
    )
    assert await _ids(database, registry, "Observation", ("_id", "a,b,zzz")) == ["a", "b"]
    assert await _ids(database, registry, "Observation", ("_tag", "urn:t|hv")) == ["a"]
    assert await _ids(database, registry, "Observation", ("_security", "R")) == ["a"]
    assert await _ids(database, registry, "Observation", ("_security:not", "R")) == ["b"]


@pytest.mark.parametrize("code", ["focus", "value-quantity", "value-string", "date", "category", "_profile"])
async def test_missing_true_and_false_split_resources_on_every_type(
    database: Database, registry: SearchRegistry, repository: ResourceRepository, code: str
) -> None:
    await _put(
        database,
        repository,
        _obs(
            "with",
            focus=[{"reference": "RelatedPerson/m"}],
            valueQuantity={"value": 1},
            effectiveDateTime="2024",
            category=[{"text": "x"}],
            meta={"profile": ["urn:p"]},
        ),
        _obs("without", valueString="x") if code != "value-string" else _obs("without"),
    )
    if code == "value-string":
        await _put(database, repository, _obs("with", valueString="x"))
    assert await _ids(database, registry, "Observation", (f"{code}:missing", "true")) == ["without"]
    assert await _ids(database, registry, "Observation", (f"{code}:missing", "false")) == ["with"]


async def test_comma_ors_values_and_repeated_parameters_and_them(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        _obs("a", status="final", subject={"reference": "Patient/p1"}),
        _obs("b", status="amended", subject={"reference": "Patient/p1"}),
        _obs("c", status="final", subject={"reference": "Patient/p2"}),
    )
    assert await _ids(database, registry, "Observation", ("status", "final,amended")) == ["a", "b", "c"]
    assert await _ids(database, registry, "Observation", ("status", "final,amended"), ("subject", "Patient/p1")) == [
        "a",
        "b",
    ]
    assert await _ids(database, registry, "Observation", ("status", "final"), ("status", "amended")) == []


async def test_update_replaces_index_rows_and_delete_removes_the_resource(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(database, repository, _obs("a", status="preliminary"))
    await _put(database, repository, _obs("a", status="final"))
    assert await _ids(database, registry, "Observation", ("status", "preliminary")) == []
    assert await _ids(database, registry, "Observation", ("status", "final")) == ["a"]
    async with database.write() as conn:
        await repository.delete(conn, "Observation", "a", viewer=Viewer.system())
    assert await _ids(database, registry, "Observation", ("status", "final")) == []
    assert await _ids(database, registry, "Observation") == []


# --- sorting, paging, totals -------------------------------------------------------------------


async def test_sort_by_several_keys_with_descending_and_missing_values_last(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        _obs("a", status="final", effectiveDateTime="2024-01-01"),
        _obs("b", status="amended", effectiveDateTime="2024-01-01"),
        _obs("c", status="final", effectiveDateTime="2024-06-01"),
        _obs("d", status="final"),
    )
    page = await _search(database, registry, "Observation", [("_sort", "-date,status")])
    assert [m.res_id for m in page.matches] == ["c", "b", "a", "d"]
    page = await _search(database, registry, "Observation", [("_sort", "status,-_id")])
    assert [m.res_id for m in page.matches] == ["b", "d", "c", "a"]


async def test_paging_is_stable_and_covers_every_match_once_with_the_total(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(database, repository, *(_obs(f"o{i:02}", effectiveDateTime="2024-01-01") for i in range(23)))
    seen: list[str] = []
    for offset in range(0, 30, 10):
        page = await _search(
            database, registry, "Observation", [("_sort", "date"), ("_count", "10"), ("_offset", str(offset))]
        )
        assert page.total == 23
        seen.extend(m.res_id for m in page.matches)
    assert seen == sorted(seen) and len(set(seen)) == 23


async def test_total_none_skips_the_count_and_summary_count_returns_only_it(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(database, repository, _obs("a"), _obs("b"))
    page = await _search(database, registry, "Observation", [("_total", "none")])
    assert page.total is None and len(page.matches) == 2
    page = await _search(database, registry, "Observation", [("_summary", "count")])
    assert page.total == 2 and page.matches == []


# --- includes ----------------------------------------------------------------------------------


async def test_include_revinclude_and_iterate(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(
        database,
        repository,
        {"resourceType": "Organization", "id": "org"},
        _patient("p1", managingOrganization={"reference": "Organization/org"}),
        _obs("a", subject={"reference": "Patient/p1"}, performer=[{"reference": "Practitioner/h1"}]),
        {"resourceType": "Practitioner", "id": "h1"},
        {
            "resourceType": "Provenance",
            "id": "prov",
            "target": [{"reference": "Observation/a"}],
            "recorded": "2024-01-01T00:00:00Z",
            "agent": [{"who": {"reference": "Practitioner/h1"}}],
        },
    )
    page = await _search(database, registry, "Observation", [("_include", "Observation:subject")])
    assert [(r.res_type, r.res_id) for r in page.included] == [("Patient", "p1")]
    page = await _search(database, registry, "Observation", [("_include", "Observation:*")])
    assert sorted(r.res_id for r in page.included) == ["h1", "p1"]
    page = await _search(
        database,
        registry,
        "Observation",
        [("_include", "Observation:subject"), ("_include:iterate", "Patient:organization")],
    )
    assert sorted(r.res_id for r in page.included) == ["org", "p1"]
    page = await _search(database, registry, "Observation", [("_revinclude", "Provenance:target")])
    assert [r.res_id for r in page.included] == ["prov"]
    page = await _search(
        database,
        registry,
        "Patient",
        [("_id", "p1"), ("_revinclude", "Observation:subject"), ("_revinclude:iterate", "Provenance:target")],
    )
    assert sorted(r.res_id for r in page.included) == ["a", "prov"]
    assert [m.res_id for m in page.matches] == ["p1"]


async def test_find_pks_lists_matching_resources_for_conditional_interactions(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(database, repository, _patient("a", identifier=[{"system": NHS, "value": "1"}]), _patient("b"))
    query = parse_search(registry, "Patient", [("identifier", f"{NHS}|1")], strict=True)
    async with database.read() as conn:
        assert len(await find_pks(conn, query, viewer=Viewer.system())) == 1


async def test_unknown_parameters_are_ignored_when_lenient(
    database: Database, registry: SearchRegistry, repository: ResourceRepository
) -> None:
    await _put(database, repository, _obs("a"))
    query = parse_search(registry, "Observation", [("nonsense", "1")], strict=False)
    async with database.read() as conn:
        page = await run_search(conn, registry, query, viewer=Viewer.system())
    assert [m.res_id for m in page.matches] == ["a"] and query.unknown == ["nonsense"]
    with pytest.raises(SearchError):
        parse_search(registry, "Observation", [("nonsense", "1")], strict=True)
