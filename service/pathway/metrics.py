"""Pathway metrics for a period and an organisation, as a MeasureReport.

- the share of finished postnatal contacts (Encounters) with a valid (final, amended, corrected)
  relationship assessment recorded at them (NICE CG192 1.9.12: assess at all postnatal contacts —
  the headline measure; seed 004: 65% of parents never asked), by contact type, and the
  assessments at them by caregiver role;
- offered help: of the infants with a concern recorded in the period, those with a parent–infant
  referral authored in the period (seed 004: 3% offered help);
- referrals by service (ServiceRequest.code) authored in the period;
- median days from referral received to assessment, and from assessment to intervention
  (the pathway clocks met in the period);
- clock breaches raised in the period.

Over time: the same report for each week or calendar month of the period (`intervals`), so a
chart can show how the figures move; each interval is measured exactly as a period on its own.
"""

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from service.pathway.care_plans import CARE_CONTACTS
from service.pathway.clock_store import Clock
from service.pathway.summary import Search
from service.search.values import parse_instant

VALID = "final,amended,corrected"
RELATIONSHIP = "https://w3id.org/dyad/fhir/CodeSystem/dyad-concepts|parent-infant-relationship"
CONCERN_LEVELS = "https://w3id.org/dyad/fhir/CodeSystem/dyad-concern-level"

POSTNATAL_CONTACTS = (
    "postnatal-midwife-visit",
    "new-birth-visit",
    "six-to-eight-week-review",
    "one-year-review",
    "additional-health-visiting-contact",
    "perinatal-mh-appointment",
    "mbu-discharge",
)
METRICS_SYSTEM = "https://w3id.org/dyad/fhir/CodeSystem/dyad-pathway-clocks"


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def search_items(self, param: str) -> list[tuple[str, str]]:
        return [(param, f"ge{self.start.isoformat()}"), (param, f"lt{self.end.isoformat()}")]


INTERVALS = ("week", "month")
MAX_INTERVALS = 60  # five years of months: a chart, not a bulk export


class TooManyIntervals(ValueError):
    """The period splits into more intervals than one request measures."""


def _next_start(start: datetime, interval: str) -> datetime:
    if interval == "week":
        return start + timedelta(days=7)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def intervals(period: Period, interval: str) -> list[Period]:
    """The period cut into consecutive weeks (from its start) or calendar months; the first and
    last may be partial, so together they cover the period exactly, with no gap or overlap."""
    if interval not in INTERVALS:
        raise ValueError(interval)
    cuts: list[Period] = []
    start = period.start
    while start < period.end:
        if len(cuts) == MAX_INTERVALS:
            raise TooManyIntervals(f"more than {MAX_INTERVALS} intervals")
        end = min(_next_start(start, interval), period.end)
        cuts.append(Period(start, end))
        start = end
    return cuts


def _days(clocks: list[Clock]) -> list[float]:
    return [(c.met_at - c.started_at).total_seconds() / 86400 for c in clocks if c.met_at is not None]


def _stratifier(name: str, strata: list[tuple[dict[str, Any], int | None, int]]) -> dict[str, Any]:
    """(value, denominator or None, numerator) per stratum."""
    measure = "http://terminology.hl7.org/CodeSystem/measure-population"
    return {
        "code": [{"text": name}],
        "stratum": [
            {
                "value": value,
                "population": (
                    [{"code": {"coding": [{"system": measure, "code": "denominator"}]}, "count": d}]
                    if d is not None
                    else []
                )
                + [{"code": {"coding": [{"system": measure, "code": "numerator"}]}, "count": n}],
            }
            for value, d, n in strata
        ],
    }


def _group(
    code: str,
    display: str,
    *,
    count: int | None = None,
    numerator: int | None = None,
    score: float | None = None,
    strata: list[dict[str, Any]] | None = None,
    stratifiers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    group: dict[str, Any] = {
        "code": {"coding": [{"system": "https://w3id.org/dyad/fhir/measure", "code": code}], "text": display}
    }
    population = []
    if count is not None:
        population.append(
            {
                "code": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/measure-population",
                            "code": "denominator" if numerator is not None else "initial-population",
                        }
                    ]
                },
                "count": count,
            }
        )
    if numerator is not None:
        population.append(
            {
                "code": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/measure-population", "code": "numerator"}
                    ]
                },
                "count": numerator,
            }
        )
    if population:
        group["population"] = population
    if score is not None:
        group["measureScore"] = {"value": round(score, 3)}
    if strata:
        group["stratifier"] = [{"code": [{"text": "service"}], "stratum": strata}]
    if stratifiers:
        group["stratifier"] = stratifiers
    return group


async def pathway_metrics(
    search: Search, period: Period, organization: str | None, clocks: list[Clock], breaches: list[Clock]
) -> dict[str, Any]:
    overlapping = await search("Encounter", _contact_items(period, organization, ",".join(POSTNATAL_CONTACTS)))
    contacts = [c for c in overlapping if _started_in(c, period)]
    contact_type = {c["id"]: _contact_type(c) for c in contacts}
    by_type = {t: sum(1 for c in contact_type.values() if c == t) for t in POSTNATAL_CONTACTS}
    total = len(contacts)
    assessments = await _assessments_at(search, list(contact_type))
    assessed = {ref for ref, _ in assessments}
    assessed_by_type = {c: sum(1 for e in assessed if contact_type[e] == c) for c in POSTNATAL_CONTACTS}
    roles = await _roles(search, [caregiver for _, caregiver in assessments])
    referrals = await _referrals(search, period, organization)
    concerned, helped = await _offered_help(search, period, referrals)
    by_service: dict[str, int] = {}
    for referral in referrals:
        coding = ((referral.get("code") or {}).get("coding") or [{}])[0]
        key = str(coding.get("code", "unknown"))
        by_service[key] = by_service.get(key, 0) + 1
    to_assessment = _days([c for c in clocks if c.clock == "assessment"])
    to_intervention = _days([c for c in clocks if c.clock == "intervention"])
    report: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": "https://w3id.org/dyad/fhir/Measure/dyad-pathway-metrics",
        "date": datetime.now(period.start.tzinfo).isoformat(timespec="seconds"),
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "group": [
            _group(
                "postnatal-contacts-with-relationship-assessment",
                "Share of postnatal contacts with a relationship assessment",
                count=total,
                numerator=len(assessed),
                score=(len(assessed) / total) if total else None,
                stratifiers=[
                    _stratifier(
                        "contact-type",
                        [
                            ({"coding": [{"system": CARE_CONTACTS, "code": c}]}, by_type[c], assessed_by_type[c])
                            for c in POSTNATAL_CONTACTS
                            if by_type[c]
                        ],
                    ),
                    _stratifier("caregiver-role", [(role, None, n) for role, n in roles]),
                ],
            ),
            _group(
                "offered-help",
                "Share of infants with a relationship concern in the period offered a referral for help",
                count=len(concerned),
                numerator=len(helped),
                score=(len(helped) / len(concerned)) if concerned else None,
            ),
            _group(
                "referrals-by-service",
                "Referrals by service",
                count=len(referrals),
                strata=[
                    {"value": {"coding": [{"code": code}]}, "population": [{"count": n}]}
                    for code, n in sorted(by_service.items())
                ],
            ),
            _group(
                "median-days-referral-to-assessment",
                "Median days from referral received to assessment",
                count=len(to_assessment),
                score=statistics.median(to_assessment) if to_assessment else None,
            ),
            _group(
                "median-days-assessment-to-intervention",
                "Median days from assessment to intervention",
                count=len(to_intervention),
                score=statistics.median(to_intervention) if to_intervention else None,
            ),
            _group(
                "clock-breaches",
                "Pathway clock breaches raised",
                count=len(breaches),
                strata=[
                    {
                        "value": {"coding": [{"system": METRICS_SYSTEM, "code": kind}]},
                        "population": [{"count": sum(1 for b in breaches if b.clock == kind)}],
                    }
                    for kind in ("assessment", "intervention")
                ],
            ),
        ],
    }
    if organization:
        report["reporter"] = {"reference": organization}
    return report


def _contact_items(period: Period, organization: str | None, codes: str) -> list[tuple[str, str]]:
    """Finished contacts only: a planned, cancelled or entered-in-error visit is not a contact."""
    items = period.search_items("date") + [
        ("status", "finished"),
        ("type", ",".join(f"{CARE_CONTACTS}|{c}" for c in codes.split(","))),
    ]
    return items + ([("service-provider", organization)] if organization else [])


def _started_in(encounter: dict[str, Any], period: Period) -> bool:
    """A contact belongs to the interval it started in. Date search matches by overlap, so a
    finished visit recorded without an end (or one across midnight) reaches later intervals too;
    one with no start is left where the search put it."""
    start = parse_instant((encounter.get("period") or {}).get("start"))
    return start is None or period.start <= start < period.end


def _contact_type(encounter: dict[str, Any]) -> str:
    return next(
        (
            str(c.get("code"))
            for t in encounter.get("type") or []
            for c in t.get("coding") or []
            if c.get("system") == CARE_CONTACTS and c.get("code") in POSTNATAL_CONTACTS
        ),
        "",
    )


async def _assessments_at(search: Search, encounter_ids: list[str]) -> list[tuple[str, str]]:
    """(encounter id, caregiver reference) of each valid relationship Observation at these contacts."""
    found: list[tuple[str, str]] = []
    wanted = set(encounter_ids)
    for chunk in (encounter_ids[i : i + 50] for i in range(0, len(encounter_ids), 50)):
        observations = await search(
            "Observation",
            [
                ("category", RELATIONSHIP),
                ("status", VALID),
                ("encounter", ",".join(f"Encounter/{e}" for e in chunk)),
            ],
        )
        for observation in observations:
            encounter = str((observation.get("encounter") or {}).get("reference", ""))[10:]
            if encounter in wanted:
                for focus in observation.get("focus") or [{}]:
                    found.append((encounter, str(focus.get("reference") or "")))
    return found


async def _roles(search: Search, caregivers: list[str]) -> list[tuple[dict[str, Any], int]]:
    """Assessments per caregiver role: a RelatedPerson's relationship, or a caregiver who is a Patient."""
    related = sorted({c.split("/", 1)[1] for c in caregivers if c.startswith("RelatedPerson/")})
    role_of: dict[str, str] = {}
    for chunk in (related[i : i + 50] for i in range(0, len(related), 50)):
        for person in await search("RelatedPerson", [("_id", ",".join(chunk))]):
            coding: dict[str, Any] = next(
                (c for r in person.get("relationship") or [] for c in r.get("coding") or []), {}
            )
            role_of[f"RelatedPerson/{person['id']}"] = f"{coding.get('system')}|{coding.get('code')}"
    counts: dict[str, int] = {}
    for caregiver in caregivers:
        role = role_of.get(caregiver) or ("patient" if caregiver.startswith("Patient/") else "unknown")
        counts[role] = counts.get(role, 0) + 1
    return [
        ({"text": r} if "|" not in r else {"coding": [{"system": r.split("|")[0], "code": r.split("|")[1]}]}, n)
        for r, n in sorted(counts.items())
    ]


async def _offered_help(search: Search, period: Period, referrals: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """(infants with a valid concern recorded in the period, those of them referred in the period)."""
    concerns = await search(
        "Observation", period.search_items("date") + [("category", RELATIONSHIP), ("status", VALID)]
    )
    concerned = {str((o.get("subject") or {}).get("reference")) for o in concerns if _has_concern(o)}
    referred = {
        str((r.get("subject") or {}).get("reference")) for r in referrals if r.get("status") in ("active", "completed")
    }
    return concerned, concerned & referred


def _has_concern(observation: dict[str, Any]) -> bool:
    codings = list((observation.get("valueCodeableConcept") or {}).get("coding") or [])
    codings += [
        c
        for comp in observation.get("component") or []
        for c in (comp.get("valueCodeableConcept") or {}).get("coding") or []
    ]
    return any(c.get("system") == CONCERN_LEVELS and c.get("code") != "no-concern" for c in codings)


async def _referrals(search: Search, period: Period, organization: str | None) -> list[dict[str, Any]]:
    items = period.search_items("authored")
    if not organization:
        return await search("ServiceRequest", items)
    seen: dict[str, dict[str, Any]] = {}
    for param in ("performer", "requester"):
        for referral in await search("ServiceRequest", items + [(param, organization)]):
            seen[referral["id"]] = referral
    return list(seen.values())
