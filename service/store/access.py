"""Who may see a stored resource, as SQL: the same clause for read, search, include and history.

A resource without a restricting label is visible to every caller the scopes let through. A
restricted one is visible to the organisation that wrote it, and to organisations an active
Consent grants access to the patient it is about (it references that Patient).
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, insert, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

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


# Aliases of their own, so the clause stays correct inside queries that already join the
# reference index or the grants (a revinclude, a _has) and would otherwise correlate them away.
# Made once: the first use of a fresh alias's attributes costs ~1-3 ms (SQLAlchemy builds its
# attribute proxies), which every restricted viewer's read and search paid twice.
_GRANT_REF = aliased(ReferenceIndexRow, name="visible_ref")
_GRANT = aliased(AccessGrantRow, name="visible_grant")


def _granted(viewer: Viewer, resource: Any) -> ColumnElement[bool]:
    ref, grant = _GRANT_REF, _GRANT
    now = datetime.now(timezone.utc)
    conditions = [
        grant.organization == viewer.organization,
        grant.patient_id == ref.target_id,
        or_(grant.period_start.is_(None), grant.period_start <= now),
        or_(grant.period_end.is_(None), grant.period_end >= now),
    ]
    if viewer.purpose:
        conditions.append(or_(grant.purpose.is_(None), grant.purpose == viewer.purpose))
    about_patient = select(ref.resource_pk).where(
        ref.resource_pk == resource.pk,
        ref.target_type == "Patient",
        exists(select(grant.pk).where(and_(*conditions))),
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


@dataclass(frozen=True, slots=True)
class Grant:
    """One organisation's access to one patient's restricted resources."""

    patient_id: str
    organization: str
    purpose: str | None
    period_start: datetime | None
    period_end: datetime | None


async def replace_grants(conn: AsyncConnection, consent_pk: int, grants: list[Grant]) -> None:
    """What a Consent grants now, in the same transaction as the Consent's new version."""
    await conn.execute(delete(AccessGrantRow).where(AccessGrantRow.consent_pk == consent_pk))
    if grants:
        await conn.execute(
            insert(AccessGrantRow),
            [
                {
                    "consent_pk": consent_pk,
                    "patient_id": g.patient_id,
                    "organization": g.organization,
                    "purpose": g.purpose,
                    "period_start": g.period_start,
                    "period_end": g.period_end,
                }
                for g in grants
            ],
        )
