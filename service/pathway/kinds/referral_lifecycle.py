"""Kind `referral-lifecycle`: a referral Task's move is checked, the referral follows, the clocks move.

One referral has one Task whatever the entry path: a source system's own referral Task (REST,
transaction or $ingest) replaces the Task the rules raised for the same referral while that one
is untouched, and the rules raise none when a referral Task exists already (kind referral-task).
"""

from dataclasses import replace
from typing import Any

from service.pathway import referrals
from service.pathway.clock_store import clocks_of, save_clock
from service.pathway.clocks import task_clocks
from service.pathway.context import PathwayContext
from service.pathway.derived import DERIVED_SYSTEM, record_derivation
from service.pathway.routing import Rule
from service.search.values import parse_instant
from service.store.access import Viewer


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    task = ctx.resource
    before = await ctx.previous()
    referrals.check_transition(before, task)
    if before is None and not _derived(task):
        await _replace_derived(ctx, task)
    at = (
        parse_instant(task.get("lastModified"))
        if task.get("lastModified") != (before or {}).get("lastModified")
        else None
    )
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


def _derived(task: dict[str, Any]) -> bool:
    return any(i.get("system") == DERIVED_SYSTEM for i in task.get("identifier") or [])


async def _replace_derived(ctx: PathwayContext, task: dict[str, Any]) -> None:
    """Remove the untouched Task the rules raised for this referral (its clocks stopped): the
    source system's Task is the referral's one Task."""
    focus = str((task.get("focus") or {}).get("reference") or "")
    if not focus.startswith("ServiceRequest/"):
        return
    for other in await ctx.search("Task", [("focus", focus), ("code", f"{referrals.TASK_CODES}|referral")]):
        untouched = other.version == 1 and (other.content or {}).get("status") == "requested"
        if other.res_id == ctx.change.res_id or not untouched or not _derived(other.content or {}):
            continue
        removed = await ctx.repository.delete(
            ctx.conn, "Task", other.res_id, expected_version=other.version, viewer=Viewer.system()
        )
        if removed is not None:
            await record_derivation(ctx.conn, ctx.repository, [removed], ctx.change)
        for clock in (await clocks_of(ctx.conn, other.res_id)).values():
            if clock.running:
                await save_clock(ctx.conn, replace(clock, stopped_at=ctx.now))
