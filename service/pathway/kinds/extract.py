"""Kind `extraction`: a completed prompts response gives its relationship Observations, revised on amendment."""

from service.pathway.context import PathwayContext
from service.pathway.derived import create_or_revise
from service.pathway.extraction import extractable
from service.pathway.routing import Rule


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    if not ctx.options.extract_on_write or not extractable(ctx.resource):
        return
    for observation in ctx.extractor.observations(ctx.resource, ctx.reference):
        await create_or_revise(ctx.conn, ctx.repository, ctx.registry, observation, ctx.change)
