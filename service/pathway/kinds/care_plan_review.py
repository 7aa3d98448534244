"""Kind `care-plan-review`: a plan whose sessions reach its review point gives its author a review Task."""

from service.pathway.context import PathwayContext
from service.pathway.routing import Rule
from service.pathway.tasks import raise_task


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    infant = rule.infant_of(ctx.resource)
    if infant is None:
        return
    for owner in rule.owners_on(ctx.resource):
        await raise_task(ctx, rule, infant, {"reference": owner["reference"]}, rule.due_after(ctx.resource, ctx.now).isoformat())
