"""$validate, validation on write and `dyad validate` give the same verdict on every example and
every corpus case: the guide's own invalid examples and the table-driven mutation corpus."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import pytest

from tests.conformance.conftest import EXAMPLES, INVALID, example
from tests.conformance.test_invalid_corpus import CASES
from tests.fhir_samples import FHIR_JSON

ROOT = Path(__file__).resolve().parents[2]
Expected = tuple[str, str, str]  # severity, code, expression


def _invalid_examples() -> list[tuple[str, dict[str, Any], Expected]]:
    manifest = json.loads((INVALID / "expected.json").read_text())
    return [
        (name, json.loads((INVALID / name).read_text()), (e["severity"], e["code"], e["expression"]))
        for name, e in sorted(manifest.items())
    ]


def _corpus() -> list[tuple[str, dict[str, Any], Expected]]:
    return [
        (description, jsonpatch.apply_patch(example(source), patch), (severity, code, expression))
        for description, source, patch, severity, code, expression in CASES
    ]


def _valid_examples() -> list[tuple[str, dict[str, Any]]]:
    return [(p.name, json.loads(p.read_text())) for p in sorted(EXAMPLES.glob("*.json"))]


CASES_ALL = _invalid_examples() + _corpus()


def _has(issues: list[dict[str, Any]], expected: Expected) -> bool:
    severity, code, expression = expected
    return any(
        i["severity"] == severity and i["code"] == code and expression in (i.get("expression") or []) for i in issues
    )


def _errors(issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in issues if i["severity"] in ("error", "fatal")]


async def _validate(client: httpx.AsyncClient, resource: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.post(f"/fhir/{resource['resourceType']}/$validate", json=resource, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    return response.json()["issue"]


async def _store_examples(client: httpx.AsyncClient) -> httpx.Response:
    """In one transaction: the examples refer to each other (a Patient and its RelatedPerson both
    ways), and references must resolve on write."""
    entries = [
        {"resource": resource, "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}}
        for _, resource in _valid_examples()
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    return await client.post("/fhir", json=bundle, headers=FHIR_JSON)


async def test_valid_examples_pass_validate_and_are_stored(client: httpx.AsyncClient) -> None:
    for name, resource in _valid_examples():
        issues = await _validate(client, resource)
        assert not _errors(issues), (name, issues)
    stored = await _store_examples(client)
    assert stored.status_code == 200, stored.text
    assert all(e["response"]["status"].startswith(("200", "201")) for e in stored.json()["entry"])


async def test_every_case_gets_its_issue_from_validate(client: httpx.AsyncClient) -> None:
    wrong = []
    for name, resource, expected in CASES_ALL:
        issues = await _validate(client, resource)
        if not _has(issues, expected):
            wrong.append((name, expected, issues))
    assert not wrong, wrong[:3]


async def test_every_case_gets_the_same_verdict_on_write(client: httpx.AsyncClient) -> None:
    assert (await _store_examples(client)).status_code == 200  # what the cases refer to
    wrong = []
    for index, (name, resource, expected) in enumerate(CASES_ALL):
        url = f"/fhir/{resource['resourceType']}/case-{index}"
        response = await client.put(url, json={**resource, "id": f"case-{index}"}, headers=FHIR_JSON)
        if expected[0] == "error":
            # 422 for a broken rule; 400 where the resource is not even structurally FHIR.
            ok = response.status_code in (400, 422) and _has(response.json()["issue"], expected)
            ok = ok and (await client.get(url)).status_code == 404
        else:
            ok = response.status_code in (200, 201)
        if not ok:
            wrong.append((name, expected, response.status_code, response.text[:300]))
    assert not wrong, wrong[:3]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_dyad_validate_gives_every_case_its_issue(tmp_path: Path, backend: str) -> None:
    for index, (_, resource, _) in enumerate(CASES_ALL):
        (tmp_path / f"case-{index:03d}.json").write_text(json.dumps(resource))
    result = subprocess.run(
        [sys.executable, "-m", "service", "validate", str(tmp_path), "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    reports = {Path(r["location"]).name: r for r in json.loads(result.stdout)}
    wrong = [
        (name, expected)
        for index, (name, _, expected) in enumerate(CASES_ALL)
        if not _has(reports[f"case-{index:03d}.json"]["issues"], expected)
        or reports[f"case-{index:03d}.json"]["valid"] == (expected[0] == "error")
    ]
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_dyad_validate_passes_the_valid_examples_and_writes_junit(tmp_path: Path, backend: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "service",
            "validate",
            str(EXAMPLES / "Patient-infant-ava-clarke.json"),
            str(EXAMPLES / "Observation-obs-ava-grace-new-birth-visit.json"),
            "--format",
            "junit",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout
    assert 'tests="2" failures="0"' in result.stdout


async def test_validate_takes_parameters_with_a_profile_and_instance_level_calls(client: httpx.AsyncClient) -> None:
    observation = example("Observation-obs-ava-grace-new-birth-visit.json")
    observation.pop("meta")
    observation.pop("performer")
    plain = await _validate(client, observation)
    assert _has(plain, ("error", "required", "Observation.performer"))  # its kind's profile, unclaimed
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": observation},
            {
                "name": "profile",
                "valueUri": "https://w3id.org/dyad/fhir/StructureDefinition/dyad-relationship-observation",
            },
        ],
    }
    response = await client.post("/fhir/Observation/$validate", json=parameters, headers=FHIR_JSON)
    assert _has(response.json()["issue"], ("error", "required", "Observation.performer"))
    assert (await _store_examples(client)).status_code == 200  # what the observation refers to
    # Stored as a plain Observation (not of a Dyad kind, so no profile is enforced on write),
    # then checked at instance level against the profile named.
    observation["code"] = {"text": "home visit note"}
    observation.pop("category")
    stored = await client.put(f"/fhir/Observation/{observation['id']}", json=observation, headers=FHIR_JSON)
    assert stored.status_code == 200, stored.text  # a new version of the example stored above
    instance = await client.post(
        f"/fhir/Observation/{observation['id']}/$validate",
        json={"resourceType": "Parameters", "parameter": [parameters["parameter"][1]]},
        headers=FHIR_JSON,
    )
    assert _has(instance.json()["issue"], ("error", "required", "Observation.performer"))


async def test_all_well_is_an_information_issue(client: httpx.AsyncClient) -> None:
    issues = await _validate(client, example("Patient-infant-ava-clarke.json"))
    assert [i["severity"] for i in issues] == ["information"]


async def test_invalid_entry_fails_the_transaction_with_422_at_its_path(client: httpx.AsyncClient) -> None:
    observation = example("Observation-obs-ava-grace-new-birth-visit.json")
    del observation["performer"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": example("Patient-infant-ava-clarke.json"),
                "request": {"method": "PUT", "url": "Patient/infant-ava-clarke"},
            },
            {"resource": observation, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    response = await client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.performer"]
    assert (await client.get("/fhir/Patient/infant-ava-clarke")).status_code == 404


async def test_base_rules_apply_without_any_profile(client: httpx.AsyncClient) -> None:
    bogus = {"resourceType": "Observation", "status": "bogus", "code": {"text": "x"}}
    response = await client.post("/fhir/Observation", json=bogus, headers=FHIR_JSON)
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Observation.status"]
