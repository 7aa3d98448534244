"""The care pathway end to end, against the real server and a real subscriber.

A midwife notices a concern at a postnatal visit and records it in the maternity system; the
record reaches Dyad through the maternity mapping. The family's health visiting team is told and
gets a prompt; the health visitor completes the relationship prompts at the new birth visit, the
extracted observation confirms the concern, and she refers to the parent–infant team. The team
accepts, assesses within two weeks, starts video interaction guidance under a care plan agreed
with both parents, and after six sessions a review falls due. The midwife and the health
visitor then each see the outcome in their own system's record.

Every system speaks only FHIR REST (or its own record through $ingest/$render) to the server
process, and hears from it only through rest-hook notifications to a local HTTP receiver.
Dates are relative to today: the baby is three days old when the midwife's record arrives.
"""

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.notify_receiver import Received, Receiver
from tests.e2e.conftest import RunningServer
from tests.polling import until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "profiles" / "examples"
FHIR = {"Content-Type": "application/fhir+json"}
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
TASK_CODES = "https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes"
REFERRAL_STATUS = "https://w3id.org/dyad/fhir/CodeSystem/dyad-referral-status"
CONCERN = "https://w3id.org/dyad/fhir/CodeSystem/dyad-concern-level"
CONTACTS = "https://w3id.org/dyad/fhir/CodeSystem/dyad-care-contacts"
DYAD = "https://w3id.org/dyad/fhir/CodeSystem/dyad-concepts"
SERVICES = "https://w3id.org/dyad/fhir/CodeSystem/dyad-services"
CAREGIVER = "https://w3id.org/dyad/fhir/StructureDefinition/dyad-ext-caregiver"

# NHS bodies' Organizations are keyed by their ODS codes (docs/mappings.md, Identity across systems).
MIDWIFERY = "Organization/RBX"
HEALTH_VISITING = "Organization/RX1"
PARENT_INFANT_TEAM = "Organization/TAF"
HEALTH_VISITOR = "PractitionerRole/hv-priya-shah-role"
PSYCHOTHERAPIST = "Practitioner/pip-tom-evans"
AVA_NHS, GRACE_NHS, DANIEL_NHS = "9994123459", "9990782148", "9996613186"

TODAY = date.today()
BORN = TODAY - timedelta(days=3)
NEW_BIRTH_VISIT = BORN + timedelta(days=10)
RECEIVED = NEW_BIRTH_VISIT + timedelta(days=1)
ASSESSED = RECEIVED + timedelta(days=7)
VIG_STARTED = ASSESSED + timedelta(days=7)

pytestmark = pytest.mark.e2e


@pytest.fixture
def server_env() -> dict[str, str]:
    # The waiting-time check runs every second, so a missed standard shows within the test.
    return {"DYAD_PATHWAY_CLOCK_CHECK_SECONDS": "1"}


def example(name: str) -> dict[str, Any]:
    resource: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return resource


def at(day: date, time: str = "10:00:00") -> str:
    return f"{day.isoformat()}T{time}+00:00"


@pytest.fixture
async def fhir(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{server.base}/fhir", timeout=60) as client:
        yield client


# --- what each system does ---------------------------------------------------------------------


async def ok(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200, 201)), response.text
    body: dict[str, Any] = response.json() if response.content else {}
    return body


async def found(fhir: httpx.AsyncClient, res_type: str, **params: str) -> list[dict[str, Any]]:
    bundle = await ok(await fhir.get(f"/{res_type}", params=params), 200)
    return [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]


async def load_service_directory(fhir: httpx.AsyncClient) -> None:
    """The organisations and staff every system already knows, the organisations keyed by their ODS codes."""
    keyed = {"org-community-midwifery": "RBX", "org-health-visiting-north": "RX1", "org-parent-infant-team": "TAF"}
    for name, ods in keyed.items():
        organisation = {**example(f"Organization-{name}"), "id": ods, "identifier": [{"system": ODS, "value": ods}]}
        await ok(await fhir.put(f"/Organization/{ods}", json=organisation, headers=FHIR))
    for name in ("Practitioner-hv-priya-shah", "Practitioner-pip-tom-evans", "PractitionerRole-hv-priya-shah-role"):
        text = json.dumps(example(name))
        for example_id, ods in keyed.items():
            text = text.replace(f'"Organization/{example_id}"', f'"Organization/{ods}"')
        resource = json.loads(text)
        await ok(await fhir.put(f"/{resource['resourceType']}/{resource['id']}", json=resource, headers=FHIR))


async def subscribe(fhir: httpx.AsyncClient, receiver: Receiver, who: str, criteria: str) -> None:
    subscription = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": f"{who} work list",
        "criteria": criteria,
        "channel": {
            "type": "rest-hook",
            "endpoint": f"http://127.0.0.1:{receiver.port}/{who}",
            "payload": "application/fhir+json",
            "header": [f"Authorization: Bearer {who}-secret"],
        },
    }
    await ok(await fhir.post("/Subscription", json=subscription, headers=FHIR), 201)


async def health_visiting_registers_the_birth(fhir: httpx.AsyncClient) -> str:
    """The birth notification opens the baby's health visiting episode: Dyad learns which team serves her."""
    baby = "urn:uuid:6f1d3c52-8a5e-4c1b-9d0e-2b7a4f0c9e11"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": baby,
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [
                        {"system": NHS, "value": AVA_NHS},
                        {"system": "https://w3id.org/dyad/fhir/Id/RX1/person", "value": "CH0051234"},
                    ],
                    "name": [{"family": "Clarke", "given": ["Ava"]}],
                    "gender": "female",
                    "birthDate": BORN.isoformat(),
                },
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={NHS}|{AVA_NHS}"},
            },
            {
                "resource": {
                    "resourceType": "EpisodeOfCare",
                    "status": "active",
                    "patient": {"reference": baby},
                    "managingOrganization": {"reference": HEALTH_VISITING},
                    "period": {"start": BORN.isoformat()},
                },
                "request": {"method": "POST", "url": "EpisodeOfCare"},
            },
        ],
    }
    response = await ok(await fhir.post("", json=bundle, headers=FHIR), 200)
    location: str = response["entry"][0]["response"]["location"]
    return "/".join(location.split("/")[:2])


def midwifes_record() -> dict[str, Any]:
    """The maternity system's record of the postnatal visit, in MSDS terms."""
    visit = BORN + timedelta(days=2)
    return {
        "RecordID": "MAT-RBX-2026-119001",
        "OrgIDProvider": "RBX",
        "MSD001MotherDemog": {
            "LPIDMother": "M0790011",
            "NHSNumberMother": GRACE_NHS,
            "PersonBirthDateMother": "1994-03-17",
            "PersonGivenNameMother": "Grace",
            "PersonFamilyNameMother": "Clarke",
        },
        "MSD401BabyDemographics": {
            "LPIDBaby": "B0790012",
            "NHSNumberBaby": AVA_NHS,
            "PersonBirthDateBaby": BORN.isoformat(),
            "PersonGivenNameBaby": "Ava",
            "PersonFamilyNameBaby": "Clarke",
            "GenderBaby": "female",
        },
        "Caregivers": [
            {
                "CaregiverLocalID": "C0790013",
                "NHSNumberCaregiver": DANIEL_NHS,
                "CaregiverRelationshipMat": "01",
                "PersonGivenName": "Daniel",
                "PersonFamilyName": "Clarke",
                "Gender": "male",
            }
        ],
        "MSD201CareContactPreg": [
            {
                "CareConID": "CON-RBX-5541002",
                "CContactDate": visit.isoformat(),
                "CContactTime": "14:15:00",
                "CContactType": "postnatal-midwife-visit",
                "Medium": "01",
                "AttendCode": "5",
            }
        ],
        "RelationshipAssessments": [
            {
                "AssessmentID": "PIR-RBX-23001",
                "CareConID": "CON-RBX-5541002",
                "CaregiverLocalID": "M0790011",
                "AssessmentDate": visit.isoformat(),
                "AssessmentTime": "14:40:00",
                "AssessmentType": "interaction-observation",
                "InstrumentCode": "nice-cg192-clinical-observation",
                "ConcernLevel": "some-concern",
                "Domains": [
                    {"DomainCode": "verbal-interaction", "DomainValue": "some-concern"},
                    {"DomainCode": "emotional-sensitivity", "DomainValue": "some-concern"},
                    {"DomainCode": "physical-care", "DomainValue": "no-concern"},
                ],
                "Strengths": ["confident-physical-care"],
                "CareProfLID": "MW18802",
                "AssessorName": "Helen Okafor",
                "AssessmentNote": "Grace seems flat and rarely talks to Ava; feeds and handles her confidently.",
            }
        ],
    }


@dataclass(frozen=True)
class Family:
    infant: str
    grace: str
    daniel: str
    concern: dict[str, Any]  # the midwife's Observation, as Dyad holds it


async def midwife_records_the_concern(fhir: httpx.AsyncClient, infant: str) -> Family:
    """The maternity record goes through $ingest; the family is then found as Dyad holds it."""
    await ok(await fhir.post("/$ingest", params={"system": "maternity"}, json=midwifes_record()), 200)
    people = await caregivers(fhir, infant)
    [concern] = await found(fhir, "Observation", subject=infant)
    return Family(infant, await patient_with(fhir, GRACE_NHS), people["Daniel"], concern)


async def caregivers(fhir: httpx.AsyncClient, infant: str) -> dict[str, str]:
    """The family's caregivers as Dyad holds them, by given name: RelatedPerson references."""
    people = await found(fhir, "RelatedPerson", patient=infant)
    return {p["name"][0]["given"][0]: f"RelatedPerson/{p['id']}" for p in people}


async def patient_with(fhir: httpx.AsyncClient, nhs_number: str) -> str:
    [patient] = await found(fhir, "Patient", identifier=f"{NHS}|{nhs_number}")
    return f"Patient/{patient['id']}"


def prompts_completed_at_new_birth_visit(infant: str, grace: str) -> dict[str, Any]:
    def choice(link: str, system: str, code: str) -> dict[str, Any]:
        return {"linkId": link, "answer": [{"valueCoding": {"system": system, "code": code}}]}

    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "https://w3id.org/dyad/fhir/Questionnaire/dyad-relationship-prompts|0.1.0",
        "status": "completed",
        "subject": {"reference": infant},
        "authored": at(NEW_BIRTH_VISIT, "11:00:00"),
        "author": {"reference": HEALTH_VISITOR},
        "source": {"reference": grace},
        "item": [
            {
                "linkId": "assessment",
                "item": [
                    {"linkId": "assessment.caregiver", "answer": [{"valueReference": {"reference": grace}}]},
                    choice(
                        "assessment.caregiver-relationship", "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "NMTH"
                    ),
                    {"linkId": "assessment.date", "answer": [{"valueDateTime": at(NEW_BIRTH_VISIT)}]},
                    choice("assessment.contact-type", CONTACTS, "new-birth-visit"),
                ],
            },
            {
                "linkId": "conversation",
                "item": [
                    {
                        "linkId": "conversation.relationship-description",
                        "answer": [{"valueString": "I love her but I feel numb."}],
                    },
                ],
            },
            {
                "linkId": "nice-domains",
                "item": [
                    choice("nice-domains.verbal-interaction", CONCERN, "significant-concern"),
                    choice("nice-domains.emotional-sensitivity", CONCERN, "some-concern"),
                    choice("nice-domains.physical-care", CONCERN, "no-concern"),
                ],
            },
            choice("overall-concern", CONCERN, "significant-concern"),
        ],
    }


def referral_to_parent_infant_team(infant: str, grace: str, daniel: str, reason: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "meta": {"profile": ["https://w3id.org/dyad/fhir/StructureDefinition/dyad-referral"]},
        "extension": [
            {"url": CAREGIVER, "valueReference": {"reference": grace}},
            {"url": CAREGIVER, "valueReference": {"reference": daniel}},
        ],
        "identifier": [{"system": "https://w3id.org/dyad/fhir/Id/referral", "value": "REF-RX1-2026-0917"}],
        "status": "active",
        "intent": "plan",
        "category": [{"coding": [{"system": DYAD, "code": "referral-for-assessment"}]}],
        "priority": "routine",
        "code": {"coding": [{"system": SERVICES, "code": "parent-infant-relationship-team"}]},
        "subject": {"reference": infant},
        "authoredOn": at(NEW_BIRTH_VISIT, "15:00:00"),
        "requester": {"reference": HEALTH_VISITOR},
        "performer": [{"reference": PARENT_INFANT_TEAM}],
        "reasonReference": [{"reference": reason}],
        "note": [{"text": "Grace and Daniel would both like support."}],
    }


async def move_referral(
    fhir: httpx.AsyncClient, task: dict[str, Any], status: str, business: str, day: date
) -> dict[str, Any]:
    moved = {
        **task,
        "status": status,
        "lastModified": at(day),
        "businessStatus": {"coding": [{"system": REFERRAL_STATUS, "code": business}]},
    }
    version = task["meta"]["versionId"]
    return await ok(
        await fhir.put(f"/Task/{task['id']}", json=moved, headers={**FHIR, "If-Match": f'W/"{version}"'}), 200
    )


def team_assessment(infant: str, grace: str, referral: str) -> dict[str, Any]:
    observation = example("Observation-obs-ava-grace-new-birth-visit")
    for element in ("id", "encounter", "extension", "note"):
        observation.pop(element, None)
    observation.update(
        {
            "identifier": [{"system": "https://w3id.org/dyad/fhir/Id/TAF/observation", "value": "PIT-ASSESS-5521"}],
            "basedOn": [{"reference": referral}],
            "subject": {"reference": infant},
            "focus": [{"reference": grace}],
            "effectiveDateTime": at(ASSESSED),
            "performer": [{"reference": PSYCHOTHERAPIST}],
            "valueCodeableConcept": {"coding": [{"system": CONCERN, "code": "significant-concern"}]},
        }
    )
    return observation


def goal(infant: str, parent: str, code: str, words: str, addresses: str) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "meta": {"profile": ["https://w3id.org/dyad/fhir/StructureDefinition/dyad-goal"]},
        "lifecycleStatus": "active",
        "category": [{"coding": [{"system": DYAD, "code": "parent-infant-relationship-goal"}]}],
        "description": {"coding": [{"system": DYAD, "code": code}], "text": words},
        "subject": {"reference": infant},
        "startDate": ASSESSED.isoformat(),
        "expressedBy": {"reference": parent},
        "addresses": [{"reference": addresses}],
    }


def care_plan(infant: str, grace: str, daniel: str, goals: list[str], team: str, referral: str) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "meta": {"profile": ["https://w3id.org/dyad/fhir/StructureDefinition/dyad-care-plan"]},
        "identifier": [{"system": "https://w3id.org/dyad/fhir/Id/TAF/care-plan", "value": "CP-TAF-0311"}],
        "extension": [
            {"url": CAREGIVER, "valueReference": {"reference": grace}},
            {"url": CAREGIVER, "valueReference": {"reference": daniel}},
        ],
        "status": "active",
        "intent": "plan",
        "category": [{"coding": [{"system": DYAD, "code": "parent-infant-care-plan"}]}],
        "subject": {"reference": infant},
        "period": {"start": ASSESSED.isoformat()},
        "created": ASSESSED.isoformat(),
        "author": {"reference": PSYCHOTHERAPIST},
        "careTeam": [{"reference": team}],
        "goal": [{"reference": g} for g in goals],
        "activity": [
            {"reference": {"reference": referral}},
            {
                "detail": {
                    "code": {"coding": [{"system": SERVICES, "code": "video-interaction-guidance"}]},
                    "status": "in-progress",
                    "description": "VIG with Grace and with Daniel, alternate weeks, at home",
                    "performer": [{"reference": PSYCHOTHERAPIST}],
                }
            },
        ],
    }


def family_care_team(infant: str, members: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "name": "Ava Clarke parent–infant care team",
        "subject": {"reference": infant},
        "participant": [{"member": {"reference": m}} for m in members],
    }


def session(infant: str, referral: str, number: int) -> dict[str, Any]:
    day = VIG_STARTED + timedelta(days=7 * (number - 1))
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "identifier": [{"system": "https://w3id.org/dyad/fhir/Id/TAF/encounter", "value": f"VIG-0311-{number}"}],
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
        "type": [{"coding": [{"system": CONTACTS, "code": "intervention-session"}]}],
        "subject": {"reference": infant},
        "basedOn": [{"reference": referral}],
        "serviceProvider": {"reference": PARENT_INFANT_TEAM},
        "period": {"start": at(day), "end": at(day, "11:00:00")},
    }


def delivered_to(receiver: Receiver, who: str) -> list[dict[str, Any]]:
    """The resources delivered to one system's endpoint so far, as it received them."""
    return [json.loads(r.body) for r in receiver.requests if r.path == f"/{who}" and r.body]


def task_of(code: str, test: Callable[[dict[str, Any]], bool] = lambda task: True) -> Callable[[dict[str, Any]], bool]:
    def accept(resource: dict[str, Any]) -> bool:
        codes = [c.get("code") for c in resource.get("code", {}).get("coding", [])]
        return resource.get("resourceType") == "Task" and code in codes and test(resource)

    return accept


def of_type(res_type: str) -> Callable[[dict[str, Any]], bool]:
    return lambda resource: resource.get("resourceType") == res_type


async def arrives(receiver: Receiver, who: str, accept: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Wait (30 s at most) for a notification to `who` that `accept`s; the latest such one."""
    for _ in range(300):
        matching = [r for r in delivered_to(receiver, who) if accept(r)]
        if matching:
            return matching[-1]
        try:
            await receiver.wait_for(len(receiver.requests) + 1, timeout=0.1)
        except TimeoutError:
            pass
    raise AssertionError(f"nothing expected reached {who}; the receiver got {[r.path for r in receiver.requests]}")


def outputs(task: dict[str, Any]) -> dict[str, list[str]]:
    found_outputs: dict[str, list[str]] = {}
    for output in task.get("output") or []:
        found_outputs.setdefault(output["type"]["coding"][0]["code"], []).append(output["valueReference"]["reference"])
    return found_outputs


def headers_of(receiver: Receiver, who: str) -> list[Received]:
    return [r for r in receiver.requests if r.path == f"/{who}"]


# --- the journey ------------------------------------------------------------------------------


async def test_a_concern_noticed_by_the_midwife_travels_to_a_care_plan_whose_outcome_both_referrers_see(
    fhir: httpx.AsyncClient,
    receiver: Receiver,
    server: RunningServer,
) -> None:
    await load_service_directory(fhir)
    await subscribe(fhir, receiver, "health-visiting", f"Task?owner={HEALTH_VISITING}")
    await subscribe(fhir, receiver, "health-visitor-referrals", f"Task?requester={HEALTH_VISITOR}")
    await subscribe(fhir, receiver, "parent-infant-team", f"Task?owner={PARENT_INFANT_TEAM}")
    infant = await health_visiting_registers_the_birth(fhir)

    # 1. The midwife's concern arrives through the maternity mapping ...
    family = await midwife_records_the_concern(fhir, infant)
    grace, midwife_observation = family.grace, family.concern
    assert midwife_observation["valueCodeableConcept"]["coding"][0]["code"] == "some-concern"
    assert midwife_observation["focus"] == [{"reference": grace}]

    # 2. ... and the health visiting team is notified of a prompt, due by the new birth visit.
    prompt = await arrives(receiver, "health-visiting", task_of("assessment-prompt"))
    assert prompt["owner"] == {"reference": HEALTH_VISITING}
    assert prompt["for"] == {"reference": infant}
    assert prompt["reasonReference"] == {"reference": f"Observation/{midwife_observation['id']}"}
    assert prompt["focus"] == {"reference": "Questionnaire/dyad-relationship-prompts"}
    assert prompt["restriction"]["period"]["end"] == (BORN + timedelta(days=14)).isoformat()
    hv_delivery = headers_of(receiver, "health-visiting")[0]
    assert hv_delivery.headers["authorization"] == "Bearer health-visiting-secret"
    assert hv_delivery.headers["x-dyad-event-id"]

    # 3. The health visitor completes the prompts at the new birth visit; Dyad extracts the observation.
    questionnaire = await ok(await fhir.get("/Questionnaire/dyad-relationship-prompts"), 200)
    assert questionnaire["url"] == "https://w3id.org/dyad/fhir/Questionnaire/dyad-relationship-prompts"
    response = await ok(
        await fhir.post(
            "/QuestionnaireResponse", json=prompts_completed_at_new_birth_visit(infant, grace), headers=FHIR
        ),
        201,
    )
    extracted = await ok(await fhir.post(f"/QuestionnaireResponse/{response['id']}/$extract"), 200)
    stored = await ok(await fhir.post("", json=extracted, headers=FHIR), 200)
    [confirmation] = await found(fhir, "Observation", **{"derived-from": f"QuestionnaireResponse/{response['id']}"})
    assert stored["entry"][0]["response"]["location"].startswith(f"Observation/{confirmation['id']}/")
    assert confirmation["valueCodeableConcept"]["coding"][0]["code"] == "significant-concern"
    assert confirmation["focus"] == [{"reference": grace}]
    prompt["status"] = "completed"
    prompt["output"] = [
        {
            "type": {"coding": [{"system": TASK_CODES, "code": "relationship-assessment-result"}]},
            "valueReference": {"reference": f"Observation/{confirmation['id']}"},
        }
    ]
    await ok(await fhir.put(f"/Task/{prompt['id']}", json=prompt, headers=FHIR), 200)

    # 4. She refers to the parent–infant team, which is notified of a referral task.
    referral_body = referral_to_parent_infant_team(infant, grace, family.daniel, f"Observation/{confirmation['id']}")
    referral = await ok(await fhir.post("/ServiceRequest", json=referral_body, headers=FHIR), 201)
    referral_ref = f"ServiceRequest/{referral['id']}"
    task = await arrives(receiver, "parent-infant-team", task_of("referral"))
    assert task["status"] == "requested"
    assert task["focus"] == {"reference": referral_ref}
    assert task["requester"] == {"reference": HEALTH_VISITOR}

    # 5. The team receives and accepts it, and assesses within two weeks.
    task = await move_referral(fhir, task, "received", "received", RECEIVED)
    task = await move_referral(fhir, task, "accepted", "accepted", RECEIVED)
    task = await move_referral(fhir, task, "accepted", "assessment-booked", RECEIVED + timedelta(days=2))
    refused = await fhir.put(f"/Task/{task['id']}", json={**task, "status": "completed"}, headers=FHIR)
    assert refused.status_code == 409  # accepted → completed skips the work: FHIR's state machine refuses it
    [issue] = refused.json()["issue"]
    assert (issue["code"], issue["expression"]) == ("business-rule", ["Task.status"])
    assessment = await ok(
        await fhir.post("/Observation", json=team_assessment(infant, grace, referral_ref), headers=FHIR), 201
    )
    task = await ok(await fhir.get(f"/Task/{task['id']}"), 200)
    task = await move_referral(fhir, task, "in-progress", "assessed", ASSESSED)

    # 6. A care plan with goals agreed with both parents; the family's care team includes the grandmother.
    maureen = await ok(
        await fhir.post(
            "/RelatedPerson",
            json={
                "resourceType": "RelatedPerson",
                "patient": {"reference": infant},
                "relationship": [
                    {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "PGRMTH"}]}
                ],
                "name": [{"family": "Clarke", "given": ["Maureen"]}],
            },
            headers=FHIR,
        ),
        201,
    )
    team = await ok(
        await fhir.post(
            "/CareTeam",
            json=family_care_team(
                infant, [grace, family.daniel, f"RelatedPerson/{maureen['id']}", PSYCHOTHERAPIST, HEALTH_VISITOR]
            ),
            headers=FHIR,
        ),
        201,
    )
    goals = []
    for parent, code, words in (
        (grace, "understand-baby-cues", "Grace: to know what Ava is telling me when she cries"),
        (family.daniel, "build-parenting-confidence", "Daniel: to settle Ava on my own"),
    ):
        created = await ok(
            await fhir.post(
                "/Goal", json=goal(infant, parent, code, words, f"Observation/{assessment['id']}"), headers=FHIR
            ),
            201,
        )
        goals.append(f"Goal/{created['id']}")
    plan = await ok(
        await fhir.post(
            "/CarePlan",
            json=care_plan(infant, grace, family.daniel, goals, f"CareTeam/{team['id']}", referral_ref),
            headers=FHIR,
        ),
        201,
    )

    # 7. Video interaction guidance starts within a month of the assessment.
    task = await ok(await fhir.get(f"/Task/{task['id']}"), 200)
    task = await move_referral(fhir, task, "in-progress", "intervention-started", VIG_STARTED)

    # The referrer has the outcome on her task list: the assessment and the agreed plan.
    with_plan = task_of("referral", lambda t: "care-plan-agreed" in outputs(t))
    answered = await arrives(receiver, "health-visitor-referrals", with_plan)
    assert outputs(answered) == {
        "relationship-assessment-result": [f"Observation/{assessment['id']}"],
        "care-plan-agreed": [f"CarePlan/{plan['id']}"],
    }
    assert (await ok(await fhir.get(f"/{referral_ref}"), 200))["status"] == "active"

    # 8. Six sessions are attended; the plan counts them and a review falls due for its author.
    for number in range(1, 7):
        await ok(await fhir.post("/Encounter", json=session(infant, referral_ref, number), headers=FHIR), 201)
    plan = await ok(await fhir.get(f"/CarePlan/{plan['id']}"), 200)
    attended = [e["valueUnsignedInt"] for e in plan["extension"] if e["url"].endswith("dyad-ext-sessions-attended")]
    assert attended == [6]
    [review] = await found(fhir, "Task", code=f"{TASK_CODES}|care-plan-review", focus=f"CarePlan/{plan['id']}")
    assert review["owner"] == {"reference": PSYCHOTHERAPIST}
    assert review["status"] == "requested"

    # Both waiting-time standards were met: assessment 7 days 19 hours after the referral was
    # written (the clock runs from the referral, not from its receipt), intervention 7 days after
    # assessment (a clock counts only once met).
    metrics = await ok(
        await fhir.get(
            "/$pathway-metrics",
            params={
                "periodStart": BORN.isoformat(),
                "periodEnd": (VIG_STARTED + timedelta(days=60)).isoformat(),
                "organization": PARENT_INFANT_TEAM,
            },
        ),
        200,
    )
    measured = {g["code"]["coding"][0]["code"]: g.get("measureScore", {}).get("value") for g in metrics["group"]}
    referred = datetime.fromisoformat(at(NEW_BIRTH_VISIT, "15:00:00"))
    assert measured["median-days-referral-to-assessment"] == round(
        (datetime.fromisoformat(at(ASSESSED)) - referred).total_seconds() / 86400, 3
    )
    assert measured["median-days-assessment-to-intervention"] == (VIG_STARTED - ASSESSED).days

    # 9. The midwife and the health visitor each see the outcome in their own system's record.
    health_visiting = (
        await ok(await fhir.get(f"/{infant}/$render", params={"system": "health-visiting", "organisation": "RX1"}), 200)
    )["record"]
    # The health visitor made this referral: an onward referral, not one CYP101Referral says she received.
    [hv_referral] = [
        r
        for r in health_visiting["OnwardReferrals"]
        if r["ReferralServiceRequested"] == "parent-infant-relationship-team"
    ]
    assert hv_referral["ReferralStatus"] == "intervention-started"
    assert health_visiting["CarePlan"]["SessionsAttended"] == 6
    assert {g["GoalCode"] for g in health_visiting["CarePlan"]["Goals"]} == {
        "understand-baby-cues",
        "build-parenting-confidence",
    }

    maternity = (await ok(await fhir.get(f"/{grace}/$render", params={"system": "maternity"}), 200))["record"]
    [mat_referral] = maternity["Referrals"]
    assert mat_referral["ReferralStatus"] == "intervention-started"
    assert mat_referral["OrgIDReceiving"] == "TAF"
    assert maternity["MSD102MatCarePlan"]["SessionsAttended"] == 6
    assert {g["ExpressedBy"] for g in maternity["MSD102MatCarePlan"]["Goals"]} == {"M0790011", "C0790013"}

    # And the server logged none of it: no NHS number, local identifier, name or note text.
    logs = server.logs()
    for secret in (
        AVA_NHS,
        GRACE_NHS,
        DANIEL_NHS,
        "M0790011",
        "C0790013",
        "CH0051234",
        "Clarke",
        "Maureen",
        "I feel numb",
        "Grace seems flat",
        "to settle Ava on my own",
    ):
        assert secret not in logs


async def clock_checks(server: RunningServer) -> int:
    """Finished runs of the server's clock check, read from its Prometheus metrics."""
    async with httpx.AsyncClient(base_url=server.base) as client:
        metrics = (await client.get("/metrics")).text
    line = 'dyad_periodic_runs_total{job="dyad-pathway-clock-check"} '
    [value] = [row.removeprefix(line) for row in metrics.splitlines() if row.startswith(line)]
    return int(float(value))


async def clock_checks_reach(server: RunningServer, runs: int) -> bool:
    return await clock_checks(server) >= runs


async def test_a_referral_left_unassessed_past_two_weeks_breaches_once_and_both_services_are_told(
    server: RunningServer,
    fhir: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    await load_service_directory(fhir)
    await subscribe(fhir, receiver, "parent-infant-team", f"Communication?recipient={PARENT_INFANT_TEAM}")
    await subscribe(fhir, receiver, "health-visitor-referrals", f"Communication?recipient={HEALTH_VISITOR}")
    family = await midwife_records_the_concern(fhir, await health_visiting_registers_the_birth(fhir))
    referral_body = referral_to_parent_infant_team(
        family.infant, family.grace, family.daniel, f"Observation/{family.concern['id']}"
    )
    referral_body["authoredOn"] = at(TODAY - timedelta(days=21))
    referral = await ok(await fhir.post("/ServiceRequest", json=referral_body, headers=FHIR), 201)
    [task] = await found(fhir, "Task", focus=f"ServiceRequest/{referral['id']}")
    await move_referral(fhir, task, "received", "received", TODAY - timedelta(days=20))

    breach = await arrives(receiver, "parent-infant-team", of_type("Communication"))
    assert breach["about"][0] == {"reference": f"Task/{task['id']}"}
    assert breach["category"][0]["coding"][0]["code"] == "clock-breach"
    await arrives(receiver, "health-visitor-referrals", of_type("Communication"))
    [breached] = await found(fhir, "Task", breached="assessment")
    assert breached["id"] == task["id"]
    assert [t["id"] for t in await found(fhir, "Task", overdue="true")] == [task["id"]]

    # Three more finished rounds of the clock check raise the breach no second time.
    seen = await clock_checks(server)
    await until(lambda: clock_checks_reach(server, seen + 3), timeout=30)
    breaches = [c for c in await found(fhir, "Communication", _count="500") if c.get("about") == breach["about"]]
    assert [c["id"] for c in breaches] == [breach["id"]]
    assert len([r for r in receiver.requests if r.path == "/parent-infant-team"]) == 1
