"""Assessment prompts: the Questionnaire is served, and a completed response becomes relationship Observations."""

import copy
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.config import Settings
from tests.pathway.family import INFANT, example, post, search, seed_family

FHIR = {"Content-Type": "application/fhir+json"}
OBSERVATION_PROFILE = "https://w3id.org/dyad/fhir/StructureDefinition/dyad-relationship-observation"


def completed_response(concern: str = "some-concern") -> dict[str, Any]:
    response = example("QuestionnaireResponse-qr-ava-maureen-six-to-eight-week")
    response.pop("id")
    for item in response["item"]:
        if item["linkId"] == "overall-concern":
            item["answer"][0]["valueCoding"] = {
                "system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-concern-level",
                "code": concern,
            }
    return response


async def test_the_relationship_prompts_questionnaire_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/Questionnaire/dyad-relationship-prompts")
    assert response.status_code == 200
    assert response.json()["url"] == "https://w3id.org/dyad/fhir/Questionnaire/dyad-relationship-prompts"


async def test_type_level_extract_returns_one_profiled_observation_per_caregiver(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/QuestionnaireResponse/$extract", json=completed_response(), headers=FHIR)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "transaction"
    [entry] = bundle["entry"]
    observation = entry["resource"]
    assert observation["meta"]["profile"] == [OBSERVATION_PROFILE]
    assert observation["subject"] == {"reference": INFANT}
    assert observation["focus"] == [{"reference": "RelatedPerson/caregiver-maureen-grandmother-of-ava"}]
    assert observation["valueCodeableConcept"]["coding"][0]["code"] == "some-concern"
    domains = {c["code"]["coding"][0]["code"] for c in observation["component"]}
    assert {"verbal-interaction", "emotional-sensitivity", "physical-care", "strengths-observed"} <= domains
    assert entry["request"]["ifNoneExist"] == (
        "identifier=https://w3id.org/dyad/fhir/Id/extracted-observation|"
        "QuestionnaireResponse#RelatedPerson/caregiver-maureen-grandmother-of-ava"
    )


def naming_two_caregivers() -> dict[str, Any]:
    response = completed_response()
    caregiver = response["item"][0]["item"][0]
    caregiver["answer"].append({"valueReference": {"reference": "RelatedPerson/caregiver-daniel-father-of-ava"}})
    return response


async def test_a_response_naming_two_caregivers_is_refused_422_by_extract_and_by_the_write(
    client: httpx.AsyncClient,
) -> None:
    extracted = await client.post("/fhir/QuestionnaireResponse/$extract", json=naming_two_caregivers(), headers=FHIR)
    assert extracted.status_code == 422, extracted.text
    await seed_family(client)
    stored = await post(client, naming_two_caregivers())
    assert stored.status_code == 422, stored.text
    assert await search(client, "QuestionnaireResponse?subject=Patient/infant-ava-clarke") == []


async def test_instance_level_extract_points_derived_from_at_the_stored_response(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    stored = (await post(client, completed_response())).json()
    extracted = await client.post(f"/fhir/QuestionnaireResponse/{stored['id']}/$extract")
    assert extracted.status_code == 200, extracted.text
    observation = extracted.json()["entry"][0]["resource"]
    assert observation["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{stored['id']}"}]
    stored_twice = [await client.post("/fhir", json=extracted.json(), headers=FHIR) for _ in range(2)]
    assert all(r.status_code == 200 for r in stored_twice)
    [observation] = await search(client, f"Observation?derived-from=QuestionnaireResponse/{stored['id']}")
    assert observation["meta"]["versionId"] == "1"


def amended(response: dict[str, Any], concern: str) -> dict[str, Any]:
    revised = copy.deepcopy(response)
    revised["status"] = "amended"
    for item in revised["item"]:
        if item["linkId"] == "overall-concern":
            item["answer"][0]["valueCoding"]["code"] = concern
    return revised


async def test_the_bundle_of_an_amended_response_revises_the_observation_extracted_before(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    stored = (await post(client, completed_response())).json()
    first = await client.post(f"/fhir/QuestionnaireResponse/{stored['id']}/$extract")
    assert (await client.post("/fhir", json=first.json(), headers=FHIR)).status_code == 200
    await client.put(
        f"/fhir/QuestionnaireResponse/{stored['id']}", json=amended(stored, "significant-concern"), headers=FHIR
    )
    second = await client.post(f"/fhir/QuestionnaireResponse/{stored['id']}/$extract")
    assert (await client.post("/fhir", json=second.json(), headers=FHIR)).status_code == 200
    [observation] = await search(client, f"Observation?derived-from=QuestionnaireResponse/{stored['id']}")
    assert (observation["status"], observation["meta"]["versionId"]) == ("amended", "2")
    assert observation["valueCodeableConcept"]["coding"][0]["code"] == "significant-concern"


async def test_a_replay_of_the_first_bundle_after_an_amendment_leaves_the_amendment_in_place(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    stored = (await post(client, completed_response())).json()
    first = (await client.post(f"/fhir/QuestionnaireResponse/{stored['id']}/$extract")).json()
    await client.post("/fhir", json=first, headers=FHIR)
    await client.put(
        f"/fhir/QuestionnaireResponse/{stored['id']}", json=amended(stored, "significant-concern"), headers=FHIR
    )
    second = (await client.post(f"/fhir/QuestionnaireResponse/{stored['id']}/$extract")).json()
    assert (await client.post("/fhir", json=second, headers=FHIR)).status_code == 200
    assert (await client.post("/fhir", json=first, headers=FHIR)).status_code == 200
    assert (await client.post("/fhir", json=second, headers=FHIR)).status_code == 412  # made before the revision
    [observation] = await search(client, f"Observation?derived-from=QuestionnaireResponse/{stored['id']}")
    assert (observation["status"], observation["meta"]["versionId"]) == ("amended", "2")


async def test_the_first_extraction_of_an_amended_response_is_final(client: httpx.AsyncClient) -> None:
    extracted = await client.post(
        "/fhir/QuestionnaireResponse/$extract", json=amended(completed_response(), "no-concern"), headers=FHIR
    )
    assert extracted.json()["entry"][0]["resource"]["status"] == "final"


def for_daniel(response: dict[str, Any]) -> dict[str, Any]:
    changed = amended(response, "some-concern")
    changed["item"][0]["item"][0]["answer"] = [
        {"valueReference": {"reference": "RelatedPerson/caregiver-daniel-father-of-ava"}}
    ]
    return changed


async def test_an_amendment_naming_another_caregiver_marks_the_dropped_caregivers_observation_entered_in_error(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    stored = (await post(client, completed_response())).json()
    await client.post(
        "/fhir", json=(await client.post(f"/fhir/QuestionnaireResponse/{stored['id']}/$extract")).json(), headers=FHIR
    )
    await client.put(f"/fhir/QuestionnaireResponse/{stored['id']}", json=for_daniel(stored), headers=FHIR)
    again = (await client.post(f"/fhir/QuestionnaireResponse/{stored['id']}/$extract")).json()
    assert (await client.post("/fhir", json=again, headers=FHIR)).status_code == 200
    observations = await search(client, f"Observation?derived-from=QuestionnaireResponse/{stored['id']}")
    by_focus = {o["focus"][0]["reference"]: o["status"] for o in observations}
    assert by_focus == {
        "RelatedPerson/caregiver-maureen-grandmother-of-ava": "entered-in-error",
        "RelatedPerson/caregiver-daniel-father-of-ava": "final",
    }


async def test_an_in_progress_response_is_not_extracted(client: httpx.AsyncClient) -> None:
    response = {**completed_response(), "status": "in-progress"}
    refused = await client.post("/fhir/QuestionnaireResponse/$extract", json=response, headers=FHIR)
    assert refused.status_code == 422


async def test_an_extracted_observation_that_breaks_the_profile_is_refused(client: httpx.AsyncClient) -> None:
    response = completed_response()
    del response["author"]  # the observation's performer comes from the author, and is required
    refused = await client.post("/fhir/QuestionnaireResponse/$extract", json=response, headers=FHIR)
    assert refused.status_code == 422
    assert "performer" in refused.text


@pytest.fixture
async def extracting_client(settings: Settings) -> Any:
    app = create_app(settings.model_copy(update={"pathway_extract_on_write": True}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyad.test") as http:
            yield http


async def test_when_enabled_a_completed_response_is_extracted_in_the_write_that_stores_it(
    extracting_client: httpx.AsyncClient,
) -> None:
    client = extracting_client
    await seed_family(client)
    stored = (await post(client, completed_response())).json()
    observations = await search(client, f"Observation?derived-from=QuestionnaireResponse/{stored['id']}")
    assert len(observations) == 1
    await client.put(f"/fhir/QuestionnaireResponse/{stored['id']}", json=stored, headers=FHIR)
    assert len(await search(client, f"Observation?derived-from=QuestionnaireResponse/{stored['id']}")) == 1


async def test_when_enabled_a_response_that_cannot_be_extracted_is_refused_whole(
    extracting_client: httpx.AsyncClient,
) -> None:
    client = extracting_client
    response = copy.deepcopy(completed_response())
    del response["author"]
    refused = await post(client, response)
    assert refused.status_code == 422
    assert await search(client, "QuestionnaireResponse?subject=Patient/infant-ava-clarke") == []


async def test_when_enabled_an_amended_response_revises_its_observation_in_the_same_write(
    extracting_client: httpx.AsyncClient,
) -> None:
    client = extracting_client
    await seed_family(client)
    stored = (await post(client, completed_response())).json()
    revised = await client.put(
        f"/fhir/QuestionnaireResponse/{stored['id']}", json=amended(stored, "significant-concern"), headers=FHIR
    )
    assert revised.status_code == 200
    [observation] = await search(client, f"Observation?derived-from=QuestionnaireResponse/{stored['id']}")
    assert observation["status"] == "amended"
    assert observation["valueCodeableConcept"]["coding"][0]["code"] == "significant-concern"
    provenances = await search(client, f"Provenance?target=Observation/{observation['id']}")
    assert {p["entity"][0]["what"]["reference"] for p in provenances} == {
        f"QuestionnaireResponse/{stored['id']}/_history/1",
        f"QuestionnaireResponse/{stored['id']}/_history/2",
    }


async def test_when_enabled_an_amendment_naming_another_caregiver_withdraws_the_dropped_caregivers_observation(
    extracting_client: httpx.AsyncClient,
) -> None:
    client = extracting_client
    await seed_family(client)
    stored = (await post(client, completed_response())).json()
    revised = await client.put(f"/fhir/QuestionnaireResponse/{stored['id']}", json=for_daniel(stored), headers=FHIR)
    assert revised.status_code == 200, revised.text
    observations = await search(client, f"Observation?derived-from=QuestionnaireResponse/{stored['id']}")
    by_focus = {o["focus"][0]["reference"]: o["status"] for o in observations}
    assert by_focus == {
        "RelatedPerson/caregiver-maureen-grandmother-of-ava": "entered-in-error",
        "RelatedPerson/caregiver-daniel-father-of-ava": "final",
    }
