"""Patient/[id]/$dyad and $pathway-metrics."""

import httpx

from tests.pathway.family import (
    HEALTH_VISITING,
    MIDWIFERY,
    PARENT_INFANT_TEAM,
    concern_observation,
    post,
    put,
    referral,
    seed_family,
)
from tests.pathway.test_referrals import move, referral_task


async def test_dyad_summary_gathers_infant_caregivers_observations_referrals_and_tasks_in_time_order(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    await post(client, concern_observation())
    await put(client, referral())
    response = await client.get("/fhir/Patient/infant-ava-clarke/$dyad")
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "collection"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[0] == "Patient" and bundle["entry"][0]["resource"]["id"] == "infant-ava-clarke"
    assert {"RelatedPerson", "Observation", "ServiceRequest", "Task", "CareTeam"} <= set(kinds)
    assert "mother-grace-clarke" in [
        e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]


async def test_dyad_summary_of_an_unknown_patient_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/fhir/Patient/nobody/$dyad")).status_code == 404


# From the referral's authoredOn (2026-09-15T08:20Z) to assessment (2026-09-26T09:00Z), in days.
REFERRAL_TO_ASSESSMENT = round((10 * 86400 + 86400 + 40 * 60) / 86400, 3)


def postnatal_visit(number: int, status: str = "finished", contact: str = "postnatal-midwife-visit") -> dict:
    return {
        "resourceType": "Encounter",
        "id": f"postnatal-{number}",
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
        "type": [{"coding": [{"system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-care-contacts", "code": contact}]}],
        "subject": {"reference": "Patient/infant-ava-clarke"},
        "period": {"start": f"2026-09-0{number}T10:00:00Z"},
        "serviceProvider": {"reference": MIDWIFERY},
    }


async def test_metrics_report_assessed_share_of_postnatal_contacts_referrals_and_median_waits(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    for number in (3, 4, 5, 6):
        await put(client, postnatal_visit(number))
    observation = concern_observation()
    observation["encounter"] = {"reference": "Encounter/postnatal-3"}
    await post(client, observation)
    await put(client, referral())
    task = await referral_task(client)
    task = (await move(client, task, "received", "received", lastModified="2026-09-16T09:00:00Z")).json()
    task = (await move(client, task, "accepted", "accepted")).json()
    await move(client, task, "in-progress", "assessed", lastModified="2026-09-26T09:00:00Z")
    response = await client.get("/fhir/$pathway-metrics?periodStart=2026-09-01&periodEnd=2026-10-01")
    assert response.status_code == 200, response.text
    groups = {g["code"]["coding"][0]["code"]: g for g in response.json()["group"]}
    share = groups["postnatal-contacts-with-relationship-assessment"]
    assert [p["count"] for p in share["population"]] == [4, 1]
    assert share["measureScore"]["value"] == 0.25
    assert (
        groups["referrals-by-service"]["stratifier"][0]["stratum"][0]["value"]["coding"][0]["code"]
        == "parent-infant-relationship-team"
    )
    assert groups["median-days-referral-to-assessment"]["measureScore"]["value"] == REFERRAL_TO_ASSESSMENT
    by_team = await client.get(
        f"/fhir/$pathway-metrics?periodStart=2026-09-01&periodEnd=2026-10-01&organization={PARENT_INFANT_TEAM}"
    )
    groups = {g["code"]["coding"][0]["code"]: g for g in by_team.json()["group"]}
    assert groups["median-days-referral-to-assessment"]["measureScore"]["value"] == REFERRAL_TO_ASSESSMENT
    elsewhere = await client.get(
        f"/fhir/$pathway-metrics?periodStart=2026-09-01&periodEnd=2026-10-01&organization={HEALTH_VISITING}"
    )
    groups = {g["code"]["coding"][0]["code"]: g for g in elsewhere.json()["group"]}
    assert "measureScore" not in groups["median-days-referral-to-assessment"]


async def test_metrics_need_a_period(client: httpx.AsyncClient) -> None:
    assert (await client.get("/fhir/$pathway-metrics")).status_code == 400


def _groups(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return {g["code"]["coding"][0]["code"]: g for g in response.json()["group"]}


def _counts(stratum_or_group: dict) -> list[int]:
    return [p["count"] for p in stratum_or_group["population"]]


async def test_metrics_count_only_finished_contacts_and_valid_observations_split_by_type_and_role(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    await put(client, postnatal_visit(3))
    await put(client, postnatal_visit(4, contact="new-birth-visit"))
    for number, status in ((5, "planned"), (6, "cancelled"), (7, "entered-in-error")):
        await put(client, postnatal_visit(number, status=status))
    valid = concern_observation()
    valid["encounter"] = {"reference": "Encounter/postnatal-3"}
    await post(client, valid)
    withdrawn = concern_observation(contact="new-birth-visit")
    withdrawn["identifier"][0]["value"] = "withdrawn"
    withdrawn["encounter"] = {"reference": "Encounter/postnatal-4"}
    withdrawn["status"] = "entered-in-error"
    await post(client, withdrawn)
    groups = _groups(await client.get("/fhir/$pathway-metrics?periodStart=2026-09-01&periodEnd=2026-10-01"))
    share = groups["postnatal-contacts-with-relationship-assessment"]
    assert _counts(share) == [2, 1]
    by_type = {s["value"]["coding"][0]["code"]: _counts(s) for s in share["stratifier"][0]["stratum"]}
    assert by_type == {"postnatal-midwife-visit": [1, 1], "new-birth-visit": [1, 0]}
    assert [(s["value"], _counts(s)) for s in share["stratifier"][1]["stratum"]] == [({"text": "patient"}, [1])]


async def test_metrics_measure_how_many_families_with_a_concern_were_offered_help(client: httpx.AsyncClient) -> None:
    await seed_family(client)
    observation = concern_observation()
    observation["effectiveDateTime"] = "2026-09-10T10:00:00Z"
    await post(client, observation)
    groups = _groups(await client.get("/fhir/$pathway-metrics?periodStart=2026-09-01&periodEnd=2026-10-01"))
    assert _counts(groups["offered-help"]) == [1, 0]
    await put(client, referral())
    groups = _groups(await client.get("/fhir/$pathway-metrics?periodStart=2026-09-01&periodEnd=2026-10-01"))
    assert _counts(groups["offered-help"]) == [1, 1]
    assert groups["offered-help"]["measureScore"]["value"] == 1.0
