"""What the store hands back: a resource version as stored, and queries that fetch it."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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


def select_current() -> Select[Any]:
    """Current versions: resource joined to the version it points at."""
    return select(
        ResourceRow.pk,
        ResourceRow.res_type,
        ResourceRow.res_id,
        ResourceRow.version,
        ResourceRow.last_updated,
        ResourceVersionRow.method,
        ResourceVersionRow.content,
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
