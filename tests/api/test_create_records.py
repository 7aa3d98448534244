"""A create's Provenance and AuditEvent are written with it, in the same statements and transaction."""

import httpx

from tests.fhir_samples import FHIR_JSON, observation, store_infants
from tests.notify.conftest import subscription


async def _matches(client: httpx.AsyncClient, path: str) -> list[dict]:
    response = await client.get(f"/fhir/{path}")
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry", [])]


async def test_a_create_names_its_version_in_one_provenance_and_one_audit_event(client: httpx.AsyncClient) -> None:
    await store_infants(client)
    created = await client.post("/fhir/Observation", json=observation(), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    version = f"Observation/{created.json()['id']}/_history/1"
    [provenance] = await _matches(client, f"Provenance?target={version.split('/_history')[0]}")
    assert provenance["target"] == [{"reference": version}]
    assert provenance["activity"]["coding"][0]["code"] == "CREATE"
    audits = [
        a
        for a in await _matches(client, "AuditEvent?_count=100")
        if any(e["what"]["reference"].startswith("Observation/") for e in a.get("entity") or [])
    ]
    assert [(a["action"], a["outcome"], a["entity"]) for a in audits] == [
        ("C", "0", [{"what": {"reference": version}}])
    ]


async def test_a_create_a_listener_refuses_leaves_no_provenance(client: httpx.AsyncClient) -> None:
    refused = await client.post(
        "/fhir/Subscription",
        json=subscription("http://127.0.0.1:9/x", "Observation?no-such-param=1"),
        headers=FHIR_JSON,
    )
    assert refused.status_code == 422
    assert await _matches(client, "Provenance") == []
    assert await _matches(client, "Subscription") == []
