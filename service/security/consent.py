"""A parent's Consent as access grants: which organisations may see their restricted records.

Grants are rewritten in the same transaction as every Consent version, so revoking (status
no longer active, or deleting the Consent) takes access away with the commit that records it.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api.outcome import FhirError
from service.search.values import ValueFormatError, date_range
from service.security.scopes import CONSENT_GRANT_SCOPE
from service.security.tokens import Caller
from service.store.access import Grant, replace_grants
from service.store.records import StoredResource
from service.store.tables import ResourceRow


async def consent_listener(conn: AsyncConnection, change: StoredResource) -> None:
    if change.res_type == "Consent":
        grantor = await conn.scalar(select(ResourceRow.owner_org).where(ResourceRow.pk == change.pk))
        await replace_grants(conn, change.pk, grantor, grants_of(change.content))


def grants_of(consent: dict[str, Any] | None) -> list[Grant]:
    """The grants an active, permitting Consent gives; none for anything else.

    Only the top-level provision is read: nested exceptions would need per-resource rules,
    which Dyad's model (organisation access to one parent's restricted records) does not use.
    """
    if not consent or consent.get("status") != "active":
        return []
    provision = consent.get("provision") or {}
    patient_id = _patient_id(consent)
    if patient_id is None or provision.get("type", "permit") != "permit":
        return []
    try:
        start, end = _period(provision.get("period") or {})
    except ValueFormatError:
        return []  # an unreadable period grants nothing, rather than everything
    purposes = [p.get("code") for p in provision.get("purpose") or [] if isinstance(p, dict)] or [None]
    return [
        Grant(patient_id, organization, purpose, start, end)
        for organization in _organizations(provision)
        for purpose in purposes
    ]


def _patient_id(consent: dict[str, Any]) -> str | None:
    reference = (consent.get("patient") or {}).get("reference", "")
    kind, _, res_id = reference.partition("/")
    return res_id if kind == "Patient" and res_id else None


def _organizations(provision: dict[str, Any]) -> list[str]:
    found = []
    for actor in provision.get("actor") or []:
        reference = ((actor or {}).get("reference") or {}).get("reference", "")
        if reference.startswith("Organization/"):
            found.append(reference)
    return found


def _period(period: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    start = date_range(period["start"])[0] if period.get("start") else None
    end = date_range(period["end"])[1] if period.get("end") else None
    return start, end


def check_recorder(caller: Caller, consent: dict[str, Any]) -> None:
    """Who may record a Consent that grants access (docs/security.md, "Who may record consent").

    Only a caller holding the dedicated consent scope, and never for its own organisation: a
    grant must come from the side that holds the record. Which records a grant opens is judged at
    read time against the recorder's organisation (the Consent's owner): only what it owns.
    """
    grants = grants_of(consent)
    if not grants:
        return  # stores a refusal, a draft or a revocation: grants nothing, needs nothing
    if not caller.scopes.names(CONSENT_GRANT_SCOPE):
        raise FhirError(
            403, f"Recording a Consent that grants access needs the {CONSENT_GRANT_SCOPE} scope", code="forbidden"
        )
    if caller.organization is not None and any(g.organization == caller.organization for g in grants):
        raise FhirError(403, "An organisation may not grant access to itself", code="forbidden")
