"""The FHIR REST interactions over the real app: create, read, vread, update, patch, delete, history."""

import httpx

from tests.fhir_samples import FHIR_JSON, infant, observation, store_infants


async def create(client: httpx.AsyncClient, resource: dict, **headers: str) -> httpx.Response:
    response = await client.post(f"/fhir/{resource['resourceType']}", json=resource, headers={**FHIR_JSON, **headers})
    assert response.status_code in (200, 201), response.text
    return response


async def test_create_assigns_id_and_returns_location_etag_and_last_modified(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Patient", json={**infant(), "id": "ignored"}, headers=FHIR_JSON)
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != "ignored"
    assert body["meta"]["versionId"] == "1"
    assert response.headers["location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["last-modified"].endswith("GMT")
    assert response.headers["content-type"].startswith("application/fhir+json")


async def test_read_returns_what_was_created(client: httpx.AsyncClient) -> None:
    created = (await create(client, infant())).json()
    response = await client.get(f"/fhir/Patient/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == 'W/"1"'


async def test_update_makes_a_new_version_and_vread_returns_each(client: httpx.AsyncClient) -> None:
    created = (await create(client, infant())).json()
    changed = {**created, "birthDate": "2026-09-15"}
    response = await client.put(f"/fhir/Patient/{created['id']}", json=changed, headers=FHIR_JSON)
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"
    first = await client.get(f"/fhir/Patient/{created['id']}/_history/1")
    second = await client.get(f"/fhir/Patient/{created['id']}/_history/2")
    assert first.json()["birthDate"] == "2026-09-14"
    assert second.json()["birthDate"] == "2026-09-15"


async def test_update_with_a_new_client_id_creates_it(client: httpx.AsyncClient) -> None:
    response = await client.put("/fhir/Patient/baby-okafor", json={**infant(), "id": "baby-okafor"}, headers=FHIR_JSON)
    assert response.status_code == 201
    assert response.headers["location"].endswith("/fhir/Patient/baby-okafor/_history/1")
    assert (await client.get("/fhir/Patient/baby-okafor")).status_code == 200


async def test_update_with_id_different_from_url_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.put("/fhir/Patient/a", json={**infant(), "id": "b"}, headers=FHIR_JSON)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert (await client.get("/fhir/Patient/a")).status_code == 404


async def test_delete_then_read_answers_gone_and_history_keeps_every_version(client: httpx.AsyncClient) -> None:
    created = (await create(client, infant())).json()
    deleted = await client.delete(f"/fhir/Patient/{created['id']}")
    assert deleted.status_code == 204
    assert (await client.get(f"/fhir/Patient/{created['id']}")).status_code == 410
    history = (await client.get(f"/fhir/Patient/{created['id']}/_history")).json()
    assert history["type"] == "history"
    assert history["total"] == 2
    methods = [e["request"]["method"] for e in history["entry"]]
    assert methods == ["DELETE", "POST"]
    assert "resource" not in history["entry"][0]
    assert (await client.get(f"/fhir/Patient/{created['id']}/_history/1")).status_code == 200


async def test_type_and_system_history_list_versions_newest_first(client: httpx.AsyncClient) -> None:
    first = (await create(client, infant("9000000009"))).json()
    second = (await create(client, infant("9000000017"))).json()
    history = (await client.get("/fhir/Patient/_history")).json()
    ids = [e["resource"]["id"] for e in history["entry"]]
    assert ids[:2] == [second["id"], first["id"]]
    system = (await client.get("/fhir/_history", params={"_count": "1"})).json()
    assert len(system["entry"]) == 1
    assert any(link["relation"] == "next" for link in system["link"])


async def test_json_patch_changes_the_resource_and_keeps_history(client: httpx.AsyncClient) -> None:
    created = (await create(client, infant())).json()
    patch = [{"op": "replace", "path": "/birthDate", "value": "2026-09-20"}]
    response = await client.patch(
        f"/fhir/Patient/{created['id']}", json=patch, headers={"Content-Type": "application/json-patch+json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["birthDate"] == "2026-09-20"
    assert response.json()["meta"]["versionId"] == "2"


async def test_json_patch_that_breaks_the_resource_is_refused_and_stores_nothing(client: httpx.AsyncClient) -> None:
    created = (await create(client, infant())).json()
    patch = [{"op": "replace", "path": "/birthDate", "value": 12}]
    response = await client.patch(
        f"/fhir/Patient/{created['id']}", json=patch, headers={"Content-Type": "application/json-patch+json"}
    )
    assert response.status_code == 400
    assert (await client.get(f"/fhir/Patient/{created['id']}")).json()["meta"]["versionId"] == "1"


async def test_json_patch_changing_the_id_fails_business_rules(client: httpx.AsyncClient) -> None:
    created = (await create(client, infant())).json()
    patch = [{"op": "replace", "path": "/id", "value": "other"}]
    response = await client.patch(
        f"/fhir/Patient/{created['id']}", json=patch, headers={"Content-Type": "application/json-patch+json"}
    )
    assert response.status_code == 422


async def test_stale_if_match_is_refused_with_412(client: httpx.AsyncClient) -> None:
    created = (await create(client, infant())).json()
    url = f"/fhir/Patient/{created['id']}"
    ok = await client.put(url, json=created, headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = await client.put(url, json=created, headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert (await client.get(url)).json()["meta"]["versionId"] == "2"


async def test_prefer_return_minimal_and_operation_outcome(client: httpx.AsyncClient) -> None:
    minimal = await client.post("/fhir/Patient", json=infant(), headers={**FHIR_JSON, "Prefer": "return=minimal"})
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert "location" in minimal.headers
    outcome = await client.post(
        "/fhir/Patient", json=infant("9000000017"), headers={**FHIR_JSON, "Prefer": "return=OperationOutcome"}
    )
    assert outcome.json()["resourceType"] == "OperationOutcome"


async def test_pretty_elements_and_summary_shape_the_response(client: httpx.AsyncClient) -> None:
    created = (await create(client, infant())).json()
    url = f"/fhir/Patient/{created['id']}"
    pretty = await client.get(url, params={"_pretty": "true"})
    assert b"\n  " in pretty.content
    elements = (await client.get(url, params={"_elements": "birthDate"})).json()
    assert "birthDate" in elements and "name" not in elements
    assert any(tag["code"] == "SUBSETTED" for tag in elements["meta"]["tag"])
    summary = (await client.get(url, params={"_summary": "true"})).json()
    assert "name" in summary and "birthDate" in summary


async def test_format_json_and_xml_are_served_and_other_formats_are_not_acceptable(client: httpx.AsyncClient) -> None:
    created = (await create(client, infant())).json()
    url = f"/fhir/Patient/{created['id']}"
    assert (await client.get(url, params={"_format": "json"})).status_code == 200
    xml = await client.get(url, params={"_format": "xml"})
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/fhir+xml")
    refused = await client.get(url, params={"_format": "text/turtle"})
    assert refused.status_code == 406
    assert refused.json()["resourceType"] == "OperationOutcome"


async def test_conditional_create_returns_existing_on_identifier_match(client: httpx.AsyncClient) -> None:
    criteria = "identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009"
    first = await create(client, infant(), **{"If-None-Exist": criteria})
    second = await create(client, infant(), **{"If-None-Exist": criteria})
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]


async def test_conditional_update_updates_the_single_match_or_creates(client: httpx.AsyncClient) -> None:
    params = {"identifier": "https://fhir.nhs.uk/Id/nhs-number|9000000009"}
    created = await client.put("/fhir/Patient", params=params, json=infant(), headers=FHIR_JSON)
    assert created.status_code == 201
    updated = await client.put(
        "/fhir/Patient", params=params, json={**infant(), "birthDate": "2026-09-16"}, headers=FHIR_JSON
    )
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["meta"]["versionId"] == "2"


async def test_conditional_delete_removes_the_single_match(client: httpx.AsyncClient) -> None:
    created = (await create(client, infant())).json()
    response = await client.delete(
        "/fhir/Patient", params={"identifier": "https://fhir.nhs.uk/Id/nhs-number|9000000009"}
    )
    assert response.status_code == 204
    assert (await client.get(f"/fhir/Patient/{created['id']}")).status_code == 410


async def test_conditional_operations_with_several_matches_answer_412(client: httpx.AsyncClient) -> None:
    await create(client, infant(family="Okafor"))
    await create(client, infant(nhs_number="9000000017", family="Okafor"))
    response = await client.put("/fhir/Patient", params={"family": "Okafor"}, json=infant(), headers=FHIR_JSON)
    assert response.status_code == 412
    response = await client.delete("/fhir/Patient", params={"family": "Okafor"})
    assert response.status_code == 412


async def test_observation_round_trip_keeps_every_element(client: httpx.AsyncClient) -> None:
    await store_infants(client)
    sent = observation()
    created = (await create(client, sent)).json()
    for key, value in sent.items():
        assert created[key] == value


async def test_conditional_create_after_the_match_changed_creates_a_new_resource(client: httpx.AsyncClient) -> None:
    criteria = "identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009"
    first = (await create(client, infant(), **{"If-None-Exist": criteria})).json()
    moved = {**first, "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000017"}]}
    assert (await client.put(f"/fhir/Patient/{first['id']}", json=moved, headers=FHIR_JSON)).status_code == 200
    again = await create(client, infant(), **{"If-None-Exist": criteria})
    assert again.status_code == 201
    assert again.json()["id"] != first["id"]
