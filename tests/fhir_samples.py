"""Small, valid FHIR resources for tests: an infant, a caregiver, an observation about them."""

from typing import Any

import httpx

NHS = "https://fhir.nhs.uk/Id/nhs-number"
DYAD = "https://w3id.org/dyad/fhir"


def infant(nhs_number: str = "9000000009", family: str = "Okafor") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": nhs_number}],
        "name": [{"family": family, "given": ["Ada"]}],
        "birthDate": "2026-09-14",
    }


def observation(subject: str = "Patient/infant-1", code: str = "relationship-assessment") -> dict[str, Any]:
    """A relationship observation: Dyad holds it to its profile whether or not it claims it."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": f"{DYAD}/CodeSystem/dyad-concepts", "code": "parent-infant-relationship"}]}],
        "code": {"coding": [{"system": f"{DYAD}/CodeSystem/dyad-concepts", "code": code}]},
        "subject": {"reference": subject},
        "focus": [{"reference": "RelatedPerson/caregiver-1"}],
        "effectiveDateTime": "2026-10-02T10:30:00Z",
        "performer": [{"reference": "Practitioner/practitioner-1"}],
        "method": {"coding": [{"system": f"{DYAD}/CodeSystem/dyad-instruments", "code": "nice-cg192-clinical-observation"}]},
        "valueCodeableConcept": {"coding": [{"system": f"{DYAD}/CodeSystem/dyad-concern-level", "code": "no-concern"}]},
    }


FHIR_JSON = {"Content-Type": "application/fhir+json"}


# What observation() refers to by default; references resolve on write, so a test that stores
# observations stores these first (each infant with its own NHS number: one Patient per number).
INFANTS = {"infant-1": "9000000009", "infant-2": "9000000017"}
CAREGIVER = {
    "resourceType": "RelatedPerson", "id": "caregiver-1", "patient": {"reference": "Patient/infant-1"},
    "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "NMTH"}]}],
    "name": [{"family": "Okafor", "given": ["Grace"]}],
}
PRACTITIONER = {"resourceType": "Practitioner", "id": "practitioner-1", "name": [{"family": "Shah", "given": ["Priya"]}]}


async def store_infants(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
    """The infants, the caregiver and the practitioner observation() refers to."""
    resources = [{**infant(number), "id": res_id} for res_id, number in INFANTS.items()] + [CAREGIVER, PRACTITIONER]
    for resource in resources:
        response = await client.put(
            f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=headers or FHIR_JSON
        )
        assert response.status_code in (200, 201), response.text


def plain_observation(subject: str = "Patient/infant-1", code: str = "something-else") -> dict[str, Any]:
    """An Observation of no Dyad kind (held to the R4 core only)."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "https://example.org/codes", "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2026-10-02T10:30:00Z",
    }
