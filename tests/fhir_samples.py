"""Small, valid FHIR resources for tests: an infant, a caregiver, an observation about them."""

from typing import Any

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


def plain_observation(subject: str = "Patient/infant-1", code: str = "something-else") -> dict[str, Any]:
    """An Observation of no Dyad kind (held to the R4 core only)."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "https://example.org/codes", "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2026-10-02T10:30:00Z",
    }
