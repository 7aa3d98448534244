"""Install the profile package into the store at start, so its resources are readable and searchable."""

from typing import Any

from service.conformance.package import ProfilePackage
from service.conformance.parse import check_structure
from service.store.access import Viewer
from service.store.database import Database
from service.store.meta import get_meta, set_meta
from service.store.repository import ResourceRepository

DIGEST_KEY = "profiles_digest"


async def install_package(db: Database, repository: ResourceRepository, package: ProfilePackage) -> int:
    """Write every definition that differs from what is stored; returns how many were written.

    The package's digest is remembered, so an unchanged `profiles/` costs one query at start.
    """
    async with db.write() as conn:
        if await get_meta(conn, DIGEST_KEY) == package.digest:
            return 0
        keys = [(r["resourceType"], r["id"]) for r in package.resources]
        stored = await repository.read_many(conn, keys, viewer=Viewer.system())
        written = 0
        for resource in package.resources:
            current = stored.get((resource["resourceType"], resource["id"]))
            if current is not None and _same_content(current.content, resource):
                continue
            check_structure(resource)
            await repository.update(conn, resource, resource["id"], viewer=Viewer.system())
            written += 1
        await set_meta(conn, DIGEST_KEY, package.digest)
    return written


def _same_content(stored: dict[str, Any] | None, incoming: dict[str, Any]) -> bool:
    if stored is None:
        return False
    return _without_server_meta(stored) == _without_server_meta(incoming)


def _without_server_meta(resource: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    trimmed = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        trimmed["meta"] = meta
    return trimmed
