"""The pathway clocks of one referral task, computed from its status as it moves.

Standards (seed 001, docs/pathway.md): assessment within 2 weeks of referral; intervention within
1 month of assessment. The assessment clock runs from the referral (the Task's authoredOn, else
when Dyad stored the Task) whatever the Task's status, so a referral nobody opens still breaches;
Task.restriction (authoredOn + 14 days) says the same. A clock starts, is met, or stops (the
referral was rejected, cancelled or closed without that step); only running clocks can breach.
"""

import calendar
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from service.pathway.clock_store import Clock
from service.pathway.referrals import ASSESSED, INTERVENTION_STARTED, business_status
from service.search.values import parse_instant

ASSESSMENT = "assessment"
INTERVENTION = "intervention"
ASSESSMENT_WITHIN = timedelta(days=14)
NOT_SENT = frozenset({"draft"})
STOPPED = frozenset({"rejected", "cancelled", "failed", "entered-in-error"})


def one_month_after(start: datetime) -> datetime:
    """The same day next month, or that month's last day (31 January → 28/29 February)."""
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def _reference(value: Any) -> str | None:
    return value.get("reference") if isinstance(value, dict) else None


def task_clocks(task: dict[str, Any], existing: dict[str, Clock], at: datetime) -> list[Clock]:
    """The task's clocks after this version; `at` is when this version's step happened."""
    status = task.get("status", "")
    business = business_status(task)
    task_id, referral, owner = task["id"], _reference(task.get("focus")), _reference(task.get("owner"))
    clocks: list[Clock] = []
    assessment = existing.get(ASSESSMENT)
    if assessment is None and status not in NOT_SENT and status not in STOPPED:
        referred = parse_instant(task.get("authoredOn")) or at
        assessment = Clock(task_id, ASSESSMENT, referral, owner, referred, referred + ASSESSMENT_WITHIN)
    if assessment is None:
        return clocks
    assessment = _advance(
        assessment, met=business in ASSESSED, stopped=status in STOPPED or status == "completed", at=at
    )
    clocks.append(assessment)
    if assessment.met_at is None:
        return clocks
    intervention = existing.get(INTERVENTION) or Clock(
        task_id, INTERVENTION, referral, owner, assessment.met_at, one_month_after(assessment.met_at)
    )
    clocks.append(
        _advance(
            intervention,
            met=business in INTERVENTION_STARTED,
            stopped=status in STOPPED or status == "completed",
            at=at,
        )
    )
    return clocks


def _advance(clock: Clock, *, met: bool, stopped: bool, at: datetime) -> Clock:
    if not clock.running:
        return clock
    if met:
        return replace(clock, met_at=at)
    if stopped:
        return replace(clock, stopped_at=at)
    return clock
