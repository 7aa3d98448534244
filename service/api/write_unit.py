"""One write request's transaction, with the Provenance and AuditEvent that record it inside."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api.context import FhirContext
from service.api.interactions import Outcome
from service.security.access import Access
from service.security.write_record import record_write
from service.store.records import StoredResource


@dataclass
class WriteUnit:
    conn: AsyncConnection
    status: int = 200
    written: list[StoredResource] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)

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
        unit = WriteUnit(conn)
        yield unit
        await record_write(
            ctx.repository, conn, access, interaction, unit.status, unit.written, touched=tuple(unit.touched)
        )
    request.state.audited = True
