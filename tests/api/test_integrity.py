"""Integrity on write, over the real app: references resolve, one Patient per NHS number,
conditional create by the URL's query."""

import asyncio

import httpx
import orjson

from tests.fhir_samples import FHIR_JSON, NHS, infant, observation


async def _patient(client: httpx.AsyncClient, res_id: str = "infant-1", nhs: str = "9000000009") -> None:
    response = await client.put(f"/fhir/Patient/{res_id}", json={**infant(nhs), "id": res_id}, headers=FHIR_JSON)
    assert response.status_code in (200, 201), response.text


def _issue(response: httpx.Response) -> dict:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue: dict = body["issue"][0]
    return issue


# --- references ----------------------------------------------------------------------------------


async def test_a_reference_to_a_resource_the_server_does_not_hold_is_refused_naming_the_element(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/fhir/Observation", json=observation("Patient/does-not-exist"), headers=FHIR_JSON)
    assert response.status_code == 422
    issue = _issue(response)
    assert issue["code"] == "not-found"
    assert issue["expression"] == ["Observation.subject"]
    assert "Patient/does-not-exist" in issue["diagnostics"]
    assert (await client.get("/fhir/Observation")).json()["total"] == 0


async def test_a_reference_to_a_held_resource_is_stored(client: httpx.AsyncClient) -> None:
    await _patient(client)
    response = await client.post("/fhir/Observation", json=observation("Patient/infant-1"), headers=FHIR_JSON)
    assert response.status_code == 201, response.text


async def test_the_element_is_named_deep_inside_the_resource(client: httpx.AsyncClient) -> None:
    await _patient(client)
    resource = {
        **observation("Patient/infant-1"),
        "performer": [{"display": "midwife"}, {"reference": "Practitioner/nobody"}],
    }
    response = await client.post("/fhir/Observation", json=resource, headers=FHIR_JSON)
    assert response.status_code == 422
    assert _issue(response)["expression"] == ["Observation.performer[1]"]


async def test_update_and_patch_check_references_too(client: httpx.AsyncClient) -> None:
    await _patient(client)
    created = (await client.post("/fhir/Observation", json=observation("Patient/infant-1"), headers=FHIR_JSON)).json()
    moved = {**created, "subject": {"reference": "Patient/gone"}}
    assert (await client.put(f"/fhir/Observation/{created['id']}", json=moved, headers=FHIR_JSON)).status_code == 422
    patch = [{"op": "replace", "path": "/subject/reference", "value": "Patient/gone"}]
    patched = await client.patch(
        f"/fhir/Observation/{created['id']}",
        content=orjson.dumps(patch),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 422
    assert (await client.get(f"/fhir/Observation/{created['id']}")).json()["meta"]["versionId"] == "1"


async def test_a_reference_to_a_deleted_resource_is_refused(client: httpx.AsyncClient) -> None:
    await _patient(client)
    assert (await client.delete("/fhir/Patient/infant-1")).status_code == 204
    response = await client.post("/fhir/Observation", json=observation("Patient/infant-1"), headers=FHIR_JSON)
    assert response.status_code == 422


async def test_contained_absolute_and_canonical_references_are_left_alone(client: httpx.AsyncClient) -> None:
    await _patient(client)
    resource = {
        **observation("Patient/infant-1"),
        "contained": [{"resourceType": "Practitioner", "id": "p1", "name": [{"family": "Ahmed"}]}],
        "performer": [{"reference": "#p1"}, {"reference": "https://other.example.org/fhir/Practitioner/7"}],
        "basedOn": [{"identifier": {"system": "https://example.org/referrals", "value": "r-1"}}],
    }
    response = await client.post("/fhir/Observation", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    task = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "instantiatesCanonical": "https://w3id.org/dyad/fhir/ActivityDefinition/not-held-here",
        "for": {"reference": "Patient/infant-1"},
    }
    assert (await client.post("/fhir/Task", json=task, headers=FHIR_JSON)).status_code == 201


async def test_a_conditional_reference_outside_a_transaction_is_refused(client: httpx.AsyncClient) -> None:
    await _patient(client)
    response = await client.post(
        "/fhir/Observation", json=observation(f"Patient?identifier={NHS}|9000000009"), headers=FHIR_JSON
    )
    assert response.status_code == 422
    assert "transaction" in _issue(response)["diagnostics"]


def _transaction(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def _post(resource: dict, full_url: str | None = None) -> dict:
    entry = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    return {**entry, "fullUrl": full_url} if full_url else entry


async def test_a_transaction_entry_pointing_at_a_urn_no_entry_has_is_refused_whole(client: httpx.AsyncClient) -> None:
    bundle = _transaction(
        _post(infant(), "urn:uuid:11111111-1111-4111-8111-111111111111"),
        _post(observation("urn:uuid:22222222-2222-4222-8222-222222222222")),
    )
    response = await client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 422
    issue = _issue(response)
    assert issue["expression"] == ["Bundle.entry[1].resource.subject"]
    assert "urn:uuid:22222222" in issue["diagnostics"]
    assert (await client.get("/fhir/Patient")).json()["total"] == 0


async def test_a_transaction_entry_pointing_at_another_entry_or_a_held_resource_is_stored(
    client: httpx.AsyncClient,
) -> None:
    await _patient(client, "mother", "9434765919")
    urn = "urn:uuid:11111111-1111-4111-8111-111111111111"
    observed = {**observation(urn), "focus": [{"reference": "Patient/mother"}]}
    response = await client.post("/fhir", json=_transaction(_post(infant(), urn), _post(observed)), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    stored = (await client.get("/fhir/Observation")).json()["entry"][0]["resource"]
    assert stored["subject"]["reference"].startswith("Patient/")


async def test_a_transaction_resolves_conditional_references_and_refuses_a_held_miss(client: httpx.AsyncClient) -> None:
    await _patient(client)
    found = _transaction(_post(observation(f"Patient?identifier={NHS}|9000000009")))
    assert (await client.post("/fhir", json=found, headers=FHIR_JSON)).status_code == 200
    missing = _transaction(_post(observation("Patient/nobody")))
    response = await client.post("/fhir", json=missing, headers=FHIR_JSON)
    assert response.status_code == 422
    assert _issue(response)["expression"] == ["Bundle.entry[0].resource.subject"]


async def test_a_transaction_may_not_refer_to_what_it_deletes(client: httpx.AsyncClient) -> None:
    await _patient(client)
    bundle = _transaction(
        {"request": {"method": "DELETE", "url": "Patient/infant-1"}}, _post(observation("Patient/infant-1"))
    )
    response = await client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 422
    assert (await client.get("/fhir/Patient/infant-1")).status_code == 200


async def test_a_batch_entry_with_a_dangling_reference_fails_alone(client: httpx.AsyncClient) -> None:
    await _patient(client)
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [_post(observation("Patient/nobody")), _post(observation("Patient/infant-1"))],
    }
    response = await client.post("/fhir", json=bundle, headers=FHIR_JSON)
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses[0].startswith("422") and statuses[1].startswith("201")


async def test_a_transaction_put_with_a_dangling_reference_is_refused(client: httpx.AsyncClient) -> None:
    bundle = _transaction(
        {
            "resource": {**observation("Patient/nobody"), "id": "o1"},
            "request": {"method": "PUT", "url": "Observation/o1"},
        }
    )
    assert (await client.post("/fhir", json=bundle, headers=FHIR_JSON)).status_code == 422


# --- one Patient per NHS number ------------------------------------------------------------------


async def test_a_second_patient_with_an_nhs_number_already_held_is_refused_naming_the_first(
    client: httpx.AsyncClient,
) -> None:
    await _patient(client, "first")
    response = await client.post("/fhir/Patient", json=infant(), headers=FHIR_JSON)
    assert response.status_code == 409
    issue = _issue(response)
    assert issue["code"] == "duplicate"
    assert "Patient/first" in issue["diagnostics"]
    assert (await client.get("/fhir/Patient")).json()["total"] == 1


async def test_an_update_may_not_take_another_patients_nhs_number_but_may_keep_its_own(
    client: httpx.AsyncClient,
) -> None:
    await _patient(client, "first", "9000000009")
    await _patient(client, "second", "9434765919")
    taken = await client.put("/fhir/Patient/second", json={**infant("9000000009"), "id": "second"}, headers=FHIR_JSON)
    assert taken.status_code == 409
    kept = await client.put(
        "/fhir/Patient/first", json={**infant("9000000009", "Other"), "id": "first"}, headers=FHIR_JSON
    )
    assert kept.status_code == 200


async def test_a_transaction_with_an_nhs_number_already_held_is_refused(client: httpx.AsyncClient) -> None:
    await _patient(client, "first")
    response = await client.post("/fhir", json=_transaction(_post(infant())), headers=FHIR_JSON)
    assert response.status_code == 409
    twice = _transaction(_post(infant("9434765919")), _post(infant("9434765919")))
    assert (await client.post("/fhir", json=twice, headers=FHIR_JSON)).status_code == 409
    assert (await client.get("/fhir/Patient")).json()["total"] == 1


async def test_the_nhs_number_is_free_again_once_its_patient_is_deleted(client: httpx.AsyncClient) -> None:
    await _patient(client, "first")
    assert (await client.delete("/fhir/Patient/first")).status_code == 204
    assert (await client.post("/fhir/Patient", json=infant(), headers=FHIR_JSON)).status_code == 201


async def test_concurrent_creates_of_one_nhs_number_make_one_patient(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(client.post("/fhir/Patient", json=infant(), headers=FHIR_JSON) for _ in range(16))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 15, [r.text for r in responses if r.status_code not in (201, 409)]
    assert (await client.get("/fhir/Patient")).json()["total"] == 1


# --- conditional create by the URL's query -------------------------------------------------------


async def test_post_with_search_parameters_in_the_url_is_a_conditional_create(client: httpx.AsyncClient) -> None:
    params = {"identifier": f"{NHS}|9000000009"}
    first = await client.post("/fhir/Patient", params=params, json=infant(), headers=FHIR_JSON)
    again = await client.post("/fhir/Patient", params=params, json=infant(), headers=FHIR_JSON)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert (await client.get("/fhir/Patient")).json()["total"] == 1


async def test_a_url_query_that_disagrees_with_if_none_exist_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fhir/Patient",
        params={"identifier": f"{NHS}|9000000009"},
        json=infant(),
        headers={**FHIR_JSON, "If-None-Exist": "name=Okafor"},
    )
    assert response.status_code == 400


async def test_a_url_query_with_an_unknown_parameter_is_refused_not_ignored(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Patient", params={"no-such-param": "x"}, json=infant(), headers=FHIR_JSON)
    assert response.status_code == 400
    assert (await client.get("/fhir/Patient")).json()["total"] == 0
