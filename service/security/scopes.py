"""SMART on FHIR scopes: what a bearer token lets its caller do to which resource type.

Both SMART v2 (`system/Observation.crus`, `user/*.rs?category=...`) and SMART v1
(`system/Observation.read`, `user/*.write`, `patient/*.*`) are read; v1 is mapped onto v2
permissions (read → rs, write → cud, * → cruds), as SMART App Launch 2.0 §3.2 suggests.

Rules that keep parsing from ever widening access:
- A scope that does not parse (unknown context, bad resource type, permissions out of order,
  unknown v1 action, a bare `*.*` with no context) grants nothing; it is kept only in `raw`.
- `allows()` counts only unrestricted `system/` and `user/` scopes. `patient/` scopes and scopes
  with `?param=value` restrictions are parsed and exposed (`grants()`, `has_patient_scopes`)
  but grant nothing through `allows()`, because honouring them needs a filter (patient
  compartment, search restriction) that the API layer has to apply.
- AuditEvent is granted only by a scope that names it: `system/*.rs` does not let a caller read
  the audit trail; `system/AuditEvent.rs` does (see EXPLICIT_SCOPE_ONLY).
"""

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, TypeGuard
from urllib.parse import parse_qsl

Permission = Literal["c", "r", "u", "d", "s"]

# SMART v2 requires permissions in this order; "rs" is valid, "sr" is not.
PERMISSION_ORDER: tuple[Permission, ...] = ("c", "r", "u", "d", "s")

# Which permission each FHIR REST interaction needs (names as in CapabilityStatement).
# Operations are not listed: the API layer decides the permission of each operation.
# System-level search and history need `s` on every type they return.
INTERACTION_PERMISSION: Mapping[str, Permission] = MappingProxyType(
    {
        "create": "c",
        "read": "r",
        "vread": "r",
        "history-instance": "r",
        "update": "u",
        "patch": "u",
        "delete": "d",
        "search-type": "s",
        "search-system": "s",
        "history-type": "s",
        "history-system": "s",
    }
)

# Resource types a wildcard scope never reaches. The audit trail says who looked at which
# family's record; a client trusted with every clinical type is not thereby trusted with that.
EXPLICIT_SCOPE_ONLY: frozenset[str] = frozenset({"AuditEvent"})

V1_ACTIONS: Mapping[str, frozenset[Permission]] = MappingProxyType(
    {
        "read": frozenset({"r", "s"}),
        "write": frozenset({"c", "u", "d"}),
        "*": frozenset(PERMISSION_ORDER),
    }
)

WILDCARD = "*"

# Recording a Consent that grants an organisation access to restricted records is a right of its
# own, never implied by system/Consent.c: a client that may file consents is not thereby trusted
# to open a family's perinatal mental health record to another service (docs/security.md).
CONSENT_GRANT_SCOPE = "dyad/consent.grant"

_SCOPE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]{0,63})\.(?P<action>[^?]+)(?:\?(?P<query>.*))?$"
)
_V2_PERMISSIONS = re.compile(r"^c?r?u?d?s?$")


class Context(StrEnum):
    PATIENT = "patient"
    USER = "user"
    SYSTEM = "system"


def is_permission(value: str) -> TypeGuard[Permission]:
    return value in PERMISSION_ORDER


@dataclass(frozen=True, slots=True)
class ResourceScope:
    """One parsed resource scope. `query` holds its `?param=value` restrictions, in order."""

    context: Context
    resource_type: str  # a FHIR type name, or "*"
    permissions: frozenset[Permission]
    query: tuple[tuple[str, str], ...]
    smart_version: Literal[1, 2]
    raw: str

    @property
    def restricted(self) -> bool:
        return bool(self.query)

    def covers(self, resource_type: str, permission: Permission) -> bool:
        if permission not in self.permissions:
            return False
        if self.resource_type == resource_type:
            return True
        return self.resource_type == WILDCARD and resource_type not in EXPLICIT_SCOPE_ONLY


def parse_scope(text: str) -> ResourceScope | None:
    """Parse one resource scope; None for anything else (openid, launch, garbled text)."""
    match = _SCOPE.match(text)
    if match is None:
        return None
    action = match["action"]
    parsed = _v2_permissions(action)
    version: Literal[1, 2] = 2
    if parsed is None:
        parsed = V1_ACTIONS.get(action)
        version = 1
    if parsed is None:
        return None
    query_text = match["query"]
    if query_text is not None and version == 1:
        return None  # v1 had no restrictions; a v1 scope with one is not a scope we understand
    query = _parse_query(query_text) if query_text is not None else ()
    if query is None:
        return None
    return ResourceScope(Context(match["context"]), match["type"], parsed, query, version, text)


def _v2_permissions(action: str) -> frozenset[Permission] | None:
    if not action or not _V2_PERMISSIONS.match(action):
        return None
    return frozenset(p for p in action if is_permission(p))


def _parse_query(text: str) -> tuple[tuple[str, str], ...] | None:
    # An empty or malformed restriction must not turn into "no restriction".
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    if not pairs or any(not name or not value for name, value in pairs):
        return None
    return tuple(pairs)


@dataclass(frozen=True, slots=True)
class ScopeSet:
    """The scopes granted to one caller. Build with `ScopeSet.parse`."""

    raw: tuple[str, ...]
    resource_scopes: tuple[ResourceScope, ...]

    @classmethod
    def parse(cls, scopes: str | Iterable[str]) -> "ScopeSet":
        """Read a space-separated scope string (OAuth `scope`) or a list of scopes (`scp`)."""
        texts = [scopes] if isinstance(scopes, str) else list(scopes)
        # RFC 6749 §3.3: scopes are separated by spaces (0x20) only; other whitespace is part of
        # a (then unparsable) scope, so "system/*.cruds\u00a0" grants nothing.
        words = [word for text in texts for word in text.split(" ") if word]
        raw = tuple(dict.fromkeys(words))
        parsed = (parse_scope(word) for word in raw)
        return cls(raw, tuple(scope for scope in parsed if scope is not None))

    @classmethod
    def empty(cls) -> "ScopeSet":
        return cls((), ())

    @classmethod
    def everything(cls) -> "ScopeSet":
        """Every clinical permission plus reading the audit trail; used only when auth is off.

        AuditEvent gets rs, not cruds: the audit trail is written by the server, never by a client.
        """
        return cls.parse(f"system/*.cruds system/AuditEvent.rs {CONSENT_GRANT_SCOPE}")

    def allows(self, resource_type: str, permission: str) -> bool:
        """Whether an unrestricted system/ or user/ scope grants `permission` on `resource_type`."""
        if not is_permission(permission):
            raise ValueError("permission must be one of c r u d s")
        return any(
            scope.context is not Context.PATIENT and not scope.restricted and scope.covers(resource_type, permission)
            for scope in self.resource_scopes
        )

    def grants(self, resource_type: str, permission: str) -> tuple[ResourceScope, ...]:
        """Every scope that would grant this, including patient/ and restricted ones, for the API to judge."""
        if not is_permission(permission):
            raise ValueError("permission must be one of c r u d s")
        return tuple(scope for scope in self.resource_scopes if scope.covers(resource_type, permission))

    @property
    def has_patient_scopes(self) -> bool:
        return any(scope.context is Context.PATIENT for scope in self.resource_scopes)

    @property
    def has_restricted_scopes(self) -> bool:
        return any(scope.restricted for scope in self.resource_scopes)

    def names(self, scope: str) -> bool:
        """Whether the token carries this exact (non-resource) scope, e.g. CONSENT_GRANT_SCOPE."""
        return scope in self.raw

    def __iter__(self) -> Iterator[ResourceScope]:
        return iter(self.resource_scopes)

    def __str__(self) -> str:
        return " ".join(self.raw)
