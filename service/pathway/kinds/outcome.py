"""Kind `outcome`: a resource that answers a referral goes back to the referrer as an output of its Task."""

from typing import Any

from service.pathway import referrals
from service.pathway.context import PathwayContext
from service.pathway.routing import OutcomeRule, Rule, outcome_of


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    """Add the resource to the outputs of the referral's open Tasks, once: the referrer sees it there."""
    outcome = outcome_of(rule)
    for referral in outcome.answers(ctx.resource):
        tasks = await ctx.search("Task", [("focus", referral), ("code", f"{referrals.TASK_CODES}|referral")])
        writer = await ctx.repository.owner_of(ctx.conn, ctx.change.pk) if tasks else None
        for task in tasks:
            assert task.content is not None
            if not referrals.answered_by(task.content, writer):
                continue
            if outcome.newest_by and not await _newest(ctx, task.content, outcome):
                continue

            def answer(current: dict[str, Any]) -> dict[str, Any] | None:
                return referrals.with_output(
                    current, outcome.output, ctx.reference, single=outcome.newest_by is not None
                )

            await ctx.revise("Task", task.res_id, answer)


async def _newest(ctx: PathwayContext, task: dict[str, Any], outcome: OutcomeRule) -> bool:
    """Whether this resource may take the task's one output of this type: it is at least as new
    as the one there (an older plan written again must not displace a newer one)."""
    current = referrals.output_reference(task, outcome.output)
    if current is None or current == ctx.reference:
        return True
    other = await ctx.read(current)
    if other is None:
        return True
    return outcome.newest(ctx.resource) >= outcome.newest(other)
