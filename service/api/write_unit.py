"""One write request's transaction, with the Provenance and AuditEvent that record it inside."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api.context import FhirContext
from service.api.interactions import Outcome
from service.pathway.context import notices
from service.security.access import Access
from service.security.write_record import record_write, write_records
from service.store.records import StoredResource
from service.store.repository import Along, NewResource


@dataclass
class WriteUnit:
    conn: AsyncConnection
    access: Access
    interaction: str
    status: int = 200
    written: list[StoredResource] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)
    recorded: bool = False

    def records_along(self) -> Along:
        """For a plain create: its Provenance and AuditEvent go into the create's own INSERTs
        (one statement per table for all three) instead of a second round of statements."""

        def records(created: list[StoredResource]) -> list[NewResource]:
            self.recorded = True
            return write_records(self.access, self.interaction, 201, created)

        return records

    def warnings(self) -> list[str]:
        """What the pathway warned of for this write (read inside the unit, while its transaction is open)."""
        return [message for _, message in notices(self.conn)]

    def done(self, outcome: Outcome) -> Outcome:
        """Note what the interaction did: a new version was written, or an existing one matched."""
        self.status = outcome.status
        stored = outcome.stored
        if stored is not None and outcome.wrote:
            self.written.append(stored)
        elif stored is not None:
            self.touched.append(f"{stored.res_type}/{stored.res_id}/_history/{stored.version}")
        return outcome


@asynccontextmanager
async def write_unit(request: Request, ctx: FhirContext, access: Access, interaction: str) -> AsyncIterator[WriteUnit]:
    request.state.interaction = interaction
    async with ctx.db.write() as conn:
        unit = WriteUnit(conn, access, interaction)
        yield unit
        if not unit.recorded:
            records = write_records(access, interaction, unit.status, unit.written, touched=tuple(unit.touched))
            await record_write(ctx.repository, conn, records)
    request.state.audited = True
