"""Security labels applied on write: what comes from perinatal mental health is restricted.

Identity records (Patient, RelatedPerson) are never restricted, whoever writes them: a label on
a baby's Patient would hide the person from the services that must find them by NHS number,
and they would make a second one. What is sensitive is what is said about the person, and that
is labelled.
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.config import Settings
from service.security.access import Access
from service.store.access import CONFIDENTIALITY, IDENTITY_TYPES, RESTRICTED, RESTRICTING_CODES, Viewer, is_restricted
from service.store.records import StoredResource
from service.store.repository import ResourceRepository


def labelled(resource: dict[str, Any], settings: Settings, *, restricted_writer: bool) -> dict[str, Any]:
    """The resource with a restricted label added where a rule says it needs one.

    Rules are data (settings): resources that came through a restricted source (a mapping's
    meta.source, e.g. the perinatal mental health system) and resources written by a restricted
    writer (an organisation listed in the settings or typed as a perinatal mental health
    service: see restricted_writer in interactions) are restricted.
    """
    if resource.get("resourceType") in IDENTITY_TYPES:
        return _without_restriction(resource)
    if is_restricted(resource) or not (restricted_writer or _from_restricted_source(resource, settings)):
        return resource
    meta = dict(resource.get("meta") or {})
    meta["security"] = [*(meta.get("security") or []), RESTRICTED]
    return {**resource, "meta": meta}


def _from_restricted_source(resource: dict[str, Any], settings: Settings) -> bool:
    source = (resource.get("meta") or {}).get("source") or ""
    return any(source.startswith(prefix) for prefix in settings.restricted_sources if prefix)


def _without_restriction(resource: dict[str, Any]) -> dict[str, Any]:
    if not is_restricted(resource):
        return resource
    meta = dict(resource["meta"])
    meta["security"] = [
        label
        for label in meta.get("security") or []
        if not (
            isinstance(label, dict)
            and label.get("system") == CONFIDENTIALITY
            and label.get("code") in RESTRICTING_CODES
        )
    ]
    if not meta["security"]:
        del meta["security"]
    return {**resource, "meta": meta}


async def writes_restricted(
    repository: ResourceRepository, conn: AsyncConnection, settings: Settings, access: Access
) -> bool:
    """Whether what this caller writes is restricted: its organisation is listed in the settings,
    or its Organization resource is typed as a perinatal mental health service. Looked up once a
    request."""
    organization = access.organization
    if organization is None:
        return False
    if "writes_restricted" not in access.memo:
        access.memo["writes_restricted"] = organization in settings.restricted_organizations or _typed_restricted(
            await repository.read_many(
                conn, [("Organization", organization.removeprefix("Organization/"))], viewer=Viewer.system()
            ),
            settings,
        )
    return bool(access.memo["writes_restricted"])


def _typed_restricted(found: dict[tuple[str, str], StoredResource], settings: Settings) -> bool:
    wanted = set(settings.restricted_organization_types)
    for stored in found.values():
        for kind in (stored.content or {}).get("type") or []:
            for coding in (kind or {}).get("coding") or []:
                if f"{coding.get('system')}|{coding.get('code')}" in wanted:
                    return True
    return False
