"""Who may see a stored resource, as SQL: the same clause for read, search, include and history.

A resource without a restricting label is visible to every caller the scopes let through. A
restricted one is visible to the organisation that wrote it, and to organisations an active
Consent grants access to the patient it is about (it references that Patient).
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, true

from service.store.tables import AccessGrantRow, ReferenceIndexRow, ResourceRow


@dataclass(frozen=True, slots=True)
class Viewer:
    """The caller as the store needs to know it."""

    organization: str | None
    purpose: str | None = None
    sees_everything: bool = False  # local trial mode (auth off) only

    @classmethod
    def unrestricted(cls) -> "Viewer":
        return cls(organization=None, sees_everything=True)


def visible(viewer: Viewer | None, resource: Any = ResourceRow) -> ColumnElement[bool]:
    """The condition a row of `resource` (ResourceRow or an alias of it) must meet."""
    if viewer is None or viewer.sees_everything:
        return true()
    if viewer.organization is None:
        return resource.restricted.is_(False)
    return or_(
        resource.restricted.is_(False),
        resource.owner_org == viewer.organization,
        _granted(viewer, resource),
    )


def _granted(viewer: Viewer, resource: Any) -> ColumnElement[bool]:
    now = datetime.now(timezone.utc)
    conditions = [
        AccessGrantRow.organization == viewer.organization,
        AccessGrantRow.patient_id == ReferenceIndexRow.target_id,
        or_(AccessGrantRow.period_start.is_(None), AccessGrantRow.period_start <= now),
        or_(AccessGrantRow.period_end.is_(None), AccessGrantRow.period_end >= now),
    ]
    if viewer.purpose:
        conditions.append(or_(AccessGrantRow.purpose.is_(None), AccessGrantRow.purpose == viewer.purpose))
    about_patient = (
        select(ReferenceIndexRow.resource_pk)
        .where(
            ReferenceIndexRow.resource_pk == resource.pk,
            ReferenceIndexRow.target_type == "Patient",
            exists(select(AccessGrantRow.pk).where(and_(*conditions))),
        )
    )
    return exists(about_patient)


CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
RESTRICTING_CODES = frozenset({"R", "V"})


def is_restricted(content: dict[str, Any] | None) -> bool:
    """Restricted (R) and very restricted (V) confidentiality labels limit who may see a resource."""
    labels = ((content or {}).get("meta") or {}).get("security") or []
    return any(
        isinstance(label, dict)
        and label.get("system") == CONFIDENTIALITY
        and label.get("code") in RESTRICTING_CODES
        for label in labels
    )
