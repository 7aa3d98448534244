"""Organisations are keyed by their ODS code: the Organization for code RX1 is `Organization/RX1`.

Three things name an organisation: a token's organisation claim (`RX1`, `Organization/RX1` or the
ODS Identifier, all read as `Organization/RX1` by service.security.tokens), the Organization a
mapped record names (created conditionally on its ODS identifier), and a pathway rule's team (a
reference to a stored Organization). The store gives an Organization that carries an ODS code
that code as its id, so all three are one resource and compare as one string: the owner of what
a token writes, the owner of a Task routed to the team and the Organization a mapping made.

Because that id is what grants records (a resource's owner is the writer's `Organization/<id>`,
and a server-written Task is owned by the Organization it names), nobody may take it over:
- an Organization carries at most one ODS code, and one that carries a code has it as its id (no
  second Organization may claim RX1, and Organization/RX1 may not claim RX2);
- an id in the ODS code form is reserved for that code: the Organization stored there carries it;
- Organization/RX1 is changed or deleted only by RX1 itself (or the server's own work): anyone may
  create it, since a record names the organisations it refers to and from, but no other
  organisation may rewrite (e.g. retype) what RX1 is.
"""

import re
import uuid
from typing import Any

from service.store.access import Viewer
from service.store.errors import StoreError

ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
# ODS organisation codes: upper-case letters and digits (trusts RX1, sites RX101, practices A81001).
_ODS_CODE = re.compile(r"^[A-Z0-9]{3,10}$")


class OrganisationKeyError(StoreError):
    """An Organization whose ODS code and id disagree."""

    status, code = 422, "business-rule"
    expression = "Organization.identifier"


class NotThatOrganisation(StoreError):
    """Organization/<ODS code> is that organisation's own: only its own tokens change it."""

    status, code = 403, "forbidden"

    def __init__(self, res_id: str) -> None:
        super().__init__(
            f"Organization/{res_id} is changed or deleted only by that organisation (or, for an id that is not "
            "an ODS code, by the organisation that recorded it)"
        )


class OrganisationExists(StoreError):
    """A plain create of an Organization whose ODS code already has one."""

    status, code = 409, "duplicate"
    expression = "Organization.identifier"

    def __init__(self, code: str) -> None:
        super().__init__(
            f"Organization/{code} already holds ODS code {code}; one organisation has one Organization. "
            f"Use a conditional create (If-None-Exist: identifier={ODS_SYSTEM}|{code}) to find it"
        )


def is_ods_code(value: object) -> bool:
    return isinstance(value, str) and _ODS_CODE.match(value) is not None


def ods_codes(content: dict[str, Any]) -> set[str]:
    """The ODS codes an Organization's identifiers carry."""
    return {
        str(i.get("value"))
        for i in content.get("identifier") or ()
        if isinstance(i, dict) and i.get("system") == ODS_SYSTEM and i.get("value") is not None
    }


def keyed_id(content: dict[str, Any]) -> str | None:
    """The id an Organization must have: its ODS code (None: it carries none)."""
    if content.get("resourceType") != "Organization":
        return None
    codes = ods_codes(content)
    return next(iter(codes)) if len(codes) == 1 else None


def new_id(content: dict[str, Any]) -> str:
    """The id the server gives a new resource: an Organization's ODS code, else a random one."""
    return keyed_id(content) or str(uuid.uuid4())


def check_keyed(content: dict[str, Any], res_id: str | None) -> None:
    """Refuse an Organization whose ODS code and id disagree (res_id None: the server assigns it)."""
    if content.get("resourceType") != "Organization":
        return
    codes = ods_codes(content)
    if len(codes) > 1:
        raise OrganisationKeyError("An Organization carries one ODS code, not several")
    code = next(iter(codes), None)
    if code is not None and not is_ods_code(code):
        raise OrganisationKeyError(f"ODS code {code!r} is not an ODS code (upper-case letters and digits)")
    if code is not None and res_id is not None and res_id != code:
        raise OrganisationKeyError(
            f"The Organization for ODS code {code} is Organization/{code}, not Organization/{res_id}"
        )
    if code is None and res_id is not None and is_ods_code(res_id):
        raise OrganisationKeyError(
            f"Organization/{res_id} is reserved for ODS code {res_id}: it must carry the identifier "
            f"{ODS_SYSTEM}|{res_id}"
        )


def check_may_change(res_type: str, res_id: str, viewer: Viewer, owner_org: str | None = None) -> None:
    """Organization/<ODS code> changes only by that organisation's hand (or the server's).

    An Organization at any other id (a token may name a bare logical id, e.g. a team's own) is
    changed by itself or by the organisation that recorded it: its type is what makes its team's
    writes restricted (service.security.labels), so a third organisation rewriting it could strip
    the type and read the team's next notes.
    """
    if res_type != "Organization" or viewer.sees_everything:
        return
    if viewer.organization == f"Organization/{res_id}":
        return
    if is_ods_code(res_id) or not viewer.owns(owner_org):
        raise NotThatOrganisation(res_id)
