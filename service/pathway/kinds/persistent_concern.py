"""Kind `persistent-concern`: a concern about a caregiver and infant recorded again at a later contact
asks the family's team to consider further intervention (NICE CG192 1.9.13), urgently.

"Again" means an earlier valid relationship Observation of the same infant and caregiver, on an
earlier day, that recorded a concern; whichever service recorded either.
"""

from typing import Any

from service.pathway.context import PathwayContext
from service.pathway.earlier import earlier as prefetched
from service.pathway.earlier import earlier_criteria
from service.pathway.routing import Rule
from service.pathway.tasks import concern_level, raise_for_teams


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    infant = rule.infant_of(ctx.resource)
    focus = caregivers(ctx.resource)
    if infant is None or not focus:
        return
    day = _day(ctx.resource)
    earlier: list[str] = []
    for caregiver in focus:
        # A Bundle's pairs were looked up together before its announcements (service/pathway/earlier.py).
        found_before = prefetched(ctx.conn, (str(infant["reference"]), caregiver))
        matches = (
            found_before
            if found_before is not None
            else await ctx.search("Observation", earlier_criteria(str(infant["reference"]), caregiver))
        )
        for found in matches:
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


def caregivers(observation: dict[str, Any]) -> list[str]:
    """The caregivers the observation is about (its focus references)."""
    return [
        str(f.get("reference")) for f in observation.get("focus") or [] if isinstance(f, dict) and f.get("reference")
    ]


def _day(observation: dict[str, Any]) -> str:
    effective = observation.get("effectiveDateTime") or (observation.get("effectivePeriod") or {}).get("start") or ""
    return str(effective)[:10]
