"""The CapabilityStatement says what is really registered."""

import httpx

from service.conformance.supported import SUPPORTED_TYPES


async def test_metadata_is_r4_and_lists_every_supported_type(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    resources = statement["rest"][0]["resource"]
    assert {r["type"] for r in resources} == SUPPORTED_TYPES
    interactions = {i["code"] for i in statement["rest"][0]["interaction"]}
    assert {"transaction", "batch", "history-system"} <= interactions


async def test_metadata_search_params_come_from_the_registry(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    observation = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Observation")
    params = {p["name"]: p for p in observation["searchParam"]}
    assert params["subject"]["type"] == "reference"
    assert params["code"]["type"] == "token"
    assert params["date"]["type"] == "date"
    assert params["code"]["definition"].startswith("http://hl7.org/fhir/SearchParameter/")
    assert params["code"]["documentation"]
    assert "Observation:subject" in observation["searchInclude"]


async def test_metadata_lists_profiles_from_the_guide(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    profiles = [p for r in statement["rest"][0]["resource"] for p in r.get("supportedProfile", [])]
    assert all(p.startswith("https://w3id.org/dyad/fhir/StructureDefinition/") for p in profiles)
