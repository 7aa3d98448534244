"""The real server process: started as users start it, spoken to over TCP."""

import json

import httpx

from tests.e2e.conftest import RunningServer
from tests.fhir_samples import FHIR_JSON, NHS, infant, observation


def test_a_client_creates_searches_and_reads_over_tcp(server: RunningServer) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        baby = client.post("/fhir/Patient", json=infant("9434765919", "Featherstonehaugh"), headers=FHIR_JSON)
        assert baby.status_code == 201
        baby_id = baby.json()["id"]
        obs = client.post("/fhir/Observation", json=observation(subject=f"Patient/{baby_id}"), headers=FHIR_JSON)
        assert obs.status_code == 201
        found = client.get("/fhir/Observation", params={"subject:Patient.identifier": f"{NHS}|9434765919"}).json()
        assert found["total"] == 1
        assert found["entry"][0]["resource"]["id"] == obs.json()["id"]
        assert client.get(obs.headers["location"]).status_code == 200


def test_server_logs_are_json_and_hold_no_identifiers_or_names(server: RunningServer) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        client.post("/fhir/Patient", json=infant("9434765919", "Featherstonehaugh"), headers=FHIR_JSON)
        client.get("/fhir/Patient", params={"identifier": f"{NHS}|9434765919"})
        client.get("/fhir/Patient", params={"family": "Featherstonehaugh"})
    logs = server.logs()
    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(r.get("event") == "request" and r.get("interaction") == "search-type" for r in records)
    assert "9434765919" not in logs
    assert "Featherstonehaugh" not in logs
