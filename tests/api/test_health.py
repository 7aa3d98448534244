"""Health, readiness, metrics and the OpenAPI document."""

import httpx

from tests.fhir_samples import FHIR_JSON, infant


async def test_healthz_and_readyz_answer(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_metrics_count_requests_by_interaction_and_type(client: httpx.AsyncClient) -> None:
    await client.post("/fhir/Patient", json=infant(), headers=FHIR_JSON)
    await client.get("/fhir/Patient/missing")
    text = (await client.get("/metrics")).text
    assert 'dyad_requests_total{interaction="create",resource_type="Patient",status="2xx"} 1.0' in text
    assert 'dyad_requests_total{interaction="read",resource_type="Patient",status="4xx"} 1.0' in text
    assert "dyad_request_duration_seconds_bucket" in text


async def test_openapi_document_and_docs_are_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/fhir/{res_type}/{res_id}" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/metadata", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 32
