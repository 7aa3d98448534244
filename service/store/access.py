"""Who may see a stored resource, as SQL: the same clause for read, search, include and history.

Fail closed: every read path takes a Viewer, and there is no "no viewer". A resource without a
restricting label is visible to every organisation the scopes let through. A restricted one is
visible to the organisation that wrote it (its owner), and to organisations granted access to
the patient it is about by an active Consent that the owner itself recorded. A caller without an
organisation sees nothing restricted. Only the server's own work (and DYAD_AUTH=off, which makes
every caller the server) uses Viewer.system(), which sees everything.

Some types are owned outright (OWNED_TYPES): another organisation neither sees nor changes them,
labelled or not (a Subscription carries its owner's delivery secrets).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, exists, false, insert, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from service.store.tables import AccessGrantRow, ReferenceIndexRow, ResourceRow

# Identity records (the baby, the caregivers) are never restricted: every service must find the
# same person by NHS number, or it registers a second one (docs/security.md).
IDENTITY_TYPES = frozenset({"Patient", "RelatedPerson"})
# Types only their owner sees and changes: a Subscription names its owner's endpoint and secrets.
OWNED_TYPES = frozenset({"Subscription"})
# Types everyone entitled may see but only their owner may change or delete: a Consent's grants
# are the owner's word, so another organisation may not rewrite them (e.g. to name itself).
OWNER_CHANGES_ONLY = frozenset({"Subscription", "Consent"})


@dataclass(frozen=True, slots=True)
class Viewer:
    """The caller as the store needs to know it: required on every read path."""

    organization: str | None
    purpose: str | None = None
    sees_everything: bool = False

    @classmethod
    def system(cls) -> "Viewer":
        """The server acting for itself (pathway rules, notification worker, clocks, start-up),
        and every caller when authentication is explicitly off for development."""
        return cls(organization=None, sees_everything=True)

    def owns(self, owner_org: str | None) -> bool:
        """Whether a resource with this owner is this viewer's own (to relabel, change, delete)."""
        return self.sees_everything or (self.organization is not None and owner_org == self.organization)


def visible(viewer: Viewer, resource: Any = ResourceRow, version: Any = None) -> ColumnElement[bool]:
    """The condition a row of `resource` (ResourceRow or an alias of it) must meet.

    With `version` (a ResourceVersionRow), a version is judged on its own label as well as the
    resource's: a version written restricted stays restricted after a later one drops the label.
    """
    return _visible(viewer, resource, version, ViewerValues(viewer.organization, viewer.purpose, datetime.now(UTC)))


@dataclass(frozen=True, slots=True)
class ViewerValues:
    """What the clause compares with: the viewer's organisation and purpose, and the time now.

    Plain values make a clause for one request; bound parameters (`bound_viewer`) make one
    clause for every viewer of the same shape, so that a statement can be built and compiled once.
    """

    organization: Any
    purpose: Any
    now: Any


# The viewer's values as bound parameters of a statement built once per viewer shape.
BOUND_VIEWER = ViewerValues(
    bindparam("dyad_viewer_org", required=False),
    bindparam("dyad_viewer_purpose", required=False),
    bindparam("dyad_viewer_now", required=False),
)


def viewer_shape(viewer: Viewer) -> tuple[bool, bool, bool]:
    """What decides the clause's form (the values go in as parameters): equal shapes, equal SQL."""
    return viewer.sees_everything, viewer.organization is None, bool(viewer.purpose)


def visible_bound(viewer: Viewer, resource: Any = ResourceRow) -> ColumnElement[bool]:
    """`visible` with the viewer's values as parameters (`viewer_parameters` gives them)."""
    return _visible(viewer, resource, None, BOUND_VIEWER)


def viewer_parameters(viewer: Viewer) -> dict[str, Any]:
    return {
        "dyad_viewer_org": viewer.organization,
        "dyad_viewer_purpose": viewer.purpose,
        "dyad_viewer_now": datetime.now(UTC),
    }


def _visible(viewer: Viewer, resource: Any, version: Any, values: ViewerValues) -> ColumnElement[bool]:
    if viewer.sees_everything:
        return true()
    unrestricted = resource.restricted.is_(False)
    if version is not None:
        unrestricted = and_(unrestricted, version.restricted.is_(False))
    # != per owned type rather than NOT IN: the same test, without an expanding parameter, so
    # that the clause compiles to one fixed SQL text (a statement compiled once, see direct.py).
    not_owned_type = and_(*(resource.res_type != owned for owned in sorted(OWNED_TYPES)))
    owned = or_(not_owned_type, _owner_is(viewer, resource, values))
    if viewer.organization is None:
        return and_(owned, unrestricted)
    return and_(
        owned,
        or_(unrestricted, resource.owner_org == values.organization, _granted(viewer, resource, values)),
    )


def _owner_is(viewer: Viewer, resource: Any, values: ViewerValues) -> ColumnElement[bool]:
    if viewer.organization is None:
        return false()
    return resource.owner_org == values.organization


# Aliases of their own, so the clause stays correct inside queries that already join the
# reference index or the grants (a revinclude, a _has) and would otherwise correlate them away.
# Made once: the first use of a fresh alias's attributes costs ~1-3 ms (SQLAlchemy builds its
# attribute proxies), which every restricted viewer's read and search paid twice.
_GRANT_REF = aliased(ReferenceIndexRow, name="visible_ref")
_GRANT = aliased(AccessGrantRow, name="visible_grant")


def _granted(viewer: Viewer, resource: Any, values: ViewerValues) -> ColumnElement[bool]:
    ref, grant = _GRANT_REF, _GRANT
    now = values.now
    conditions = [
        grant.organization == values.organization,
        grant.patient_id == ref.target_id,
        # A grant opens only what its grantor owns: a Consent is the word of the organisation
        # that holds the record, never of the organisation it would let in.
        grant.grantor == resource.owner_org,
        or_(grant.period_start.is_(None), grant.period_start <= now),
        or_(grant.period_end.is_(None), grant.period_end >= now),
    ]
    # A grant limited to a purpose opens nothing to a caller that states no purpose (fail closed).
    if viewer.purpose:
        conditions.append(or_(grant.purpose.is_(None), grant.purpose == values.purpose))
    else:
        conditions.append(grant.purpose.is_(None))
    about_patient = select(ref.resource_pk).where(
        ref.resource_pk == resource.pk,
        ref.target_type == "Patient",
        # Everything but the grant comes from the enclosing queries (the reference, the resource).
        exists(select(grant.pk).where(and_(*conditions)).correlate_except(grant)),
    )
    return exists(about_patient)


CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
RESTRICTING_CODES = frozenset({"R", "V"})
RESTRICTED = {"system": CONFIDENTIALITY, "code": "R", "display": "restricted"}


def is_restricted(content: dict[str, Any] | None) -> bool:
    """Restricted (R) and very restricted (V) confidentiality labels limit who may see a resource."""
    labels = ((content or {}).get("meta") or {}).get("security") or []
    return any(
        isinstance(label, dict) and label.get("system") == CONFIDENTIALITY and label.get("code") in RESTRICTING_CODES
        for label in labels
    )


def keep_restriction(content: dict[str, Any]) -> dict[str, Any]:
    """The content with a restricting label, added back where a writer other than the owner left
    it out: labels are sticky, only their owner removes them."""
    if is_restricted(content) or content.get("resourceType") in IDENTITY_TYPES:
        return content
    meta = dict(content.get("meta") or {})
    meta["security"] = [*(meta.get("security") or []), RESTRICTED]
    return {**content, "meta": meta}


@dataclass(frozen=True, slots=True)
class Grant:
    """One organisation's access to one patient's restricted resources."""

    patient_id: str
    organization: str
    purpose: str | None
    period_start: datetime | None
    period_end: datetime | None


async def replace_grants(conn: AsyncConnection, consent_pk: int, grantor: str | None, grants: list[Grant]) -> None:
    """What a Consent grants now, in the same transaction as the Consent's new version.

    grantor is the organisation that recorded the Consent (its owner): the grants open only
    the restricted records that organisation owns. A Consent without an owner grants nothing.
    """
    await conn.execute(delete(AccessGrantRow).where(AccessGrantRow.consent_pk == consent_pk))
    if grants and grantor is not None:
        await conn.execute(
            insert(AccessGrantRow),
            [
                {
                    "consent_pk": consent_pk,
                    "grantor": grantor,
                    "patient_id": g.patient_id,
                    "organization": g.organization,
                    "purpose": g.purpose,
                    "period_start": g.period_start,
                    "period_end": g.period_end,
                }
                for g in grants
            ],
        )


# Records about other records: the server's Provenance and AuditEvent of a write, the pathway's
# prompt and referral Tasks, its clock-breach Communications. One about a restricted record is
# restricted too, whoever's code writes it, so no rule can forget to label one.
DERIVED_TYPES = frozenset({"Provenance", "AuditEvent", "Task", "Communication"})
_ABOUT = ("target", "focus", "reasonReference", "basedOn", "about", "partOf", "entity")


def sources_of(content: dict[str, Any]) -> list[tuple[str, str]]:
    """The (type, id) of the records a derived record is about."""
    found = []
    for key in _ABOUT:
        value = content.get(key)
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, dict):
                continue
            reference = (item.get("what") if key == "entity" else item) or {}
            text = reference.get("reference") if isinstance(reference, dict) else None
            if not isinstance(text, str):
                continue
            parts = text.split("/")
            if len(parts) in (2, 4) and parts[0] and parts[1]:
                found.append((parts[0], parts[1]))
    return found


@dataclass(frozen=True, slots=True)
class Restriction:
    """A record's restriction as derived records inherit it."""

    owner: str | None


async def inherited(
    conn: AsyncConnection, batch: list[tuple[dict[str, Any], str | None]]
) -> list[tuple[dict[str, Any], str | None]]:
    """The batch's (content, owner) pairs, derived records about a restricted one labelled.

    A derived record written by the server (no owner) takes the owner of the restricted record it
    is about, so exactly those who may see the source see it; one a client wrote stays its
    writer's. Sources in the same batch (a create and its Provenance) count as well as stored ones.
    The exception is a server-written Task that names the organisation which must act on it: it
    is that organisation's work, restricted to it, so a concern raised from a restricted record
    still reaches the team it prompts (docs/safety/access-hazards.md, AH-11).
    """
    wanted = {
        ref
        for content, _ in batch
        if content.get("resourceType") in DERIVED_TYPES and not is_restricted(content)
        for ref in sources_of(content)
    }
    if not wanted:
        return batch
    known: dict[tuple[str, str], Restriction | None] = {}
    for content, owner in batch:
        key = (content.get("resourceType", ""), content.get("id", ""))
        if key in wanted:
            known[key] = Restriction(owner) if is_restricted(content) else None
    missing = wanted - known.keys()
    if missing:
        by_type: dict[str, list[str]] = {}
        for res_type, res_id in missing:
            by_type.setdefault(res_type, []).append(res_id)
        rows = await conn.execute(
            select(ResourceRow.res_type, ResourceRow.res_id, ResourceRow.owner_org).where(
                ResourceRow.restricted.is_(True),
                or_(*(and_(ResourceRow.res_type == t, ResourceRow.res_id.in_(ids)) for t, ids in by_type.items())),
            )
        )
        known.update({(t, i): Restriction(o) for t, i, o in rows})
    out = []
    for content, owner in batch:
        source = (
            next((known[ref] for ref in sources_of(content) if known.get(ref) is not None), None)
            if content.get("resourceType") in DERIVED_TYPES and not is_restricted(content)
            else None
        )
        if source is None:
            out.append((content, owner))
        else:
            out.append((keep_restriction(content), owner if owner is not None else _derived_owner(content, source)))
    return out


def _derived_owner(content: dict[str, Any], source: Restriction) -> str | None:
    """Who owns a server-written record about a restricted one: the organisation a Task is for,
    else the source's owner."""
    if content.get("resourceType") == "Task":
        target = (content.get("owner") or {}).get("reference")
        if isinstance(target, str) and target.startswith("Organization/"):
            return target
    return source.owner
