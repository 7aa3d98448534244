"""Routing rules: concerns and MBU discharges raise assessment prompts for the family's teams, once."""

from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import event

from service.pathway.routing import load_rules
from tests.pathway.conftest import RunningApp
from tests.pathway.family import (
    BORN,
    HEALTH_VISITING,
    INFANT,
    MIDWIFERY,
    PERINATAL_MH,
    concern_observation,
    post,
    put,
    search,
    seed_family,
    services_episode,
)


async def _prompts(client: httpx.AsyncClient) -> list[dict]:
    return await search(
        client, f"Task?patient={INFANT}&code=https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes|assessment-prompt"
    )


async def test_an_overall_concern_prompts_the_health_visiting_team_named_in_the_familys_records(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    created = await post(client, concern_observation())
    assert created.status_code == 201, created.text
    prompts = await _prompts(client)
    assert len(prompts) == 1
    prompt = prompts[0]
    assert prompt["owner"] == {"reference": HEALTH_VISITING}
    assert prompt["reasonReference"] == {"reference": f"Observation/{created.json()['id']}"}
    assert prompt["focus"] == {"reference": "Questionnaire/dyad-relationship-prompts"}
    assert prompt["meta"]["profile"] == ["https://w3id.org/dyad/fhir/StructureDefinition/dyad-assessment-prompt"]


async def test_the_prompt_is_due_by_the_teams_next_contact_from_the_infants_age(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await post(client, concern_observation())
    prompt = (await _prompts(client))[0]
    assert prompt["restriction"]["period"]["end"] == (BORN + timedelta(days=14)).isoformat()
    contact = [e for e in prompt["extension"] if e["url"].endswith("dyad-ext-contact-type")][0]
    assert contact["valueCodeableConcept"]["coding"][0]["code"] == "new-birth-visit"


async def test_the_prompt_is_a_valid_assessment_prompt(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await post(client, concern_observation())
    prompt = (await _prompts(client))[0]
    checked = await client.post("/fhir/Task/$validate", json=prompt, headers={"Content-Type": "application/fhir+json"})
    errors = [i for i in checked.json().get("issue", []) if i["severity"] in ("error", "fatal")]
    assert errors == [], errors


def booked_visit(provider: str, day: date, contact: str = "new-birth-visit") -> dict:
    return {
        "resourceType": "Encounter",
        "status": "planned",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
        "type": [{"coding": [{"system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-care-contacts", "code": contact}]}],
        "subject": {"reference": INFANT},
        "serviceProvider": {"reference": provider},
        "period": {"start": f"{day.isoformat()}T09:30:00Z"},
    }


async def test_the_prompt_is_due_by_the_teams_booked_visit_when_one_is_planned(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    visit = date.today() + timedelta(days=5)
    assert (await post(client, booked_visit(HEALTH_VISITING, visit))).status_code == 201
    assert (
        await post(client, booked_visit(HEALTH_VISITING, visit + timedelta(days=30), "six-to-eight-week-review"))
    ).status_code == 201
    await post(client, concern_observation())
    prompt = (await _prompts(client))[0]
    assert prompt["restriction"]["period"]["end"] == visit.isoformat()


async def test_a_planned_visit_that_began_in_the_past_is_not_the_next_contact(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    assert (await post(client, booked_visit(HEALTH_VISITING, date.today() - timedelta(days=20)))).status_code == 201
    await post(client, concern_observation())
    prompt = (await _prompts(client))[0]
    assert prompt["restriction"]["period"]["end"] == (BORN + timedelta(days=14)).isoformat()


async def test_another_services_booked_visit_does_not_set_the_prompts_due_date(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    assert (
        await post(client, booked_visit(MIDWIFERY, date.today() + timedelta(days=2), "postnatal-midwife-visit"))
    ).status_code == 201
    await post(client, concern_observation())
    prompt = (await _prompts(client))[0]
    assert prompt["restriction"]["period"]["end"] == (BORN + timedelta(days=14)).isoformat()


async def test_a_concern_in_one_nice_domain_alone_raises_a_prompt(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    assert (await post(client, concern_observation(domain_only=True))).status_code == 201
    assert len(await _prompts(client)) == 1


async def test_no_concern_raises_no_prompt(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    assert (await post(client, concern_observation(concern="no-concern"))).status_code == 201
    assert await _prompts(client) == []


async def test_resending_the_same_observation_never_creates_a_second_prompt(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    observation = concern_observation()
    identifier = observation["identifier"][0]
    criteria = f"identifier={identifier['system']}|{identifier['value']}"
    first = await post(client, observation, **{"If-None-Exist": criteria})
    again = await post(client, observation, **{"If-None-Exist": criteria})
    assert (first.status_code, again.status_code) == (201, 200)
    stored = first.json()
    stored["note"] = [{"text": "corrected wording"}]
    updated = await client.put(
        f"/fhir/Observation/{stored['id']}", json=stored, headers={"Content-Type": "application/fhir+json"}
    )
    assert updated.status_code == 200
    assert len(await _prompts(client)) == 1


SOME_CONCERN = {"system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-concern-level", "code": "some-concern"}
UNASSIGNED = "https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes|unassigned-concern"


async def test_a_concern_with_no_team_to_go_to_waits_unassigned_and_the_writer_is_warned(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client, with_services=False)
    created = await post(client, concern_observation(), Prefer="return=OperationOutcome")
    assert created.status_code == 201, created.text
    warnings = [i for i in created.json()["issue"] if i["severity"] == "warning"]
    assert len(warnings) == 1 and "unassigned" in warnings[0]["diagnostics"]
    assert created.headers["Warning"].startswith("199 ")
    [waiting] = await search(client, f"Task?_tag={UNASSIGNED}&status=requested")
    assert "owner" not in waiting
    assert waiting["reasonReference"] == {
        "reference": created.headers["Location"].split("/_history")[0].split("/fhir/")[1]
    }


async def test_a_concern_written_by_conditional_update_with_no_team_warns_the_writer(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client, with_services=False)
    observation = concern_observation()
    identifier = observation["identifier"][0]
    written = await client.put(
        f"/fhir/Observation?identifier={identifier['system']}|{identifier['value']}",
        json=observation,
        headers={"Content-Type": "application/fhir+json", "Prefer": "return=OperationOutcome"},
    )
    assert written.status_code == 201, written.text
    assert written.headers["Warning"].startswith("199 ")
    assert [i["severity"] for i in written.json()["issue"]].count("warning") == 1


async def test_a_concern_raised_by_patch_with_no_team_warns_the_writer(client: httpx.AsyncClient) -> None:
    await seed_family(client, with_services=False)
    stored = (await post(client, concern_observation(concern="no-concern"))).json()
    raised = await client.patch(
        f"/fhir/Observation/{stored['id']}",
        json=[{"op": "replace", "path": "/valueCodeableConcept", "value": {"coding": [SOME_CONCERN]}}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert raised.status_code == 200, raised.text
    assert raised.headers["Warning"].startswith("199 ")


async def test_waiting_work_is_routed_to_the_team_once_an_episode_of_care_names_it(client: httpx.AsyncClient) -> None:
    await seed_family(client, with_services=False)
    assert (await post(client, concern_observation(concern="significant-concern"))).status_code == 201
    await put(client, services_episode())
    routed = [p for p in await _prompts(client) if p.get("owner")]
    assert [p["owner"] for p in routed] == [{"reference": HEALTH_VISITING}]
    assert routed[0]["priority"] == "urgent"
    assert await search(client, f"Task?_tag={UNASSIGNED}&status=requested") == []
    await put(client, {**services_episode(), "period": {"start": "2026-01-01"}})  # the episode written again
    assert len([p for p in await _prompts(client) if p.get("owner")]) == 1


async def test_a_significant_concern_is_due_within_three_days_and_urgent(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await post(client, concern_observation(concern="significant-concern"))
    [prompt] = await _prompts(client)
    assert prompt["priority"] == "urgent"
    assert prompt["restriction"]["period"]["end"] == (date.today() + timedelta(days=3)).isoformat()


async def test_some_concern_is_due_by_the_next_contact_but_never_later_than_fourteen_days(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    visit = date.today() + timedelta(days=40)
    assert (await post(client, booked_visit(HEALTH_VISITING, visit))).status_code == 201
    await post(client, concern_observation())
    [prompt] = await _prompts(client)
    assert prompt["priority"] == "routine"
    assert prompt["restriction"]["period"]["end"] == (date.today() + timedelta(days=14)).isoformat()


async def test_a_concern_recorded_again_at_a_later_contact_asks_for_further_intervention(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    first = concern_observation()
    first["effectiveDateTime"] = (date.today() - timedelta(days=20)).isoformat() + "T10:00:00Z"
    assert (await post(client, first)).status_code == 201
    further = "Task?code=https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes|further-intervention"
    assert await search(client, further) == []
    again = concern_observation(contact="new-birth-visit")  # health visiting's own contact, a later day
    again["identifier"][0]["value"] = "hv-later"
    again["effectiveDateTime"] = date.today().isoformat() + "T10:00:00Z"
    created = await post(client, again)
    assert created.status_code == 201
    [task] = await search(client, further)
    assert task["owner"] == {"reference": HEALTH_VISITING}
    assert task["priority"] == "urgent"
    assert task["reasonReference"] == {"reference": f"Observation/{created.json()['id']}"}


@pytest.mark.parametrize(
    "contact", ["new-birth-visit", "six-to-eight-week-review", "one-year-review", "two-year-review"]
)
async def test_a_health_visitors_own_concern_does_not_prompt_her_own_team(
    client: httpx.AsyncClient, contact: str
) -> None:
    """Each mandated health visiting contact, the 2-2.5-year review too, is the team's own: a concern
    recorded at it is the team's assessment already, not a reason to prompt the team to assess."""
    await seed_family(client)
    assert (await post(client, concern_observation(contact=contact))).status_code == 201
    assert await _prompts(client) == []


def test_the_health_visiting_schedule_holds_the_two_year_review() -> None:
    """The 2-2.5-year review is the last mandated contact: a toddler's prompt waits for it, not for a default."""
    team = load_rules().teams["health-visiting"]
    born = date(2024, 1, 10)
    when, contact = team.next_contact(born, born + timedelta(days=400))
    assert contact is not None and contact.code == "two-year-review"
    assert when == born + timedelta(days=730)


async def test_an_mbu_discharge_observation_prompts_community_perinatal_and_health_visiting(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    assert (await post(client, concern_observation(contact="mbu-discharge", concern="no-concern"))).status_code == 201
    owners = sorted(p["owner"]["reference"] for p in await _prompts(client))
    assert owners == sorted([HEALTH_VISITING, PERINATAL_MH])


async def test_the_prompt_is_written_in_the_same_transaction_and_has_a_provenance(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    await post(client, concern_observation())
    prompt = (await _prompts(client))[0]
    provenances = await search(client, f"Provenance?target=Task/{prompt['id']}")
    assert provenances and provenances[0]["entity"][0]["what"]["reference"].startswith("Observation/")


async def _cancelled_for(client: httpx.AsyncClient, observation: dict) -> dict:
    [prompt] = await _prompts(client)
    assert prompt["status"] == "cancelled"
    assert prompt["statusReason"]["coding"][0]["code"] == "trigger-withdrawn"
    return prompt


async def test_a_prompt_is_cancelled_when_its_concern_is_entered_in_error(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    stored = (await post(client, concern_observation())).json()
    updated = await client.put(
        f"/fhir/Observation/{stored['id']}",
        json={**stored, "status": "entered-in-error"},
        headers={"Content-Type": "application/fhir+json"},
    )
    assert updated.status_code == 200, updated.text
    await _cancelled_for(client, stored)


async def test_a_prompt_is_cancelled_when_its_concern_is_amended_to_no_concern(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    stored = (await post(client, concern_observation())).json()
    amended = {**concern_observation(concern="no-concern"), "id": stored["id"], "status": "amended"}
    updated = await client.put(
        f"/fhir/Observation/{stored['id']}", json=amended, headers={"Content-Type": "application/fhir+json"}
    )
    assert updated.status_code == 200, updated.text
    await _cancelled_for(client, stored)


async def test_a_first_version_that_raises_nothing_looks_for_no_work_to_withdraw(running: RunningApp) -> None:
    # Only an earlier version of a record can have raised work; searching for it on every create
    # was two fifths of a Bundle's time (docs/benchmarks.md) and could never find anything.
    await seed_family(running.http)
    parameters: list[tuple] = []

    def capture(_conn: object, _cursor: object, _statement: str, params: object, *_: object) -> None:
        parameters.append(tuple(params) if isinstance(params, (list, tuple)) else tuple(dict(params or {}).values()))

    engine = running.fhir.db.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        created = await post(running.http, concern_observation(concern="no-concern"))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert created.status_code == 201, created.text
    assert parameters, "the create's statements were captured"
    assert not [p for p in parameters if "Task" in p and "status" in p]
    # The same record amended into a concern and back still has its prompt withdrawn.
    stored = created.json()
    raised = await put(running.http, {**concern_observation(), "id": stored["id"]})
    assert raised.status_code == 200, raised.text
    withdrawn = await put(
        running.http, {**concern_observation(concern="no-concern"), "id": stored["id"], "status": "amended"}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    [prompt] = await _prompts(running.http)
    assert prompt["status"] == "cancelled"


@pytest.mark.parametrize("how", ["single", "bundle"])
@pytest.mark.parametrize(
    ("earlier", "persists"),
    [("overall", True), ("in-one-domain-only", True), ("no-concern", False)],
)
async def test_only_an_earlier_concern_overall_or_in_any_domain_makes_a_later_one_persist(
    client: httpx.AsyncClient, earlier: str, persists: bool, how: str
) -> None:
    """The search for earlier records asks only for concerns (service/pathway/earlier.py): one
    recorded in a domain alone, under an overall "no concern", must still be found."""
    await seed_family(client)
    first = concern_observation(
        concern="no-concern" if earlier == "no-concern" else "some-concern",
        domain_only=earlier == "in-one-domain-only",
    )
    first["effectiveDateTime"] = (date.today() - timedelta(days=20)).isoformat() + "T10:00:00Z"
    assert (await post(client, first)).status_code == 201
    again = concern_observation(contact="new-birth-visit")
    again["identifier"][0]["value"] = "hv-later"
    again["effectiveDateTime"] = date.today().isoformat() + "T10:00:00Z"
    if how == "single":
        assert (await post(client, again)).status_code == 201
    else:
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": again, "request": {"method": "POST", "url": "Observation"}}],
        }
        response = await client.post("/fhir", json=bundle, headers={"Content-Type": "application/fhir+json"})
        assert response.status_code == 200, response.text
    further = "Task?code=https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes|further-intervention"
    assert len(await search(client, further)) == (1 if persists else 0)
