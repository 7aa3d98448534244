"""Search over HTTP: searchset Bundles, totals, paging links, includes, unknown parameters."""

from urllib.parse import urlsplit

import httpx

from tests.fhir_samples import FHIR_JSON, infant, observation


async def _seed(client: httpx.AsyncClient, observations: int = 5) -> str:
    baby = (await client.put("/fhir/Patient/baby", json={**infant(), "id": "baby"}, headers=FHIR_JSON)).json()
    for _ in range(observations):
        await client.post("/fhir/Observation", json=observation(subject="Patient/baby"), headers=FHIR_JSON)
    return str(baby["id"])


async def test_searchset_has_total_self_link_and_match_entries(client: httpx.AsyncClient) -> None:
    await _seed(client, 3)
    bundle = (await client.get("/fhir/Observation", params={"subject": "Patient/baby"})).json()
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 3
    assert {e["search"]["mode"] for e in bundle["entry"]} == {"match"}
    assert all(e["fullUrl"].startswith("http://dyad.test/fhir/Observation/") for e in bundle["entry"])
    assert bundle["link"][0]["relation"] == "self"


async def test_paging_links_walk_every_result_once_in_a_stable_order(client: httpx.AsyncClient) -> None:
    await _seed(client, 5)
    seen: list[str] = []
    url: str | None = "/fhir/Observation?subject=Patient/baby&_count=2"
    while url:
        bundle = (await client.get(url)).json()
        assert bundle["total"] == 5
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        next_link = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        url = None if next_link is None else urlsplit(next_link).path + "?" + urlsplit(next_link).query
    assert len(seen) == 5 == len(set(seen))
    again = (await client.get("/fhir/Observation?subject=Patient/baby&_count=2&_offset=2")).json()
    assert [e["resource"]["id"] for e in again["entry"]] == seen[2:4]
    assert any(link["relation"] == "previous" for link in again["link"])


async def test_summary_count_returns_only_the_total(client: httpx.AsyncClient) -> None:
    await _seed(client, 4)
    bundle = (await client.get("/fhir/Observation", params={"_summary": "count"})).json()
    assert bundle["total"] == 4
    assert "entry" not in bundle


async def test_unknown_parameter_is_reported_in_an_outcome_entry(client: httpx.AsyncClient) -> None:
    await _seed(client, 1)
    bundle = (await client.get("/fhir/Observation", params={"colour": "blue"})).json()
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1
    assert "colour" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    assert bundle["total"] == 1


async def test_unknown_parameter_under_strict_handling_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/Observation", params={"colour": "blue"}, headers={"Prefer": "handling=strict"})
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_bad_search_value_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/Observation", params={"date": "not-a-date"})
    assert response.status_code == 400


async def test_include_adds_the_referenced_patient_once(client: httpx.AsyncClient) -> None:
    await _seed(client, 3)
    bundle = (await client.get("/fhir/Observation", params={"_include": "Observation:subject"})).json()
    included = [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert [e["resource"]["id"] for e in included] == ["baby"]
    assert bundle["total"] == 3


async def test_revinclude_adds_observations_about_the_patient(client: httpx.AsyncClient) -> None:
    await _seed(client, 2)
    bundle = (await client.get("/fhir/Patient", params={"_id": "baby", "_revinclude": "Observation:subject"})).json()
    modes = sorted(e["search"]["mode"] for e in bundle["entry"])
    assert modes == ["include", "include", "match"]


async def test_post_search_takes_form_parameters(client: httpx.AsyncClient) -> None:
    await _seed(client, 2)
    response = await client.post(
        "/fhir/Observation/_search",
        content=b"subject=Patient/baby",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.json()["total"] == 2


async def test_conformance_resources_from_profiles_are_readable_and_searchable(client: httpx.AsyncClient) -> None:
    bundle = (await client.get("/fhir/SearchParameter", params={"code": "subject", "base": "Observation"})).json()
    assert bundle["total"] >= 1
    first = bundle["entry"][0]["resource"]
    assert (await client.get(f"/fhir/SearchParameter/{first['id']}")).status_code == 200


async def test_summary_count_has_only_a_self_link(client: httpx.AsyncClient) -> None:
    await _seed(client, 3)
    bundle = (await client.get("/fhir/Observation", params={"_summary": "count", "_count": "1"})).json()
    assert [link["relation"] for link in bundle["link"]] == ["self"]
