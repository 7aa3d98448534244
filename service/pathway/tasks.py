"""Raising a rule's Task: built from the rule's template, keyed on what caused it, created once."""

from datetime import timedelta
from typing import Any

from service.pathway.contacts import next_contact
from service.pathway.context import PathwayContext
from service.pathway.routing import Rule
from service.pathway.teams import team_of


def cause_of(ctx: PathwayContext, rule: Rule) -> str:
    """The triggering resource, with the rule's occurrence from the second one on.

    The first occurrence keeps the plain key, so a rule that gains `occurrence` later does not
    raise its first Task again.
    """
    occurrence = rule.occurrence_of(ctx.resource)
    return ctx.reference if occurrence <= 1 else f"{ctx.reference}#{occurrence}"


async def raise_task(
    ctx: PathwayContext,
    rule: Rule,
    infant: dict[str, Any],
    owner: dict[str, Any],
    due: str,
    contact: dict[str, Any] | None = None,
    **extra: Any,
) -> None:
    """The rule's Task for this owner, unless it exists already."""
    task_code = rule.template["code"]["coding"][0]["code"]
    key = f"{task_code}:{cause_of(ctx, rule)}:{owner['reference']}"
    task = rule.task(
        ctx.resource,
        {
            "key": key,
            "trigger": ctx.reference,
            "infant": infant,
            "owner": owner,
            "due": due,
            "contact": contact,
            "now": ctx.now.isoformat(timespec="seconds"),
            **extra,
        },
    )
    await ctx.create_once(task)


TASK_CODES = "https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes"
UNASSIGNED_TAG = {"system": TASK_CODES, "code": "unassigned-concern"}
UNASSIGNED_NOTICE = (
    "The pathway could not find who should act on this record (no team of the kind it needs in the family's "
    "CareTeam or EpisodeOfCare, or no author): its work is waiting, unassigned, in the pathway's unassigned queue"
)
CONCERN_LEVELS = "https://w3id.org/dyad/fhir/CodeSystem/dyad-concern-level"
_LEVEL_ORDER = ("no-concern", "some-concern", "significant-concern")
RAISED_LEVELS = _LEVEL_ORDER[1:]  # the levels concern_level counts as a concern


def concern_level(observation: dict[str, Any]) -> str:
    """The highest concern level the observation records, overall or in any domain."""
    codings = [c for c in (observation.get("valueCodeableConcept") or {}).get("coding") or []]
    codings += [
        c
        for comp in observation.get("component") or []
        for c in (comp.get("valueCodeableConcept") or {}).get("coding") or []
    ]
    levels = [
        str(c.get("code")) for c in codings if c.get("system") == CONCERN_LEVELS and c.get("code") in _LEVEL_ORDER
    ]
    return max(levels, key=_LEVEL_ORDER.index) if levels else "no-concern"


def urgency(rule: Rule, resource: dict[str, Any]) -> tuple[str, int | None]:
    """(Task.priority, due within at most this many days) for the resource's concern level, from the rule."""
    table: dict[str, dict[str, Any]] = rule.spec.get("urgency") or {}
    chosen = table.get(concern_level(resource)) or table.get("otherwise") or {}
    within = chosen.get("withinDays")
    return str(chosen.get("priority", "routine")), int(within) if within is not None else None


async def raise_for_teams(ctx: PathwayContext, rule: Rule, infant: dict[str, Any], **extra: Any) -> None:
    """The rule's Task for each team kind it names, found in the family's records, due by the team's
    next contact or sooner as the concern's urgency requires; a team the records do not name gets an
    unassigned Task instead (and the writer a warning), never nothing."""
    priority, within = urgency(rule, ctx.resource)
    latest = (ctx.now.date() + timedelta(days=within)).isoformat() if within is not None else None
    for kind in rule.owner_teams:
        team = ctx.book.teams[kind]
        owner = await team_of(ctx.conn, ctx.registry, ctx.repository, infant["reference"], team)
        if owner is None:
            performer_type = [
                {
                    "coding": [
                        {"system": s, "code": c}
                        for s, _, c in (t.partition("|") for t in sorted(team.organization_types))
                    ]
                }
            ]
            due = latest or (ctx.now.date() + timedelta(days=team.otherwise_within_days)).isoformat()
            await raise_unassigned(
                ctx, rule, infant, team.kind, due, priority=priority, performer_type=performer_type, **extra
            )
            continue
        due, contact = await next_contact(ctx, infant["reference"], team, owner["reference"])
        if latest is not None and latest < due:
            due, contact = latest, None
        await raise_task(ctx, rule, infant, owner, due, contact, priority=priority, **extra)


async def raise_unassigned(
    ctx: PathwayContext,
    rule: Rule,
    infant: dict[str, Any],
    waiting_for: str,
    due: str,
    *,
    performer_type: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> None:
    """The rule's Task with no owner, in the unassigned queue, waiting for `waiting_for` (a team kind,
    or what else would have named the owner); the writer is warned when it is first raised."""
    task_code = rule.template["code"]["coding"][0]["code"]
    key = f"{task_code}:{cause_of(ctx, rule)}:unassigned:{waiting_for}"
    task = rule.task(
        ctx.resource,
        {
            "key": key,
            "trigger": ctx.reference,
            "infant": infant,
            "owner": None,
            "due": due,
            "contact": None,
            "now": ctx.now.isoformat(timespec="seconds"),
            "priority": "routine",
            **extra,
        },
    )
    task.pop("owner", None)
    task["meta"] = {"tag": [UNASSIGNED_TAG]}  # no profile claimed: the pathway profiles require an owner
    if performer_type:
        task["performerType"] = performer_type
    await ctx.create_once(task, notice=UNASSIGNED_NOTICE)


def unassigned_team(task: dict[str, Any]) -> str | None:
    """The team kind an unassigned Task waits for (from its key)."""
    for identifier in task.get("identifier") or []:
        _, marker, kind = str(identifier.get("value", "")).rpartition(":unassigned:")
        if marker:
            return kind
    return None
