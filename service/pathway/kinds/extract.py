"""Kind `extraction`: a completed prompts response gives the relationship Observation of its caregiver
(when DYAD_PATHWAY_EXTRACT_ON_WRITE is on), revised on amendment; an amendment naming another
caregiver marks the Observation extracted for the one it no longer names entered-in-error. A
response naming more than one caregiver is refused (422) whatever the setting."""

from service.pathway.context import PathwayContext
from service.pathway.derived import create_or_revise
from service.pathway.extraction import check_one_caregiver, extractable, withdrawn
from service.pathway.routing import Rule

EXTRACTED = "https://w3id.org/dyad/fhir/Id/extracted-observation"


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    if not extractable(ctx.resource):
        return
    check_one_caregiver(ctx.resource)
    if not ctx.options.extract_on_write:
        return
    observations = ctx.extractor.observations(ctx.resource, ctx.reference)
    for observation in observations:
        await create_or_revise(ctx.conn, ctx.repository, ctx.registry, observation, ctx.change)
    keep = {o["identifier"][0]["value"] for o in observations}
    for stored in await ctx.search("Observation", [("derived-from", ctx.reference)]):
        values = {
            i.get("value") for i in (stored.content or {}).get("identifier") or [] if i.get("system") == EXTRACTED
        }
        if values and not values & keep:
            await ctx.revise("Observation", stored.res_id, withdrawn)
