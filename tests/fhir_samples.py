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
        "category": [
            {"coding": [{"system": f"{DYAD}/CodeSystem/dyad-concepts", "code": "parent-infant-relationship"}]}
        ],
        "code": {"coding": [{"system": f"{DYAD}/CodeSystem/dyad-concepts", "code": code}]},
        "subject": {"reference": subject},
        # The caregiver and the assessor by name only: references resolve on write, and most tests
        # are about the observation, not about them.
        "focus": [{"display": "Grace Okafor (mother)"}],
        "effectiveDateTime": "2026-10-02T10:30:00Z",
        "performer": [{"display": "Priya Shah, health visitor"}],
        "method": {
            "coding": [{"system": f"{DYAD}/CodeSystem/dyad-instruments", "code": "nice-cg192-clinical-observation"}]
        },
        "valueCodeableConcept": {"coding": [{"system": f"{DYAD}/CodeSystem/dyad-concern-level", "code": "no-concern"}]},
    }


FHIR_JSON = {"Content-Type": "application/fhir+json"}


# The subjects observation() refers to by default; references resolve on write, so a test that
# stores observations stores these first (each with its own NHS number: one Patient per number).
INFANTS = {"infant-1": "9000000009", "infant-2": "9000000017"}


async def store_infants(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
    for res_id, nhs_number in INFANTS.items():
        response = await client.put(
            f"/fhir/Patient/{res_id}", json={**infant(nhs_number), "id": res_id}, headers=headers or FHIR_JSON
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
