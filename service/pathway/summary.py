"""The dyad summary: everything every service recorded about an infant and its caregivers, in time order.

The searches are handed in by the caller (the API runs them with the request's access), so the
summary shows exactly what the caller may search for, labels and consent included.
"""

from collections.abc import Awaitable, Callable
from typing import Any

Search = Callable[[str, list[tuple[str, str]]], Awaitable[list[dict[str, Any]]]]
Read = Callable[[str, str], Awaitable[dict[str, Any] | None]]

# What belongs to the dyad, and how to find it from the infant's reference.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("RelatedPerson", "patient"),
    ("CareTeam", "subject"),
    ("EpisodeOfCare", "patient"),
    ("Encounter", "subject"),
    ("QuestionnaireResponse", "subject"),
    ("Observation", "subject"),
    ("ServiceRequest", "subject"),
    ("Task", "patient"),
    ("CarePlan", "subject"),
    ("Goal", "subject"),
    ("Communication", "subject"),
)
CAREGIVER_EXT = "https://w3id.org/dyad/fhir/StructureDefinition/dyad-ext-caregiver"
_WHEN = (
    "effectiveDateTime",
    "authored",
    "authoredOn",
    "created",
    "sent",
    "startDate",
    "recorded",
)


def when(resource: dict[str, Any]) -> str:
    """The clinically meaningful time of a resource, else when it was stored."""
    for key in _WHEN:
        if isinstance(resource.get(key), str):
            return str(resource[key])
    for key in ("effectivePeriod", "period", "executionPeriod"):
        start = (resource.get(key) or {}).get("start")
        if isinstance(start, str):
            return start
    return str((resource.get("meta") or {}).get("lastUpdated") or "")


def caregiver_patients(resources: list[dict[str, Any]]) -> list[str]:
    """Patient ids of caregivers (mothers are Patients in their own records) the resources name."""
    found: list[str] = []
    for resource in resources:
        refs = [e.get("valueReference") or {} for e in resource.get("extension") or [] if e.get("url") == CAREGIVER_EXT]
        refs += (
            [f for f in resource.get("focus") or [] if isinstance(f, dict)]
            if isinstance(resource.get("focus"), list)
            else []
        )
        refs += [(p.get("member") or {}) for p in resource.get("participant") or [] if isinstance(p, dict)]
        for ref in refs:
            reference = str(ref.get("reference", ""))
            if reference.startswith("Patient/") and reference[8:] not in found:
                found.append(reference[8:])
    return found


async def dyad_summary(
    infant_id: str, search: Search, read: Read, may_read: Callable[[str], bool]
) -> list[dict[str, Any]]:
    infant = await read("Patient", infant_id)
    if infant is None:
        return []
    reference = f"Patient/{infant_id}"
    found: list[dict[str, Any]] = []
    for res_type, param in SECTIONS:
        if may_read(res_type):
            found += await search(res_type, [(param, reference)])
    caregivers = [c for c in [await read("Patient", pid) for pid in caregiver_patients(found) if pid != infant_id] if c]
    return [infant] + sorted(caregivers + found, key=when)
