"""Terminology over HTTP on Dyad's own content: $expand, $validate-code, $lookup, $translate."""

from typing import Any

import httpx

DYAD = "https://w3id.org/dyad/fhir"
CONCERN_VS = f"{DYAD}/ValueSet/dyad-concern-level"
CONCERN_CS = f"{DYAD}/CodeSystem/dyad-concern-level"
SERVICES_CS = f"{DYAD}/CodeSystem/dyad-services"


def _param(parameters: dict[str, Any], name: str) -> Any:
    for p in parameters["parameter"]:
        if p["name"] == name:
            return next(v for k, v in p.items() if k.startswith("value") or k == "part")
    return None


async def test_expand_lists_members_with_filter_count_and_offset(client: httpx.AsyncClient) -> None:
    full = (await client.get("/fhir/ValueSet/$expand", params={"url": CONCERN_VS})).json()
    codes = [c["code"] for c in full["expansion"]["contains"]]
    assert codes == ["no-concern", "some-concern", "significant-concern"]
    assert full["expansion"]["total"] == 3
    page = (await client.get("/fhir/ValueSet/$expand", params={"url": CONCERN_VS, "count": "1", "offset": "1"})).json()
    assert [c["code"] for c in page["expansion"]["contains"]] == ["some-concern"]
    assert page["expansion"]["total"] == 3
    filtered = (await client.get("/fhir/ValueSet/$expand", params={"url": CONCERN_VS, "filter": "signif"})).json()
    assert [c["code"] for c in filtered["expansion"]["contains"]] == ["significant-concern"]


async def test_expand_on_an_instance_uses_its_url(client: httpx.AsyncClient) -> None:
    expanded = (await client.get("/fhir/ValueSet/dyad-concern-level/$expand")).json()
    assert expanded["expansion"]["total"] == 3


async def test_expand_of_an_unknown_value_set_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/ValueSet/$expand", params={"url": "http://example.org/nope"})
    assert response.status_code == 422
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_validate_code_against_a_value_set(client: httpx.AsyncClient) -> None:
    good = (
        await client.get(
            "/fhir/ValueSet/$validate-code", params={"url": CONCERN_VS, "system": CONCERN_CS, "code": "some-concern"}
        )
    ).json()
    assert _param(good, "result") is True
    bad = (
        await client.get(
            "/fhir/ValueSet/$validate-code", params={"url": CONCERN_VS, "system": CONCERN_CS, "code": "panic"}
        )
    ).json()
    assert _param(bad, "result") is False
    assert _param(bad, "message")


async def test_validate_code_of_snomed_is_not_checked(client: httpx.AsyncClient) -> None:
    result = (
        await client.get(
            "/fhir/CodeSystem/$validate-code", params={"url": "http://snomed.info/sct", "code": "1078501000000104"}
        )
    ).json()
    assert _param(result, "result") is False
    assert _param(result, "checked") is False


async def test_lookup_gives_display_and_hierarchy(client: httpx.AsyncClient) -> None:
    result = (
        await client.get(
            "/fhir/CodeSystem/$lookup", params={"system": SERVICES_CS, "code": "video-interaction-guidance"}
        )
    ).json()
    assert _param(result, "display")
    properties = [p for p in result["parameter"] if p["name"] == "property"]
    assert any(part.get("valueCode") == "parent" for p in properties for part in p["part"])
    missing = await client.get("/fhir/CodeSystem/$lookup", params={"system": SERVICES_CS, "code": "nope"})
    assert missing.status_code == 404


async def test_translate_without_a_mapping_says_so(client: httpx.AsyncClient) -> None:
    result = (await client.get("/fhir/ConceptMap/$translate", params={"system": "urn:local", "code": "01"})).json()
    assert _param(result, "result") is False
    assert _param(result, "message")


async def test_operations_accept_parameters_by_post(client: httpx.AsyncClient) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "url", "valueUri": CONCERN_VS}, {"name": "count", "valueInteger": 2}],
    }
    response = await client.post("/fhir/ValueSet/$expand", json=body, headers={"Content-Type": "application/fhir+json"})
    assert len(response.json()["expansion"]["contains"]) == 2


async def test_unknown_operation_is_404_and_metadata_lists_operations(client: httpx.AsyncClient) -> None:
    assert (await client.get("/fhir/ValueSet/$frobnicate")).status_code == 404
    statement = (await client.get("/fhir/metadata")).json()
    value_set = next(r for r in statement["rest"][0]["resource"] if r["type"] == "ValueSet")
    assert {"expand", "validate-code", "validate"} <= {o["name"] for o in value_set["operation"]}
