"""Kind `route-pending`: when a record names the family's team, the work waiting unassigned goes to it.

The waiting Task is closed (completed, saying why) and the rule that raised it runs again on its
trigger, now finding the team: the routed Task is the one the rule would have raised had the team
been known at the time (same key, so never twice).
"""

from dataclasses import replace
from typing import Any

from service.pathway.context import PathwayContext
from service.pathway.routing import Rule
from service.pathway.tasks import UNASSIGNED_TAG, unassigned_team
from service.pathway.teams import team_of
from service.store.access import Viewer


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    for infant in rule.infants_of(ctx.resource):
        waiting = await ctx.search(
            "Task",
            [
                ("patient", infant),
                ("_tag", f"{UNASSIGNED_TAG['system']}|{UNASSIGNED_TAG['code']}"),
                ("status", "requested"),
            ],
        )
        for task in waiting:
            assert task.content is not None
            await _route(ctx, task.res_id, task.content, infant)


async def _route(ctx: PathwayContext, task_id: str, task: dict[str, Any], infant: str) -> None:
    kind = unassigned_team(task)
    if (
        kind not in ctx.book.teams
        or await team_of(ctx.conn, ctx.registry, ctx.repository, infant, ctx.book.teams[kind]) is None
    ):
        return
    trigger_ref = str((task.get("reasonReference") or task.get("focus") or {}).get("reference") or "")
    res_type, _, res_id = trigger_ref.partition("/")
    trigger = (await ctx.repository.read_many(ctx.conn, [(res_type, res_id)], viewer=Viewer.system())).get(
        (res_type, res_id)
    )
    if trigger is None or trigger.content is None:
        return
    # The trigger's rules run as if it had just been written, with the team now known.
    from service.pathway.kinds import KINDS  # the registry imports this module

    on_trigger = replace(ctx, change=trigger)
    for again in ctx.book.for_type(res_type):
        if kind in again.owner_teams and again.fires_on(trigger.content):
            await KINDS[again.kind](on_trigger, again)

    def routed(current: dict[str, Any]) -> dict[str, Any] | None:
        if current.get("status") != "requested":
            return None
        return {
            **current,
            "status": "completed",
            "lastModified": ctx.now.isoformat(timespec="seconds"),
            "statusReason": {"text": f"Routed when the family's team became known ({ctx.reference})"},
        }

    await ctx.revise("Task", task_id, routed)
