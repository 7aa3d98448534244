"""A corpus of broken resources, each a small JSON Patch on a valid example, and the one issue
each must raise (severity, FHIR issue type, FHIRPath location). Together they cover every rule
kind the validator compiles."""

from typing import Any

import jsonpatch
import pytest

from service.conformance.validation import Validator
from tests.conformance.conftest import example

OBS = "Observation-obs-ava-grace-new-birth-visit.json"  # components: verbal, emotional, physical, strength
CI = "Observation-obs-ava-daniel-care-index.json"  # components: 7 CARE-Index dimensions, strength
SR = "ServiceRequest-referral-ava-parent-infant-team.json"
CP = "CarePlan-careplan-ava-clarke.json"
PROMPT = "Task-prompt-ava-daniel-six-to-eight-week.json"
RTASK = "Task-referral-task-ava-parent-infant-team.json"
PAT = "Patient-infant-ava-clarke.json"
GOAL = "Goal-goal-ava-grace-cues.json"
RP = "RelatedPerson-caregiver-grace-mother-of-ava.json"

DYAD = "https://w3id.org/dyad/fhir"
CONCEPTS = f"{DYAD}/CodeSystem/dyad-concepts"
CONCERN = f"{DYAD}/CodeSystem/dyad-concern-level"
TASKS = f"{DYAD}/CodeSystem/dyad-task-codes"
SNOMED = "http://snomed.info/sct"


def cc(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def ext(url: str, **value: Any) -> dict[str, Any]:
    return {"url": url, **value}


Case = tuple[str, str, list[dict[str, Any]], str, str, str]

CASES: list[Case] = [
    # --- cardinality: min and max on top-level and nested paths -----------------------------
    (
        "observation without performer",
        OBS,
        [{"op": "remove", "path": "/performer"}],
        "error",
        "required",
        "Observation.performer",
    ),
    ("observation without focus", OBS, [{"op": "remove", "path": "/focus"}], "error", "required", "Observation.focus"),
    (
        "observation without subject",
        OBS,
        [{"op": "remove", "path": "/subject"}],
        "error",
        "required",
        "Observation.subject",
    ),
    (
        "observation without method",
        OBS,
        [{"op": "remove", "path": "/method"}],
        "error",
        "required",
        "Observation.method",
    ),
    (
        "observation without effective time",
        OBS,
        [{"op": "remove", "path": "/effectiveDateTime"}],
        "error",
        "required",
        "Observation.effective[x]",
    ),
    (
        "observation without category",
        OBS,
        [{"op": "remove", "path": "/category"}],
        "error",
        "required",
        "Observation.category",
    ),
    (
        "observation with two foci",
        OBS,
        [{"op": "add", "path": "/focus/-", "value": {"reference": "RelatedPerson/caregiver-daniel-father-of-ava"}}],
        "error",
        "structure",
        "Observation.focus[1]",
    ),
    (
        "domain component without value",
        OBS,
        [{"op": "remove", "path": "/component/0/valueCodeableConcept"}],
        "error",
        "required",
        "Observation.component[0].value[x]",
    ),
    (
        "strength component without value",
        OBS,
        [{"op": "remove", "path": "/component/3/valueCodeableConcept"}],
        "error",
        "required",
        "Observation.component[3].value[x]",
    ),
    (
        "CARE-Index component without value",
        CI,
        [{"op": "remove", "path": "/component/6/valueCodeableConcept"}],
        "error",
        "required",
        "Observation.component[6].value[x]",
    ),
    (
        "referral without authoredOn",
        SR,
        [{"op": "remove", "path": "/authoredOn"}],
        "error",
        "required",
        "ServiceRequest.authoredOn",
    ),
    (
        "referral without requester",
        SR,
        [{"op": "remove", "path": "/requester"}],
        "error",
        "required",
        "ServiceRequest.requester",
    ),
    (
        "referral without priority",
        SR,
        [{"op": "remove", "path": "/priority"}],
        "error",
        "required",
        "ServiceRequest.priority",
    ),
    ("referral without code", SR, [{"op": "remove", "path": "/code"}], "error", "required", "ServiceRequest.code"),
    (
        "referral with two categories",
        SR,
        [{"op": "add", "path": "/category/-", "value": cc(CONCEPTS, "transfer-of-care")}],
        "error",
        "structure",
        "ServiceRequest.category[1]",
    ),
    ("care plan without created", CP, [{"op": "remove", "path": "/created"}], "error", "required", "CarePlan.created"),
    (
        "care plan without care team",
        CP,
        [{"op": "remove", "path": "/careTeam"}],
        "error",
        "required",
        "CarePlan.careTeam",
    ),
    ("care plan without goals", CP, [{"op": "remove", "path": "/goal"}], "error", "required", "CarePlan.goal"),
    (
        "prompt without restriction",
        PROMPT,
        [{"op": "remove", "path": "/restriction"}],
        "error",
        "required",
        "Task.restriction",
    ),
    (
        "prompt restriction without period",
        PROMPT,
        [{"op": "replace", "path": "/restriction", "value": {"repetitions": 1}}],
        "error",
        "required",
        "Task.restriction.period",
    ),
    (
        "prompt restriction period without end",
        PROMPT,
        [{"op": "replace", "path": "/restriction/period", "value": {"start": "2026-10-01"}}],
        "error",
        "required",
        "Task.restriction.period.end",
    ),
    ("prompt without owner", PROMPT, [{"op": "remove", "path": "/owner"}], "error", "required", "Task.owner"),
    (
        "prompt without authoredOn",
        PROMPT,
        [{"op": "remove", "path": "/authoredOn"}],
        "error",
        "required",
        "Task.authoredOn",
    ),
    ("referral task without focus", RTASK, [{"op": "remove", "path": "/focus"}], "error", "required", "Task.focus"),
    (
        "caregiver without relationship",
        RP,
        [{"op": "remove", "path": "/relationship"}],
        "error",
        "required",
        "RelatedPerson.relationship",
    ),
    ("goal without start date", GOAL, [{"op": "remove", "path": "/startDate"}], "error", "required", "Goal.start[x]"),
    (
        "goal without expressedBy",
        GOAL,
        [{"op": "remove", "path": "/expressedBy"}],
        "error",
        "required",
        "Goal.expressedBy",
    ),
    (
        "contact-type extension given twice",
        OBS,
        [
            {
                "op": "add",
                "path": "/extension/-",
                "value": ext(
                    f"{DYAD}/StructureDefinition/dyad-ext-contact-type",
                    valueCodeableConcept=cc(f"{DYAD}/CodeSystem/dyad-care-contacts", "new-birth-visit"),
                ),
            }
        ],
        "error",
        "structure",
        "Observation.extension[1]",
    ),
    # --- choice type restriction ------------------------------------------------------------
    (
        "effective as instant",
        OBS,
        [{"op": "move", "from": "/effectiveDateTime", "path": "/effectiveInstant"}],
        "error",
        "structure",
        "Observation.effectiveInstant",
    ),
    (
        "effective as timing",
        OBS,
        [
            {"op": "remove", "path": "/effectiveDateTime"},
            {"op": "add", "path": "/effectiveTiming", "value": {"event": ["2026-09-14"]}},
        ],
        "error",
        "structure",
        "Observation.effectiveTiming",
    ),
    (
        "overall value as string",
        OBS,
        [
            {"op": "remove", "path": "/valueCodeableConcept"},
            {"op": "add", "path": "/valueString", "value": "some concern"},
        ],
        "error",
        "structure",
        "Observation.valueString",
    ),
    (
        "overall value as quantity",
        OBS,
        [
            {"op": "remove", "path": "/valueCodeableConcept"},
            {"op": "add", "path": "/valueQuantity", "value": {"value": 2}},
        ],
        "error",
        "structure",
        "Observation.valueQuantity",
    ),
    (
        "domain value as integer",
        OBS,
        [
            {"op": "remove", "path": "/component/1/valueCodeableConcept"},
            {"op": "add", "path": "/component/1/valueInteger", "value": 2},
        ],
        "error",
        "structure",
        "Observation.component[1].valueInteger",
    ),
    (
        "goal start as codeable concept",
        GOAL,
        [
            {"op": "remove", "path": "/startDate"},
            {"op": "add", "path": "/startCodeableConcept", "value": {"text": "at birth"}},
        ],
        "error",
        "structure",
        "Goal.startCodeableConcept",
    ),
    # --- fixed and pattern values ---------------------------------------------------------------
    (
        "referral intent order",
        SR,
        [{"op": "replace", "path": "/intent", "value": "order"}],
        "error",
        "value",
        "ServiceRequest.intent",
    ),
    (
        "care plan intent proposal",
        CP,
        [{"op": "replace", "path": "/intent", "value": "proposal"}],
        "error",
        "value",
        "CarePlan.intent",
    ),
    (
        "prompt intent plan",
        PROMPT,
        [{"op": "replace", "path": "/intent", "value": "plan"}],
        "error",
        "value",
        "Task.intent",
    ),
    (
        "referral task intent proposal",
        RTASK,
        [{"op": "replace", "path": "/intent", "value": "proposal"}],
        "error",
        "value",
        "Task.intent",
    ),
    (
        "prompt code is referral",
        PROMPT,
        [{"op": "replace", "path": "/code", "value": cc(TASKS, "referral")}],
        "error",
        "value",
        "Task.code",
    ),
    (
        "referral task code is assessment prompt",
        RTASK,
        [{"op": "replace", "path": "/code", "value": cc(TASKS, "assessment-prompt")}],
        "error",
        "value",
        "Task.code",
    ),
    (
        "prompt code without system",
        PROMPT,
        [{"op": "remove", "path": "/code/coding/0/system"}],
        "error",
        "value",
        "Task.code",
    ),
    (
        "NHS number slice with another system keeps nothing fixed",
        PAT,
        [{"op": "add", "path": "/identifier/-", "value": {"system": "https://fhir.nhs.uk/Id/nhs-number"}}],
        "error",
        "required",
        "Patient.identifier[1].value",
    ),
    # --- required bindings (error) ----------------------------------------------------------------
    (
        "overall concern with a domain code",
        OBS,
        [{"op": "replace", "path": "/valueCodeableConcept", "value": cc(CONCEPTS, "physical-care")}],
        "error",
        "code-invalid",
        "Observation.valueCodeableConcept",
    ),
    (
        "overall concern with an unknown code",
        OBS,
        [{"op": "replace", "path": "/valueCodeableConcept/coding/0/code", "value": "huge-concern"}],
        "error",
        "code-invalid",
        "Observation.valueCodeableConcept",
    ),
    (
        "overall concern as text only",
        OBS,
        [{"op": "replace", "path": "/valueCodeableConcept", "value": {"text": "worried"}}],
        "error",
        "code-invalid",
        "Observation.valueCodeableConcept",
    ),
    (
        "emotional sensitivity with a score band",
        OBS,
        [{"op": "replace", "path": "/component/1/valueCodeableConcept", "value": cc(CONCEPTS, "ci-score-5-6")}],
        "error",
        "code-invalid",
        "Observation.component[1].valueCodeableConcept",
    ),
    (
        "verbal interaction from SNOMED",
        OBS,
        [{"op": "replace", "path": "/component/0/valueCodeableConcept", "value": cc(SNOMED, "281900007")}],
        "error",
        "code-invalid",
        "Observation.component[0].valueCodeableConcept",
    ),
    (
        "CARE-Index dimension with a concern level",
        CI,
        [{"op": "replace", "path": "/component/0/valueCodeableConcept", "value": cc(CONCERN, "some-concern")}],
        "error",
        "code-invalid",
        "Observation.component[0].valueCodeableConcept",
    ),
    (
        "observation code is a grouping concept",
        OBS,
        [{"op": "replace", "path": "/code", "value": cc(CONCEPTS, "relationship-domain")}],
        "error",
        "code-invalid",
        "Observation.code",
    ),
    (
        "observation code from another system",
        OBS,
        [{"op": "replace", "path": "/code", "value": cc(CONCERN, "some-concern")}],
        "error",
        "code-invalid",
        "Observation.code",
    ),
    (
        "method is a grouping concept",
        OBS,
        [
            {
                "op": "replace",
                "path": "/method",
                "value": cc(f"{DYAD}/CodeSystem/dyad-instruments", "observational-instrument"),
            }
        ],
        "error",
        "code-invalid",
        "Observation.method",
    ),
    (
        "method is not an instrument",
        OBS,
        [{"op": "replace", "path": "/method/coding/0/code", "value": "stethoscope"}],
        "error",
        "code-invalid",
        "Observation.method",
    ),
    (
        "contact type unknown",
        OBS,
        [{"op": "replace", "path": "/extension/0/valueCodeableConcept/coding/0/code", "value": "pub-visit"}],
        "error",
        "code-invalid",
        "Observation.extension[0].valueCodeableConcept",
    ),
    (
        "referral service is a grouping concept",
        SR,
        [{"op": "replace", "path": "/code", "value": cc(f"{DYAD}/CodeSystem/dyad-services", "parent-infant-service")}],
        "error",
        "code-invalid",
        "ServiceRequest.code",
    ),
    (
        "referral category unknown",
        SR,
        [{"op": "replace", "path": "/category/0", "value": cc(CONCEPTS, "parent-infant-relationship")}],
        "error",
        "code-invalid",
        "ServiceRequest.category[0]",
    ),
    (
        "business status unknown",
        RTASK,
        [{"op": "replace", "path": "/businessStatus", "value": cc(f"{DYAD}/CodeSystem/dyad-referral-status", "lost")}],
        "error",
        "code-invalid",
        "Task.businessStatus",
    ),
    (
        "observation status bogus (base R4 binding)",
        OBS,
        [{"op": "replace", "path": "/status", "value": "bogus"}],
        "error",
        "code-invalid",
        "Observation.status",
    ),
    (
        "referral priority bogus (base R4 binding)",
        SR,
        [{"op": "replace", "path": "/priority", "value": "whenever"}],
        "error",
        "code-invalid",
        "ServiceRequest.priority",
    ),
    (
        "task status bogus (base R4 binding)",
        PROMPT,
        [{"op": "replace", "path": "/status", "value": "pending"}],
        "error",
        "code-invalid",
        "Task.status",
    ),
    (
        "patient gender bogus (base R4 binding)",
        PAT,
        [{"op": "replace", "path": "/gender", "value": "f"}],
        "error",
        "code-invalid",
        "Patient.gender",
    ),
    (
        "goal lifecycle bogus (base R4 binding)",
        GOAL,
        [{"op": "replace", "path": "/lifecycleStatus", "value": "ongoing"}],
        "error",
        "code-invalid",
        "Goal.lifecycleStatus",
    ),
    # --- extensible bindings (warning) and codes Dyad cannot check (information) ------------------
    (
        "strength outside the strengths list",
        OBS,
        [{"op": "replace", "path": "/component/3/valueCodeableConcept", "value": cc(CONCEPTS, "verbal-interaction")}],
        "warning",
        "code-invalid",
        "Observation.component[3].valueCodeableConcept",
    ),
    (
        "caregiver relationship not in the list",
        RP,
        [{"op": "replace", "path": "/relationship/0/coding/0/code", "value": "NBOR"}],
        "warning",
        "code-invalid",
        "RelatedPerson.relationship[0]",
    ),
    (
        "activity code outside interventions",
        CP,
        [
            {
                "op": "replace",
                "path": "/activity/1/detail/code",
                "value": cc(f"{DYAD}/CodeSystem/dyad-services", "mother-and-baby-unit"),
            }
        ],
        "warning",
        "code-invalid",
        "CarePlan.activity[1].detail.code",
    ),
    (
        "performer type from a local system",
        SR,
        [{"op": "add", "path": "/performerType", "value": cc("https://example.org/services", "pit")}],
        "warning",
        "code-invalid",
        "ServiceRequest.performerType",
    ),
    (
        "referral source SNOMED code not listed",
        SR,
        [{"op": "replace", "path": "/extension/0/valueCodeableConcept/coding/0/code", "value": "999999999"}],
        "warning",
        "code-invalid",
        "ServiceRequest.extension[0].valueCodeableConcept",
    ),
    (
        "display that does not match the code system",
        OBS,
        [{"op": "replace", "path": "/valueCodeableConcept/coding/0/display", "value": "Tiny concern"}],
        "warning",
        "code-invalid",
        "Observation.valueCodeableConcept",
    ),
    # --- slicing: slice cardinality, closed slicing, discriminators -------------------------------
    (
        "category slice missing",
        OBS,
        [
            {
                "op": "replace",
                "path": "/category",
                "value": [cc("http://terminology.hl7.org/CodeSystem/observation-category", "survey")],
            }
        ],
        "error",
        "required",
        "Observation.category",
    ),
    (
        "category slice given twice",
        OBS,
        [{"op": "add", "path": "/category/-", "value": cc(CONCEPTS, "parent-infant-relationship")}],
        "error",
        "structure",
        "Observation.category[1]",
    ),
    (
        "verbal interaction component twice",
        OBS,
        [
            {
                "op": "add",
                "path": "/component/-",
                "value": {
                    "code": cc(CONCEPTS, "verbal-interaction"),
                    "valueCodeableConcept": cc(CONCERN, "no-concern"),
                },
            }
        ],
        "error",
        "structure",
        "Observation.component[4]",
    ),
    (
        "physical care component twice",
        OBS,
        [
            {
                "op": "add",
                "path": "/component/1",
                "value": {"code": cc(CONCEPTS, "physical-care"), "valueCodeableConcept": cc(CONCERN, "no-concern")},
            }
        ],
        "error",
        "structure",
        "Observation.component[3]",
    ),
    (
        "CARE-Index passivity twice",
        CI,
        [
            {
                "op": "add",
                "path": "/component/-",
                "value": {"code": cc(CONCEPTS, "ci-passivity"), "valueCodeableConcept": cc(CONCEPTS, "ci-score-0-4")},
            }
        ],
        "error",
        "structure",
        "Observation.component[8]",
    ),
    (
        "care plan category slice missing",
        CP,
        [{"op": "replace", "path": "/category", "value": [cc(CONCEPTS, "parent-infant-relationship")]}],
        "error",
        "required",
        "CarePlan.category",
    ),
    (
        "goal category slice missing",
        GOAL,
        [{"op": "replace", "path": "/category", "value": [cc(CONCEPTS, "parent-infant-care-plan")]}],
        "error",
        "required",
        "Goal.category",
    ),
    (
        "care plan without caregiver extension",
        CP,
        [{"op": "remove", "path": "/extension/1"}, {"op": "remove", "path": "/extension/0"}],
        "error",
        "required",
        "CarePlan.extension",
    ),
    (
        "referral without caregiver extension",
        SR,
        [{"op": "remove", "path": "/extension/2"}, {"op": "remove", "path": "/extension/1"}],
        "error",
        "required",
        "ServiceRequest.extension",
    ),
    (
        "two sessions-attended extensions",
        CP,
        [
            {
                "op": "add",
                "path": "/extension/-",
                "value": ext(f"{DYAD}/StructureDefinition/dyad-ext-sessions-attended", valueUnsignedInt=5),
            }
        ],
        "error",
        "structure",
        "CarePlan.extension[4]",
    ),
    (
        "two NHS numbers",
        PAT,
        [
            {
                "op": "add",
                "path": "/identifier/-",
                "value": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"},
            }
        ],
        "error",
        "structure",
        "Patient.identifier[1]",
    ),
    (
        "output of an unsliced type (closed slicing)",
        RTASK,
        [{"op": "add", "path": "/output/-", "value": {"type": cc(TASKS, "referral"), "valueString": "done"}}],
        "error",
        "structure",
        "Task.output[2]",
    ),
    (
        "output with a free-text type (closed slicing)",
        RTASK,
        [{"op": "replace", "path": "/output/0/type", "value": {"text": "result"}}],
        "error",
        "structure",
        "Task.output[0]",
    ),
    (
        "care plan output points at an observation",
        RTASK,
        [
            {
                "op": "replace",
                "path": "/output/1/valueReference/reference",
                "value": "Observation/obs-ava-daniel-care-index",
            }
        ],
        "error",
        "structure",
        "Task.output[1].valueReference",
    ),
    # --- extensions --------------------------------------------------------------------------------
    (
        "unknown Dyad extension",
        OBS,
        [
            {
                "op": "add",
                "path": "/extension/-",
                "value": ext(f"{DYAD}/StructureDefinition/dyad-ext-mood", valueString="calm"),
            }
        ],
        "error",
        "extension",
        "Observation.extension[1]",
    ),
    (
        "unknown foreign extension",
        OBS,
        [
            {
                "op": "add",
                "path": "/extension/-",
                "value": ext("https://example.org/fhir/ext/colour", valueString="blue"),
            }
        ],
        "error",
        "extension",
        "Observation.extension[1]",
    ),
    (
        "unknown modifier extension",
        OBS,
        [
            {
                "op": "add",
                "path": "/modifierExtension",
                "value": [ext("https://example.org/fhir/ext/not-really", valueBoolean=True)],
            }
        ],
        "error",
        "extension",
        "Observation.modifierExtension[0]",
    ),
    (
        "unknown modifier extension on a component",
        OBS,
        [
            {
                "op": "add",
                "path": "/component/0/modifierExtension",
                "value": [ext("https://example.org/fhir/ext/x", valueBoolean=True)],
            }
        ],
        "error",
        "extension",
        "Observation.component[0].modifierExtension[0]",
    ),
    (
        "sessions attended as a string",
        CP,
        [
            {
                "op": "replace",
                "path": "/extension/2",
                "value": ext(f"{DYAD}/StructureDefinition/dyad-ext-sessions-attended", valueString="four"),
            }
        ],
        "error",
        "structure",
        "CarePlan.extension[2].valueString",
    ),
    (
        "review after sessions as decimal",
        CP,
        [
            {
                "op": "replace",
                "path": "/extension/3",
                "value": ext(f"{DYAD}/StructureDefinition/dyad-ext-review-after-sessions", valueDecimal=6.5),
            }
        ],
        "error",
        "structure",
        "CarePlan.extension[3].valueDecimal",
    ),
    (
        "caregiver extension as string",
        SR,
        [
            {
                "op": "replace",
                "path": "/extension/1",
                "value": ext(f"{DYAD}/StructureDefinition/dyad-ext-caregiver", valueString="Grace"),
            }
        ],
        "error",
        "structure",
        "ServiceRequest.extension[1].valueString",
    ),
    (
        "caregiver extension without value",
        SR,
        [
            {
                "op": "replace",
                "path": "/extension/1",
                "value": ext(f"{DYAD}/StructureDefinition/dyad-ext-caregiver", extension=[ext("a", valueString="b")]),
            }
        ],
        "error",
        "required",
        "ServiceRequest.extension[1].value[x]",
    ),
    (
        "extension with value and nested extensions",
        OBS,
        [{"op": "add", "path": "/extension/0/extension", "value": [ext("https://example.org/a", valueString="b")]}],
        "error",
        "invariant",
        "Observation.extension[0]",
    ),
    (
        "contact type used on a goal (context)",
        GOAL,
        [
            {
                "op": "add",
                "path": "/extension",
                "value": [
                    ext(
                        f"{DYAD}/StructureDefinition/dyad-ext-contact-type",
                        valueCodeableConcept=cc(f"{DYAD}/CodeSystem/dyad-care-contacts", "new-birth-visit"),
                    )
                ],
            }
        ],
        "error",
        "structure",
        "Goal.extension[0]",
    ),
    (
        "sessions attended on an activity detail (context)",
        CP,
        [
            {
                "op": "add",
                "path": "/activity/1/detail/extension",
                "value": [ext(f"{DYAD}/StructureDefinition/dyad-ext-sessions-attended", valueUnsignedInt=2)],
            }
        ],
        "error",
        "structure",
        "CarePlan.activity[1].detail.extension[0]",
    ),
    (
        "caregiver extension points at an organization",
        SR,
        [
            {
                "op": "replace",
                "path": "/extension/1/valueReference/reference",
                "value": "Organization/org-parent-infant-team",
            }
        ],
        "error",
        "structure",
        "ServiceRequest.extension[1].valueReference",
    ),
    # --- reference targets --------------------------------------------------------------------------
    (
        "performer is a related person",
        OBS,
        [{"op": "replace", "path": "/performer/0/reference", "value": "RelatedPerson/caregiver-daniel-father-of-ava"}],
        "error",
        "structure",
        "Observation.performer[0]",
    ),
    (
        "subject is a related person",
        OBS,
        [{"op": "replace", "path": "/subject/reference", "value": "RelatedPerson/caregiver-daniel-father-of-ava"}],
        "error",
        "structure",
        "Observation.subject",
    ),
    (
        "focus is an organization",
        OBS,
        [{"op": "replace", "path": "/focus/0/reference", "value": "Organization/org-health-visiting-north"}],
        "error",
        "structure",
        "Observation.focus[0]",
    ),
    (
        "focus given by absolute URL to a group",
        OBS,
        [{"op": "replace", "path": "/focus/0/reference", "value": "https://ehr.example.org/fhir/Group/g1"}],
        "error",
        "structure",
        "Observation.focus[0]",
    ),
    (
        "focus is a contained organization",
        OBS,
        [
            {
                "op": "add",
                "path": "/contained",
                "value": [{"resourceType": "Organization", "id": "o1", "name": "Somewhere"}],
            },
            {"op": "replace", "path": "/focus/0", "value": {"reference": "#o1"}},
        ],
        "error",
        "structure",
        "Observation.focus[0]",
    ),
    (
        "focus points at a missing contained resource",
        OBS,
        [{"op": "replace", "path": "/focus/0", "value": {"reference": "#nobody"}}],
        "error",
        "structure",
        "Observation.focus[0]",
    ),
    (
        "task for a related person",
        PROMPT,
        [{"op": "replace", "path": "/for/reference", "value": "RelatedPerson/caregiver-daniel-father-of-ava"}],
        "error",
        "structure",
        "Task.for",
    ),
    (
        "prompt focus is not a questionnaire",
        PROMPT,
        [{"op": "replace", "path": "/focus/reference", "value": "ServiceRequest/referral-ava-parent-infant-team"}],
        "error",
        "structure",
        "Task.focus",
    ),
    (
        "referral reason is a care plan",
        SR,
        [{"op": "replace", "path": "/reasonReference/0/reference", "value": "CarePlan/careplan-ava-clarke"}],
        "error",
        "structure",
        "ServiceRequest.reasonReference[0]",
    ),
    (
        "care plan goal is an observation",
        CP,
        [{"op": "replace", "path": "/goal/0/reference", "value": "Observation/obs-ava-grace-new-birth-visit"}],
        "error",
        "structure",
        "CarePlan.goal[0]",
    ),
    (
        "care plan activity references a task",
        CP,
        [
            {
                "op": "replace",
                "path": "/activity/0/reference/reference",
                "value": "Task/prompt-ava-daniel-six-to-eight-week",
            }
        ],
        "error",
        "structure",
        "CarePlan.activity[0].reference",
    ),
    (
        "goal expressed by an organization",
        GOAL,
        [{"op": "replace", "path": "/expressedBy/reference", "value": "Organization/org-parent-infant-team"}],
        "error",
        "structure",
        "Goal.expressedBy",
    ),
    (
        "caregiver's patient is a related person",
        RP,
        [{"op": "replace", "path": "/patient/reference", "value": "RelatedPerson/caregiver-daniel-father-of-ava"}],
        "error",
        "structure",
        "RelatedPerson.patient",
    ),
    # --- profile invariants ------------------------------------------------------------------------
    (
        "CARE-Index components without CARE-Index method",
        CI,
        [{"op": "replace", "path": "/method/coding/0/code", "value": "nbo"}],
        "error",
        "invariant",
        "Observation",
    ),
    (
        "final observation without value",
        OBS,
        [{"op": "remove", "path": "/valueCodeableConcept"}],
        "error",
        "invariant",
        "Observation",
    ),
    (
        "amended observation without value",
        OBS,
        [{"op": "replace", "path": "/status", "value": "amended"}, {"op": "remove", "path": "/valueCodeableConcept"}],
        "error",
        "invariant",
        "Observation",
    ),
    (
        "focus is the subject",
        OBS,
        [{"op": "replace", "path": "/focus/0/reference", "value": "Patient/infant-ava-clarke"}],
        "error",
        "invariant",
        "Observation",
    ),
    (
        "referral without receiving service",
        SR,
        [{"op": "remove", "path": "/performer"}],
        "error",
        "invariant",
        "ServiceRequest",
    ),
    (
        "referral without reason",
        SR,
        [{"op": "remove", "path": "/reasonReference"}],
        "error",
        "invariant",
        "ServiceRequest",
    ),
    (
        "completed care plan without end",
        CP,
        [{"op": "replace", "path": "/status", "value": "completed"}],
        "error",
        "invariant",
        "CarePlan",
    ),
    (
        "in-progress referral task without business status",
        RTASK,
        [{"op": "remove", "path": "/businessStatus"}],
        "error",
        "invariant",
        "Task",
    ),
    (
        "NHS number of nine digits",
        PAT,
        [{"op": "replace", "path": "/identifier/0/value", "value": "999412345"}],
        "error",
        "invariant",
        "Patient.identifier[0]",
    ),
    (
        "NHS number with letters",
        PAT,
        [{"op": "replace", "path": "/identifier/0/value", "value": "99941234AB"}],
        "error",
        "invariant",
        "Patient.identifier[0]",
    ),
    (
        "NHS number with a wrong check digit",
        PAT,
        [{"op": "replace", "path": "/identifier/0/value", "value": "9994123458"}],
        "error",
        "invariant",
        "Patient.identifier[0]",
    ),
    # --- base R4 invariants ------------------------------------------------------------------------
    (
        "obs-6: value and dataAbsentReason",
        OBS,
        [
            {
                "op": "add",
                "path": "/dataAbsentReason",
                "value": cc("http://terminology.hl7.org/CodeSystem/data-absent-reason", "unknown"),
            }
        ],
        "error",
        "invariant",
        "Observation",
    ),
    # obs-7's intersect() compares whole Codings, display included, as FHIRPath equality does.
    (
        "obs-7: component repeats the observation code",
        OBS,
        [
            {
                "op": "add",
                "path": "/component/-",
                "value": {
                    "code": {
                        "coding": [
                            {
                                "system": CONCEPTS,
                                "code": "interaction-observation",
                                "display": "Observed parent–infant interaction",
                            }
                        ]
                    },
                    "valueString": "x",
                },
            }
        ],
        "error",
        "invariant",
        "Observation",
    ),
    (
        "obs-3: reference range without bounds",
        OBS,
        [{"op": "add", "path": "/referenceRange", "value": [{"appliesTo": [{"text": "all"}]}]}],
        "error",
        "invariant",
        "Observation.referenceRange[0]",
    ),
    (
        "prr-1: order detail without code",
        SR,
        [{"op": "remove", "path": "/code"}, {"op": "add", "path": "/orderDetail", "value": [{"text": "home visits"}]}],
        "error",
        "invariant",
        "ServiceRequest",
    ),
    (
        "cpl-3: activity with reference and detail",
        CP,
        [{"op": "add", "path": "/activity/0/detail", "value": {"status": "scheduled"}}],
        "error",
        "invariant",
        "CarePlan.activity[0]",
    ),
    (
        "gol-1: target detail without measure",
        GOAL,
        [{"op": "add", "path": "/target", "value": [{"detailString": "enjoys play"}]}],
        "error",
        "invariant",
        "Goal.target[0]",
    ),
    (
        "inv-1: last modified before authored",
        RTASK,
        [{"op": "replace", "path": "/lastModified", "value": "2026-09-01T09:00:00+01:00"}],
        "error",
        "invariant",
        "Task",
    ),
    (
        "pat-1: contact without details",
        PAT,
        [{"op": "add", "path": "/contact", "value": [{"gender": "female"}]}],
        "error",
        "invariant",
        "Patient.contact[0]",
    ),
    (
        "dom-2: contained resource with contained",
        OBS,
        [
            {
                "op": "add",
                "path": "/contained",
                "value": [
                    {"resourceType": "Patient", "id": "p", "contained": [{"resourceType": "Patient", "id": "q"}]}
                ],
            },
            {"op": "replace", "path": "/focus/0", "value": {"reference": "#p"}},
        ],
        "error",
        "invariant",
        "Observation",
    ),
    (
        "dom-3: contained resource nobody refers to",
        OBS,
        [{"op": "add", "path": "/contained", "value": [{"resourceType": "Patient", "id": "lonely"}]}],
        "error",
        "invariant",
        "Observation",
    ),
    (
        "dom-4: contained resource with a version",
        OBS,
        [
            {
                "op": "add",
                "path": "/contained",
                "value": [{"resourceType": "Patient", "id": "p", "meta": {"versionId": "2"}}],
            },
            {"op": "replace", "path": "/focus/0", "value": {"reference": "#p"}},
        ],
        "error",
        "invariant",
        "Observation",
    ),
    (
        "dom-5: contained resource with a security label",
        OBS,
        [
            {
                "op": "add",
                "path": "/contained",
                "value": [{"resourceType": "Patient", "id": "p", "meta": {"security": [{"code": "R"}]}}],
            },
            {"op": "replace", "path": "/focus/0", "value": {"reference": "#p"}},
        ],
        "error",
        "invariant",
        "Observation",
    ),
    (
        "ele-1: empty note",
        OBS,
        [{"op": "replace", "path": "/note/0", "value": {}}],
        "error",
        "invariant",
        "Observation.note[0]",
    ),
    (
        "ele-1: empty identifier list",
        OBS,
        [{"op": "replace", "path": "/identifier", "value": []}],
        "error",
        "invariant",
        "Observation.identifier",
    ),
    # --- profiles named by meta.profile --------------------------------------------------------------
    (
        "profile Dyad does not hold",
        OBS,
        [{"op": "add", "path": "/meta/profile/-", "value": "https://example.org/fhir/StructureDefinition/other"}],
        "warning",
        "not-supported",
        "Observation.meta.profile",
    ),
    (
        "profile of another resource type",
        OBS,
        [{"op": "add", "path": "/meta/profile/-", "value": f"{DYAD}/StructureDefinition/dyad-referral"}],
        "error",
        "invalid",
        "Observation",
    ),
]


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 80


@pytest.mark.parametrize(
    ("description", "name", "patch", "severity", "code", "expression"), CASES, ids=[c[0] for c in CASES]
)
def test_broken_resource_raises_its_issue(
    validator: Validator,
    description: str,
    name: str,
    patch: list[dict[str, Any]],
    severity: str,
    code: str,
    expression: str,
) -> None:
    resource = jsonpatch.apply_patch(example(name), patch)
    issues = validator.validate(resource)
    found = [i for i in issues if (i.severity, i.code, i.expression) == (severity, code, expression)]
    assert found, f"{description}: expected {severity} {code} at {expression}, got {issues}"
