"""A real server with DYAD_AUTH=jwt, used the way an EHR uses it: every request it answered has
its AuditEvent, and its logs hold none of the NHS numbers, names or free text it was sent."""

import json
import time
from pathlib import Path

import httpx
import pytest

from service.config import Settings
from service.security.dev_keys import DevSigningKey
from tests.e2e.conftest import ROOT, RunningServer
from tests.fhir_samples import NHS, infant, observation

SECRET_TEXT = "Mum says the twins' grandmother Wilhelmina helps at night"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "dev-key.pem"


@pytest.fixture
def server_env(key_file: Path) -> dict[str, str]:
    return {
        "DYAD_AUTH": "jwt",
        "DYAD_SERVE_DEV_JWKS": "true",
        "DYAD_DEV_KEY_FILE": str(key_file),
        "DYAD_AUDIT_FLUSH_SECONDS": "0.05",
    }


@pytest.fixture
def secured(server: RunningServer, key_file: Path) -> tuple[str, DevSigningKey, Path]:
    """The server started by tests/e2e/conftest.py, with auth on, and the dev key it trusts."""
    return server.base, DevSigningKey.from_settings(Settings(dev_key_file=key_file)), server.log_path


def test_every_request_is_audited_and_logs_carry_no_identifiers(secured) -> None:  # type: ignore[no-untyped-def]
    base, key, log_path = secured
    token = key.mint(subject="hv-ehr", scopes="system/*.cruds", organization="Organization/hv-team")
    auditor = key.mint(subject="auditor", scopes="system/AuditEvent.rs", organization="Organization/hv-team")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    sample = json.loads((ROOT / "mappings/maternity/samples/postnatal-visit-concern-noah.json").read_text())
    with httpx.Client(base_url=base, timeout=60) as client:
        responses = []
        baby = client.post("/fhir/Patient", json=infant("9434765919", "Featherstonehaugh"), headers=headers)
        responses.append(baby)
        note = {**observation(f"Patient/{baby.json()['id']}"), "note": [{"text": SECRET_TEXT}]}
        responses.append(client.post("/fhir/Observation", json=note, headers=headers))
        responses.append(client.get("/fhir/Patient", params={"identifier": f"{NHS}|9434765919"}, headers=headers))
        responses.append(client.get("/fhir/Patient", params={"family": "Featherstonehaugh"}, headers=headers))
        responses.append(client.get(f"/fhir/Patient/{baby.json()['id']}", headers=headers))
        # A record is ingested by its own organisation's token (the sample is maternity unit RBX's).
        maternity = key.mint(subject="maternity-ehr", scopes="system/*.cruds", organization="RBX")
        ingest_headers = {**headers, "Authorization": f"Bearer {maternity}"}
        responses.append(
            client.post("/fhir/$ingest", params={"system": "maternity"}, json=sample, headers=ingest_headers)
        )
        responses.append(client.get("/fhir/Patient/does-not-exist", headers=headers))
        responses.append(client.get("/fhir/Patient", headers={"Authorization": "Bearer not.a.token"}))
        assert [r.status_code for r in responses] == [201, 201, 200, 200, 200, 200, 404, 401]
        expected = {"create": 2, "search-type": 2, "read": 2, "transaction": 1}
        deadline = time.monotonic() + 30
        while True:  # reads are audited through a short buffer: poll until they are written
            events = client.get(
                "/fhir/AuditEvent", params={"_count": "500"}, headers={"Authorization": f"Bearer {auditor}"}
            ).json()
            subtypes = [e["resource"]["subtype"][0]["code"] for e in events.get("entry", [])]
            if all(subtypes.count(s) >= n for s, n in expected.items()) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    for subtype, count in expected.items():
        assert subtypes.count(subtype) >= count, (subtype, subtypes)
    assert sum(1 for e in events["entry"] if e["resource"]["outcome"] == "4") >= 2  # the 404 and the 401
    assert len(events["entry"]) >= len(responses)
    logs = log_path.read_text()
    for secret in ("9434765919", "Featherstonehaugh", "Wilhelmina", "9995632012", "Adeyemi"):
        assert secret not in logs, secret
    assert any(json.loads(line).get("event") == "request" for line in logs.splitlines() if line.startswith("{"))
