"""An organisation a mapping records is typed as the service it is, so what it later writes
directly is restricted like any perinatal mental health record (docs/security.md)."""

import json
from pathlib import Path
from typing import Any

import httpx

from tests.fhir_samples import observation
from tests.security.hostile import HV, MAT, Mint, app_client, auth, mint, settings  # noqa: F401 (fixtures)

ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
PMH_SERVICE = ("http://snomed.info/sct", "901221000000102")


def _sample(name: str) -> dict[str, Any]:
    path = Path(__file__).resolve().parents[2] / "mappings" / "perinatal-mental-health" / "samples" / name
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


async def _organisation(client: httpx.AsyncClient, token: str, ods: str) -> dict[str, Any]:
    found = (await client.get("/fhir/Organization", params={"identifier": f"{ODS}|{ods}"}, headers=auth(token))).json()
    assert found["total"] == 1, found
    organisation: dict[str, Any] = found["entry"][0]["resource"]
    return organisation


async def test_the_perinatal_mental_health_provider_is_typed_and_its_own_writes_are_restricted(
    app_client: httpx.AsyncClient,
    mint: Mint,
) -> None:
    record = _sample("mbu-discharge-grace.json")
    loaded = await app_client.post(
        "/fhir/$ingest",
        params={"system": "perinatal-mental-health"},
        json=record,
        headers=auth(mint(org=f"Organization/{record['OrgIDProvider']}")),
    )
    assert loaded.status_code == 200, loaded.text
    provider = await _organisation(app_client, mint(org=MAT), record["OrgIDProvider"])
    codes = {(c["system"], c["code"]) for t in provider.get("type", []) for c in t["coding"]}
    assert PMH_SERVICE in codes
    # The team then writes directly, under the Organization the mapping recorded: restricted,
    # so health visiting (no consent) cannot read the mother's mental health team's note.
    team = mint(org=f"Organization/{provider['id']}", subject="client-pmh")
    baby = (
        await app_client.get(
            "/fhir/Patient",
            params={"identifier": f"https://fhir.nhs.uk/Id/nhs-number|{record['Baby']['NHSNumberBaby']}"},
            headers=auth(team),
        )
    ).json()
    written = await app_client.post(
        "/fhir/Observation", json=observation(f"Patient/{baby['entry'][0]['resource']['id']}"), headers=auth(team)
    )
    assert written.status_code == 201, written.text
    assert any(s["code"] == "R" for s in written.json()["meta"].get("security", []))
    hidden = await app_client.get(f"/fhir/Observation/{written.json()['id']}", headers=auth(mint(org=HV)))
    assert hidden.status_code == 404


async def test_an_organisation_held_untyped_is_typed_by_its_own_record_and_stays_visible(
    app_client: httpx.AsyncClient,
    mint: Mint,
) -> None:
    """First named as another record's referral destination (no type); its own records type it,
    and it stays one Organization that every service can still see and refer to."""
    record = _sample("mbu-discharge-grace.json")
    ods = record["OrgIDProvider"]
    known = {"resourceType": "Organization", "identifier": [{"system": ODS, "value": ods}]}
    assert (await app_client.post("/fhir/Organization", json=known, headers=auth(mint(org=MAT)))).status_code == 201
    loaded = await app_client.post(
        "/fhir/$ingest",
        params={"system": "perinatal-mental-health"},
        json=record,
        headers=auth(mint(org=f"Organization/{record['OrgIDProvider']}")),
    )
    assert loaded.status_code == 200, loaded.text
    seen_by_health_visiting = await _organisation(app_client, mint(org=HV), ods)
    codes = {(c["system"], c["code"]) for t in seen_by_health_visiting.get("type", []) for c in t["coding"]}
    assert PMH_SERVICE in codes
    assert not [s for s in seen_by_health_visiting["meta"].get("security", []) if s["code"] == "R"]
