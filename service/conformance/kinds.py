"""Dyad's own resource kinds, recognised by what they say rather than by meta.profile.

Most EHRs never send meta.profile, so a relationship observation that does not claim Dyad's
profile must still meet it. A resource is of a Dyad kind when the element that names its kind
carries a coding Dyad defines for it: the observation's code (or category) for the relationship
observation, the category or service for a referral, the category of a care plan or goal, the
Task code of an assessment prompt or referral task, the relationship of a caregiver. Every
Patient is Dyad's Patient (the NHS number rules apply to all of them). DYAD_REQUIRED_PROFILES
adds further profiles by FHIRPath condition on top of these.
"""

from dataclasses import dataclass, replace
from typing import Any

from service.conformance.terminology import Terminology

BASE = "https://w3id.org/dyad/fhir"
SD, VS = f"{BASE}/StructureDefinition", f"{BASE}/ValueSet"
CONCEPTS, TASKS = f"{BASE}/CodeSystem/dyad-concepts", f"{BASE}/CodeSystem/dyad-task-codes"


@dataclass(frozen=True)
class Kind:
    profile: str
    res_type: str
    element: str | None  # the CodeableConcept (or list of them) naming the kind; None: every one
    valueset: str | None = None
    codings: frozenset[tuple[str, str]] = frozenset()
    # (element, value) pairs that make a resource not of this kind although it names it
    unless: tuple[tuple[str, str], ...] = ()


KINDS: tuple[Kind, ...] = (
    Kind(f"{SD}/dyad-relationship-observation", "Observation", "code", f"{VS}/dyad-relationship-assessment-codes"),
    Kind(
        f"{SD}/dyad-relationship-observation",
        "Observation",
        "category",
        codings=frozenset({(CONCEPTS, "parent-infant-relationship")}),
    ),
    # A parent–infant referral is a plan (the profile fixes intent, the pathway's rule asks for it);
    # an order with the same category is a request for the mother's own care (MHSDS reason 13).
    Kind(
        f"{SD}/dyad-referral",
        "ServiceRequest",
        "category",
        f"{VS}/dyad-referral-categories",
        unless=(("intent", "order"),),
    ),
    Kind(f"{SD}/dyad-care-plan", "CarePlan", "category", codings=frozenset({(CONCEPTS, "parent-infant-care-plan")})),
    Kind(f"{SD}/dyad-goal", "Goal", "category", codings=frozenset({(CONCEPTS, "parent-infant-relationship-goal")})),
    Kind(f"{SD}/dyad-assessment-prompt", "Task", "code", codings=frozenset({(TASKS, "assessment-prompt")})),
    Kind(f"{SD}/dyad-referral-task", "Task", "code", codings=frozenset({(TASKS, "referral")})),
    Kind(f"{SD}/dyad-caregiver", "RelatedPerson", "relationship", f"{VS}/dyad-caregiver-relationship"),
    Kind(f"{SD}/dyad-patient", "Patient", None),
)


class KindRecogniser:
    """The Dyad profiles a resource must meet because of what it is."""

    def __init__(self, terminology: Terminology, kinds: tuple[Kind, ...] = KINDS) -> None:
        self._by_type: dict[str, list[Kind]] = {}
        for kind in kinds:
            codings = kind.codings
            if kind.valueset is not None:
                expansion = terminology.valueset(kind.valueset)
                if expansion is None:
                    raise ValueError(f"{kind.valueset} is not in the guide, so {kind.profile} cannot be recognised")
                codings = codings | frozenset(expansion.index)
            self._by_type.setdefault(kind.res_type, []).append(replace(kind, codings=codings))

    def profiles(self, resource: dict[str, Any]) -> list[str]:
        found: list[str] = []
        for kind in self._by_type.get(resource.get("resourceType", ""), ()):
            if kind.profile in found or any(resource.get(element) == value for element, value in kind.unless):
                continue
            if kind.element is None or _names(resource.get(kind.element), kind.codings):
                found.append(kind.profile)
        return found


def _names(value: Any, codings: frozenset[tuple[str, str]]) -> bool:
    concepts = value if isinstance(value, list) else [value]
    for concept in concepts:
        listed = concept.get("coding") if isinstance(concept, dict) else None
        for coding in listed if isinstance(listed, list) else ():
            if isinstance(coding, dict) and (coding.get("system"), coding.get("code")) in codings:
                return True
    return False
