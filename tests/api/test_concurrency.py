"""No lost or duplicated data when requests race: the database closes each race, not luck."""

import asyncio

import httpx

from tests.fhir_samples import FHIR_JSON, NHS, infant

RACERS = 16


async def test_concurrent_if_match_updates_exactly_one_succeeds(client: httpx.AsyncClient) -> None:
    created = (await client.post("/fhir/Patient", json=infant(), headers=FHIR_JSON)).json()
    url = f"/fhir/Patient/{created['id']}"

    async def update(n: int) -> int:
        body = {**created, "birthDate": f"2026-09-{n + 1:02d}"}
        response = await client.put(url, json=body, headers={**FHIR_JSON, "If-Match": 'W/"1"'})
        return response.status_code

    statuses = await asyncio.gather(*(update(n) for n in range(RACERS)))
    assert sorted(statuses) == [200] + [412] * (RACERS - 1)
    history = (await client.get(f"{url}/_history")).json()
    assert history["total"] == 2


async def test_concurrent_identical_conditional_creates_make_one_resource(client: httpx.AsyncClient) -> None:
    criteria = f"identifier={NHS}|9000000009"

    async def create() -> httpx.Response:
        return await client.post("/fhir/Patient", json=infant(), headers={**FHIR_JSON, "If-None-Exist": criteria})

    responses = await asyncio.gather(*(create() for _ in range(RACERS)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (RACERS - 1) + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    found = (await client.get("/fhir/Patient", params={"identifier": f"{NHS}|9000000009"})).json()
    assert found["total"] == 1


async def test_concurrent_unconditional_updates_get_strictly_sequential_versions(client: httpx.AsyncClient) -> None:
    created = (await client.post("/fhir/Patient", json=infant(), headers=FHIR_JSON)).json()
    url = f"/fhir/Patient/{created['id']}"

    async def update(n: int) -> str:
        body = {**created, "birthDate": f"2026-09-{n + 1:02d}"}
        response = await client.put(url, json=body, headers=FHIR_JSON)
        assert response.status_code == 200
        return response.json()["meta"]["versionId"]

    versions = await asyncio.gather(*(update(n) for n in range(RACERS)))
    assert sorted(int(v) for v in versions) == list(range(2, RACERS + 2))
    history = (await client.get(f"{url}/_history", params={"_count": "100"})).json()
    assert sorted(int(e["resource"]["meta"]["versionId"]) for e in history["entry"]) == list(range(1, RACERS + 2))


async def test_concurrent_creates_with_the_same_client_id_make_one_resource_with_sequential_versions(
    client: httpx.AsyncClient,
) -> None:
    async def put() -> int:
        response = await client.put("/fhir/Patient/twin", json={**infant(), "id": "twin"}, headers=FHIR_JSON)
        return response.status_code

    statuses = await asyncio.gather(*(put() for _ in range(8)))
    assert sorted(statuses) == [200] * 7 + [201]
    assert (await client.get("/fhir/Patient/twin")).json()["meta"]["versionId"] == "8"


async def test_concurrent_transactions_with_the_same_conditional_update_make_one_resource(
    client: httpx.AsyncClient,
) -> None:
    criteria = f"identifier={NHS}|9000000009"

    async def send(n: int) -> httpx.Response:
        body = {**infant(), "birthDate": f"2026-09-{n + 1:02d}"}
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": body, "request": {"method": "PUT", "url": f"Patient?{criteria}"}}],
        }
        return await client.post("/fhir", json=bundle, headers=FHIR_JSON)

    responses = await asyncio.gather(*(send(n) for n in range(RACERS)))
    assert [r.status_code for r in responses] == [200] * RACERS
    found = (await client.get("/fhir/Patient", params={"identifier": f"{NHS}|9000000009"})).json()
    assert found["total"] == 1
    history = (await client.get(f"/fhir/Patient/{found['entry'][0]['resource']['id']}/_history")).json()
    assert history["total"] == RACERS  # every Bundle's content was written, one version each
