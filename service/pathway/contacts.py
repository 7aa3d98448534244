"""When a team next sees the family: its next booked visit, else its universal contact schedule."""

from datetime import date, datetime
from typing import Any

from service.pathway import care_plans
from service.pathway.context import PathwayContext
from service.pathway.routing import Team
from service.search.values import parse_instant


async def next_contact(ctx: PathwayContext, infant: str, team: Team, owner: str) -> tuple[str, dict[str, Any] | None]:
    """(due date, contact type coding or None) of the team's next contact with the infant."""
    booked = await booked_contact(ctx, infant, owner, ctx.now)
    if booked is not None:
        return booked
    when, contact = team.next_contact(await birth_date(ctx, infant), ctx.now.date())
    coding = None
    if contact is not None:
        coding = {"system": care_plans.CARE_CONTACTS, "code": contact.code, "display": contact.display}
    return when.isoformat(), coding


async def booked_contact(
    ctx: PathwayContext, infant: str, owner: str, now: datetime
) -> tuple[str, dict[str, Any] | None] | None:
    """The team's next booked (planned) contact with the infant: (its date, its contact type).

    A booked visit is the family's real next contact; the universal schedule is the fallback.
    The date search also matches a past visit with no end (its period is open), so the start
    is checked here; the date is the one the booking system wrote, in its own offset.
    """
    planned = await ctx.search(
        "Encounter",
        [
            ("subject", infant),
            ("service-provider", owner),
            ("status", "planned"),
            ("date", f"ge{now.date().isoformat()}"),
            ("_sort", "date"),
        ],
    )
    for encounter in (p.content for p in planned if p.content is not None):
        start = str((encounter.get("period") or {}).get("start") or "")
        starts = parse_instant(start) if "T" in start else None
        if (starts is not None and starts >= now) or (starts is None and start[:10] >= now.date().isoformat()):
            coding = next(
                (
                    c
                    for t in encounter.get("type") or []
                    for c in t.get("coding") or []
                    if c.get("system") == care_plans.CARE_CONTACTS
                ),
                None,
            )
            return start[:10], coding
    return None


async def birth_date(ctx: PathwayContext, infant: str) -> date | None:
    birth = ((await ctx.read(infant)) or {}).get("birthDate")
    return datetime.fromisoformat(birth).date() if isinstance(birth, str) and len(birth) == 10 else None
