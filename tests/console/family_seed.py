"""A family on the pathway, written through the FHIR API of a console test server.

Every family gets its own ids, organisations and NHS numbers (the console servers are shared by
the session's tests), so a test finds exactly its own records whatever else the database holds.
"""

import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

NHS = "https://fhir.nhs.uk/Id/nhs-number"
DYAD = "https://w3id.org/dyad/fhir"
CONTACTS = f"{DYAD}/CodeSystem/dyad-care-contacts"
CONCERN = f"{DYAD}/CodeSystem/dyad-concern-level"
CONCEPTS = f"{DYAD}/CodeSystem/dyad-concepts"
ROLES = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
SNOMED = "http://snomed.info/sct"


def nhs_number() -> str:
    """A random NHS number in the 999 test range with a valid modulus-11 check digit."""
    while True:
        digits = [9, 9, 9] + [random.randrange(10) for _ in range(6)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)


@dataclass
class Family:
    suffix: str
    infant: str  # Patient id
    mother: str  # Patient id
    mother_rp: str
    father_rp: str
    health_visiting: str  # Organization/<id>
    parent_infant_team: str
    midwifery: str
    referral: str = ""  # ServiceRequest id
    family_name: str = ""  # else one made from the suffix, unique to the test

    @property
    def infant_name(self) -> str:
        return f"Ava {self.surname}"

    @property
    def surname(self) -> str:
        return self.family_name or f"Clarke{self.suffix.upper()}"


def new_family(
    health_visiting: str | None = None, parent_infant_team: str | None = None, family_name: str = ""
) -> Family:
    suffix = uuid.uuid4().hex[:6]
    return Family(
        family_name=family_name,
        suffix=suffix,
        infant=f"infant-{suffix}",
        mother=f"mother-{suffix}",
        mother_rp=f"mother-rp-{suffix}",
        father_rp=f"father-rp-{suffix}",
        health_visiting=health_visiting or f"Organization/hv-{suffix}",
        parent_infant_team=parent_infant_team or f"Organization/pit-{suffix}",
        midwifery=f"Organization/mw-{suffix}",
    )


def _organisation(reference: str, name: str, system: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": reference.split("/", 1)[1],
        "name": name,
        "type": [{"coding": [{"system": system, "code": code}]}],
    }


def _instant(day: date, hour: int = 10) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


def people(family: Family, born: date) -> list[dict[str, Any]]:
    """The infant, the mother (a Patient with a RelatedPerson record) and the father."""
    return [
        {
            "resourceType": "Patient",
            "id": family.infant,
            "identifier": [{"system": NHS, "value": nhs_number()}],
            "name": [{"family": family.surname, "given": ["Ava"]}],
            "gender": "female",
            "birthDate": born.isoformat(),
        },
        {
            "resourceType": "Patient",
            "id": family.mother,
            "identifier": [{"system": NHS, "value": nhs_number()}],
            "name": [{"family": family.surname, "given": ["Grace"]}],
            "gender": "female",
            "birthDate": "1994-03-17",
            "link": [{"other": {"reference": f"RelatedPerson/{family.mother_rp}"}, "type": "seealso"}],
        },
        {
            "resourceType": "RelatedPerson",
            "id": family.mother_rp,
            "patient": {"reference": f"Patient/{family.infant}"},
            "relationship": [{"coding": [{"system": ROLES, "code": "MTH", "display": "mother"}]}],
            "name": [{"family": family.surname, "given": ["Grace"]}],
        },
        {
            "resourceType": "RelatedPerson",
            "id": family.father_rp,
            "patient": {"reference": f"Patient/{family.infant}"},
            "relationship": [{"coding": [{"system": ROLES, "code": "FTH", "display": "father"}]}],
            "name": [{"family": family.surname, "given": ["Daniel"]}],
        },
    ]


PERINATAL_MENTAL_HEALTH_SERVICE = "901221000000102"


def perinatal_mental_health(reference: str) -> dict[str, Any]:
    return _organisation(reference, "Perinatal Mental Health Team", SNOMED, PERINATAL_MENTAL_HEALTH_SERVICE)


def services(family: Family) -> list[dict[str, Any]]:
    place = family.family_name and "North Borough" or family.suffix
    return [
        _organisation(family.health_visiting, f"Health Visiting {place}", SNOMED, "1078501000000104"),
        _organisation(family.midwifery, f"Community Midwifery {place}", SNOMED, "714089006"),
        _organisation(
            family.parent_infant_team,
            f"Parent–Infant Team {place}",
            f"{DYAD}/CodeSystem/dyad-services",
            "parent-infant-relationship-team",
        ),
    ]


def episode(family: Family) -> dict[str, Any]:
    """How Dyad knows the family's health visiting team."""
    return {
        "resourceType": "EpisodeOfCare",
        "id": f"episode-{family.suffix}",
        "status": "active",
        "patient": {"reference": f"Patient/{family.infant}"},
        "managingOrganization": {"reference": family.health_visiting},
    }


def contact(family: Family, name: str, code: str, day: date, provider: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": f"{name}-{family.suffix}",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
        "type": [{"coding": [{"system": CONTACTS, "code": code}]}],
        "subject": {"reference": f"Patient/{family.infant}"},
        "period": {"start": _instant(day), "end": _instant(day, 11)},
        "serviceProvider": {"reference": provider},
    }


def relationship_observation(
    family: Family, caregiver: str, contact_code: str, encounter: str | None, day: date, level: str, performer: str
) -> dict[str, Any]:
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [{"system": f"{DYAD}/Id/observation", "value": f"{contact_code}-{caregiver}-{family.suffix}"}],
        "extension": [
            {
                "url": f"{DYAD}/StructureDefinition/dyad-ext-contact-type",
                "valueCodeableConcept": {"coding": [{"system": CONTACTS, "code": contact_code}]},
            }
        ],
        "status": "final",
        "category": [{"coding": [{"system": CONCEPTS, "code": "parent-infant-relationship"}]}],
        "code": {"coding": [{"system": CONCEPTS, "code": "interaction-observation"}]},
        "subject": {"reference": f"Patient/{family.infant}"},
        "focus": [{"reference": caregiver}],
        "effectiveDateTime": _instant(day, 10),
        "performer": [{"reference": performer}],
        "method": {
            "coding": [{"system": f"{DYAD}/CodeSystem/dyad-instruments", "code": "nice-cg192-clinical-observation"}]
        },
        "valueCodeableConcept": {"coding": [{"system": CONCERN, "code": level}]},
        "component": [
            {
                "code": {"coding": [{"system": CONCEPTS, "code": "emotional-sensitivity"}]},
                "valueCodeableConcept": {"coding": [{"system": CONCERN, "code": level}]},
            }
        ],
    }
    if encounter:
        observation["encounter"] = {"reference": f"Encounter/{encounter}"}
    return observation


def referral(family: Family, authored: datetime) -> dict[str, Any]:
    """A referral to the parent–infant team: its Task's assessment clock starts at `authored`."""
    return {
        "resourceType": "ServiceRequest",
        "id": f"referral-{family.suffix}",
        "extension": [
            {
                "url": f"{DYAD}/StructureDefinition/dyad-ext-caregiver",
                "valueReference": {"reference": f"Patient/{family.mother}"},
            }
        ],
        "status": "active",
        "intent": "plan",
        "category": [{"coding": [{"system": CONCEPTS, "code": "referral-for-assessment"}]}],
        "priority": "routine",
        "code": {"coding": [{"system": f"{DYAD}/CodeSystem/dyad-services", "code": "parent-infant-relationship-team"}]},
        "subject": {"reference": f"Patient/{family.infant}"},
        "authoredOn": authored.isoformat(timespec="seconds"),
        "requester": {"reference": family.health_visiting},
        "performer": [{"reference": family.parent_infant_team}],
        "reasonCode": [{"text": "Concern about the parent–infant relationship at the new birth visit"}],
    }


def goal(family: Family, day: date) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "id": f"goal-{family.suffix}",
        "lifecycleStatus": "active",
        "achievementStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/goal-achievement", "code": "improving"}]
        },
        "description": {"text": "Grace: to know what Ava is telling me when she cries"},
        "subject": {"reference": f"Patient/{family.infant}"},
        "startDate": day.isoformat(),
        "expressedBy": {"reference": f"Patient/{family.mother}"},
    }


def transaction(client: httpx.Client, resources: list[dict[str, Any]]) -> None:
    """In one transaction: the mother's Patient and RelatedPerson refer to each other."""
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources
        ],
    }
    response = client.post("", json=bundle)
    assert response.status_code == 200, response.text


def create(client: httpx.Client, resource: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def put(client: httpx.Client, resource: dict[str, Any]) -> dict[str, Any]:
    response = client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
    assert response.status_code in (200, 201), response.text
    stored: dict[str, Any] = response.json()
    return stored


def search(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    response = client.get(f"/{path}")
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry", []) if e.get("search", {}).get("mode") != "include"]


def seed_family(client: httpx.Client, family: Family) -> None:
    """The family two months after the birth, its services, and health visiting's two contacts."""
    born = datetime.now(UTC).date() - timedelta(days=60)
    transaction(
        client,
        services(family)
        + people(family, born)
        + [
            episode(family),
            contact(family, "nbv", "new-birth-visit", born + timedelta(days=14), family.health_visiting),
            contact(family, "six-weeks", "six-to-eight-week-review", born + timedelta(days=45), family.health_visiting),
            goal(family, datetime.now(UTC).date()),
        ],
    )


def mother_observed_at_new_birth_visit(family: Family) -> dict[str, Any]:
    day = datetime.now(UTC).date() - timedelta(days=60 - 14)
    caregiver = f"Patient/{family.mother}"
    return relationship_observation(
        family, caregiver, "new-birth-visit", f"nbv-{family.suffix}", day, "some-concern", family.health_visiting
    )


def father_observed_by(family: Family, performer: str, contact_code: str = "postnatal-midwife-visit") -> dict[str, Any]:
    """A significant concern about the father recorded outside health visiting: it prompts them."""
    day = datetime.now(UTC).date() - timedelta(days=55)
    caregiver = f"RelatedPerson/{family.father_rp}"
    return relationship_observation(family, caregiver, contact_code, None, day, "significant-concern", performer)


def seed_family_on_the_pathway(client: httpx.Client, family: Family) -> None:
    """The family with observations of both parents (the midwife's concern about the father
    prompts health visiting) and a referral to the parent–infant team written three weeks ago
    that nobody has opened: its assessment clock (two weeks) has run out."""
    seed_family(client, family)
    create(client, mother_observed_at_new_birth_visit(family))
    create(client, father_observed_by(family, family.midwifery))
    created = put(client, referral(family, datetime.now(UTC) - timedelta(days=21)))
    family.referral = created["id"]


def wait_for_breach(client: httpx.Client, family: Family, within: float = 60) -> dict[str, Any]:
    """The referral's Task once the server's periodic clock check has marked its breach."""
    deadline = time.monotonic() + within
    while True:
        found = search(client, f"Task?focus=ServiceRequest/{family.referral}&breached=assessment")
        if found:
            return found[0]
        assert time.monotonic() < deadline, "the clock check did not mark the breach in time"
        time.sleep(0.2)


REFERRAL_STATUS = f"{DYAD}/CodeSystem/dyad-referral-status"


def move(client: httpx.Client, task: dict[str, Any], status: str, business: str, at: datetime) -> dict[str, Any]:
    """The receiving service moves its referral Task; `at` is when the step happened."""
    moved = {
        **task,
        "status": status,
        "businessStatus": {"coding": [{"system": REFERRAL_STATUS, "code": business}]},
        "lastModified": at.isoformat(timespec="seconds"),
    }
    return put(client, moved)


def assessed_referral(
    client: httpx.Client, family: Family, number: int, authored: datetime, assessed: float, started: float | None
) -> str:
    """A referral the team assessed `assessed` days after it was written, and began intervention
    `started` days after that (None: not yet); returns its Task's id.

    Written after the fact: a server running the clock check may mark a clock breached that was
    past due before the step that meets it arrives. The met clock's figures are the same either way."""
    written = referral(family, authored)
    written["id"] = f"referral-{family.suffix}-{number}"
    put(client, written)
    [task] = search(client, f"Task?focus=ServiceRequest/{written['id']}")
    task = move(client, task, "received", "received", authored + timedelta(hours=2))
    task = move(client, task, "accepted", "accepted", authored + timedelta(hours=3))
    at = authored + timedelta(days=assessed)
    task = move(client, task, "in-progress", "assessed", at)
    if started is not None:
        move(client, task, "in-progress", "intervention-started", at + timedelta(days=started))
    return str(task["id"])


def month_start(months_ago: int) -> datetime:
    today = datetime.now(UTC)
    year, month = today.year, today.month - months_ago
    while month < 1:
        year, month = year - 1, month + 12
    return datetime(year, month, 1, tzinfo=UTC)


def seed_service_story(client: httpx.Client) -> Family:
    """Six months of a borough's pathway, for the console's screenshots: each month a family seen
    at its new birth visit (most asked about their relationship), referred, assessed and helped in
    more or less time; and the Clarkes of seed_family_on_the_pathway, whose referral breached."""
    hv, pit = "Organization/hv-north", "Organization/pit-north"
    story = (
        ("Okafor", 8, 21, True),
        ("Patel", 11, 26, True),
        ("Nowak", 16, 33, False),
        ("Hughes", 9, 18, True),
        ("Begum", 13, None, True),
    )
    for months_ago, (surname, assessed, started, asked) in zip(range(5, 0, -1), story, strict=True):
        family = new_family(hv, pit, family_name=surname)
        visit_day = (month_start(months_ago) + timedelta(days=9)).date()
        visit = contact(family, "nbv", "new-birth-visit", visit_day, hv)
        review = contact(family, "six-weeks", "six-to-eight-week-review", visit_day + timedelta(days=12), hv)
        transaction(
            client, services(family) + people(family, visit_day - timedelta(days=14)) + [episode(family), visit, review]
        )
        mother = f"Patient/{family.mother}"
        if asked:
            create(
                client,
                relationship_observation(family, mother, "new-birth-visit", visit["id"], visit_day, "some-concern", hv),
            )
        father = f"RelatedPerson/{family.father_rp}"
        create(
            client,
            relationship_observation(
                family,
                father,
                "six-to-eight-week-review",
                review["id"],
                visit_day + timedelta(days=12),
                "no-concern",
                hv,
            ),
        )
        authored = datetime.combine(visit_day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        assessed_referral(client, family, 1, authored, assessed=assessed, started=started)
    clarke = new_family(hv, pit, family_name="Clarke")
    seed_family_on_the_pathway(client, clarke)
    return clarke
