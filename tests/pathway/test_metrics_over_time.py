"""$pathway-metrics over time: `interval=week|month` gives one MeasureReport per interval, for charts."""

from typing import Any

import httpx

from tests.pathway.family import MIDWIFERY, PARENT_INFANT_TEAM, concern_observation, post, put, referral, seed_family
from tests.pathway.test_referrals import move, referral_task

CONTACTS = "https://w3id.org/dyad/fhir/CodeSystem/dyad-care-contacts"


def contact(name: str, day: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": name,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
        "type": [{"coding": [{"system": CONTACTS, "code": "postnatal-midwife-visit"}]}],
        "subject": {"reference": "Patient/infant-ava-clarke"},
        # A finished visit has an end: a period open at the end overlaps every later interval.
        "period": {"start": f"{day}T10:00:00Z", "end": f"{day}T11:00:00Z"},
        "serviceProvider": {"reference": MIDWIFERY},
    }


def group(report: dict[str, Any], code: str) -> dict[str, Any]:
    return next(g for g in report["group"] if g["code"]["coding"][0]["code"] == code)


def counts(report: dict[str, Any], code: str) -> list[int]:
    return [p["count"] for p in group(report, code).get("population", [])]


async def reports(client: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    response = await client.get(f"/fhir/$pathway-metrics?{query}")
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    assert bundle["total"] == len(bundle["entry"])
    return [e["resource"] for e in bundle["entry"]]


async def test_monthly_reports_measure_each_month_on_its_own_and_add_up_to_the_period(
    client: httpx.AsyncClient,
) -> None:
    await seed_family(client)
    for name, day in (("sep-a", "2026-09-03"), ("sep-b", "2026-09-20"), ("oct-a", "2026-10-05")):
        await put(client, contact(name, day))
    asked = concern_observation()
    asked["encounter"] = {"reference": "Encounter/sep-a"}
    await post(client, asked)
    await put(client, referral())  # authored 2026-09-15, assessed 2026-09-26
    task = (await move(client, await referral_task(client), "received", "received")).json()
    task = (await move(client, task, "accepted", "accepted")).json()
    await move(client, task, "in-progress", "assessed", lastModified="2026-09-26T09:00:00Z")

    months = await reports(client, "periodStart=2026-08-01&periodEnd=2026-11-01&interval=month")

    assert [r["period"]["start"][:10] for r in months] == ["2026-08-01", "2026-09-01", "2026-10-01"]
    assert [r["period"]["end"][:10] for r in months] == ["2026-09-01", "2026-10-01", "2026-11-01"]
    share = "postnatal-contacts-with-relationship-assessment"
    assert [counts(r, share) for r in months] == [[0, 0], [2, 1], [1, 0]]
    assert [group(r, share).get("measureScore", {}).get("value") for r in months] == [None, 0.5, 0.0]
    wait = "median-days-referral-to-assessment"
    assert [group(r, wait).get("measureScore") is not None for r in months] == [False, True, False]
    whole = (await client.get("/fhir/$pathway-metrics?periodStart=2026-08-01&periodEnd=2026-11-01")).json()
    assert counts(whole, share) == [3, 1]
    assert group(whole, wait)["measureScore"] == group(months[1], wait)["measureScore"]


async def test_weekly_reports_cover_the_period_without_gap_or_overlap_and_keep_the_organisation(
    client: httpx.AsyncClient,
) -> None:
    weeks = await reports(
        client,
        f"periodStart=2026-09-01&periodEnd=2026-09-20&interval=week&organization={PARENT_INFANT_TEAM}",
    )
    periods = [(r["period"]["start"][:10], r["period"]["end"][:10]) for r in weeks]
    assert periods == [("2026-09-01", "2026-09-08"), ("2026-09-08", "2026-09-15"), ("2026-09-15", "2026-09-20")]
    assert all(r["reporter"] == {"reference": PARENT_INFANT_TEAM} for r in weeks)


async def test_an_unknown_interval_or_too_many_intervals_is_refused(client: httpx.AsyncClient) -> None:
    for query, code in (
        ("periodStart=2026-01-01&periodEnd=2026-02-01&interval=fortnight", "invalid"),
        ("periodStart=2000-01-01&periodEnd=2026-01-01&interval=week", "too-costly"),
    ):
        response = await client.get(f"/fhir/$pathway-metrics?{query}")
        assert response.status_code == 400, response.text
        assert response.json()["issue"][0]["code"] == code


async def test_a_contact_counts_once_in_the_interval_it_started_even_without_an_end(
    client: httpx.AsyncClient,
) -> None:
    # Date search matches by overlap, so a finished visit recorded without an end (or one across
    # midnight at a month's end) would be counted again in every interval it reaches.
    await seed_family(client)
    open_ended = contact("no-end", "2026-09-03")
    del open_ended["period"]["end"]
    across = contact("across-months", "2026-09-30")
    across["period"] = {"start": "2026-09-30T23:30:00Z", "end": "2026-10-01T00:30:00Z"}
    for encounter in (open_ended, across):
        await put(client, encounter)

    months = await reports(client, "periodStart=2026-08-01&periodEnd=2026-12-01&interval=month")

    share = "postnatal-contacts-with-relationship-assessment"
    assert [counts(r, share)[0] for r in months] == [0, 2, 0, 0]
