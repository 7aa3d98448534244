"""Twins through the maternity mapping: the mother's record names both babies, and a later record
links her to a baby the first record did not (hazard PW-16 in docs/safety/hazard-log.md)."""

import json
from pathlib import Path
from typing import Any

import httpx

SAMPLES = Path(__file__).resolve().parents[2] / "mappings" / "maternity" / "samples"
JSON = {"Content-Type": "application/json"}
NHS = "https://fhir.nhs.uk/Id/nhs-number"
MOTHER, OLIVIA, OSCAR = "9993257044", "9995912961", "9996290131"


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return loaded


async def _ingest(client: httpx.AsyncClient, record: dict[str, Any]) -> None:
    response = await client.post("/fhir/$ingest", params={"system": "maternity"}, json=record, headers=JSON)
    assert response.status_code == 200, response.text


async def _patient(client: httpx.AsyncClient, nhs_number: str) -> dict[str, Any]:
    found = (await client.get("/fhir/Patient", params={"identifier": f"{NHS}|{nhs_number}"})).json()
    assert found["total"] == 1, found
    patient: dict[str, Any] = found["entry"][0]["resource"]
    return patient


async def _babies_linked(client: httpx.AsyncClient, mother: dict[str, Any]) -> list[str]:
    """The babies the mother's Patient.link reaches through her RelatedPersons, as they are linked."""
    babies = []
    for link in mother.get("link", []):
        related = (await client.get(f"/fhir/{link['other']['reference']}")).json()
        babies.append(related["patient"]["reference"])
    return babies


async def _count(client: httpx.AsyncClient, res_type: str) -> int:
    return int((await client.get(f"/fhir/{res_type}", params={"_summary": "count"})).json()["total"])


async def _render(client: httpx.AsyncClient, patient_id: str) -> dict[str, Any]:
    response = await client.get(f"/fhir/Patient/{patient_id}/$render", params={"system": "maternity"})
    assert response.status_code == 200, response.text
    rendered: dict[str, Any] = response.json()
    return rendered


def _babies(record: dict[str, Any]) -> list[dict[str, Any]]:
    babies = record["MSD401BabyDemographics"]
    return babies if isinstance(babies, list) else [babies]


async def test_the_second_twins_record_links_the_mother_to_the_second_baby(client: httpx.AsyncClient) -> None:
    await _ingest(client, sample("twins-first-baby-olivia.json"))
    await _ingest(client, sample("twins-second-baby-oscar.json"))
    mother = await _patient(client, MOTHER)
    olivia, oscar = await _patient(client, OLIVIA), await _patient(client, OSCAR)
    assert sorted(await _babies_linked(client, mother)) == sorted([f"Patient/{olivia['id']}", f"Patient/{oscar['id']}"])
    # Sent again, either record adds no second link.
    await _ingest(client, sample("twins-second-baby-oscar.json"))
    await _ingest(client, sample("twins-first-baby-olivia.json"))
    assert len((await _patient(client, MOTHER))["link"]) == 2


async def test_a_record_links_a_mother_who_was_known_before_it(client: httpx.AsyncClient) -> None:
    known = {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": MOTHER}],
        "name": [{"family": "Osei", "given": ["Amara"]}],
        "birthDate": "1989-02-08",
    }
    created = await client.post("/fhir/Patient", json=known, headers={"Content-Type": "application/fhir+json"})
    assert created.status_code == 201, created.text
    await _ingest(client, sample("twins-first-baby-olivia.json"))
    mother = await _patient(client, MOTHER)
    olivia = await _patient(client, OLIVIA)
    assert await _babies_linked(client, mother) == [f"Patient/{olivia['id']}"]
    assert mother["name"] == known["name"]  # what was known of her stays as it was


async def test_the_mothers_record_shows_both_twins_and_loses_nothing(client: httpx.AsyncClient) -> None:
    await _ingest(client, sample("twins-first-baby-olivia.json"))
    await _ingest(client, sample("twins-second-baby-oscar.json"))
    mother = await _patient(client, MOTHER)
    rendered = await _render(client, mother["id"])
    record = rendered["record"]
    babies = _babies(record)
    assert sorted(b["NHSNumberBaby"] for b in babies) == sorted([OLIVIA, OSCAR])
    assert {b["LPIDBaby"] for b in babies} == {"B0833101", "B0833102"}
    # Each twin's assessment and contact is in the record, saying which baby it is about.
    by_id = {a["AssessmentID"]: a for a in record["RelationshipAssessments"]}
    assert {k: by_id[k]["LPIDBaby"] for k in by_id} == {"PIR-RBX-22510": "B0833101", "PIR-RBX-22511": "B0833102"}
    contacts = {c["CareConID"]: c["LPIDBaby"] for c in record["MSD201CareContactPreg"]}
    assert contacts == {"CON-RBX-5561204": "B0833101", "CON-RBX-5561205": "B0833102"}
    # The father cares for both: one caregiver row.
    assert [c["CaregiverLocalID"] for c in record["Caregivers"]] == ["C0833103"]
    assert not [u for u in rendered["unmappable"] if "baby" in u["field"].lower()], rendered["unmappable"]


async def test_the_twins_record_dyad_renders_goes_back_in_unchanged(client: httpx.AsyncClient) -> None:
    await _ingest(client, sample("twins-first-baby-olivia.json"))
    await _ingest(client, sample("twins-second-baby-oscar.json"))
    mother = await _patient(client, MOTHER)
    first = (await _render(client, mother["id"]))["record"]
    counts = {t: await _count(client, t) for t in ("Patient", "RelatedPerson", "Observation", "Encounter")}
    await _ingest(client, first)
    assert {t: await _count(client, t) for t in counts} == counts
    assert (await _render(client, mother["id"]))["record"] == first
