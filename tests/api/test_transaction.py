"""Transaction Bundles are atomic and complete; batch entries stand alone."""

from typing import Any

import httpx

from tests.fhir_samples import FHIR_JSON, NHS, infant, observation


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None, **request: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


async def _count(client: httpx.AsyncClient, res_type: str) -> int:
    return (await client.get(f"/fhir/{res_type}", params={"_summary": "count"})).json()["total"]


async def test_transaction_rewrites_urn_uuid_references_to_assigned_ids(client: httpx.AsyncClient) -> None:
    baby_urn = "urn:uuid:6f1c3c7e-7b5c-4b8e-9c55-1f0b0c8e2a11"
    response = await client.post(
        "/fhir",
        json=bundle("transaction", post(infant(), baby_urn), post(observation(subject=baby_urn))),
        headers=FHIR_JSON,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    patient_location = result["entry"][0]["response"]["location"]
    patient_ref = "/".join(patient_location.split("/")[:2])
    obs_id = result["entry"][1]["response"]["location"].split("/")[1]
    stored = (await client.get(f"/fhir/Observation/{obs_id}")).json()
    assert stored["subject"]["reference"] == patient_ref


async def test_transaction_with_trailing_slash_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/", json=bundle("transaction", post(infant())), headers=FHIR_JSON)
    assert response.status_code == 200


async def test_failing_entry_rolls_back_the_whole_transaction_and_names_the_entry(client: httpx.AsyncClient) -> None:
    broken = {"resourceType": "Observation", "status": "final"}  # code is required
    response = await client.post("/fhir", json=bundle("transaction", post(infant()), post(broken)), headers=FHIR_JSON)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["expression"][0].startswith("Bundle.entry[1]")
    assert await _count(client, "Patient") == 0


async def test_failing_update_late_in_processing_rolls_back_earlier_creates(client: httpx.AsyncClient) -> None:
    stale_update = {
        "resource": {**infant(), "id": "p1"},
        "request": {"method": "PUT", "url": "Patient/p1", "ifMatch": 'W/"7"'},
    }
    response = await client.post(
        "/fhir", json=bundle("transaction", post(infant("9000000017")), stale_update), headers=FHIR_JSON
    )
    assert response.status_code == 412
    assert await _count(client, "Patient") == 0


async def test_conditional_reference_is_resolved_to_the_matching_resource(client: httpx.AsyncClient) -> None:
    baby = (await client.post("/fhir/Patient", json=infant(), headers=FHIR_JSON)).json()
    obs = observation(subject=f"Patient?identifier={NHS}|9000000009")
    response = await client.post("/fhir", json=bundle("transaction", post(obs)), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    obs_id = response.json()["entry"][0]["response"]["location"].split("/")[1]
    stored = (await client.get(f"/fhir/Observation/{obs_id}")).json()
    assert stored["subject"]["reference"] == f"Patient/{baby['id']}"


async def test_unresolvable_conditional_reference_fails_the_transaction(client: httpx.AsyncClient) -> None:
    obs = observation(subject=f"Patient?identifier={NHS}|9999999999")
    response = await client.post("/fhir", json=bundle("transaction", post(obs)), headers=FHIR_JSON)
    assert response.status_code == 412
    assert await _count(client, "Observation") == 0


async def test_conditional_create_inside_transaction_reuses_existing(client: httpx.AsyncClient) -> None:
    existing = (await client.post("/fhir/Patient", json=infant(), headers=FHIR_JSON)).json()
    urn = "urn:uuid:0c8e9a52-31c4-4d33-a9a4-5a3f4bb0f0d1"
    response = await client.post(
        "/fhir",
        json=bundle(
            "transaction",
            post(infant(), urn, ifNoneExist=f"identifier={NHS}|9000000009"),
            post(observation(subject=urn)),
        ),
        headers=FHIR_JSON,
    )
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert entries[0]["response"]["status"] == "200 OK"
    obs_id = entries[1]["response"]["location"].split("/")[1]
    stored = (await client.get(f"/fhir/Observation/{obs_id}")).json()
    assert stored["subject"]["reference"] == f"Patient/{existing['id']}"
    assert await _count(client, "Patient") == 1


async def test_transaction_processes_deletes_before_creates_and_reads_last(client: httpx.AsyncClient) -> None:
    await client.put("/fhir/Patient/old", json={**infant(), "id": "old"}, headers=FHIR_JSON)
    response = await client.post(
        "/fhir",
        json=bundle(
            "transaction",
            {"request": {"method": "GET", "url": "Patient?_summary=count"}},
            post(infant("9000000017")),
            {"request": {"method": "DELETE", "url": "Patient/old"}},
        ),
        headers=FHIR_JSON,
    )
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert entries[0]["resource"]["total"] == 1  # the read saw the delete and the create
    assert entries[2]["response"]["status"] == "204 No Content"


async def test_batch_entries_succeed_or_fail_independently(client: httpx.AsyncClient) -> None:
    broken = {"resourceType": "Observation", "status": "final"}
    response = await client.post(
        "/fhir", json=bundle("batch", post(infant()), post(broken), post(infant("9000000017"))), headers=FHIR_JSON
    )
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"] == "400"
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert entries[2]["response"]["status"] == "201 Created"
    assert await _count(client, "Patient") == 2


async def test_bundle_of_wrong_type_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir", json=bundle("collection", post(infant())), headers=FHIR_JSON)
    assert response.status_code == 400


async def test_patch_entry_applies_a_json_patch(client: httpx.AsyncClient) -> None:
    import base64
    import json

    await client.put("/fhir/Patient/p1", json={**infant(), "id": "p1"}, headers=FHIR_JSON)
    operations = [{"op": "replace", "path": "/birthDate", "value": "2026-09-30"}]
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(json.dumps(operations).encode()).decode(),
    }
    response = await client.post(
        "/fhir",
        json=bundle("transaction", {"resource": binary, "request": {"method": "PATCH", "url": "Patient/p1"}}),
        headers=FHIR_JSON,
    )
    assert response.status_code == 200, response.text
    assert (await client.get("/fhir/Patient/p1")).json()["birthDate"] == "2026-09-30"
