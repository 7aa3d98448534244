"""Kind `referral-task`: an active referral gives the receiving service (its performer) a referral Task,
due by its assessment clock. A referral naming only `performerType` cannot be routed to a service:
its Task waits in the unassigned queue (performerType kept, the writer warned), and its clock runs."""

from service.pathway.context import PathwayContext
from service.pathway.routing import Rule
from service.pathway.tasks import TASK_CODES, raise_task, raise_unassigned


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    infant = rule.infant_of(ctx.resource)
    if infant is None:
        return
    existing = await ctx.search("Task", [("focus", ctx.reference), ("code", f"{TASK_CODES}|referral")])
    if existing:
        return  # the referral has its Task (the source system's own, or raised before)
    due = rule.due_after(ctx.resource, ctx.now).isoformat()
    owners = rule.owners_on(ctx.resource)
    if not owners:
        performer_type = ctx.resource.get("performerType")
        await raise_unassigned(
            ctx, rule, infant, "performer", due, performer_type=[performer_type] if performer_type else None
        )
    for owner in owners:
        await raise_task(ctx, rule, infant, {"reference": owner["reference"]}, due)
