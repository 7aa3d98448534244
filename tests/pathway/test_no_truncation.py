"""No internal search stops at a page: the metrics and the family summary see every match."""

from pathlib import Path

import httpx
import pytest

from service.config import Settings
from tests.pathway.family import concern_observation, post, put, seed_family
from tests.pathway.test_summary_and_metrics import postnatal_visit


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url, auth="off", default_page_size=2, max_page_size=2, rate_limit_per_minute=0
    )


async def test_metrics_count_every_contact_beyond_one_page(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    for number in range(1, 6):
        await put(client, postnatal_visit(number))
    for number in (1, 2, 3):
        observation = concern_observation()
        observation["identifier"][0]["value"] = f"at-{number}"
        observation["encounter"] = {"reference": f"Encounter/postnatal-{number}"}
        await post(client, observation)
    response = await client.get("/fhir/$pathway-metrics?periodStart=2026-09-01&periodEnd=2026-10-01")
    assert response.status_code == 200, response.text
    share = {g["code"]["coding"][0]["code"]: g for g in response.json()["group"]}[
        "postnatal-contacts-with-relationship-assessment"
    ]
    assert [p["count"] for p in share["population"]] == [5, 3]


async def test_the_family_summary_holds_every_observation_beyond_one_page(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    for number in range(1, 5):
        observation = concern_observation(concern="no-concern")
        observation["identifier"][0]["value"] = f"obs-{number}"
        await post(client, observation)
    bundle = (await client.get("/fhir/Patient/infant-ava-clarke/$dyad")).json()
    assert len([e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]) == 4
