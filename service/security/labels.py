"""Security labels applied on write: what comes from perinatal mental health is restricted."""

from typing import Any

from service.config import Settings
from service.store.access import CONFIDENTIALITY, is_restricted

RESTRICTED = {"system": CONFIDENTIALITY, "code": "R", "display": "restricted"}


def labelled(resource: dict[str, Any], settings: Settings, organization: str | None) -> dict[str, Any]:
    """The resource with a restricted label added where a rule says it needs one.

    Rules are data (settings): resources that came through a restricted source (a mapping's
    meta.source, e.g. the perinatal mental health system) and resources written by a
    restricted organisation (a perinatal mental health team) are restricted.
    """
    if is_restricted(resource) or not _rule_applies(resource, settings, organization):
        return resource
    meta = dict(resource.get("meta") or {})
    meta["security"] = [*(meta.get("security") or []), RESTRICTED]
    return {**resource, "meta": meta}


def _rule_applies(resource: dict[str, Any], settings: Settings, organization: str | None) -> bool:
    source = (resource.get("meta") or {}).get("source") or ""
    if any(source.startswith(prefix) for prefix in settings.restricted_sources if prefix):
        return True
    return organization is not None and organization in settings.restricted_organizations
