"""The Clarke family from profiles/examples, with the services that look after them, for pathway tests."""

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

EXAMPLES = Path(__file__).resolve().parents[2] / "profiles" / "examples"
FHIR = "application/fhir+json"
INFANT = "Patient/infant-ava-clarke"
HEALTH_VISITING = "Organization/org-health-visiting-north"
PERINATAL_MH = "Organization/org-perinatal-mental-health"
PARENT_INFANT_TEAM = "Organization/org-parent-infant-team"
MIDWIFERY = "Organization/org-community-midwifery"
BORN = date.today() - timedelta(days=3)

_PEOPLE = (
    "Organization-org-community-midwifery",
    "Organization-org-health-visiting-north",
    "Organization-org-parent-infant-team",
    "Organization-org-perinatal-mental-health",
    "Patient-infant-ava-clarke",
    "Patient-mother-grace-clarke",
    "RelatedPerson-caregiver-daniel-father-of-ava",
    "RelatedPerson-caregiver-grace-mother-of-ava",
    "RelatedPerson-caregiver-maureen-grandmother-of-ava",
    "Practitioner-hv-priya-shah",
    "Practitioner-pip-tom-evans",
    "PractitionerRole-hv-priya-shah-role",
    "CareTeam-careteam-clarke-family",
)


def example(name: str) -> dict[str, Any]:
    resource: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return resource


def services_episode() -> dict[str, Any]:
    """Health visiting names itself in an EpisodeOfCare; perinatal MH in a CareTeam: both are read."""
    return {
        "resourceType": "EpisodeOfCare",
        "id": "episode-ava-health-visiting",
        "status": "active",
        "patient": {"reference": INFANT},
        "managingOrganization": {"reference": HEALTH_VISITING},
    }


def services_care_team() -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "id": "careteam-ava-services",
        "status": "active",
        "subject": {"reference": INFANT},
        "participant": [{"member": {"reference": PERINATAL_MH}}, {"member": {"reference": MIDWIFERY}}],
    }


async def put(client: httpx.AsyncClient, resource: dict[str, Any]) -> httpx.Response:
    response = await client.put(
        f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers={"Content-Type": FHIR}
    )
    assert response.status_code in (200, 201), response.text
    return response


async def post(client: httpx.AsyncClient, resource: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post(
        f"/fhir/{resource['resourceType']}", json=resource, headers={"Content-Type": FHIR, **headers}
    )


async def seed_family(client: httpx.AsyncClient, *, with_services: bool = True) -> None:
    """In one transaction: the mother's Patient and her RelatedPerson refer to each other, and
    references must resolve on write, so neither could be stored first on its own."""
    resources = [example(name) for name in _PEOPLE]
    for resource in resources:
        if resource["id"] == "infant-ava-clarke":
            resource["birthDate"] = BORN.isoformat()
    if with_services:
        resources += [services_episode(), services_care_team()]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources
        ],
    }
    response = await client.post("/fhir", json=bundle, headers={"Content-Type": FHIR})
    assert response.status_code == 200, response.text


async def search(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    response = await client.get(f"/fhir/{path}")
    assert response.status_code == 200, response.text
    return [
        e["resource"] for e in response.json().get("entry", []) if e.get("search", {}).get("mode", "match") == "match"
    ]


def concern_observation(
    contact: str = "postnatal-midwife-visit", concern: str = "some-concern", *, domain_only: bool = False
) -> dict[str, Any]:
    """A midwife's relationship observation of Grace and Ava."""
    observation = example("Observation-obs-ava-grace-new-birth-visit")
    observation.pop("id", None)
    observation["identifier"] = [
        {"system": "https://w3id.org/dyad/fhir/Id/observation", "value": f"midwife-{contact}-{concern}"}
    ]
    observation["extension"] = [
        {
            "url": "https://w3id.org/dyad/fhir/StructureDefinition/dyad-ext-contact-type",
            "valueCodeableConcept": {
                "coding": [{"system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-care-contacts", "code": contact}]
            },
        }
    ]
    observation["performer"] = [{"reference": MIDWIFERY}]
    level = {"system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-concern-level", "code": concern}
    no_concern = {"system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-concern-level", "code": "no-concern"}
    observation["valueCodeableConcept"] = {"coding": [no_concern if domain_only else level]}
    observation["component"] = [
        c
        for c in observation.get("component") or []
        if c["code"]["coding"][0]["code"] not in ("verbal-interaction", "emotional-sensitivity", "physical-care")
    ]
    observation["component"].append(
        {
            "code": {
                "coding": [
                    {"system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-concepts", "code": "emotional-sensitivity"}
                ]
            },
            "valueCodeableConcept": {"coding": [level]},
        }
    )
    observation.pop("derivedFrom", None)
    observation.pop("encounter", None)
    return observation


def goal(name: str) -> dict[str, Any]:
    """An example Goal without `addresses`: the observations it names are not seeded, and a
    reference to them would not resolve on write."""
    resource = example(name)
    resource.pop("addresses", None)
    return resource


async def seed_new_birth_visit(client: httpx.AsyncClient) -> str:
    """The example new-birth-visit observation (its encounter is not seeded), for what refers to it."""
    observation = example("Observation-obs-ava-grace-new-birth-visit")
    observation.pop("encounter", None)
    await put(client, observation)
    return f"Observation/{observation['id']}"


def referral() -> dict[str, Any]:
    """The example referral, its reason given as text: the observation it names is not seeded (it
    would raise prompts of its own), and a reference to it would not resolve on write."""
    resource = example("ServiceRequest-referral-ava-parent-infant-team")
    resource.pop("reasonReference")
    resource["reasonCode"] = [{"text": "Concern about the parent-infant relationship at the new birth visit"}]
    return resource
