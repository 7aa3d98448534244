"""What the store hands back: a resource version as stored, and queries that fetch it."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Select, and_, select

from service.store.tables import ResourceRow, ResourceVersionRow


def format_instant(when: datetime) -> str:
    """A FHIR instant in UTC with milliseconds, as meta.lastUpdated carries it."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class StoredResource:
    res_type: str
    res_id: str
    version: int
    last_updated: datetime
    content: dict[str, Any] | None  # None for a deleted version
    method: str = "PUT"
    pk: int = 0

    @property
    def deleted(self) -> bool:
        return self.content is None


@dataclass(frozen=True, slots=True)
class StoredJSON:
    """A current version as the database holds it: its JSON text, not yet parsed.

    The text is the whole resource (id, meta.versionId and meta.lastUpdated are stamped into it
    when it is written), so it can be served as it is where no shaping is asked for.
    """

    res_type: str
    res_id: str
    version: int
    last_updated: datetime
    text: str
    method: str = "PUT"
    pk: int = 0

    def parsed(self) -> StoredResource:
        content: dict[str, Any] = orjson.loads(self.text)
        return StoredResource(
            self.res_type, self.res_id, self.version, self.last_updated, content, self.method, self.pk
        )


def select_current(content: Any = ResourceVersionRow.content) -> Select[Any]:
    """Current versions: resource joined to the version it points at (`content`: the column or
    an expression of it, such as its text)."""
    return select(
        ResourceRow.pk,
        ResourceRow.res_type,
        ResourceRow.res_id,
        ResourceRow.version,
        ResourceRow.last_updated,
        ResourceVersionRow.method,
        content,
    ).join(
        ResourceVersionRow,
        and_(
            ResourceVersionRow.resource_pk == ResourceRow.pk,
            ResourceVersionRow.version == ResourceRow.version,
        ),
    )


def select_versions() -> Select[Any]:
    """Every version, for vread and history."""
    return select(
        ResourceRow.pk,
        ResourceRow.res_type,
        ResourceRow.res_id,
        ResourceVersionRow.version,
        ResourceVersionRow.last_updated,
        ResourceVersionRow.method,
        ResourceVersionRow.content,
    ).join(ResourceRow, ResourceRow.pk == ResourceVersionRow.resource_pk)


def to_stored(row: Any) -> StoredResource:
    return StoredResource(
        res_type=row.res_type,
        res_id=row.res_id,
        version=row.version,
        last_updated=row.last_updated,
        content=row.content,
        method=row.method,
        pk=row.pk,
    )
