"""Sessions attended, counted from the intervention-session Encounters of a plan's referrals.

An attended session is a finished Encounter of type intervention-session based on the referral
(ServiceRequest) a care-plan activity points at. Counting the Encounters, rather than adding
one per write, keeps the count right when an Encounter is re-sent or corrected.
"""

from typing import Any

SESSIONS_EXT = "https://w3id.org/dyad/fhir/StructureDefinition/dyad-ext-sessions-attended"
CARE_CONTACTS = "https://w3id.org/dyad/fhir/CodeSystem/dyad-care-contacts"
SESSION_TYPE = f"{CARE_CONTACTS}|intervention-session"


def is_session(encounter: dict[str, Any] | None) -> bool:
    return any(
        f"{c.get('system')}|{c.get('code')}" == SESSION_TYPE
        for t in (encounter or {}).get("type") or []
        for c in t.get("coding") or []
    )


def referrals_of(encounter: dict[str, Any]) -> list[str]:
    return [
        r["reference"]
        for r in encounter.get("basedOn") or []
        if isinstance(r, dict) and str(r.get("reference", "")).startswith("ServiceRequest/")
    ]


def _with_count(element: dict[str, Any], count: int) -> dict[str, Any]:
    others = [e for e in element.get("extension") or [] if e.get("url") != SESSIONS_EXT]
    return {**element, "extension": others + [{"url": SESSIONS_EXT, "valueUnsignedInt": count}]}


def sessions_of(element: dict[str, Any]) -> int:
    for extension in element.get("extension") or []:
        if extension.get("url") == SESSIONS_EXT:
            return int(extension.get("valueUnsignedInt") or 0)
    return 0


def counted(plan: dict[str, Any], referral: str, attended: int) -> dict[str, Any]:
    """The plan with `attended` on the activities for that referral, and the plan's total the sum."""
    activities = [
        _with_count(a, attended) if (a.get("reference") or {}).get("reference") == referral else a
        for a in plan.get("activity") or []
    ]
    total = sum(sessions_of(a) for a in activities)
    return _with_count({**plan, "activity": activities}, total)
