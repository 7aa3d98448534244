"""Validity on write and through $validate is decided by the R4 core and Dyad's kinds (issue 12):
malformed JSON is 400, broken rules 422, Dyad's kinds meet their profiles unclaimed, every
Patient's NHS number is checked, and $validate answers for every R4 type, Bundle included."""

from typing import Any

import httpx

from tests.conformance.conftest import example
from tests.fhir_samples import FHIR_JSON, NHS, infant, observation, store_infants


async def _validate(client: httpx.AsyncClient, resource: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.post(f"/fhir/{resource['resourceType']}/$validate", json=resource, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    return [i for i in response.json()["issue"] if i["severity"] in ("error", "fatal")]


async def _count(client: httpx.AsyncClient, res_type: str) -> int:
    return (await client.get(f"/fhir/{res_type}", params={"_summary": "count"})).json()["total"]


async def test_a_decimal_as_a_string_is_refused_with_400(client: httpx.AsyncClient) -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "valueQuantity": {"value": "1.2", "unit": "kg"},
    }
    response = await client.post("/fhir/Observation", json=resource, headers=FHIR_JSON)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == ["Observation.valueQuantity.value"]
    assert await _count(client, "Observation") == 0


async def test_a_boolean_as_a_string_is_refused_with_400(client: httpx.AsyncClient) -> None:
    patient = infant()
    patient["active"] = "true"
    response = await client.post("/fhir/Patient", json=patient, headers=FHIR_JSON)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == ["Patient.active"]


async def test_a_required_binding_on_a_datatype_is_refused_with_422_naming_the_codes(client: httpx.AsyncClient) -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "valueQuantity": {"value": 1.2, "comparator": "about"},
    }
    response = await client.post("/fhir/Observation", json=resource, headers=FHIR_JSON)
    assert response.status_code == 422, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Observation.valueQuantity.comparator"]
    assert "one of <, <=, >, >=" in issue["diagnostics"]


async def test_a_relationship_observation_meets_its_profile_without_claiming_it(client: httpx.AsyncClient) -> None:
    await store_infants(client)
    unclaimed = observation()
    del unclaimed["performer"]
    response = await client.post("/fhir/Observation", json=unclaimed, headers=FHIR_JSON)
    assert response.status_code == 422, response.text
    assert response.json()["issue"][0]["expression"] == ["Observation.performer"]
    assert (await client.post("/fhir/Observation", json=observation(), headers=FHIR_JSON)).status_code == 201


async def test_every_patient_nhs_number_passes_modulus_11(client: httpx.AsyncClient) -> None:
    wrong_check_digit = infant("9000000008")
    response = await client.post("/fhir/Patient", json=wrong_check_digit, headers=FHIR_JSON)
    assert response.status_code == 422, response.text
    assert any("dyad-pat-2" in i["diagnostics"] for i in response.json()["issue"])
    nine_digits = infant("900000000")
    assert (await client.post("/fhir/Patient", json=nine_digits, headers=FHIR_JSON)).status_code == 422
    assert await _count(client, "Patient") == 0
    assert (await client.post("/fhir/Patient", json=infant("9000000009"), headers=FHIR_JSON)).status_code == 201


async def test_bundle_validate_answers(client: httpx.AsyncClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:0c3f1b6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
                "resource": example("Observation-obs-ava-grace-new-birth-visit.json"),
            },
        ],
    }
    assert await _validate(client, bundle) == []
    bundle["entry"][0]["resource"].pop("performer")
    bundle["entry"].append({"fullUrl": "Patient/relative", "resource": infant()})
    found = {i["expression"][0] for i in await _validate(client, bundle)}
    assert found == {"Bundle.entry[0].resource.performer", "Bundle.entry[1].fullUrl"}


async def test_type_level_validate_answers_for_every_r4_type(client: httpx.AsyncClient) -> None:
    medication = {"resourceType": "Medication", "status": "not-a-status"}
    assert [i["expression"] for i in await _validate(client, medication)] == [["Medication.status"]]
    unknown = await client.post("/fhir/Nonsense/$validate", json={"resourceType": "Nonsense"}, headers=FHIR_JSON)
    assert unknown.status_code == 404


async def test_a_transaction_entry_error_names_its_path_once(client: httpx.AsyncClient) -> None:
    broken = observation()
    broken["status"] = "done"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": infant(), "request": {"method": "POST", "url": "Patient"}},
            {"resource": broken, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    response = await client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 422, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].resource.status"]
    # Said once, from the Bundle: not "Bundle.entry[1]: Observation.status ..." (two paths).
    assert issue["diagnostics"].startswith("Bundle.entry[1].resource.status: 'done' is not allowed"), issue[
        "diagnostics"
    ]
    assert issue["diagnostics"].count("Bundle.entry[1]") == 1 and "Observation.status" not in issue["diagnostics"]


async def test_a_dyad_extension_inside_a_transaction_entry_is_in_context(client: httpx.AsyncClient) -> None:
    patient = infant()
    patient["identifier"] = [{"system": NHS, "value": "9000000009"}]
    entry = example("Observation-obs-ava-grace-new-birth-visit.json")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:5d7e9f1a-2b3c-4d5e-8f9a-0b1c2d3e4f5a", "resource": entry}],
    }
    assert entry["extension"][0]["url"].startswith("https://w3id.org/dyad/fhir/")
    assert await _validate(client, bundle) == []


async def test_a_resource_nested_too_deeply_is_refused_with_400_not_a_crash(client: httpx.AsyncClient) -> None:
    nested = '{"url":"http://example.org/x","valueString":"v"}'
    for _ in range(505):
        nested = '{"url":"http://example.org/x","extension":[' + nested + "]}"
    body = '{"resourceType":"Patient","extension":[' + nested + "]}"
    response = await client.post("/fhir/Patient", content=body, headers=FHIR_JSON)
    assert response.status_code == 400, response.text[:300]
    checked = await client.post("/fhir/Patient/$validate", content=body, headers=FHIR_JSON)
    assert checked.status_code == 200
    assert "nests too deeply" in checked.text
