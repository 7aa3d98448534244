"""Every refusal is an OperationOutcome with FHIR's status code, and stores nothing."""

import httpx
import pytest

from tests.fhir_samples import FHIR_JSON, infant


async def _patient_count(client: httpx.AsyncClient) -> int:
    return (await client.get("/fhir/Patient", params={"_summary": "count"})).json()["total"]


def _is_outcome(response: httpx.Response) -> bool:
    body = response.json()
    return body["resourceType"] == "OperationOutcome" and body["issue"][0]["severity"] in ("error", "fatal")


async def test_malformed_json_is_400_and_stores_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Patient", content=b'{"resourceType": "Patient",', headers=FHIR_JSON)
    assert response.status_code == 400 and _is_outcome(response)
    assert await _patient_count(client) == 0


async def test_wrong_resource_type_for_the_url_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Observation", json=infant(), headers=FHIR_JSON)
    assert response.status_code == 400 and _is_outcome(response)
    assert await _patient_count(client) == 0


async def test_structurally_invalid_resource_is_400_naming_the_element(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Patient", json={**infant(), "birthDate": 2026}, headers=FHIR_JSON)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Patient.birthDate"]
    assert await _patient_count(client) == 0


async def test_unknown_element_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Patient", json={**infant(), "favouriteColour": "blue"}, headers=FHIR_JSON)
    assert response.status_code == 400 and _is_outcome(response)


@pytest.mark.parametrize("path", ["/fhir/Medication", "/fhir/NotAType/1", "/fhir/Patient/does-not-exist"])
async def test_unknown_type_or_id_is_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404 and _is_outcome(response)


async def test_method_not_allowed_is_405(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Patient/some-id", json=infant(), headers=FHIR_JSON)
    assert response.status_code == 405 and _is_outcome(response)


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    big = {**infant(), "name": [{"family": "x" * 6_000_000}]}
    response = await client.post("/fhir/Patient", json=big, headers=FHIR_JSON)
    assert response.status_code == 413 and _is_outcome(response)
    assert await _patient_count(client) == 0


async def test_unsupported_media_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Patient", content=b"Patient", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415 and _is_outcome(response)


async def test_invalid_id_in_url_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/Patient/" + "x" * 65)
    assert response.status_code == 400 and _is_outcome(response)


async def test_bad_if_match_header_is_400(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/fhir/Patient/p1", json={**infant(), "id": "p1"}, headers={**FHIR_JSON, "If-Match": "yesterday"}
    )
    assert response.status_code == 400
    assert (await client.get("/fhir/Patient/p1")).status_code == 404


async def test_if_match_on_a_resource_that_does_not_exist_is_412(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/fhir/Patient/p1", json={**infant(), "id": "p1"}, headers={**FHIR_JSON, "If-Match": 'W/"3"'}
    )
    assert response.status_code == 412
    assert (await client.get("/fhir/Patient/p1")).status_code == 404


async def test_unknown_endpoint_is_404_outcome(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404 and _is_outcome(response)
