"""Kind `prompt`: an observation prompts the family's teams (by kind) to assess at their next contact."""

from service.pathway.contacts import next_contact
from service.pathway.context import PathwayContext
from service.pathway.routing import Rule
from service.pathway.tasks import raise_task
from service.pathway.teams import team_of


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    infant = rule.infant_of(ctx.resource)
    if infant is None:
        return
    for kind in rule.owner_teams:
        team = ctx.book.teams[kind]
        owner = await team_of(ctx.conn, ctx.registry, ctx.repository, infant["reference"], team)
        if owner is None:
            continue
        due, contact = await next_contact(ctx, infant["reference"], team, owner["reference"])
        await raise_task(ctx, rule, infant, owner, due, contact)
