"""A setting makes a Dyad profile mandatory for chosen resources, claimed or not."""

import httpx
import pytest

from service.config import Settings
from tests.conformance.conftest import example
from tests.fhir_samples import FHIR_JSON


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Observations with the parent-infant category must meet the relationship profile."""
    category = "category.coding.where(code = 'parent-infant-relationship').exists()"
    return Settings(
        database_url=database_url,
        auth="off",
        required_profiles={"https://w3id.org/dyad/fhir/StructureDefinition/dyad-relationship-observation": category},
    )


async def test_required_profile_applies_to_chosen_resources_without_meta_profile(client: httpx.AsyncClient) -> None:
    observation = example("Observation-obs-ava-grace-new-birth-visit.json")
    observation.pop("meta")
    del observation["performer"]
    refused = await client.post("/fhir/Observation", json=observation, headers=FHIR_JSON)
    assert refused.status_code == 422
    assert any(
        i["expression"] == ["Observation.performer"] and i["code"] == "required" for i in refused.json()["issue"]
    )
    other = {"resourceType": "Observation", "status": "final", "code": {"text": "weight"}}
    assert (await client.post("/fhir/Observation", json=other, headers=FHIR_JSON)).status_code == 201
