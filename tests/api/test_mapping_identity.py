"""Identity across systems (issue 13), with tokens: the Organization a mapped record names for an
ODS code is the organisation a token for that code speaks for, and the team routing picks.
DYAD_AUTH=jwt over the real app, on SQLite and PostgreSQL (the rest: test_mapping_operations)."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.config import Settings
from tests.api.test_mapping_operations import JSON, sample
from tests.security.hostile import Mint, auth, jwt_settings, mint  # noqa: F401 (fixtures)

ODS = "https://fhir.nhs.uk/Id/ods-organization-code"


# --- with tokens ----------------------------------------------------------------------------------


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return jwt_settings(database_url, tmp_path)


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyad.test") as http:
            yield http


async def _ingest_as(client: httpx.AsyncClient, token: str, system: str, record: dict[str, Any]) -> httpx.Response:
    headers = {**auth(token), **JSON}
    return await client.post("/fhir/$ingest", params={"system": system}, json=record, headers=headers)


async def test_a_token_for_the_ods_code_is_the_organisation_the_records_name(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    health_visiting, maternity = mint(org="RX1"), mint(org="RBX")
    hv_record = sample("health-visiting", "new-birth-visit-ava.json")
    assert (await _ingest_as(app_client, health_visiting, "health-visiting", hv_record)).status_code == 200
    # The maternity record's concern is routed to the family's health visiting team, RX1.
    mat_record = sample("maternity", "postnatal-father-care-plan-ava.json")
    assert (await _ingest_as(app_client, maternity, "maternity", mat_record)).status_code == 200
    team = (await app_client.get("/fhir/Organization/RX1", headers=auth(health_visiting))).json()
    assert {(i["system"], i["value"]) for i in team["identifier"]} == {(ODS, "RX1")}
    work = (
        await app_client.get(
            "/fhir/Task",
            params={"owner": "Organization/RX1", "code": "assessment-prompt"},
            headers=auth(health_visiting),
        )
    ).json()
    assert work["total"] >= 1, work
    # The team's Organization is its own to change; another organisation's token may not retype it.
    retyped = {**team, "type": []}
    retyped.pop("type")
    assert (await app_client.put("/fhir/Organization/RX1", json=retyped, headers=auth(maternity))).status_code == 403
    assert (
        await app_client.put("/fhir/Organization/RX1", json=retyped, headers=auth(health_visiting))
    ).status_code == 200


async def test_a_token_may_not_send_another_organisations_record(app_client: httpx.AsyncClient, mint: Mint) -> None:
    record = sample("health-visiting", "new-birth-visit-ava.json")  # sent by RX1
    refused = await _ingest_as(app_client, mint(org="RBX"), "health-visiting", record)
    assert refused.status_code == 403, refused.text
    assert refused.json()["issue"][0]["expression"] == ["OrgID_Provider"]
    everyone = mint(org="RX1")
    found = (await app_client.get("/fhir/Patient", params={"_summary": "count"}, headers=auth(everyone))).json()
    assert found["total"] == 0


async def test_the_perinatal_mental_health_service_is_an_organisation_every_service_can_name(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    """Organizations are never restricted: a restricted writer's mapped Organization would be
    invisible to every other service, whose records then could not name it."""
    pmh = mint(org="RV5")
    record = sample("perinatal-mental-health", "referral-rejected-attachment.json")
    assert (await _ingest_as(app_client, pmh, "perinatal-mental-health", record)).status_code == 200
    seen = await app_client.get("/fhir/Organization/RV5", headers=auth(mint(org="RX1")))
    assert seen.status_code == 200, seen.text
    assert "security" not in seen.json().get("meta", {})
