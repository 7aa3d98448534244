"""One module per kind of rule; the rule file's `kind` picks the module, whose `apply` carries it out.

docs/pathway.md describes each kind in the same order, as a clinician reads it.
"""

from collections.abc import Awaitable, Callable

from service.pathway.context import PathwayContext
from service.pathway.kinds import (
    care_plan_review,
    extract,
    outcome,
    persistent_concern,
    prompt,
    referral_lifecycle,
    referral_task,
    route_pending,
    session_count,
    withdrawal,
)
from service.pathway.routing import Rule

Apply = Callable[[PathwayContext, Rule], Awaitable[None]]

KINDS: dict[str, Apply] = {
    "prompt": prompt.apply,
    "persistent-concern": persistent_concern.apply,
    "route-pending": route_pending.apply,
    "referral-task": referral_task.apply,
    "referral-lifecycle": referral_lifecycle.apply,
    "outcome": outcome.apply,
    "extraction": extract.apply,
    "session-count": session_count.apply,
    "care-plan-review": care_plan_review.apply,
    "withdrawal": withdrawal.apply,
}

# The kinds DYAD_PATHWAY_RULES_ENABLED switches: the work the rules raise. The referral state
# machine, extraction (its own setting) and the session count are record keeping, always on.
ROUTING_KINDS = frozenset(
    {"prompt", "persistent-concern", "route-pending", "referral-task", "outcome", "care-plan-review", "withdrawal"}
)
