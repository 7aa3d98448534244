"""Kind `session-count`: a finished intervention session recounts the sessions on the plan for its referral.

Counting the Encounters, rather than adding one per write, keeps the count right when an
Encounter is re-sent or corrected.
"""

from typing import Any

from service.pathway import care_plans
from service.pathway.context import PathwayContext
from service.pathway.routing import Rule


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    for referral in care_plans.referrals_of(ctx.resource):
        attended = await ctx.count(
            "Encounter", [("based-on", referral), ("status", "finished"), ("type", care_plans.SESSION_TYPE)]
        )
        for plan in await ctx.search("CarePlan", [("activity-reference", referral), ("status", "active")]):

            def recount(
                current: dict[str, Any], referral: str = referral, attended: Any = attended
            ) -> dict[str, Any] | None:
                recounted = care_plans.counted(current, referral, attended)
                unchanged = care_plans.sessions_of(recounted) == care_plans.sessions_of(current) and recounted.get(
                    "activity"
                ) == current.get("activity")
                return None if unchanged else recounted

            await ctx.revise("CarePlan", plan.res_id, recount)
