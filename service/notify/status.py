"""Subscription.status as delivery sees it: `error` after repeated failures, `active` again on success.

Written as a new version through the repository, so history, the search index and other
listeners see it like any other write. The version read is the one replaced (If-Match), so a
client's concurrent change (say, to `off`) is never overwritten.
"""

import logging

from service.store.access import Viewer
from service.store.database import Database
from service.store.errors import ResourceGone, ResourceNotFound, VersionConflict
from service.store.repository import ResourceRepository

log = logging.getLogger("dyad.notify")


async def set_delivery_status(
    db: Database, repository: ResourceRepository, sub_id: str, *, status: str, error: str | None
) -> bool:
    """Move an `active` subscription to `error` or an `error` one to `active`; True if written."""
    source = "error" if status == "active" else "active"
    try:
        async with db.write() as conn:
            current = await repository.read(conn, "Subscription", sub_id, viewer=Viewer.system())
            content = dict(current.content or {})
            if content.get("status") != source:
                return False
            content["status"] = status
            if error is None:
                content.pop("error", None)
            else:
                content["error"] = error
            await repository.update(conn, content, sub_id, expected_version=current.version, viewer=Viewer.system())
    except (ResourceNotFound, ResourceGone, VersionConflict):
        return False
    log.info("subscription status", extra={"subscription": sub_id, "status": status})
    return True
