"""A Provenance for every write: which versions, by whom, for which organisation, through what."""

from datetime import UTC, datetime
from typing import Any

from service.security.tokens import Caller
from service.store.records import StoredResource, format_instant

_ACTIVITY = {"POST": "CREATE", "PUT": "UPDATE", "PATCH": "UPDATE", "DELETE": "DELETE"}
# Resources that record other writes are not themselves given a Provenance.
UNPROVENANCED = frozenset({"AuditEvent", "Provenance"})


def provenance_for(written: list[StoredResource], caller: Caller, via: str | None = None) -> dict[str, Any] | None:
    """One Provenance naming every version written; None when there is nothing to name."""
    targets = [w for w in written if w.res_type not in UNPROVENANCED]
    if not targets:
        return None
    activities = {_ACTIVITY.get(w.method, "UPDATE") for w in targets}
    provenance: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [{"reference": f"{w.res_type}/{w.res_id}/_history/{w.version}"} for w in targets],
        "recorded": format_instant(datetime.now(UTC)),
        "agent": [_agent(caller)],
    }
    if len(activities) == 1:
        provenance["activity"] = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": activities.pop()}]
        }
    source = via or _common_source(targets)
    if source:
        provenance["entity"] = [{"role": "source", "what": {"display": source}}]
    return provenance


def _agent(caller: Caller) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author"}
            ]
        },
    }
    if caller.authenticated and caller.subject:
        agent["who"] = {"identifier": {"system": caller.issuer or "urn:dyad:issuer", "value": caller.subject}}
    else:
        agent["who"] = {"display": "unauthenticated local user (DYAD_AUTH=off)"}
    if caller.organization:
        agent["onBehalfOf"] = {"reference": caller.organization}
    return agent


def _common_source(targets: list[StoredResource]) -> str | None:
    sources = {((w.content or {}).get("meta") or {}).get("source") for w in targets}
    sources.discard(None)
    return sources.pop() if len(sources) == 1 else None
