"""Chains, `_has` and `:iterate` pass through other types: the scopes of those types apply too
(issue 11 #8). Under DYAD_AUTH=jwt, on SQLite and PostgreSQL."""

import httpx

from tests.fhir_samples import infant, observation, plain_observation
from tests.security.hostile import MAT, Mint, app_client, auth, mint, put, settings  # noqa: F401

OBS_ONLY = "system/Observation.rs"
PATIENT_ONLY = "system/Patient.rs"


async def _family(client: httpx.AsyncClient, mint: Mint) -> None:
    writer = mint(org=MAT)
    assert (await put(client, writer, {**infant(family="Okafor"), "id": "baby"})).status_code == 201
    practitioner = {"resourceType": "Practitioner", "id": "midwife", "name": [{"family": "Hale"}]}
    assert (await put(client, writer, practitioner)).status_code == 201
    seen = {
        **plain_observation("Patient/baby", code="concern-raised"),
        "id": "obs",
        "performer": [{"reference": "Practitioner/midwife"}],
    }
    assert (await put(client, writer, seen)).status_code == 201


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "forbidden"


async def test_a_typed_chain_needs_search_on_the_type_it_passes_through(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    await _family(app_client, mint)
    params = {"subject:Patient.family": "Okafor"}
    _refused(await app_client.get("/fhir/Observation", params=params, headers=auth(mint(OBS_ONLY))))
    allowed = await app_client.get("/fhir/Observation", params=params, headers=auth(mint(f"{OBS_ONLY} {PATIENT_ONLY}")))
    assert allowed.status_code == 200 and allowed.json()["total"] == 1


async def test_an_untyped_chain_with_no_searchable_target_is_refused(app_client: httpx.AsyncClient, mint: Mint) -> None:
    await _family(app_client, mint)
    params = {"subject.identifier": "https://fhir.nhs.uk/Id/nhs-number|9000000009"}
    _refused(await app_client.get("/fhir/Observation", params=params, headers=auth(mint(OBS_ONLY))))
    # With Patient searchable, the chain runs over Patient (the other targets stay out of it).
    allowed = await app_client.get("/fhir/Observation", params=params, headers=auth(mint(f"{OBS_ONLY} {PATIENT_ONLY}")))
    assert allowed.status_code == 200 and allowed.json()["total"] == 1


async def test_has_needs_search_on_the_type_it_looks_through(app_client: httpx.AsyncClient, mint: Mint) -> None:
    await _family(app_client, mint)
    params = {"_has:Observation:subject:code": "concern-raised"}
    _refused(await app_client.get("/fhir/Patient", params=params, headers=auth(mint(PATIENT_ONLY))))
    allowed = await app_client.get("/fhir/Patient", params=params, headers=auth(mint(f"{OBS_ONLY} {PATIENT_ONLY}")))
    assert allowed.status_code == 200 and allowed.json()["total"] == 1


async def test_has_through_the_audit_trail_needs_an_audit_scope(app_client: httpx.AsyncClient, mint: Mint) -> None:
    await _family(app_client, mint)
    params = {"_has:AuditEvent:entity:outcome": "0"}
    _refused(await app_client.get("/fhir/Patient", params=params, headers=auth(mint("system/*.cruds"))))


async def test_a_chain_inside_has_is_judged_too(app_client: httpx.AsyncClient, mint: Mint) -> None:
    await _family(app_client, mint)
    params = {"_has:Observation:subject:performer:Practitioner.family": "Hale"}
    _refused(await app_client.get("/fhir/Patient", params=params, headers=auth(mint(f"{OBS_ONLY} {PATIENT_ONLY}"))))
    allowed = await app_client.get(
        "/fhir/Patient", params=params, headers=auth(mint(f"{OBS_ONLY} {PATIENT_ONLY} system/Practitioner.rs"))
    )
    assert allowed.status_code == 200 and allowed.json()["total"] == 1


async def test_conditional_create_criteria_cannot_chain_past_the_scopes(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    await _family(app_client, mint)
    headers = {**auth(mint("system/Observation.crs")), "If-None-Exist": "subject:Patient.family=Okafor"}
    _refused(await app_client.post("/fhir/Observation", json=observation("Patient/baby"), headers=headers))


async def test_iterate_does_not_step_through_an_unreadable_type(app_client: httpx.AsyncClient, mint: Mint) -> None:
    await _family(app_client, mint)
    params = {"_id": "baby", "_revinclude": "Observation:subject", "_include:iterate": "Observation:performer"}
    narrow = await app_client.get(
        "/fhir/Patient", params=params, headers=auth(mint(f"{PATIENT_ONLY} system/Practitioner.rs"))
    )
    assert narrow.status_code == 200
    assert [e["resource"]["resourceType"] for e in narrow.json()["entry"]] == ["Patient"]
    wide = await app_client.get(
        "/fhir/Patient", params=params, headers=auth(mint(f"{PATIENT_ONLY} {OBS_ONLY} system/Practitioner.rs"))
    )
    assert sorted(e["resource"]["resourceType"] for e in wide.json()["entry"]) == [
        "Observation",
        "Patient",
        "Practitioner",
    ]
