"""The referral task's life: FHIR's Task state machine, Dyad's business statuses, and the referral's status.

A receiving service moves its referral Task; Dyad refuses moves FHIR's state machine does not
allow (or that take the business status backwards) and keeps the ServiceRequest in step.
"""

from typing import Any

from service.conformance.issues import InvalidResource, Issue
from service.pathway.organisations import same_organisation

REFERRAL_STATUS_SYSTEM = "https://w3id.org/dyad/fhir/CodeSystem/dyad-referral-status"
TASK_CODES = "https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes"

# FHIR R4 Task state machine (https://hl7.org/fhir/R4/task.html#statemachine).
TASK_TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"requested", "cancelled"}),
    "requested": frozenset({"received", "accepted", "rejected", "cancelled"}),
    "received": frozenset({"accepted", "rejected", "cancelled"}),
    "accepted": frozenset({"ready", "in-progress", "cancelled"}),
    "ready": frozenset({"in-progress", "cancelled", "failed"}),
    "in-progress": frozenset({"on-hold", "completed", "failed", "cancelled"}),
    "on-hold": frozenset({"in-progress", "cancelled", "failed"}),
    "completed": frozenset(),
    "rejected": frozenset(),
    "cancelled": frozenset(),
    "failed": frozenset(),
    "entered-in-error": frozenset(),
}
TERMINAL = frozenset({"completed", "rejected", "cancelled", "failed", "entered-in-error"})

# The business statuses in the order a referral goes through them.
PROGRESS = ("received", "accepted", "assessment-booked", "assessed", "intervention-started", "intervention-completed")
ASSESSED = frozenset(PROGRESS[PROGRESS.index("assessed") :])
INTERVENTION_STARTED = frozenset(PROGRESS[PROGRESS.index("intervention-started") :])


def is_referral_task(task: dict[str, Any] | None) -> bool:
    codings = ((task or {}).get("code") or {}).get("coding") or []
    return any(c.get("code") == "referral" and c.get("system") == TASK_CODES for c in codings)


def business_status(task: dict[str, Any]) -> str | None:
    for coding in (task.get("businessStatus") or {}).get("coding") or []:
        if coding.get("system") == REFERRAL_STATUS_SYSTEM:
            return str(coding.get("code"))
    return None


def _refuse(message: str) -> InvalidResource:
    return InvalidResource([Issue("error", "business-rule", message, "Task.status")], status=409)


def check_transition(before: dict[str, Any] | None, after: dict[str, Any]) -> None:
    """Raise 409 InvalidResource when `after` may not follow `before` (None: the task is new)."""
    status = after.get("status", "")
    # A rejection made in Dyad must say why; a record that arrives already rejected (a source
    # system's history, $ingest) is kept rather than refused: refusing it would lose the rest of
    # the record, and its mapping carries the reason where the system records one.
    if before is not None and status == "rejected" and not _has_reason(after) and before.get("status") != "rejected":
        raise InvalidResource(
            [
                Issue(
                    "error",
                    "required",
                    "A rejected referral must say why (Task.statusReason): the referrer needs it to act",
                    "Task.statusReason",
                )
            ],
            status=422,
        )
    if before is None:
        # A new task may arrive already under way: a source system mapping a referral it has
        # been working on, or a record moved between stores. Only Dyad's own history is policed.
        return
    previous = before.get("status", "")
    if (
        status != previous
        and status != "entered-in-error"
        and status not in TASK_TRANSITIONS.get(previous, frozenset())
    ):
        raise _refuse(f"A referral task cannot go from {previous} to {status}")
    if previous in TERMINAL and after != before and status == previous:
        raise _refuse(f"A {previous} referral task is closed and cannot change")
    old, new = business_status(before), business_status(after)
    if old in PROGRESS and new in PROGRESS and PROGRESS.index(new) < PROGRESS.index(old):
        raise InvalidResource(
            [
                Issue(
                    "error",
                    "business-rule",
                    f"A referral's business status cannot go back from {old} to {new}",
                    "Task.businessStatus",
                )
            ],
            status=409,
        )


def _has_reason(task: dict[str, Any]) -> bool:
    reason = task.get("statusReason") or {}
    return bool(reason.get("text") or reason.get("coding"))


def referral_status_for(task_status: str) -> str | None:
    """The ServiceRequest status a referral task's status implies; None: leave it as it is."""
    if task_status == "completed":
        return "completed"
    if task_status in ("rejected", "cancelled", "failed"):
        return "revoked"
    if task_status == "entered-in-error":
        return "entered-in-error"
    return None


def with_output(
    task: dict[str, Any], output_type: str, reference: str, *, single: bool = False
) -> dict[str, Any] | None:
    """The task with `reference` among its outputs; None when it is there already or the task is closed.

    `single`: the task holds one output of this type (the referral task profile allows one care
    plan), so a newer one replaces it.

    A closed task is left as it is: its state machine forbids changes, and refusing the clinical
    write that answers it would lose the answer rather than the link.
    """
    if task.get("status") in TERMINAL:
        return None
    outputs = list(task.get("output") or [])
    if any((o.get("valueReference") or {}).get("reference") == reference for o in outputs):
        return None
    if single:
        outputs = [o for o in outputs if not _has_type(o, output_type)]
    outputs.append(
        {
            "type": {"coding": [{"system": TASK_CODES, "code": output_type}]},
            "valueReference": {"reference": reference},
        }
    )
    return {**task, "output": outputs}


def answered_by(task: dict[str, Any], writer: str | None) -> bool:
    """Whether an outcome written by this organisation may answer the task: only the service the
    referral went to (the Task's owner, by reference or ODS code) answers it. Without
    authentication there is no writer to check, and an owner that is not an organisation cannot
    be compared, so both are let through."""
    owner = task.get("owner") or {}
    is_organisation = str(owner.get("reference") or "").startswith("Organization/") or bool(owner.get("identifier"))
    return writer is None or not is_organisation or same_organisation(owner, writer)


def output_reference(task: dict[str, Any], output_type: str) -> str | None:
    """The reference of the task's (first) output of this type."""
    for output in task.get("output") or []:
        if _has_type(output, output_type):
            return str((output.get("valueReference") or {}).get("reference") or "") or None
    return None


def _has_type(output: dict[str, Any], output_type: str) -> bool:
    codings = (output.get("type") or {}).get("coding") or []
    return any(c.get("system") == TASK_CODES and c.get("code") == output_type for c in codings)
