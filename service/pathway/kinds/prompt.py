"""Kind `prompt`: an observation prompts the family's teams (by kind) to assess, as urgently as its concern needs."""

from service.pathway.context import PathwayContext
from service.pathway.routing import Rule
from service.pathway.tasks import raise_for_teams


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    infant = rule.infant_of(ctx.resource)
    if infant is not None:
        await raise_for_teams(ctx, rule, infant)
