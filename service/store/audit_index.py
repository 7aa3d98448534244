"""Index rows of the audit trail's own AuditEvents, built by hand.

The trail writes one AuditEvent per read and search, always of the few shapes
`service.security.audit.audit_event` makes. Evaluating the 24 AuditEvent search parameters'
FHIRPath expressions on each was most of a batch's Python work; for those shapes the rows are
known in advance. Anything else (another shape, another type) goes to the generic writer, and
tests/security/test_audit_index.py checks these rows against the generic ones over varied
records on both databases.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.search.extract import DateRow, IndexRows, ReferenceRow, TokenRow
from service.search.registry import SearchRegistry
from service.search.values import ValueFormatError, date_range, normalise_string
from service.store.repository import IndexWriter
from service.store.search import insert_index_rows

AUDIT_EVENT_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
AUDIT_SOURCE = {
    "observer": {"display": "Dyad"},
    "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4"}],
}
_KEYS = frozenset(
    {"resourceType", "id", "meta", "type", "subtype", "action", "recorded", "outcome", "outcomeDesc", "agent"}
    | {"source", "entity"}
)
_META_KEYS = frozenset({"versionId", "lastUpdated", "security"})
_AGENT_KEYS = frozenset({"who", "requestor", "altId"})
_CODING_KEYS = frozenset({"system", "code", "display"})
# The AuditEvent search parameters (code, type, expression) these rows were written for: R4's,
# as Dyad's guide loads them. A registry with any other set (a deployment's own SearchParameter on
# AuditEvent, say) gets the generic writer for every AuditEvent, rather than rows that would
# silently leave its parameter unindexed.
KNOWN_PARAMETERS = frozenset(
    {
        ("_id", "token", None),
        ("_lastUpdated", "date", None),
        ("_profile", "uri", "AuditEvent.meta.profile"),
        ("_security", "token", "AuditEvent.meta.security"),
        ("_source", "uri", "AuditEvent.meta.source"),
        ("_tag", "token", "AuditEvent.meta.tag"),
        ("action", "token", "AuditEvent.action"),
        ("address", "string", "AuditEvent.agent.network.address"),
        ("agent", "reference", "AuditEvent.agent.who"),
        ("agent-name", "string", "AuditEvent.agent.name"),
        ("agent-role", "token", "AuditEvent.agent.role"),
        ("altid", "token", "AuditEvent.agent.altId"),
        ("date", "date", "AuditEvent.recorded"),
        ("entity", "reference", "AuditEvent.entity.what"),
        ("entity-name", "string", "AuditEvent.entity.name"),
        ("entity-role", "token", "AuditEvent.entity.role"),
        ("entity-type", "token", "AuditEvent.entity.type"),
        ("outcome", "token", "AuditEvent.outcome"),
        (
            "patient",
            "reference",
            "AuditEvent.agent.who.where(resolve() is Patient) | AuditEvent.entity.what.where(resolve() is Patient)",
        ),
        ("policy", "uri", "AuditEvent.agent.policy"),
        ("site", "token", "AuditEvent.source.site"),
        ("source", "reference", "AuditEvent.source.observer"),
        ("subtype", "token", "AuditEvent.subtype"),
        ("type", "token", "AuditEvent.type"),
    }
)


def knows_parameters_of(registry: SearchRegistry) -> bool:
    """Whether the registry's AuditEvent parameters are exactly those the hand-built rows cover."""
    params = registry.params_for("AuditEvent").values()
    return frozenset((p.code, p.type, p.expression) for p in params) == KNOWN_PARAMETERS


_TYPE_ROW = TokenRow("type", AUDIT_EVENT_TYPE["system"], AUDIT_EVENT_TYPE["code"], "restful operation")


class NotAuditShape(Exception):
    """The content is not one the trail makes; the generic writer indexes it."""


def audit_event_rows(content: dict[str, Any]) -> IndexRows | None:
    """The rows the generic indexer would write for an AuditEvent of the trail's shape, else None."""
    try:
        return _rows(content)
    except NotAuditShape:
        return None


def _rows(content: dict[str, Any]) -> IndexRows:
    _require(content.get("resourceType") == "AuditEvent" and content.keys() <= _KEYS)
    _require(content.get("type") == AUDIT_EVENT_TYPE and content.get("source") == AUDIT_SOURCE)
    rows = IndexRows()
    rows.token.append(_TYPE_ROW)
    rows.token.extend(_coding(code, "subtype") for code in _list(content.get("subtype")))
    rows.token.append(TokenRow("action", None, _text(content.get("action")), None))
    rows.token.append(TokenRow("outcome", None, _text(content.get("outcome")), None))
    if "outcomeDesc" in content:  # not indexed; only its shape is checked
        _text(content["outcomeDesc"])
    rows.token.extend(_security(content.get("meta")))
    rows.date.append(_recorded(content.get("recorded")))
    patients: list[ReferenceRow] = []
    for agent in _list(content.get("agent")):
        _require(isinstance(agent, dict) and agent.keys() <= _AGENT_KEYS and isinstance(agent.get("requestor"), bool))
        if "altId" in agent:
            rows.token.append(TokenRow("altid", None, _text(agent["altId"]), None))
        who = agent.get("who")
        _require(isinstance(who, dict) and len(who) == 1)
        if "reference" in who:
            row = _local("agent", who["reference"])
            rows.reference.append(row)
            patients.append(row)
        elif "identifier" in who:
            identifier = who["identifier"]
            _require(isinstance(identifier, dict) and identifier.keys() == {"system", "value"})
            _text(identifier["system"])
            _text(identifier["value"])
        else:
            _text(who.get("display"))
    for entity in _list(content["entity"]) if "entity" in content else []:
        _require(isinstance(entity, dict) and entity.keys() == {"what"} and isinstance(entity["what"], dict))
        _require(entity["what"].keys() == {"reference"})
        row = _local("entity", entity["what"]["reference"])
        rows.reference.append(row)
        patients.append(row)
    rows.reference.extend(ReferenceRow("patient", "Patient", p.target_id, None) for p in patients if _is_patient(p))
    rows.token = list(dict.fromkeys(rows.token))
    rows.reference = list(dict.fromkeys(rows.reference))
    return rows


def _require(condition: bool) -> None:
    if not condition:
        raise NotAuditShape


def _text(value: Any) -> str:
    _require(isinstance(value, str) and value != "")
    return str(value)


def _list(value: Any) -> list[Any]:
    _require(isinstance(value, list) and len(value) > 0)
    return list(value)


def _coding(coding: Any, param: str) -> TokenRow:
    _require(isinstance(coding, dict) and coding.keys() <= _CODING_KEYS and "code" in coding and "system" in coding)
    display = coding.get("display")
    return TokenRow(
        param,
        _text(coding["system"]),
        _text(coding["code"]),
        normalise_string(_text(display)) if display is not None else None,
    )


def _security(meta: Any) -> list[TokenRow]:
    _require(isinstance(meta, dict) and meta.keys() <= _META_KEYS)
    if "security" not in meta:
        return []
    return [_coding(label, "_security") for label in _list(meta["security"])]


def _recorded(value: Any) -> DateRow:
    try:
        low, high = date_range(_text(value))
    except ValueFormatError:
        raise NotAuditShape from None
    return DateRow("date", low, high)


def _local(param: str, text: Any) -> ReferenceRow:
    """`Type/id` or `Type/id/_history/n`, the only references the trail writes."""
    parts = _text(text).split("/")
    _require(len(parts) in (2, 4) and parts[0].isalpha() and parts[0][:1].isupper() and parts[1] != "")
    _require(len(parts) == 2 or (parts[2] == "_history" and parts[3] != ""))
    return ReferenceRow(param, parts[0], parts[1], None)


def _is_patient(row: ReferenceRow) -> bool:
    return row.target_type == "Patient"


class AuditEventIndexer:
    """An index writer that writes the trail's AuditEvents' rows by hand and hands everything
    else to the generic writer it wraps; everything, when the registry's AuditEvent parameters
    are not the ones the rows were written for."""

    def __init__(self, generic: IndexWriter, registry: SearchRegistry) -> None:
        self._generic = generic
        self.by_hand = knows_parameters_of(registry)

    async def __call__(
        self, conn: AsyncConnection, pk: int, res_type: str, content: dict[str, Any] | None, *, fresh: bool = False
    ) -> None:
        await self._generic(conn, pk, res_type, content, fresh=fresh)

    async def many(self, conn: AsyncConnection, items: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        others: list[tuple[int, str, dict[str, Any]]] = []
        by_hand: list[tuple[int, str, IndexRows]] = []
        for pk, res_type, content in items:
            rows = audit_event_rows(content) if self.by_hand and res_type == "AuditEvent" else None
            if rows is None:
                others.append((pk, res_type, content))
            else:
                by_hand.append((pk, res_type, rows))
        if others:
            await self._generic.many(conn, others)
        await insert_index_rows(conn, by_hand)
