"""Kind `care-plan-review`: a plan whose sessions reach its review point gives a review Task to its
author; a plan without an author, to the services its referrals went to (ServiceRequest.performer);
with neither, the review waits in the unassigned queue and the writer is warned: never nothing."""

from typing import Any

from service.pathway.context import PathwayContext
from service.pathway.routing import Rule
from service.pathway.tasks import raise_task, raise_unassigned


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    infant = rule.infant_of(ctx.resource)
    if infant is None:
        return
    due = rule.due_after(ctx.resource, ctx.now).isoformat()
    owners = [o["reference"] for o in rule.owners_on(ctx.resource)] or await _referral_performers(ctx)
    if not owners:
        await raise_unassigned(ctx, rule, infant, "author", due)
    for owner in owners:
        await raise_task(ctx, rule, infant, {"reference": owner}, due)


async def _referral_performers(ctx: PathwayContext) -> list[str]:
    found: list[str] = []
    for activity in ctx.resource.get("activity") or []:
        reference = str((activity.get("reference") or {}).get("reference") or "")
        referral: dict[str, Any] = (
            await ctx.read(reference) if reference.startswith("ServiceRequest/") else None
        ) or {}
        for performer in referral.get("performer") or []:
            if isinstance(performer, dict) and performer.get("reference") and performer["reference"] not in found:
                found.append(str(performer["reference"]))
    return found
