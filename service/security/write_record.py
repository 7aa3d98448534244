"""What a write leaves behind in its own transaction: a Provenance and an AuditEvent."""

from service.security.access import Access
from service.security.audit import AuditRecord, audit_event
from service.security.provenance import provenance_for
from service.store.records import StoredResource
from service.store.repository import NewResource, ResourceRepository


async def record_write(
    repository: ResourceRepository,
    conn: object,
    access: Access,
    interaction: str,
    status: int,
    written: list[StoredResource],
    *,
    touched: tuple[str, ...] = (),
    with_provenance: bool = True,
) -> None:
    """touched names resources the request involved without writing (e.g. a conditional match);
    with_provenance=False when the request brought its own Provenance (a mapped record does)."""
    provenance = provenance_for(written, access.caller) if with_provenance else None
    entities = tuple(f"{w.res_type}/{w.res_id}/_history/{w.version}" for w in written) + touched
    audit = audit_event(AuditRecord(access.caller, interaction, status, entities))
    # The server's own records: written together, and not announced as changes.
    records = [NewResource(r) for r in (provenance, audit) if r is not None]
    await repository.create_many(conn, records, announce=False)  # type: ignore[arg-type]
