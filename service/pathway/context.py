"""What every rule kind acts with: the written version, the writer's connection and the store.

A rule kind reads and writes only through this, so each kind module is one small function over
the change, and every internal search here returns every match (never a page of them).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.pathway.deferred import create_deferred, flush_for
from service.pathway.derived import record_derivation
from service.pathway.extraction import Extractor
from service.pathway.routing import RuleBook
from service.search.query import parse_search
from service.search.registry import SearchRegistry
from service.store.access import Viewer
from service.store.records import StoredResource
from service.store.repository import ResourceRepository
from service.store.search import run_search

# Warnings the rules leave for the writer (e.g. "this concern has no team to go to"); the API
# adds them to the write's response. Keyed on the transaction, like the family lookups.
_NOTICES_KEY = "dyad_pathway_notices"


@dataclass(frozen=True)
class PathwayOptions:
    rules_enabled: bool = True
    extract_on_write: bool = False


@dataclass
class PathwayContext:
    conn: AsyncConnection
    repository: ResourceRepository
    registry: SearchRegistry
    book: RuleBook
    extractor: Extractor
    options: PathwayOptions
    change: StoredResource
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def resource(self) -> dict[str, Any]:
        assert self.change.content is not None
        return self.change.content

    @property
    def reference(self) -> str:
        return f"{self.change.res_type}/{self.change.res_id}"

    async def previous(self) -> dict[str, Any] | None:
        """The version before this one (None for a first version)."""
        if self.change.version <= 1:
            return None
        await self._flush_for(self.change.res_type)
        return (
            await self.repository.vread(
                self.conn, self.change.res_type, self.change.res_id, self.change.version - 1, viewer=Viewer.system()
            )
        ).content

    async def search(self, res_type: str, items: list[tuple[str, str]]) -> list[StoredResource]:
        """Every match: an internal search never stops at a page size (a missed match is a lost task)."""
        assert not any(k in ("_count", "_offset") for k, _ in items), "internal searches are never paged"
        await self._flush_for(res_type)
        query = parse_search(self.registry, res_type, items + [("_total", "none")], strict=True)
        query.count = None
        return (await run_search(self.conn, self.registry, query, viewer=Viewer.system())).matches

    async def count(self, res_type: str, items: list[tuple[str, str]]) -> int:
        """How many match, counted by the database."""
        await self._flush_for(res_type)
        query = parse_search(self.registry, res_type, items + [("_summary", "count")], strict=True)
        total = (await run_search(self.conn, self.registry, query, viewer=Viewer.system())).total
        assert total is not None
        return total

    async def read(self, reference: str) -> dict[str, Any] | None:
        res_type, _, res_id = reference.partition("/")
        if not res_id or "/" in res_id:
            return None
        await self._flush_for(res_type)
        stored = (await self.repository.read_many(self.conn, [(res_type, res_id)], viewer=Viewer.system())).get(
            (res_type, res_id)
        )
        return stored.content if stored is not None else None

    async def create_once(self, resource: dict[str, Any], *, notice: str | None = None) -> None:
        """Create unless a resource with its first identifier exists, with its Provenance; the
        writer gets `notice` when it is created. Held back to the end of the write's announcements
        (service/pathway/deferred.py), where all of them are created together."""
        reference = self.reference

        def created() -> None:
            if notice is not None:
                notices(self.conn).append((reference, notice))

        await create_deferred(self.conn, self.repository, self.registry, resource, self.change, created)

    async def _flush_for(self, res_type: str) -> None:
        """What the write raised so far, written before this reads resources of the type."""
        await flush_for(self.conn, self.repository, self.registry, res_type)

    async def revise(
        self, res_type: str, res_id: str, revise: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> None:
        """Write revise(current) as a new version, with a Provenance; nothing when it gives None.

        The current version is read under the resource's row lock, so a client's concurrent
        write is either seen here or waits: it is never overwritten, nor does it make this
        write fail its version check.
        """
        await self._flush_for(res_type)
        current = await self.repository.read_for_update(self.conn, res_type, res_id, viewer=Viewer.system())
        revised = revise(current.content) if current is not None and current.content is not None else None
        if current is None or revised is None:
            return
        updated, _ = await self.repository.update(
            self.conn, revised, res_id, expected_version=current.version, viewer=Viewer.system()
        )
        await record_derivation(self.conn, self.repository, [updated], self.change)

    def notice(self, message: str) -> None:
        """A warning for the writer about this version: carried in the write's response (never identifying anyone)."""
        notices(self.conn).append((self.reference, message))


def notices(conn: AsyncConnection) -> list[tuple[str, str]]:
    """This transaction's pathway warnings, (Type/id written, message) (conn.info outlives the transaction, so the entry names it)."""
    transaction = conn.sync_connection.get_transaction() if conn.sync_connection else None
    held = conn.info.get(_NOTICES_KEY)
    if held is None or held[0] is not transaction:
        held = (transaction, [])
        conn.info[_NOTICES_KEY] = held
    found: list[tuple[str, str]] = held[1]
    return found
