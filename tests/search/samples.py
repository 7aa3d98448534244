"""Resources that exercise most search parameter shapes; shared by the unit tests."""

from typing import Any

DYAD = "https://w3id.org/dyad/fhir/CodeSystem/dyad"
NHS = "https://fhir.nhs.uk/Id/nhs-number"

OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "obs-1",
    "meta": {
        "profile": ["https://w3id.org/dyad/fhir/StructureDefinition/dyad-relationship-observation"],
        "tag": [{"system": "http://example.org/tags", "code": "home-visit"}],
        "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
        "source": "https://hv.example.org/app",
    },
    "identifier": [{"system": "https://hv.example.org/obs", "value": "A-1"}],
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "survey",
                    "display": "Survey",
                }
            ]
        }
    ],
    "code": {
        "coding": [{"system": DYAD, "code": "relationship", "display": "Parent–infant relationship"}],
        "text": "Relationship observation",
    },
    "subject": {"reference": "Patient/baby-1"},
    "focus": [{"reference": "RelatedPerson/mum-1"}],
    "encounter": {"reference": "Encounter/enc-1/_history/2"},
    "basedOn": [{"reference": "ServiceRequest/ref-1"}],
    "derivedFrom": [{"reference": "http://other.example.org/fhir/QuestionnaireResponse/qr-9"}],
    "effectivePeriod": {"start": "2024-03-05T10:30:00+01:00", "end": "2024-03-05"},
    "performer": [{"reference": "Practitioner/hv-1"}, {"reference": "Organization/org-1"}],
    "valueQuantity": {"value": 12.5, "unit": "score", "system": "http://unitsofmeasure.org", "code": "{score}"},
    "component": [
        {
            "code": {"coding": [{"system": DYAD, "code": "verbal"}]},
            "valueCodeableConcept": {"coding": [{"system": DYAD, "code": "good"}], "text": "Good"},
        },
    ],
}

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "baby-1",
    "identifier": [{"system": NHS, "value": "9000000009", "type": {"text": "NHS Number"}}],
    "active": True,
    "name": [{"use": "official", "family": "Ñúñez-O'Brien", "given": ["Zoë", "Ann"], "prefix": ["Miss"]}],
    "telecom": [{"system": "phone", "value": "0123"}, {"system": "email", "value": "a@b.example"}],
    "gender": "female",
    "birthDate": "2024-02",
    "deceasedBoolean": False,
    "address": [{"line": ["1 High St"], "city": "Leeds", "postalCode": "LS1 1AA", "country": "UK", "use": "home"}],
    "generalPractitioner": [{"reference": "Organization/gp-1"}],
    "link": [{"other": {"reference": "RelatedPerson/mum-1"}, "type": "seealso"}],
}

RELATED_PERSON: dict[str, Any] = {
    "resourceType": "RelatedPerson",
    "id": "mum-1",
    "patient": {"reference": "Patient/baby-1"},
    "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH"}]}],
    "name": [{"family": "Núñez", "given": ["María"]}],
    "birthDate": "1990-05-06",
    "telecom": [{"system": "phone", "value": "0777"}],
}

SERVICE_REQUEST: dict[str, Any] = {
    "resourceType": "ServiceRequest",
    "id": "ref-1",
    "status": "active",
    "intent": "order",
    "priority": "urgent",
    "code": {"coding": [{"system": DYAD, "code": "parent-infant-team"}]},
    "subject": {"reference": "Patient/baby-1"},
    "authoredOn": "2024-03-06T09:00:00Z",
    "requester": {"reference": "Practitioner/hv-1"},
    "performer": [{"reference": "Organization/piu-1"}],
    "reasonReference": [{"reference": "Observation/obs-1"}],
    "occurrencePeriod": {"start": "2024-03-10"},
    "instantiatesUri": ["https://example.org/protocol"],
}

TASK: dict[str, Any] = {
    "resourceType": "Task",
    "id": "task-1",
    "status": "requested",
    "intent": "order",
    "code": {"coding": [{"system": DYAD, "code": "assessment-prompt"}]},
    "focus": {"reference": "ServiceRequest/ref-1"},
    "for": {"reference": "Patient/baby-1"},
    "authoredOn": "2024-03-06",
    "owner": {"reference": "Organization/piu-1"},
    "executionPeriod": {"start": "2024-03-06", "end": "2024-03-20"},
    "basedOn": [{"reference": "ServiceRequest/ref-1"}],
}

CARE_PLAN: dict[str, Any] = {
    "resourceType": "CarePlan",
    "id": "cp-1",
    "status": "active",
    "intent": "plan",
    "subject": {"reference": "Patient/baby-1"},
    "period": {"start": "2024-03-01"},
    "goal": [{"reference": "Goal/g-1"}],
    "activity": [
        {
            "reference": {"reference": "ServiceRequest/ref-1"},
            "detail": {"code": {"text": "VIG"}, "scheduledTiming": {"event": ["2024-04-01T10:00:00Z"]}},
        }
    ],
}

QUESTIONNAIRE: dict[str, Any] = {
    "resourceType": "Questionnaire",
    "id": "q-1",
    "url": "https://w3id.org/dyad/fhir/Questionnaire/relationship-prompts",
    "version": "0.1.0",
    "name": "RelationshipPrompts",
    "title": "Relationship prompts",
    "status": "active",
    "date": "2024-01-15",
    "item": [
        {
            "linkId": "1",
            "type": "string",
            "definition": "https://example.org/def#1",
            "item": [{"linkId": "1.1", "type": "boolean", "code": [{"system": DYAD, "code": "q11"}]}],
        }
    ],
    "useContext": [
        {
            "code": {"system": "http://terminology.hl7.org/CodeSystem/usage-context-type", "code": "age"},
            "valueQuantity": {"value": 1, "unit": "a"},
        }
    ],
}

ENCOUNTER: dict[str, Any] = {
    "resourceType": "Encounter",
    "id": "enc-1",
    "status": "finished",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
    "subject": {"reference": "Patient/baby-1"},
    "period": {"start": "2024-03-05T10:00:00Z", "end": "2024-03-05T11:00:00Z"},
    "length": {"value": 60, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"},
    "participant": [{"individual": {"reference": "Practitioner/hv-1"}}],
}

PRACTITIONER: dict[str, Any] = {
    "resourceType": "Practitioner",
    "id": "hv-1",
    "name": [{"text": "Jo Bloggs", "family": "Bloggs", "given": ["Jo"]}],
    "telecom": [{"system": "email", "value": "jo@nhs.example"}],
    "active": True,
}

ORGANIZATION: dict[str, Any] = {
    "resourceType": "Organization",
    "id": "org-1",
    "name": "Leeds Health Visiting",
    "alias": ["LHV"],
    "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov"}]}],
    "address": [{"city": "Leeds"}],
    "partOf": {"reference": "Organization/trust-1"},
}

ALL = [
    OBSERVATION,
    PATIENT,
    RELATED_PERSON,
    SERVICE_REQUEST,
    TASK,
    CARE_PLAN,
    QUESTIONNAIRE,
    ENCOUNTER,
    PRACTITIONER,
    ORGANIZATION,
]
