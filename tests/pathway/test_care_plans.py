"""Care plans: sessions attended are counted from intervention-session Encounters; six raise one review Task."""

from typing import Any

import httpx

from tests.pathway.family import example, goal, put, referral, search, seed_family

SESSIONS = "https://w3id.org/dyad/fhir/StructureDefinition/dyad-ext-sessions-attended"
REVIEW = "https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes|care-plan-review"


def care_plan() -> dict[str, Any]:
    plan = example("CarePlan-careplan-ava-clarke")
    plan["extension"] = [e for e in plan["extension"] if e["url"] != SESSIONS]
    plan["activity"][0].pop("extension")
    return plan


def session(number: int, status: str = "finished") -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": f"vig-session-{number}",
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
        "type": [
            {
                "coding": [
                    {
                        "system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-care-contacts",
                        "code": "intervention-session",
                    }
                ]
            }
        ],
        "subject": {"reference": "Patient/infant-ava-clarke"},
        "basedOn": [{"reference": "ServiceRequest/referral-ava-parent-infant-team"}],
        "period": {"start": f"2026-10-{10 + number:02d}T10:00:00Z"},
    }


async def family_with_plan(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await put(client, referral())
    for goal_name in ("Goal-goal-ava-grace-cues", "Goal-goal-ava-daniel-confidence"):
        await put(client, goal(goal_name))
    await put(client, care_plan())


def sessions_of(resource: dict[str, Any]) -> int | None:
    return next((e["valueUnsignedInt"] for e in resource.get("extension") or [] if e["url"] == SESSIONS), None)


async def test_each_attended_session_is_counted_on_the_plan_and_its_activity(client: httpx.AsyncClient) -> None:
    await family_with_plan(client)
    for number in (1, 2, 3):
        await put(client, session(number))
    await put(client, session(4, status="cancelled"))
    plan = (await client.get("/fhir/CarePlan/careplan-ava-clarke")).json()
    assert sessions_of(plan) == 3
    assert sessions_of(plan["activity"][0]) == 3


async def test_a_resent_session_is_not_counted_twice(client: httpx.AsyncClient) -> None:
    await family_with_plan(client)
    await put(client, session(1))
    await put(client, {**session(1), "period": {"start": "2026-10-11T10:30:00Z"}})
    plan = (await client.get("/fhir/CarePlan/careplan-ava-clarke")).json()
    assert sessions_of(plan) == 1


async def test_the_sixth_session_raises_one_review_task_for_the_plans_author(client: httpx.AsyncClient) -> None:
    await family_with_plan(client)
    for number in range(1, 6):
        await put(client, session(number))
    assert await search(client, f"Task?code={REVIEW}") == []
    for number in range(6, 9):
        await put(client, session(number))
    reviews = await search(client, f"Task?code={REVIEW}")
    assert len(reviews) == 1
    assert reviews[0]["owner"] == {"reference": "Practitioner/pip-tom-evans"}
    assert reviews[0]["focus"] == {"reference": "CarePlan/careplan-ava-clarke"}


async def test_each_further_block_of_six_sessions_raises_another_review(client: httpx.AsyncClient) -> None:
    await family_with_plan(client)
    for number in range(1, 13):
        await put(client, session(number))
    reviews = await search(client, f"Task?code={REVIEW}")
    assert len(reviews) == 2
    assert {r["description"].split(" ")[0] for r in reviews} == {"6", "12"}


async def test_a_plan_without_an_author_is_reviewed_by_the_service_its_referral_went_to(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    await put(client, referral())
    for goal_name in ("Goal-goal-ava-grace-cues", "Goal-goal-ava-daniel-confidence"):
        await put(client, goal(goal_name))  # references resolve on write
    plan = care_plan()
    plan.pop("author")
    await put(client, plan)
    for number in range(1, 7):
        await put(client, session(number))
    [review] = await search(client, f"Task?code={REVIEW}")
    assert review["owner"] == {"reference": "Organization/org-parent-infant-team"}


async def test_the_care_team_holds_both_parents_and_the_grandmother(client: httpx.AsyncClient) -> None:
    await family_with_plan(client)
    members = [
        p["member"]["reference"]
        for p in (await client.get("/fhir/CareTeam/careteam-clarke-family")).json()["participant"]
    ]
    assert {
        "Patient/mother-grace-clarke",
        "RelatedPerson/caregiver-daniel-father-of-ava",
        "RelatedPerson/caregiver-maureen-grandmother-of-ava",
    } <= set(members)
