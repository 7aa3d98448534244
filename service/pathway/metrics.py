"""Pathway metrics for a period and an organisation, as a MeasureReport.

- the share of postnatal contacts (Encounters) with a relationship assessment recorded at them
  (NICE CG192 1.9.12: assess at all postnatal contacts — the headline measure);
- referrals by service (ServiceRequest.code) authored in the period;
- median days from referral received to assessment, and from assessment to intervention
  (the pathway clocks met in the period);
- clock breaches raised in the period.
"""

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.pathway.care_plans import CARE_CONTACTS
from service.pathway.clock_store import Clock
from service.pathway.summary import Search

POSTNATAL_CONTACTS = (
    "postnatal-midwife-visit", "new-birth-visit", "six-to-eight-week-review", "one-year-review",
    "additional-health-visiting-contact", "perinatal-mh-appointment", "mbu-discharge",
)
METRICS_SYSTEM = "https://w3id.org/dyad/fhir/CodeSystem/dyad-pathway-clocks"


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def search_items(self, param: str) -> list[tuple[str, str]]:
        return [(param, f"ge{self.start.isoformat()}"), (param, f"lt{self.end.isoformat()}")]


def _days(clocks: list[Clock]) -> list[float]:
    return [(c.met_at - c.started_at).total_seconds() / 86400 for c in clocks if c.met_at is not None]


def _group(code: str, display: str, *, count: int | None = None, numerator: int | None = None,
           score: float | None = None, strata: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    group: dict[str, Any] = {"code": {"coding": [{"system": "https://w3id.org/dyad/fhir/measure", "code": code}], "text": display}}
    population = []
    if count is not None:
        population.append({"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/measure-population", "code": "denominator" if numerator is not None else "initial-population"}]}, "count": count})
    if numerator is not None:
        population.append({"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/measure-population", "code": "numerator"}]}, "count": numerator})
    if population:
        group["population"] = population
    if score is not None:
        group["measureScore"] = {"value": round(score, 3)}
    if strata:
        group["stratifier"] = [{"code": [{"text": "service"}], "stratum": strata}]
    return group


async def pathway_metrics(
    search: Search, period: Period, organization: str | None, clocks: list[Clock], breaches: list[Clock]
) -> dict[str, Any]:
    contacts = await _postnatal_contacts(search, period, organization)
    assessed = await _assessed_contacts(search, [c["id"] for c in contacts])
    referrals = await _referrals(search, period, organization)
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
            _group("postnatal-contacts-with-relationship-assessment",
                   "Share of postnatal contacts with a relationship assessment",
                   count=len(contacts), numerator=len(assessed),
                   score=(len(assessed) / len(contacts)) if contacts else None),
            _group("referrals-by-service", "Referrals by service", count=len(referrals), strata=[
                {"value": {"coding": [{"code": code}]}, "population": [{"count": n}]} for code, n in sorted(by_service.items())
            ]),
            _group("median-days-referral-to-assessment", "Median days from referral received to assessment",
                   count=len(to_assessment), score=statistics.median(to_assessment) if to_assessment else None),
            _group("median-days-assessment-to-intervention", "Median days from assessment to intervention",
                   count=len(to_intervention), score=statistics.median(to_intervention) if to_intervention else None),
            _group("clock-breaches", "Pathway clock breaches raised", count=len(breaches), strata=[
                {"value": {"coding": [{"system": METRICS_SYSTEM, "code": kind}]},
                 "population": [{"count": sum(1 for b in breaches if b.clock == kind)}]}
                for kind in ("assessment", "intervention")
            ]),
        ],
    }
    if organization:
        report["reporter"] = {"reference": organization}
    return report


async def _postnatal_contacts(search: Search, period: Period, organization: str | None) -> list[dict[str, Any]]:
    items = period.search_items("date") + [("type", ",".join(f"{CARE_CONTACTS}|{c}" for c in POSTNATAL_CONTACTS))]
    if organization:
        items.append(("service-provider", organization))
    return await search("Encounter", items)


async def _assessed_contacts(search: Search, encounter_ids: list[str]) -> set[str]:
    assessed: set[str] = set()
    for chunk in (encounter_ids[i:i + 50] for i in range(0, len(encounter_ids), 50)):
        observations = await search("Observation", [
            ("category", "https://w3id.org/dyad/fhir/CodeSystem/dyad-concepts|parent-infant-relationship"),
            ("encounter", ",".join(f"Encounter/{e}" for e in chunk)),
        ])
        assessed |= {str((o.get("encounter") or {}).get("reference", ""))[10:] for o in observations}
    return assessed & set(encounter_ids)


async def _referrals(search: Search, period: Period, organization: str | None) -> list[dict[str, Any]]:
    items = period.search_items("authored")
    if not organization:
        return await search("ServiceRequest", items)
    seen: dict[str, dict[str, Any]] = {}
    for param in ("performer", "requester"):
        for referral in await search("ServiceRequest", items + [(param, organization)]):
            seen[referral["id"]] = referral
    return list(seen.values())
