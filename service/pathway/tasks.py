"""Raising a rule's Task: built from the rule's template, keyed on what caused it, created once."""

from typing import Any

from service.pathway.context import PathwayContext
from service.pathway.routing import Rule
from service.store.records import StoredResource


def cause_of(ctx: PathwayContext, rule: Rule) -> str:
    """The triggering resource, with the rule's occurrence from the second one on.

    The first occurrence keeps the plain key, so a rule that gains `occurrence` later does not
    raise its first Task again.
    """
    occurrence = rule.occurrence_of(ctx.resource)
    return ctx.reference if occurrence <= 1 else f"{ctx.reference}#{occurrence}"


async def raise_task(
    ctx: PathwayContext, rule: Rule, infant: dict[str, Any], owner: dict[str, Any], due: str,
    contact: dict[str, Any] | None = None, **extra: Any,
) -> StoredResource | None:
    """The rule's Task for this owner, unless it exists already (then None)."""
    task_code = rule.template["code"]["coding"][0]["code"]
    key = f"{task_code}:{cause_of(ctx, rule)}:{owner['reference']}"
    task = rule.task(ctx.resource, {
        "key": key, "trigger": ctx.reference, "infant": infant, "owner": owner, "due": due,
        "contact": contact, "now": ctx.now.isoformat(timespec="seconds"), **extra,
    })
    return await ctx.create_once(task)
