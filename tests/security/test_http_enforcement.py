"""Hostile tests over the real app with DYAD_AUTH=jwt: tokens, scopes, labels, consent, audit.

Three organisations share one server: a maternity unit (MAT), a health visiting team (HV) and
a perinatal mental health team (PMH). What PMH writes is labelled restricted.
"""

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.config import Settings
from tests.fhir_samples import infant, observation
from tests.security.hostile import (  # noqa: F401 - fixtures
    ALL,
    HV,
    MAT,
    PMH,
    Mint,
    app_client,
    auth,
    jwt_settings,
    mint,
    put,
)

GRANTS = "system/*.cruds dyad/consent.grant"  # may record a Consent that grants access


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return jwt_settings(database_url, tmp_path)


# --- tokens ---------------------------------------------------------------------------------------


async def test_request_without_a_token_is_401_with_www_authenticate(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/fhir/Patient")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_metadata_needs_no_token(app_client: httpx.AsyncClient) -> None:
    assert (await app_client.get("/fhir/metadata")).status_code == 200


def _unsigned(token: str) -> str:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    payload = token.split(".")[1]
    return f"{header}.{payload}."


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "system/*.cruds system/AuditEvent.rs"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda mint: _tampered(mint()), id="tampered"),
        pytest.param(lambda mint: mint(exp=int(time.time()) - 3600), id="expired"),
        pytest.param(lambda mint: mint(nbf=int(time.time()) + 3600), id="not-yet-valid"),
        pytest.param(lambda mint: mint(aud="https://somewhere-else.example"), id="wrong-audience"),
        pytest.param(lambda mint: mint(iss="https://impostor.example"), id="wrong-issuer"),
        pytest.param(lambda mint: _unsigned(mint()), id="alg-none"),
    ],
)
async def test_bad_tokens_are_refused_and_audited(
    app_client: httpx.AsyncClient, mint: Mint, forge: Callable[[Mint], str]
) -> None:
    response = await app_client.get("/fhir/Patient", headers=auth(forge(mint)))
    assert response.status_code == 401
    await app_client.app.state.gate.trail.flush()  # type: ignore[attr-defined]
    events = await app_client.get(
        "/fhir/AuditEvent", params={"outcome": "4"}, headers=auth(mint("system/AuditEvent.rs"))
    )
    assert events.json()["total"] >= 1


# --- scopes ---------------------------------------------------------------------------------------


INTERACTIONS = [
    # (name, permission needed, request maker)
    # create and transaction entry: another infant, since "baby" holds infant()'s NHS number
    ("create", "c", lambda c, t: c.post("/fhir/Patient", json=infant("9000000017"), headers=auth(t))),
    ("read", "r", lambda c, t: c.get("/fhir/Patient/baby", headers=auth(t))),
    ("vread", "r", lambda c, t: c.get("/fhir/Patient/baby/_history/1", headers=auth(t))),
    ("history-instance", "r", lambda c, t: c.get("/fhir/Patient/baby/_history", headers=auth(t))),
    ("update", "u", lambda c, t: c.put("/fhir/Patient/baby", json={**infant(), "id": "baby"}, headers=auth(t))),
    (
        "patch",
        "u",
        lambda c, t: c.patch(
            "/fhir/Patient/baby",
            json=[{"op": "replace", "path": "/birthDate", "value": "2026-09-15"}],
            headers={**auth(t), "Content-Type": "application/json-patch+json"},
        ),
    ),
    ("search", "s", lambda c, t: c.get("/fhir/Patient", headers=auth(t))),
    ("history-type", "s", lambda c, t: c.get("/fhir/Patient/_history", headers=auth(t))),
    ("delete", "d", lambda c, t: c.delete("/fhir/Patient/baby", headers=auth(t))),
    (
        "transaction entry",
        "c",
        lambda c, t: c.post(
            "/fhir",
            json={
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [{"resource": infant("9000000017"), "request": {"method": "POST", "url": "Patient"}}],
            },
            headers=auth(t),
        ),
    ),
]


@pytest.mark.parametrize("name,permission,call", INTERACTIONS, ids=[i[0] for i in INTERACTIONS])
async def test_scope_matrix_allows_exactly_the_named_permission(
    app_client: httpx.AsyncClient, mint: Mint, name: str, permission: str, call: Callable[..., Any]
) -> None:
    assert (await put(app_client, mint(), {**infant(), "id": "baby"})).status_code in (200, 201)
    others = "".join(p for p in "cruds" if p != permission)
    denied = await call(app_client, mint(f"system/Patient.{others} system/Observation.cruds"))
    assert denied.status_code == 403, (name, denied.text)
    assert denied.json()["issue"][0]["code"] == "forbidden"
    allowed = await call(app_client, mint(f"system/Patient.{permission}"))
    assert allowed.status_code < 300, (name, allowed.text)


async def test_v1_read_scope_reads_but_does_not_write(app_client: httpx.AsyncClient, mint: Mint) -> None:
    await put(app_client, mint(), {**infant(), "id": "baby"})
    assert (await app_client.get("/fhir/Patient/baby", headers=auth(mint("user/Patient.read")))).status_code == 200
    assert (
        await app_client.post("/fhir/Patient", json=infant(), headers=auth(mint("user/Patient.read")))
    ).status_code == 403


async def test_included_resources_need_read_scope_on_their_type(app_client: httpx.AsyncClient, mint: Mint) -> None:
    await put(app_client, mint(), {**infant(), "id": "baby"})
    await app_client.post("/fhir/Observation", json=observation("Patient/baby"), headers=auth(mint()))
    narrow = mint("system/Observation.rs")
    bundle = (
        await app_client.get("/fhir/Observation", params={"_include": "Observation:subject"}, headers=auth(narrow))
    ).json()
    assert [e["search"]["mode"] for e in bundle["entry"]] == ["match"]
    wide = mint("system/Observation.rs system/Patient.r")
    bundle = (
        await app_client.get("/fhir/Observation", params={"_include": "Observation:subject"}, headers=auth(wide))
    ).json()
    assert sorted(e["search"]["mode"] for e in bundle["entry"]) == ["include", "match"]


# --- labels and consent ---------------------------------------------------------------------------


async def _family(client: httpx.AsyncClient, mint: Mint) -> str:
    """An infant and her mother, and an observation written by the perinatal mental health team
    (its id: a restricted resource takes a server-assigned id)."""
    mother = {"resourceType": "Patient", "id": "mother", "name": [{"family": "Okafor", "given": ["Grace"]}]}
    for org in (MAT, HV, PMH):  # named by Consents; references resolve on write
        await put(client, mint(org=MAT), {"resourceType": "Organization", "id": org.split("/")[1], "name": org})
    await put(client, mint(org=MAT), {**infant(), "id": "baby"})
    await put(client, mint(org=MAT), mother)
    restricted = {**observation("Patient/baby"), "focus": [{"reference": "Patient/mother"}]}
    response = await client.post(
        "/fhir/Observation", json=restricted, headers=auth(mint(org=PMH, subject="client-pmh"))
    )
    assert response.status_code == 201, response.text
    assert any(s["code"] == "R" for s in response.json()["meta"]["security"])
    return str(response.json()["id"])


async def test_restricted_resource_is_invisible_to_other_organisations(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    obs = await _family(app_client, mint)
    hv = auth(mint(org=HV))
    assert (await app_client.get(f"/fhir/Observation/{obs}", headers=hv)).status_code == 404
    assert (await app_client.get(f"/fhir/Observation/{obs}/_history/1", headers=hv)).status_code == 404
    assert (await app_client.get(f"/fhir/Observation/{obs}/_history", headers=hv)).status_code == 404
    search = (await app_client.get("/fhir/Observation", params={"subject": "Patient/baby"}, headers=hv)).json()
    assert search["total"] == 0
    revinclude = (
        await app_client.get("/fhir/Patient", params={"_id": "baby", "_revinclude": "Observation:subject"}, headers=hv)
    ).json()
    assert [e["resource"]["id"] for e in revinclude["entry"]] == ["baby"]
    has = (
        await app_client.get("/fhir/Patient", params={"_has:Observation:subject:status": "final"}, headers=hv)
    ).json()
    assert has["total"] == 0
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": f"Observation/{obs}"}}],
    }
    batch = (await app_client.post("/fhir", json=bundle, headers=hv)).json()
    assert batch["entry"][0]["response"]["status"].startswith("404")
    overwrite = await put(app_client, mint(org=HV), {**observation("Patient/baby"), "id": obs})
    assert overwrite.status_code == 404
    assert (await app_client.get(f"/fhir/Observation/{obs}", headers=auth(mint(org=PMH)))).status_code == 200


async def test_consent_grants_access_and_revoking_it_removes_access_at_once(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    obs = await _family(app_client, mint)
    hv = auth(mint(org=HV))
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "Patient/mother"},
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}
                        ]
                    },
                    "reference": {"reference": HV},
                }
            ],
        },
    }
    # Recorded by the team that holds the mother's record; a restricted record takes the server's id.
    recorded = await app_client.post("/fhir/Consent", json=consent, headers=auth(mint(GRANTS, org=PMH)))
    assert recorded.status_code == 201
    consent["id"] = recorded.json()["id"]
    assert (await app_client.get(f"/fhir/Observation/{obs}", headers=hv)).status_code == 200
    search = (await app_client.get("/fhir/Observation", params={"subject": "Patient/baby"}, headers=hv)).json()
    assert search["total"] == 1
    assert (await put(app_client, mint(GRANTS, org=PMH), {**consent, "status": "inactive"})).status_code == 200
    assert (await app_client.get(f"/fhir/Observation/{obs}", headers=hv)).status_code == 404
    assert (await app_client.get("/fhir/Observation", params={"subject": "Patient/baby"}, headers=hv)).json()[
        "total"
    ] == 0


async def test_consent_for_another_organisation_grants_nothing(app_client: httpx.AsyncClient, mint: Mint) -> None:
    obs = await _family(app_client, mint)
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "Patient/mother"},
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}
                        ]
                    },
                    "reference": {"reference": MAT},
                }
            ],
        },
    }
    assert (
        await app_client.post("/fhir/Consent", json=consent, headers=auth(mint(GRANTS, org=PMH)))
    ).status_code == 201
    assert (await app_client.get(f"/fhir/Observation/{obs}", headers=auth(mint(org=HV)))).status_code == 404
    assert (await app_client.get(f"/fhir/Observation/{obs}", headers=auth(mint(org=MAT)))).status_code == 200


# --- audit and provenance -----------------------------------------------------------------------


async def test_every_interaction_leaves_an_audit_event_readable_only_with_an_audit_scope(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    token = mint()
    created = (await app_client.post("/fhir/Patient", json=infant(), headers=auth(token))).json()
    await app_client.get(f"/fhir/Patient/{created['id']}", headers=auth(token))
    await app_client.get("/fhir/Patient", params={"_id": created["id"]}, headers=auth(token))
    await app_client.get("/fhir/Patient/missing", headers=auth(token))
    assert (await app_client.get("/fhir/AuditEvent", headers=auth(token))).status_code == 403
    await app_client.app.state.gate.trail.flush()  # type: ignore[attr-defined]
    events = (
        await app_client.get("/fhir/AuditEvent", params={"_count": "100"}, headers=auth(mint("system/AuditEvent.rs")))
    ).json()
    subtypes = sorted((e["resource"]["subtype"][0]["code"], e["resource"]["outcome"]) for e in events["entry"])
    assert subtypes == [("create", "0"), ("read", "0"), ("read", "4"), ("search-type", "0"), ("search-type", "4")]
    read = next(
        e["resource"]
        for e in events["entry"]
        if e["resource"]["subtype"][0]["code"] == "read" and e["resource"]["outcome"] == "0"
    )
    assert read["entity"][0]["what"]["reference"] == f"Patient/{created['id']}"
    assert {"reference": HV} in [a["who"] for a in read["agent"]]
    failed = next(e["resource"] for e in events["entry"] if e["resource"]["outcome"] == "4")
    assert failed["entity"][0]["what"]["reference"] == "Patient/missing"


async def test_every_write_has_a_provenance_naming_agent_and_organisation(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    created = (await app_client.post("/fhir/Patient", json=infant(), headers=auth(mint()))).json()
    provenance = (
        await app_client.get("/fhir/Provenance", params={"target": f"Patient/{created['id']}"}, headers=auth(mint()))
    ).json()
    assert provenance["total"] == 1
    agent = provenance["entry"][0]["resource"]["agent"][0]
    assert agent["onBehalfOf"] == {"reference": HV}
    assert agent["who"]["identifier"]["value"] == "client-hv"


async def test_failed_write_leaves_no_provenance_but_an_audit_of_the_failure(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    refused = await app_client.post("/fhir/Patient", json={**infant(), "birthDate": 12}, headers=auth(mint()))
    assert refused.status_code == 400
    assert (await app_client.get("/fhir/Provenance", headers=auth(mint()))).json()["total"] == 0
    await app_client.app.state.gate.trail.flush()  # type: ignore[attr-defined]
    events = (
        await app_client.get("/fhir/AuditEvent", params={"outcome": "4"}, headers=auth(mint("system/AuditEvent.rs")))
    ).json()
    assert events["total"] == 1


# --- limits ---------------------------------------------------------------------------------------


async def test_rate_limit_answers_429_with_retry_after(database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, auth="off", rate_limit_per_minute=60, rate_limit_burst=3)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyad.test") as client:
            statuses = [(await client.get("/fhir/Patient")).status_code for _ in range(5)]
            assert statuses[:3] == [200, 200, 200]
            limited = await client.get("/fhir/Patient")
            assert limited.status_code == 429
            assert int(limited.headers["retry-after"]) >= 1


async def test_subscriptions_are_not_told_of_resources_their_owner_may_not_see(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    from sqlalchemy import func, select

    from service.notify.tables import NotifyEventRow

    subscription = {
        "resourceType": "Subscription",
        "id": "hv-watch",
        "status": "requested",
        "reason": "HV watches observations",
        "criteria": "Observation?subject=Patient/baby",
        "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook", "payload": "application/fhir+json"},
    }
    assert (await put(app_client, mint(org=HV), subscription)).status_code == 201
    await _family(app_client, mint)  # includes the restricted PMH observation about the baby
    await put(app_client, mint(org=MAT), {**observation("Patient/baby"), "id": "mat-obs"})
    async with app_client.app.state.fhir.db.read() as conn:  # type: ignore[attr-defined]
        queued = await conn.scalar(select(func.count()).select_from(NotifyEventRow))
    assert queued == 1  # the maternity observation only


async def test_dyad_summary_and_outbound_mapping_leave_out_what_the_caller_may_not_see(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    obs = await _family(app_client, mint)
    await put(app_client, mint(org=MAT), {**observation("Patient/baby"), "id": "mat-obs"})
    hv, pmh = auth(mint(org=HV)), auth(mint(org=PMH, subject="client-pmh"))
    seen_by_hv = (await app_client.get("/fhir/Patient/baby/$dyad", headers=hv)).json()
    ids = {e["resource"]["id"] for e in seen_by_hv.get("entry", [])}
    assert "mat-obs" in ids and obs not in ids
    seen_by_pmh = (await app_client.get("/fhir/Patient/baby/$dyad", headers=pmh)).json()
    assert obs in {e["resource"]["id"] for e in seen_by_pmh.get("entry", [])}
    rendered = await app_client.get("/fhir/Patient/baby/$render", params={"system": "health-visiting"}, headers=hv)
    assert obs not in rendered.text
