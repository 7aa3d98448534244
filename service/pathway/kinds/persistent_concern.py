"""Kind `persistent-concern`: a concern about a caregiver and infant recorded again at a later contact
asks the family's team to consider further intervention (NICE CG192 1.9.13), urgently.

"Again" means an earlier valid relationship Observation of the same infant and caregiver, on an
earlier day, that recorded a concern; whichever service recorded either.
"""

from typing import Any

from service.pathway.context import PathwayContext
from service.pathway.routing import Rule
from service.pathway.tasks import concern_level, raise_for_teams

VALID = "final,amended,corrected"
RELATIONSHIP = "https://w3id.org/dyad/fhir/CodeSystem/dyad-concepts|parent-infant-relationship"


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    infant = rule.infant_of(ctx.resource)
    caregivers = [
        str(f.get("reference")) for f in ctx.resource.get("focus") or [] if isinstance(f, dict) and f.get("reference")
    ]
    if infant is None or not caregivers:
        return
    day = _day(ctx.resource)
    earlier: list[str] = []
    for caregiver in caregivers:
        for found in await ctx.search(
            "Observation",
            [
                ("subject", infant["reference"]),
                ("focus", caregiver),
                ("category", RELATIONSHIP),
                ("status", VALID),
            ],
        ):
            other = found.content or {}
            if (
                found.res_id != ctx.change.res_id
                and _day(other)
                and _day(other) < day
                and concern_level(other) != "no-concern"
            ):
                earlier.append(f"Observation/{found.res_id}")
    if earlier:
        await raise_for_teams(ctx, rule, infant, earlier=sorted(set(earlier)))


def _day(observation: dict[str, Any]) -> str:
    effective = observation.get("effectiveDateTime") or (observation.get("effectivePeriod") or {}).get("start") or ""
    return str(effective)[:10]
