"""Kind `referral-lifecycle`: a referral Task's move is checked, the referral follows, the clocks move."""

from typing import Any

from service.pathway import referrals
from service.pathway.clock_store import clocks_of, save_clock
from service.pathway.clocks import task_clocks
from service.pathway.context import PathwayContext
from service.pathway.routing import Rule
from service.search.values import parse_instant


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    task = ctx.resource
    before = await ctx.previous()
    referrals.check_transition(before, task)
    at = parse_instant(task.get("lastModified")) if task.get("lastModified") != (before or {}).get("lastModified") else None
    at = at or ctx.change.last_updated
    for clock in task_clocks(task, await clocks_of(ctx.conn, ctx.change.res_id), at):
        await save_clock(ctx.conn, clock)
    if before is None or before.get("status") != task.get("status"):
        await _referral_follows(ctx, task)


async def _referral_follows(ctx: PathwayContext, task: dict[str, Any]) -> None:
    wanted = referrals.referral_status_for(task.get("status", ""))
    reference = str((task.get("focus") or {}).get("reference", ""))
    if wanted is None or not reference.startswith("ServiceRequest/"):
        return

    def follow(referral: dict[str, Any]) -> dict[str, Any] | None:
        return None if referral.get("status") == wanted else {**referral, "status": wanted}

    await ctx.revise("ServiceRequest", reference.split("/", 1)[1], follow)
