"""The benchmark's data: realistic ~1.5 KB relationship Observations and the searches over them.

Each conforms to the relationship-observation profile (code from the assessment codes, the
instrument as method). Spread (for N observations): N/40 infants, 4 assessment codes,
effective dates uniform over 2024-01-01..2025-12-31. A search for one infant, one code and
`date=ge2025-01-01` therefore matches about 40/4/2 = 5 rows, whatever N is.
"""

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson

DYAD = "https://w3id.org/dyad/fhir"
INSTRUMENTS_SYSTEM = f"{DYAD}/CodeSystem/dyad-instruments"
CONCEPTS_SYSTEM = f"{DYAD}/CodeSystem/dyad-concepts"
CONCERN_SYSTEM = f"{DYAD}/CodeSystem/dyad-concern-level"

ASSESSMENTS = [  # the code, with the instrument that goes with it as the method
    (("interaction-observation", "Observed parent-infant interaction"), ("care-index", "CARE-Index")),
    (("bonding-self-report", "Self-reported caregiver-to-infant bonding"), ("pbq", "Postpartum Bonding Questionnaire")),
    (("mind-mindedness-assessment", "Caregiver mind-mindedness assessment"), ("mind-mindedness", "Mind-mindedness")),
    (
        ("infant-social-withdrawal-assessment", "Infant social withdrawal assessment"),
        ("adbb", "Alarm Distress Baby Scale"),
    ),
]
DOMAINS = [
    ("verbal-interaction", "Verbal interaction"),
    ("emotional-sensitivity", "Emotional sensitivity"),
    ("physical-care", "Physical care"),
]
CONCERN = [
    ("no-concern", "No concern"),
    ("some-concern", "Some concern"),
    ("significant-concern", "Significant concern"),
]
OBSERVATIONS_PER_INFANT = 40
# Share of observations that record a concern (overall or in a domain): docs/capacity.md's ≈ 15 % of
# contacts. Each one is real pathway work (a prompt Task for the health visiting team and, when it
# persists, another), so a share of 1 would make the bench a test of the pathway alone.
CONCERN_SHARE = 0.15
FIRST_DAY = date(2024, 1, 1)
DAYS = 731
SEARCH_FROM = "2025-01-01"


@dataclass(frozen=True)
class Key:
    """What the searched parameters see of one observation."""

    infant: int
    assessment: int
    effective: datetime


def infant_count(observations: int) -> int:
    return max(1, observations // OBSERVATIONS_PER_INFANT)


def draw_keys(count: int, infants: int, rng: random.Random) -> list[Key]:
    keys = []
    for _ in range(count):
        day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        when = datetime(day.year, day.month, day.day, 9 + rng.randrange(8), rng.randrange(60), tzinfo=UTC)
        keys.append(Key(rng.randrange(infants), rng.randrange(len(ASSESSMENTS)), when))
    return keys


def _coding(system: str, pair: tuple[str, str], *, display: bool = True) -> dict[str, Any]:
    coding = {"system": system, "code": pair[0]}
    if display:
        coding["display"] = pair[1]
    return {"coding": [coding]}


def observation(key: Key, rng: random.Random, concern_share: float = CONCERN_SHARE) -> dict[str, Any]:
    """One parent-infant relationship observation, about 1.5 KB as compact JSON."""
    concern = rng.random() < concern_share
    return {
        "resourceType": "Observation",
        "meta": {"profile": [f"{DYAD}/StructureDefinition/dyad-relationship-observation"]},
        "identifier": [{"system": "https://hv.example.org/assessment", "value": f"A-{rng.randrange(10**9):09d}"}],
        "status": "final",
        "category": [_coding(CONCEPTS_SYSTEM, ("parent-infant-relationship", "Parent-infant relationship"))],
        "code": _coding(CONCEPTS_SYSTEM, ASSESSMENTS[key.assessment][0]),
        "subject": {"reference": f"Patient/infant-{key.infant:06d}"},
        "focus": [{"reference": f"RelatedPerson/caregiver-{key.infant:06d}"}],
        "effectiveDateTime": key.effective.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "method": _coding(INSTRUMENTS_SYSTEM, ASSESSMENTS[key.assessment][1]),
        "performer": [{"reference": f"Practitioner/hv-{rng.randrange(200):04d}"}],
        "valueCodeableConcept": _coding(CONCERN_SYSTEM, CONCERN[rng.choice((1, 2))] if concern else CONCERN[0]),
        "component": [
            {
                "code": _coding(CONCEPTS_SYSTEM, domain, display=False),
                "valueCodeableConcept": _coding(
                    CONCERN_SYSTEM, rng.choice(CONCERN) if concern else CONCERN[0], display=False
                ),
            }
            for domain in rng.sample(DOMAINS, 2)
        ],
        "note": [{"text": "Feed observed; responsive to cues, warm tone."}],
    }


def observation_body(key: Key, rng: random.Random) -> bytes:
    return orjson.dumps(observation(key, rng))


def transaction(keys: list[Key], rng: random.Random, concern_share: float = CONCERN_SHARE) -> bytes:
    """A transaction Bundle that creates one Observation per key."""
    entries = [
        {
            "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
            "resource": observation(key, rng, concern_share),
            "request": {"method": "POST", "url": "Observation"},
        }
        for i, key in enumerate(keys)
    ]
    return orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})


def search_path(infant: int, assessment: int) -> str:
    code = quote(f"{CONCEPTS_SYSTEM}|{ASSESSMENTS[assessment][0][0]}", safe="")
    return f"/fhir/Observation?subject=Patient/infant-{infant:06d}&code={code}&date=ge{SEARCH_FROM}"


def expected_matches(keys: list[Key], infant: int, assessment: int) -> int:
    cutoff = datetime.fromisoformat(SEARCH_FROM).replace(tzinfo=UTC)
    return sum(1 for k in keys if k.infant == infant and k.assessment == assessment and k.effective >= cutoff)


PRACTITIONERS = 200  # the performers `observation` draws from
CREATE_INFANTS = 1000  # the bench's single creates are about infants drawn from this many


def people_resources(infants: int) -> list[dict[str, Any]]:
    """Whom the Observations refer to (references must resolve on write): each infant's Patient,
    a caregiver RelatedPerson per infant and the health visitors, under the ids the data uses."""
    out: list[dict[str, Any]] = []
    for n in range(infants):
        out.append(
            {
                "resourceType": "Patient",
                "id": f"infant-{n:06d}",
                "birthDate": (FIRST_DAY - timedelta(days=n % 300)).isoformat(),
            }
        )
        out.append(
            {
                "resourceType": "RelatedPerson",
                "id": f"caregiver-{n:06d}",
                "patient": {"reference": f"Patient/infant-{n:06d}"},
            }
        )
    out += [{"resourceType": "Practitioner", "id": f"hv-{n:04d}"} for n in range(PRACTITIONERS)]
    return out


def people_transactions(infants: int, size: int = 1000) -> list[bytes]:
    """`people_resources` as PUT transaction Bundles of at most `size` entries (a caregiver with its infant)."""
    everyone = people_resources(infants)
    bundles = []
    for start in range(0, len(everyone), size):
        entries = [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in everyone[start : start + size]
        ]
        bundles.append(orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}))
    return bundles


def people(infants: int) -> bytes:
    """`people_resources` as one PUT transaction Bundle."""
    return people_transactions(infants, 2 * infants + PRACTITIONERS)[0]
