"""Integrity checks on write never tell a caller about records it may not see."""

import httpx

from tests.fhir_samples import infant, observation
from tests.security.test_http_enforcement import (  # noqa: F401 (fixtures)
    HV,
    PMH,
    Mint,
    _family,
    app_client,
    auth,
    mint,
    put,
    settings,
)


async def test_a_reference_to_a_record_hidden_from_the_writer_is_refused_like_a_missing_one(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    pmh_obs = await _family(app_client, mint)  # restricted to the perinatal MH team
    hidden = {**observation("Patient/baby"), "derivedFrom": [{"reference": f"Observation/{pmh_obs}"}]}
    missing = {**observation("Patient/baby"), "derivedFrom": [{"reference": "Observation/no-such-obs"}]}
    hv = auth(mint(org=HV))
    refused_hidden = await app_client.post("/fhir/Observation", json=hidden, headers=hv)
    refused_missing = await app_client.post("/fhir/Observation", json=missing, headers=hv)
    assert refused_hidden.status_code == refused_missing.status_code == 422
    words = [
        r.json()["issue"][0]["diagnostics"].replace("no-such-obs", pmh_obs) for r in (refused_hidden, refused_missing)
    ]
    assert words[0] == words[1]  # no existence oracle: the same answer either way
    allowed = await app_client.post("/fhir/Observation", json=hidden, headers=auth(mint(org=PMH, subject="client-pmh")))
    assert allowed.status_code == 201, allowed.text


async def test_a_duplicate_nhs_number_is_refused_whoever_holds_it_naming_the_holder_only_if_visible(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    pmh = mint(org=PMH, subject="client-pmh")
    assert (await put(app_client, pmh, {**infant(), "id": "pmh-baby"})).status_code == 201
    hv = auth(mint(org=HV))
    response = await app_client.post("/fhir/Patient", json=infant(), headers=hv)
    assert response.status_code == 409
    sees_holder = (await app_client.get("/fhir/Patient/pmh-baby", headers=hv)).status_code == 200
    assert ("Patient/pmh-baby" in response.json()["issue"][0]["diagnostics"]) == sees_holder
    assert (await app_client.get("/fhir/Patient", headers=auth(pmh))).json()["total"] == 1
