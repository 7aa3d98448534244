"""Kind `referral-task`: an active referral gives the receiving service (its performer) a referral Task,
due by its assessment clock. A referral naming no performer is refused (422): `performerType`
alone does not say which service is to act, and a referral nobody receives is a lost referral."""

from service.conformance.issues import InvalidResource, Issue
from service.pathway.context import PathwayContext
from service.pathway.routing import Rule
from service.pathway.tasks import TASK_CODES, raise_task


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    infant = rule.infant_of(ctx.resource)
    if infant is None:
        return
    owners = rule.owners_on(ctx.resource)
    if not owners:
        raise InvalidResource([Issue(
            "error", "required",
            "An active parent–infant referral must name the service it goes to (ServiceRequest.performer); "
            "performerType alone cannot be routed",
            "ServiceRequest.performer",
        )], status=422)
    existing = await ctx.search("Task", [("focus", ctx.reference), ("code", f"{TASK_CODES}|referral")])
    if existing:
        return  # the referral has its Task (the source system's own, or raised before)
    for owner in owners:
        await raise_task(ctx, rule, infant, {"reference": owner["reference"]}, rule.due_after(ctx.resource, ctx.now).isoformat())
