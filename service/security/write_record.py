"""What a write leaves behind in its own transaction: a Provenance and an AuditEvent."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from service.security.access import Access
from service.security.audit import AuditRecord, audit_event
from service.security.provenance import provenance_for
from service.store.records import StoredResource
from service.store.repository import NewResource, ResourceRepository


def write_records(
    access: Access,
    interaction: str,
    status: int,
    written: list[StoredResource],
    *,
    touched: tuple[str, ...] = (),
    with_provenance: bool = True,
) -> list[NewResource]:
    """The Provenance (unless the request brought its own) and the AuditEvent of a write.

    touched names resources the request involved without writing (e.g. a conditional match);
    with_provenance=False when the request brought its own Provenance (a mapped record does).
    """
    provenance = provenance_for(written, access.caller) if with_provenance else None
    entities = tuple(f"{w.res_type}/{w.res_id}/_history/{w.version}" for w in written) + touched
    audit = audit_event(AuditRecord(access.caller, interaction, status, entities))
    return [NewResource(r) for r in (provenance, audit) if r is not None]


async def record_write(repository: ResourceRepository, conn: AsyncConnection, records: Sequence[NewResource]) -> None:
    """Write a request's records (see write_records) together, not announced as changes: they are
    the server's own, and trigger neither pathway rules nor notifications."""
    await repository.create_many(conn, records, announce=False)
