"""Referral lifecycle: an active referral gives the receiving service a Task that follows FHIR's state machine."""

import asyncio
from typing import Any

import httpx

from tests.pathway.family import (
    PARENT_INFANT_TEAM,
    example,
    goal,
    put,
    referral,
    search,
    seed_family,
    seed_new_birth_visit,
)

STATUS = "https://w3id.org/dyad/fhir/CodeSystem/dyad-referral-status"
FHIR = {"Content-Type": "application/fhir+json"}


async def referral_task(client: httpx.AsyncClient) -> dict[str, Any]:
    tasks = await search(client, "Task?focus=ServiceRequest/referral-ava-parent-infant-team")
    assert len(tasks) == 1
    return tasks[0]


async def move(
    client: httpx.AsyncClient, task: dict[str, Any], status: str, business: str | None = None, **changes: Any
) -> httpx.Response:
    moved = {**task, "status": status, **changes}
    if business:
        moved["businessStatus"] = {"coding": [{"system": STATUS, "code": business}]}
    return await client.put(f"/fhir/Task/{task['id']}", json=moved, headers=FHIR)


async def test_an_active_referral_gives_the_receiving_service_a_referral_task(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await put(client, referral())
    task = await referral_task(client)
    assert task["owner"] == {"reference": PARENT_INFANT_TEAM}
    assert task["status"] == "requested"
    assert task["meta"]["profile"] == ["https://w3id.org/dyad/fhir/StructureDefinition/dyad-referral-task"]
    assert task["restriction"]["period"]["end"] == "2026-09-29"  # authoredOn + 14 days


async def test_resending_the_referral_makes_no_second_task(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await put(client, referral())
    await put(client, {**referral(), "note": [{"text": "re-sent"}]})
    assert len(await search(client, "Task?focus=ServiceRequest/referral-ava-parent-infant-team")) == 1


async def test_the_task_moves_through_accepted_in_progress_to_completed_and_the_referral_completes(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    await put(client, referral())
    task = await referral_task(client)
    for status, business in (
        ("received", "received"),
        ("accepted", "accepted"),
        ("in-progress", "assessed"),
        ("in-progress", "intervention-started"),
        ("completed", "intervention-completed"),
    ):
        response = await move(client, task, status, business)
        assert response.status_code == 200, response.text
        task = response.json()
    service_request = (await client.get("/fhir/ServiceRequest/referral-ava-parent-infant-team")).json()
    assert service_request["status"] == "completed"


async def test_a_rejected_referral_task_revokes_the_referral(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await put(client, referral())
    task = await referral_task(client)
    assert (
        await move(client, task, "rejected", "rejected", statusReason={"text": "Family moved out of area"})
    ).status_code == 200
    service_request = (await client.get("/fhir/ServiceRequest/referral-ava-parent-infant-team")).json()
    assert service_request["status"] == "revoked"


async def test_a_transition_fhir_does_not_allow_is_refused_with_409_and_nothing_is_stored(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    await put(client, referral())
    task = await referral_task(client)
    refused = await move(client, task, "completed", "intervention-completed")
    assert refused.status_code == 409
    assert refused.json()["resourceType"] == "OperationOutcome"
    current = (await client.get(f"/fhir/Task/{task['id']}")).json()
    assert current["meta"]["versionId"] == task["meta"]["versionId"]
    assert (await client.get("/fhir/ServiceRequest/referral-ava-parent-infant-team")).json()["status"] == "active"


async def test_the_business_status_cannot_go_backwards(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await put(client, referral())
    task = await referral_task(client)
    task = (await move(client, task, "accepted", "accepted")).json()
    task = (await move(client, task, "in-progress", "assessed")).json()
    assert (await move(client, task, "in-progress", "assessment-booked")).status_code == 409


async def test_a_completed_referral_task_is_closed(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await put(client, referral())
    task = await referral_task(client)
    task = (await move(client, task, "accepted", "accepted")).json()
    task = (await move(client, task, "in-progress", "assessed")).json()
    task = (await move(client, task, "completed", "intervention-completed")).json()
    assert (await move(client, task, "in-progress", "intervention-started")).status_code == 409


async def test_the_outcome_returns_to_the_referrer_through_task_output(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await put(client, referral())
    task = await referral_task(client)
    task = (await move(client, task, "accepted", "accepted")).json()
    assessed = await seed_new_birth_visit(client)
    output = [
        {
            "type": {
                "coding": [
                    {
                        "system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes",
                        "code": "relationship-assessment-result",
                    }
                ]
            },
            "valueReference": {"reference": assessed},
        }
    ]
    task = (await move(client, task, "in-progress", "assessed", output=output)).json()
    seen_by_referrer = await search(
        client,
        "Task?requester=PractitionerRole/hv-priya-shah-role&code=https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes|referral",
    )
    assert seen_by_referrer[0]["output"] == output


def assessment_for_referral(identifier: str = "pit-assessment-1") -> dict[str, Any]:
    observation = example("Observation-obs-ava-grace-new-birth-visit")
    observation.pop("id")
    observation.pop("encounter")
    observation.pop("extension")
    observation["identifier"] = [{"system": "https://w3id.org/dyad/fhir/Id/observation", "value": identifier}]
    observation["performer"] = [{"reference": "Practitioner/pip-tom-evans"}]
    observation["basedOn"] = [{"reference": "ServiceRequest/referral-ava-parent-infant-team"}]
    return observation


def outputs_of(task: dict[str, Any]) -> list[tuple[str, str]]:
    return [(o["type"]["coding"][0]["code"], o["valueReference"]["reference"]) for o in task.get("output") or []]


async def test_an_assessment_made_for_the_referral_returns_to_the_referrer_as_task_output(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    await put(client, referral())
    task = await referral_task(client)
    await move(client, task, "accepted", "accepted")
    assessment = await client.post("/fhir/Observation", json=assessment_for_referral(), headers=FHIR)
    assert assessment.status_code == 201, assessment.text
    task = await referral_task(client)
    assert outputs_of(task) == [("relationship-assessment-result", f"Observation/{assessment.json()['id']}")]
    checked = await client.post("/fhir/Task/$validate", json=task, headers=FHIR)
    assert [i for i in checked.json()["issue"] if i["severity"] in ("error", "fatal")] == []


async def test_an_outcome_sent_again_is_listed_once(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await put(client, referral())
    assessment = (await client.post("/fhir/Observation", json=assessment_for_referral(), headers=FHIR)).json()
    assessment["note"] = [{"text": "wording corrected"}]
    assert (await client.put(f"/fhir/Observation/{assessment['id']}", json=assessment, headers=FHIR)).status_code == 200
    assert len(outputs_of(await referral_task(client))) == 1


async def test_the_agreed_care_plan_is_the_tasks_one_care_plan_output_and_a_newer_plan_replaces_it(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    await put(client, referral())
    for goal_name in ("Goal-goal-ava-grace-cues", "Goal-goal-ava-daniel-confidence"):
        await put(client, goal(goal_name))
    await put(client, example("CarePlan-careplan-ava-clarke"))
    assert outputs_of(await referral_task(client)) == [("care-plan-agreed", "CarePlan/careplan-ava-clarke")]
    await put(
        client,
        {**example("CarePlan-careplan-ava-clarke"), "id": "careplan-ava-clarke-revised", "created": "2026-11-01"},
    )
    assert outputs_of(await referral_task(client)) == [("care-plan-agreed", "CarePlan/careplan-ava-clarke-revised")]


async def test_an_older_plan_written_again_does_not_displace_the_newer_one(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await put(client, referral())
    for goal_name in ("Goal-goal-ava-grace-cues", "Goal-goal-ava-daniel-confidence"):
        await put(client, goal(goal_name))
    await put(client, example("CarePlan-careplan-ava-clarke"))
    await put(
        client,
        {**example("CarePlan-careplan-ava-clarke"), "id": "careplan-ava-clarke-revised", "created": "2026-11-01"},
    )
    await put(
        client,
        {
            **example("CarePlan-careplan-ava-clarke"),
            "status": "completed",
            "period": {"start": "2026-10-06", "end": "2026-11-01"},
        },
    )
    assert outputs_of(await referral_task(client)) == [("care-plan-agreed", "CarePlan/careplan-ava-clarke-revised")]


async def test_an_outcome_arriving_after_the_referral_task_closed_leaves_the_task_and_is_stored(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    await put(client, referral())
    task = await referral_task(client)
    closed = (
        await move(client, task, "rejected", "rejected", statusReason={"text": "Family moved out of area"})
    ).json()
    late = await client.post("/fhir/Observation", json=assessment_for_referral(), headers=FHIR)
    assert late.status_code == 201
    assert (await referral_task(client))["meta"]["versionId"] == closed["meta"]["versionId"]


async def test_an_observation_not_made_for_a_referral_changes_no_task(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await put(client, referral())
    unrelated = assessment_for_referral()
    del unrelated["basedOn"]
    assert (await client.post("/fhir/Observation", json=unrelated, headers=FHIR)).status_code == 201
    assert outputs_of(await referral_task(client)) == []


async def test_outcomes_racing_the_teams_task_updates_never_fail_a_write_that_sent_no_if_match(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    await put(client, referral())
    task = (await move(client, await referral_task(client), "accepted", "accepted")).json()

    async def assess(n: int) -> int:
        response = await client.post(
            "/fhir/Observation", json=assessment_for_referral(f"pit-assessment-{n}"), headers=FHIR
        )
        return response.status_code

    async def touch(n: int) -> int:
        return (await move(client, task, "accepted", "accepted", note=[{"text": f"call {n}"}])).status_code

    statuses = await asyncio.gather(*(f(n) for n in range(6) for f in (assess, touch)))
    assert sorted(set(statuses)) == [200, 201]


async def test_a_rejection_without_a_status_reason_is_refused_422_and_nothing_is_stored(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    await put(client, referral())
    task = await referral_task(client)
    refused = await move(client, task, "rejected", "rejected")
    assert refused.status_code == 422, refused.text
    assert refused.json()["issue"][0]["expression"] == ["Task.statusReason"]
    assert (await client.get(f"/fhir/Task/{task['id']}")).json()["status"] == "requested"


async def test_a_referral_with_only_a_performer_type_waits_unassigned_with_its_clock_and_the_writer_is_warned(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    body = {**referral(), "id": "referral-by-type-only"}
    body.pop("performer")
    service = {
        "coding": [
            {"system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-services", "code": "parent-infant-relationship-team"}
        ]
    }
    body["performerType"] = service
    stored = await client.put(
        "/fhir/ServiceRequest/referral-by-type-only", json=body, headers={**FHIR, "Prefer": "return=OperationOutcome"}
    )
    assert stored.status_code == 201, stored.text
    assert [i["severity"] for i in stored.json()["issue"]] == ["information", "warning"]
    [task] = await search(client, "Task?focus=ServiceRequest/referral-by-type-only")
    assert "owner" not in task and task["performerType"] == [service]
    assert task["meta"]["tag"][0]["code"] == "unassigned-concern"
    assert task["restriction"]["period"]["end"] == "2026-09-29"
