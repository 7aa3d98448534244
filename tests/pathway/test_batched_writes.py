"""The batched pathway writes (service/pathway/deferred.py, teams.prefetch_families, earlier.py) against the
one-by-one path they replace: the same Tasks, Provenances, index rows and warnings either way.

Three mirrored sets of families (same teams, same Observations, ids differing only by a letter)
are written: (a) as a transaction Bundle with the batching switched off (each Task created when
its rule runs, each infant's family looked up on its own: the reference path), (b) as the same
Bundle with it on, (c) as single creates with it on. What the pathway derived must be equal once
the letter and the server's ids are taken out.
"""

import copy
import json
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from service.pathway import deferred, listener
from service.store.tables import ReferenceIndexRow, ResourceRow, TokenIndexRow
from tests.pathway.conftest import RunningApp
from tests.pathway.family import FHIR, example, search

DYAD = "https://w3id.org/dyad/fhir"
CONCERN = f"{DYAD}/CodeSystem/dyad-concern-level"
CONCEPTS = f"{DYAD}/CodeSystem/dyad-concepts"
HV_ORG = "org-health-visiting-north"


def _people(letter: str) -> list[dict[str, Any]]:
    """Six infants with a caregiver each: two whose CareTeam names health visiting, two whose
    EpisodeOfCare does, two with no team (their prompts wait unassigned)."""
    resources: list[dict[str, Any]] = [{"resourceType": "Practitioner", "id": f"visitor-{letter}-0"}]
    for n in range(6):
        infant = f"infant-{letter}-{n}"
        resources.append({"resourceType": "Patient", "id": infant, "birthDate": "2026-10-01"})
        resources.append(
            {
                "resourceType": "RelatedPerson",
                "id": f"carer-{letter}-{n}",
                "patient": {"reference": f"Patient/{infant}"},
            }
        )
        if n < 2:
            resources.append(
                {
                    "resourceType": "CareTeam",
                    "id": f"team-{letter}-{n}",
                    "status": "active",
                    "subject": {"reference": f"Patient/{infant}"},
                    "participant": [{"member": {"reference": f"Organization/{HV_ORG}"}}],
                }
            )
        elif n < 4:
            resources.append(
                {
                    "resourceType": "EpisodeOfCare",
                    "id": f"episode-{letter}-{n}",
                    "status": "active",
                    "patient": {"reference": f"Patient/{infant}"},
                    "managingOrganization": {"reference": f"Organization/{HV_ORG}"},
                }
            )
    return resources


def _observations(letter: str) -> list[dict[str, Any]]:
    """Per infant: a concern, the same concern on a later day (persistent), and no concern."""
    out = []
    for n in range(6):
        for day, level in (("2026-10-05", "some-concern"), ("2026-10-20", "significant-concern"), ("2026-10-25", None)):
            out.append(_observation(letter, n, day, level))
    return out


def _observation(letter: str, n: int, day: str, level: str | None) -> dict[str, Any]:
    value = level or "no-concern"
    return {
        "resourceType": "Observation",
        "meta": {"profile": [f"{DYAD}/StructureDefinition/dyad-relationship-observation"]},
        "status": "final",
        "category": [{"coding": [{"system": CONCEPTS, "code": "parent-infant-relationship"}]}],
        "code": {"coding": [{"system": CONCEPTS, "code": "bonding-self-report"}]},
        "subject": {"reference": f"Patient/infant-{letter}-{n}"},
        "focus": [{"reference": f"RelatedPerson/carer-{letter}-{n}"}],
        "effectiveDateTime": f"{day}T10:00:00Z",
        "method": {"coding": [{"system": f"{DYAD}/CodeSystem/dyad-instruments", "code": "pbq"}]},
        "performer": [{"reference": f"Practitioner/visitor-{letter}-0"}],
        "valueCodeableConcept": {"coding": [{"system": CONCERN, "code": value}]},
        "component": [
            {
                "code": {"coding": [{"system": CONCEPTS, "code": "emotional-sensitivity"}]},
                "valueCodeableConcept": {"coding": [{"system": CONCERN, "code": value}]},
            }
        ],
    }


def _bundle(resources: list[dict[str, Any]], method: str) -> dict[str, Any]:
    entries = []
    for r in resources:
        url = f"{r['resourceType']}/{r['id']}" if method == "PUT" else r["resourceType"]
        entries.append({"resource": r, "request": {"method": method, "url": url}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


async def _transaction(http: httpx.AsyncClient, bundle: dict[str, Any]) -> list[dict[str, Any]]:
    response = await http.post("/fhir", json=bundle, headers={"Content-Type": FHIR})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entry"]
    return entries


async def _write(running: RunningApp, letter: str, how: str) -> tuple[list[str], list[str]]:
    """The set's people (one Bundle), then its Observations `how`; their ids and the warnings
    the writes carried (per Observation, in order)."""
    await _transaction(running.http, _bundle(_people(letter), "PUT"))
    observations = _observations(letter)
    ids, warnings = [], []
    if how == "bundle":
        for entry in await _transaction(running.http, _bundle(observations, "POST")):
            ids.append(entry["response"]["location"].split("/")[1])
            issues = (entry["response"].get("outcome") or {}).get("issue") or []
            warnings.append("|".join(i["diagnostics"] for i in issues))
        return ids, warnings
    for observation in observations:
        response = await running.http.post("/fhir/Observation", json=observation, headers={"Content-Type": FHIR})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
        warnings.append(response.headers.get("warning", ""))
    return ids, warnings


def _normalised(value: Any, letter: str, ids: list[str]) -> Any:
    text = re.sub(rf"-{letter}-", "-X-", json.dumps(value, sort_keys=True, default=str))
    for n, res_id in enumerate(ids):
        text = text.replace(res_id, f"OBS{n}")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


async def _derived(running: RunningApp, letter: str, ids: list[str]) -> dict[str, Any]:
    """Every Task about the set's infants (without server ids and times), each with its
    Provenance's cause, and the Tasks' token and reference index rows."""
    tasks: list[dict[str, Any]] = []
    for n in range(6):
        tasks += await search(running.http, f"Task?patient=Patient/infant-{letter}-{n}&_count=100")
    described = []
    for task in tasks:
        provenances = await search(running.http, f"Provenance?target=Task/{task['id']}")
        assert len(provenances) == 1, provenances
        cause = [e["what"]["reference"].split("/_history")[0] for e in provenances[0].get("entity", [])]
        body = copy.deepcopy(task)
        for key in ("id", "meta", "authoredOn", "lastModified"):
            body.pop(key, None)
        described.append({"task": body, "cause": cause, "tags": (task.get("meta") or {}).get("tag")})
    pks = {t["id"]: await _pk(running, t["id"]) for t in tasks}
    rows = []
    async with running.fhir.db.read() as conn:
        for table in (TokenIndexRow, ReferenceIndexRow):
            result = await conn.execute(select(table).where(table.resource_pk.in_(list(pks.values()))))
            for row in result.mappings():
                fields = {k: v for k, v in row.items() if k not in ("pk",)}
                fields["resource_pk"] = "TASK"
                if fields.get("target_id") in pks:
                    fields["target_id"] = "TASK"
                rows.append(fields)
    normal = _normalised({"tasks": described, "rows": rows}, letter, ids)
    return {name: sorted(normal[name], key=lambda d: json.dumps(d, sort_keys=True)) for name in ("tasks", "rows")}


async def _pk(running: RunningApp, task_id: str) -> int:
    async with running.fhir.db.read() as conn:
        pk = await conn.scalar(
            select(ResourceRow.pk).where(ResourceRow.res_type == "Task", ResourceRow.res_id == task_id)
        )
    assert pk is not None
    return int(pk)


async def test_batched_pathway_writes_derive_what_the_one_by_one_path_does(
    running: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    organisation = example(f"Organization-{HV_ORG}")
    response = await running.http.put(f"/fhir/Organization/{HV_ORG}", json=organisation, headers={"Content-Type": FHIR})
    assert response.status_code in (200, 201), response.text

    with monkeypatch.context() as off:
        off.setattr(deferred, "_scope", lambda conn: None)  # every Task created as its rule runs

        async def no_prefetch(*_: Any) -> None:
            return None

        off.setattr(listener, "prefetch_families", no_prefetch)  # each family looked up on its own
        off.setattr(listener, "prefetch_earlier", no_prefetch)  # each earlier concern searched on its own
        ids_a, warnings_a = await _write(running, "a", "bundle")
    ids_b, warnings_b = await _write(running, "b", "bundle")
    ids_c, warnings_c = await _write(running, "c", "single")

    reference = await _derived(running, "a", ids_a)
    assert reference["tasks"], "the reference path raised no Task: the comparison would prove nothing"
    assert any("unassigned" in str(t["tags"]) for t in reference["tasks"])  # infants without a team
    assert any("further-intervention" in str(t["task"]) for t in reference["tasks"])  # persistent concern
    assert await _derived(running, "b", ids_b) == reference
    assert await _derived(running, "c", ids_c) == reference
    assert warnings_b == warnings_a
    assert any(warnings_a)  # the unassigned prompts warned the writer
    assert [bool(w) for w in warnings_c] == [bool(w) for w in warnings_a]


async def test_a_bundle_looks_up_families_and_earlier_observations_only_for_the_entries_a_rule_fires_on(
    running: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three infants' Observations record no concern, three record one: only the last three need
    their families (a prompt is routed) and their earlier Observations (a concern may persist).
    Looking up all of them made a Bundle's cost grow with every infant's history."""
    organisation = example(f"Organization-{HV_ORG}")
    response = await running.http.put(f"/fhir/Organization/{HV_ORG}", json=organisation, headers={"Content-Type": FHIR})
    assert response.status_code in (200, 201), response.text
    await _transaction(running.http, _bundle(_people("d"), "PUT"))
    quiet = [_observation("d", n, "2026-10-25", None) for n in range(3)]
    concerns = [_observation("d", n, "2026-10-25", "some-concern") for n in range(3, 6)]
    asked: dict[str, list[Any]] = {"families": [], "pairs": []}
    families, earlier = listener.prefetch_families, listener.prefetch_earlier

    async def families_spy(conn: Any, registry: Any, repository: Any, infants: list[str]) -> None:
        asked["families"] += infants
        await families(conn, registry, repository, infants)

    async def earlier_spy(conn: Any, registry: Any, batch: Any, pairs: list[tuple[str, str]]) -> None:
        asked["pairs"] += pairs
        await earlier(conn, registry, batch, pairs)

    monkeypatch.setattr(listener, "prefetch_families", families_spy)
    monkeypatch.setattr(listener, "prefetch_earlier", earlier_spy)
    entries = await _transaction(running.http, _bundle(quiet + concerns, "POST"))

    assert len(entries) == 6
    wanted = [f"Patient/infant-d-{n}" for n in range(3, 6)]
    assert sorted(asked["families"]) == wanted
    assert sorted(asked["pairs"]) == [(p, p.replace("Patient/infant", "RelatedPerson/carer")) for p in wanted]
    prompts = [await search(running.http, f"Task?patient=Patient/infant-d-{n}") for n in range(6)]
    assert [bool(p) for p in prompts] == [False] * 3 + [True] * 3  # the prompts were still raised
