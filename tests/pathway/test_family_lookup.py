"""The family's teams are looked up once per transaction, and never carried into the next one."""

import httpx

from tests.pathway.family import (
    HEALTH_VISITING,
    INFANT,
    concern_observation,
    post,
    put,
    search,
    seed_family,
    services_episode,
)

PROMPTS = f"Task?patient={INFANT}&code=https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes|assessment-prompt"


async def _owned_prompts(client: httpx.AsyncClient) -> list[dict]:
    """Prompts with an owner (a family without a team gets an unassigned one, test_prompts.py)."""
    return [p for p in await search(client, PROMPTS) if p.get("owner")]


def _entry(resource: dict) -> dict:
    return {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}


async def test_every_concern_in_one_transaction_prompts_the_familys_team(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    concerns = [concern_observation(concern="some-concern"), concern_observation(concern="significant-concern")]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [_entry(c) for c in concerns]}
    response = await client.post("/fhir", json=bundle, headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 200, response.text
    prompts = await search(client, PROMPTS)
    assert [p["owner"] for p in prompts] == [{"reference": HEALTH_VISITING}] * 2
    observations = {e["response"]["location"].split("/_history")[0] for e in response.json()["entry"]}
    assert {p["reasonReference"]["reference"] for p in prompts} == observations


async def test_a_team_named_after_an_earlier_write_is_found_by_the_next_one(client: httpx.AsyncClient) -> None:
    await seed_family(client, with_services=False)
    assert (await post(client, concern_observation(concern="some-concern"))).status_code == 201
    assert await _owned_prompts(client) == []
    await put(client, services_episode())
    later = await post(client, concern_observation(concern="significant-concern"))
    assert later.status_code == 201
    owned = [
        p
        for p in await _owned_prompts(client)
        if p["reasonReference"]["reference"] == f"Observation/{later.json()['id']}"
    ]
    assert [p["owner"] for p in owned] == [{"reference": HEALTH_VISITING}]


async def test_a_team_seen_only_by_a_rolled_back_transaction_is_not_remembered(client: httpx.AsyncClient) -> None:
    await seed_family(client, with_services=False)
    stale_update = {
        "resource": {**services_episode(), "id": "episode-elsewhere"},
        "request": {"method": "PUT", "url": "EpisodeOfCare/episode-elsewhere", "ifMatch": 'W/"7"'},
    }
    entries = [_entry(services_episode()), _entry(concern_observation(concern="some-concern")), stale_update]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    failed = await client.post("/fhir", json=bundle, headers={"Content-Type": "application/fhir+json"})
    assert failed.status_code == 412, failed.text
    assert (await post(client, concern_observation(concern="significant-concern"))).status_code == 201
    assert await _owned_prompts(client) == []
