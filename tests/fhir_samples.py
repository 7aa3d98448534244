"""Small, valid FHIR resources for tests: an infant, a caregiver, an observation about them."""

from typing import Any

NHS = "https://fhir.nhs.uk/Id/nhs-number"


def infant(nhs_number: str = "9000000009", family: str = "Okafor") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": nhs_number}],
        "name": [{"family": family, "given": ["Ada"]}],
        "birthDate": "2026-09-14",
    }


def observation(subject: str = "Patient/infant-1", code: str = "relationship-assessment") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-concepts", "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2026-10-02T10:30:00Z",
    }


FHIR_JSON = {"Content-Type": "application/fhir+json"}
