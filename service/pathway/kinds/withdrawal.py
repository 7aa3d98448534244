"""Kind `withdrawal`: when the record that raised open work no longer raises it (entered in error, or
amended so no rule fires on it), that work is cancelled with a statusReason saying why.

Without it a prompt stays `requested` for a concern nobody holds any more.
"""

from typing import Any

from service.pathway.context import PathwayContext
from service.pathway.routing import Rule
from service.pathway.tasks import TASK_CODES

OPEN = "requested,received,accepted,ready"
WITHDRAWN = {"coding": [{"system": TASK_CODES, "code": "trigger-withdrawn", "display": "Trigger withdrawn"}]}


async def apply(ctx: PathwayContext, rule: Rule) -> None:
    if ctx.change.version <= 1:
        return  # only an earlier version can have raised work; a first one has none to withdraw
    raising = [r for r in ctx.book.for_type(ctx.change.res_type) if r.template is not None and r.id != rule.id]
    if any(r.fires_on(ctx.resource) for r in raising):
        return
    infant = rule.infant_of(ctx.resource)
    if infant is None:
        return
    codes = sorted({r.template["code"]["coding"][0]["code"] for r in raising})
    tasks = await ctx.search(
        "Task",
        [
            ("patient", infant["reference"]),
            ("status", OPEN),
            ("code", ",".join(f"{TASK_CODES}|{c}" for c in codes)),
        ],
    )
    for task in tasks:
        if ((task.content or {}).get("reasonReference") or {}).get("reference") == ctx.reference:
            await ctx.revise("Task", task.res_id, _cancelled)


def _cancelled(task: dict[str, Any]) -> dict[str, Any] | None:
    if task.get("status") not in OPEN.split(","):
        return None
    return {
        **task,
        "status": "cancelled",
        "statusReason": {
            **WITHDRAWN,
            "text": "The record that raised this task was entered in error or amended so that it no longer raises it",
        },
    }
