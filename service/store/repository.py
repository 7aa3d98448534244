"""Versioned resource storage: every write is a new version, indexed in the same transaction."""

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode

from sqlalchemy import Text, and_, bindparam, cast, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.store import ods
from service.store.access import (
    OWNER_CHANGES_ONLY,
    Viewer,
    inherited,
    is_restricted,
    keep_restriction,
    viewer_parameters,
    viewer_shape,
    visible,
    visible_bound,
)
from service.store.database import Database
from service.store.direct import DirectStatement, compile_direct
from service.store.errors import (
    DuplicateIdentity,
    IdNotAssignable,
    NotOwner,
    ResourceGone,
    ResourceNotFound,
    VersionConflict,
)
from service.store.records import (
    StoredJSON,
    StoredResource,
    format_instant,
    select_current,
    select_versions,
    to_stored,
)
from service.store.tables import (
    NHS_NUMBER_INDEX,
    NHS_NUMBER_SYSTEM,
    ConditionalKeyRow,
    ResourceRow,
    ResourceVersionRow,
    TokenIndexRow,
)


class IndexWriter(Protocol):
    """Writes a resource's search-index rows; `fresh` says it has none yet."""

    async def __call__(
        self, conn: AsyncConnection, pk: int, res_type: str, content: dict[str, Any] | None, *, fresh: bool = False
    ) -> None: ...

    async def many(self, conn: AsyncConnection, items: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """Rows of several new resources at once."""


def conditional_key(res_type: str, criteria: list[tuple[str, str]]) -> str:
    """The key a conditional create is stored under: one hash per distinct search, whatever
    order its parameters came in, so racing identical creates collide on the unique index."""
    canonical = res_type + "?" + urlencode(sorted(criteria))
    return hashlib.sha256(canonical.encode()).hexdigest()


def nhs_numbers(content: dict[str, Any]) -> list[str]:
    return [
        i["value"]
        for i in content.get("identifier") or ()
        if isinstance(i, dict) and i.get("system") == NHS_NUMBER_SYSTEM and isinstance(i.get("value"), str)
    ]


@contextmanager
def _identity_guard() -> Iterator[None]:
    """A violation of the one-Patient-per-NHS-number index, as the store's own refusal.

    PostgreSQL names the index; SQLite names the column (its writers are serialised, so the
    look-up before the write has already answered unless two entries of one write collide).
    """
    try:
        yield
    except IntegrityError as exc:
        text = str(exc.orig)
        if NHS_NUMBER_INDEX in text or "search_token.code" in text:
            raise DuplicateIdentity(None) from None
        raise


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp(content: dict[str, Any], res_id: str, version: int, when: datetime) -> dict[str, Any]:
    """The resource as stored: id and meta.versionId / meta.lastUpdated are the server's."""
    meta = dict(content.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = format_instant(when)
    stamped = {"resourceType": content["resourceType"], "id": res_id, "meta": meta}
    stamped.update((k, v) for k, v in content.items() if k not in stamped)
    return stamped


@dataclass(frozen=True, slots=True)
class NewResource:
    """A resource to create: its content, and the id, conditional key and owner it is created with."""

    content: dict[str, Any]
    res_id: str | None = None  # a server id is made when None
    conditional_key: str | None = None
    owner_org: str | None = None


# Resources to write in the same statements as a create, made from what it is about to write
# (its Provenance and AuditEvent); they are not announced.
Along = Callable[[list[StoredResource]], Sequence[NewResource]]


class ChangeListener(Protocol):
    """Told of every version written, inside the transaction that wrote it (e.g. the outbox).

    A listener may also have `async def prepare(conn, changes)`: called once for a batch of new
    versions before the per-change calls, so it can do for all of them in one statement what it
    would otherwise do per change (the outbox matches them against each criteria at once); and
    `batch(conn)`, an async context manager over a batch's announcements (see `announcing`).
    """

    async def __call__(self, conn: AsyncConnection, change: StoredResource) -> None: ...


class ResourceRepository:
    """Create, read, update, delete and history over one connection the caller owns.

    The caller opens the transaction (one HTTP request, or one whole Bundle), so that a
    failure anywhere rolls back every row the request wrote.
    """

    def __init__(self, write_index: IndexWriter, listeners: tuple[ChangeListener, ...] = ()) -> None:
        self._write_index = write_index
        self._listeners = listeners
        self._read_statements: dict[tuple[str, tuple[bool, bool, bool]], DirectStatement] = {}

    def indexing_with(self, wrap: Callable[[IndexWriter], IndexWriter]) -> "ResourceRepository":
        """A repository like this one whose index writer wraps this one's (the audit trail's,
        which writes its own AuditEvents' rows by hand and leaves the rest to the generic one)."""
        return ResourceRepository(wrap(self._write_index), self._listeners)

    async def prepare_announcements(self, conn: AsyncConnection, changes: Sequence[StoredResource]) -> None:
        """Let the listeners that can prepare for a batch of changes before each is announced."""
        for listener in self._listeners:
            prepare = getattr(listener, "prepare", None)
            if prepare is not None:
                await prepare(conn, changes)

    @asynccontextmanager
    async def announcing(self, conn: AsyncConnection) -> AsyncIterator[None]:
        """A scope over several announcements, for listeners that do some of their work for all of
        them at its end (`batch(conn)`: the pathway creates the Tasks they raise together)."""
        async with AsyncExitStack() as stack:
            for listener in self._listeners:
                batch = getattr(listener, "batch", None)
                if batch is not None:
                    await stack.enter_async_context(batch(conn))
            yield

    async def announce(self, conn: AsyncConnection, change: StoredResource) -> StoredResource:
        """Tell the change listeners of a version written with create_many(announce=False)."""
        for listener in self._listeners:
            await listener(conn, change)
        return change

    async def create(
        self,
        conn: AsyncConnection,
        content: dict[str, Any],
        *,
        res_id: str | None = None,
        conditional_key: str | None = None,
        owner_org: str | None = None,
        along: Along | None = None,
    ) -> StoredResource:
        new = NewResource(content, res_id=res_id, conditional_key=conditional_key, owner_org=owner_org)
        return (await self.create_many(conn, [new], along=along))[0]

    async def create_many(
        self, conn: AsyncConnection, items: Sequence[NewResource], *, announce: bool = True, along: Along | None = None
    ) -> list[StoredResource]:
        """New resources in one statement per table, however many there are (a Bundle's creates,
        a write's records), rather than a handful of statements each.

        The listeners are told afterwards, in order, once every row (index rows included) is in
        place. announce=False leaves that to the caller (a Bundle, which names the entry a listener
        refuses) or skips it for the server's own records, which trigger neither pathway rules nor
        notifications. `along` adds resources made from the stamped ones (a create's Provenance and
        AuditEvent) to the same statements; they are neither announced nor returned.
        """
        if not items:
            return []
        now = utc_now()
        stamped = [stamp(item.content, item.res_id or ods.new_id(item.content), 1, now) for item in items]
        await self._require_free_ods_ids(conn, stamped)
        announced = len(items)
        if along is not None:
            extra = along([StoredResource(s["resourceType"], s["id"], 1, now, s, "POST") for s in stamped])
            items = [*items, *extra]
            stamped += [stamp(item.content, item.res_id or str(uuid.uuid4()), 1, now) for item in extra]
        labelled = await inherited(conn, [(s, item.owner_org) for item, s in zip(items, stamped, strict=True)])
        stamped = [content for content, _ in labelled]
        owners = [owner for _, owner in labelled]
        # RETURNING with sort_by_parameter_order would make SQLite insert row by row; (type, id)
        # is unique, so the keys are matched to their rows by it instead, in multi-row INSERTs.
        result = await conn.execute(
            insert(ResourceRow).returning(ResourceRow.pk, ResourceRow.res_type, ResourceRow.res_id),
            [
                {
                    "res_type": s["resourceType"],
                    "res_id": s["id"],
                    "version": 1,
                    "last_updated": now,
                    "deleted": False,
                    "owner_org": owner,
                    "restricted": is_restricted(s),
                }
                for owner, s in zip(owners, stamped, strict=True)
            ],
        )
        pk_of = {(res_type, res_id): int(pk) for pk, res_type, res_id in result}
        pks = [pk_of[(s["resourceType"], s["id"])] for s in stamped]
        await conn.execute(
            insert(ResourceVersionRow),
            [
                {
                    "resource_pk": pk,
                    "version": 1,
                    "res_type": s["resourceType"],
                    "last_updated": now,
                    "method": "POST",
                    "content": s,
                    "restricted": is_restricted(s),
                }
                for pk, s in zip(pks, stamped, strict=True)
            ],
        )
        keys = [
            {"res_type": s["resourceType"], "key_hash": item.conditional_key, "resource_pk": pk}
            for item, s, pk in zip(items, stamped, pks, strict=True)
            if item.conditional_key
        ]
        if keys:
            await conn.execute(insert(ConditionalKeyRow), keys)
        with _identity_guard():
            await self._write_index.many(conn, [(pk, s["resourceType"], s) for pk, s in zip(pks, stamped, strict=True)])
        created = [
            StoredResource(s["resourceType"], s["id"], 1, now, s, "POST", pk)
            for pk, s in zip(pks, stamped, strict=True)
        ]
        created = created[:announced]
        if announce:
            if len(created) > 1:
                await self.prepare_announcements(conn, created)
            async with self.announcing(conn):
                for change in created:
                    await self.announce(conn, change)
        return created

    async def update(
        self,
        conn: AsyncConnection,
        content: dict[str, Any],
        res_id: str,
        *,
        expected_version: int | None = None,
        viewer: Viewer,
        method: str = "PUT",
        owner_org: str | None = None,
        may_create: bool = True,
    ) -> tuple[StoredResource, bool]:
        """Write a new version; returns it and whether the resource was created by this write.

        owner_org only applies when the write creates the resource; a viewer that may not see
        an existing resource is told it does not exist, rather than allowed to overwrite it.
        A restricting label stays unless the owner removes it: anyone else's version without it
        gets it back. may_create=False refuses to create (IdNotAssignable) where it would.
        """
        res_type = content["resourceType"]
        row = await self._lock_row(conn, res_type, res_id, viewer)
        if not may_create and (row is None or not row.visible):
            # The same answer whether the id is free or held by something this viewer may not
            # see, so that refusing the create tells nothing about what exists.
            raise IdNotAssignable(res_type, res_id)
        if row is None:
            if expected_version is not None:
                raise VersionConflict(res_type, res_id, expected_version, None)
            return await self.create(conn, content, res_id=res_id, owner_org=owner_org), True
        self._check_may_change(res_type, res_id, row, viewer)
        if expected_version is not None and expected_version != row.version:
            raise VersionConflict(res_type, res_id, expected_version, row.version)
        if row.restricted and not viewer.owns(row.owner_org):
            content = keep_restriction(content)
        content = (await inherited(conn, [(content, row.owner_org)]))[0][0]
        version = row.version + 1
        now = utc_now()
        stored = stamp(content, res_id, version, now)
        await self._advance(conn, row.pk, version, now, deleted=False, restricted=is_restricted(stored))
        await self._insert_version(conn, row.pk, res_type, version, now, method, stored)
        # A conditional-create key only guards the creation race; once the resource changes it
        # may no longer match its criteria, and a stale key would block a later legitimate create.
        await self._drop_conditional_keys(conn, row.pk)
        with _identity_guard():
            await self._write_index(conn, row.pk, res_type, stored)
        change = StoredResource(res_type, res_id, version, now, stored, method, row.pk)
        return await self.announce(conn, change), False

    async def delete(
        self,
        conn: AsyncConnection,
        res_type: str,
        res_id: str,
        *,
        viewer: Viewer,
        expected_version: int | None = None,
    ) -> StoredResource | None:
        """Mark deleted with a content-less version; None when there was nothing to delete."""
        row = await self._lock_row(conn, res_type, res_id, viewer)
        if row is None or row.deleted or not row.visible:
            return None
        self._check_may_change(res_type, res_id, row, viewer)
        if expected_version is not None and expected_version != row.version:
            raise VersionConflict(res_type, res_id, expected_version, row.version)
        version = row.version + 1
        now = utc_now()
        await self._advance(conn, row.pk, version, now, deleted=True, restricted=row.restricted)
        await self._insert_version(conn, row.pk, res_type, version, now, "DELETE", None, restricted=row.restricted)
        await self._drop_conditional_keys(conn, row.pk)
        await self._write_index(conn, row.pk, res_type, None)
        return await self.announce(conn, StoredResource(res_type, res_id, version, now, None, "DELETE", row.pk))

    async def read(self, conn: AsyncConnection, res_type: str, res_id: str, *, viewer: Viewer) -> StoredResource:
        result = await conn.execute(
            select_current().where(ResourceRow.res_type == res_type, ResourceRow.res_id == res_id, visible(viewer))
        )
        row = result.first()
        if row is None:
            raise ResourceNotFound(res_type, res_id)
        if row.content is None:
            raise ResourceGone(res_type, res_id, row.version)
        return to_stored(row)

    async def read_json(self, db: Database, res_type: str, res_id: str, *, viewer: Viewer) -> StoredJSON:
        """The current version as stored, in one statement (access check and row together) sent
        in one round trip outside a transaction: the read route's path (see direct.py).

        The same rows and refusals as `read`: invisible or missing is ResourceNotFound, deleted is
        ResourceGone (tests/store/test_direct_reads.py compares the two over the same data).
        """
        statement = self._read_statement(db, viewer)
        row = await db.fetch_one(
            statement, {"dyad_res_type": res_type, "dyad_res_id": res_id, **viewer_parameters(viewer)}
        )
        if row is None:
            raise ResourceNotFound(res_type, res_id)
        pk, found_type, found_id, version, last_updated, method, text = row
        if text is None:
            raise ResourceGone(res_type, res_id, version)
        return StoredJSON(found_type, found_id, version, last_updated, text, method, pk)

    def _read_statement(self, db: Database, viewer: Viewer) -> DirectStatement:
        """Built and compiled once per database dialect and viewer shape; the values are parameters."""
        key = (db.dialect, viewer_shape(viewer))
        statement = self._read_statements.get(key)
        if statement is None:
            # The JSON as text: SQLite holds text; PostgreSQL's jsonb is asked for its text form
            # (the driver would otherwise parse it, only for the response to serialise it again).
            text = ResourceVersionRow.content if db.dialect == "sqlite" else cast(ResourceVersionRow.content, Text)
            query = select_current(text.label("content")).where(
                ResourceRow.res_type == bindparam("dyad_res_type", required=False),
                ResourceRow.res_id == bindparam("dyad_res_id", required=False),
                visible_bound(viewer),
            )
            statement = compile_direct(query, db.read_engine.dialect, raw=("content",))
            self._read_statements[key] = statement
        return statement

    async def owner_of(self, conn: AsyncConnection, pk: int) -> str | None:
        """The organisation that created the resource (None: written with authentication off)."""
        result = await conn.execute(select(ResourceRow.owner_org).where(ResourceRow.pk == pk))
        owner: str | None = result.scalar_one_or_none()
        return owner

    async def read_for_update(
        self, conn: AsyncConnection, res_type: str, res_id: str, *, viewer: Viewer
    ) -> StoredResource | None:
        """The current version, with the resource's row locked until the transaction ends.

        For writers that build a new version from the current one: read after the lock, the
        version cannot change under them, so no concurrent write is lost.
        """
        if await self._lock_row(conn, res_type, res_id, viewer) is None:
            return None
        return (await self.read_many(conn, [(res_type, res_id)], viewer=viewer)).get((res_type, res_id))

    async def read_many(
        self, conn: AsyncConnection, keys: list[tuple[str, str]], *, viewer: Viewer
    ) -> dict[tuple[str, str], StoredResource]:
        """Current, non-deleted versions of the given (type, id) pairs; missing ones are absent."""
        found: dict[tuple[str, str], StoredResource] = {}
        by_type: dict[str, list[str]] = {}
        for res_type, res_id in keys:
            by_type.setdefault(res_type, []).append(res_id)
        for res_type, ids in by_type.items():
            result = await conn.execute(
                select_current().where(
                    ResourceRow.res_type == res_type,
                    ResourceRow.res_id.in_(ids),
                    ResourceRow.deleted.is_(False),
                    visible(viewer),
                )
            )
            for row in result:
                found[(res_type, row.res_id)] = to_stored(row)
        return found

    async def require_unique_identity(
        self, conn: AsyncConnection, content: dict[str, Any], *, res_id: str | None, viewer: Viewer
    ) -> None:
        """Refuse a Patient whose NHS number another Patient holds, whatever that one's labels,
        and an Organization whose ODS code is not its id (service.store.ods; res_id None: the
        server will assign it).

        This answers with the holder named when the writer may see it; the unique index
        (migration 0008) is what makes the rule hold under concurrent writes.
        """
        ods.check_keyed(content, res_id)
        numbers = nhs_numbers(content)
        if content.get("resourceType") != "Patient" or not numbers:
            return
        result = await conn.execute(
            select(ResourceRow.res_id, visible(viewer).label("visible"))
            .join(TokenIndexRow, TokenIndexRow.resource_pk == ResourceRow.pk)
            .where(
                TokenIndexRow.res_type == "Patient",
                TokenIndexRow.param == "identifier",
                TokenIndexRow.system == NHS_NUMBER_SYSTEM,
                TokenIndexRow.code.in_(numbers),
                ResourceRow.res_id != (res_id or ""),
            )
            .limit(1)
        )
        holder = result.first()
        if holder is not None:
            raise DuplicateIdentity(holder.res_id if holder.visible else None)

    async def _require_free_ods_ids(self, conn: AsyncConnection, stamped: list[dict[str, Any]]) -> None:
        """A new Organization keyed by an ODS code that already has one (even deleted) is a
        duplicate, answered as such rather than as the unique index's failure."""
        keyed = [s["id"] for s in stamped if s["resourceType"] == "Organization" and ods.keyed_id(s) == s["id"]]
        if not keyed:
            return
        taken = await conn.execute(
            select(ResourceRow.res_id)
            .where(ResourceRow.res_type == "Organization", ResourceRow.res_id.in_(keyed))
            .limit(1)
        )
        code = taken.scalar_one_or_none()
        if code is not None:
            raise ods.OrganisationExists(code)

    async def existing(
        self, conn: AsyncConnection, keys: set[tuple[str, str]], *, viewer: Viewer
    ) -> set[tuple[str, str]]:
        """Which of the (type, id) pairs are current, not deleted, and visible to the viewer.

        Only the keys are read: a reference check over a large Bundle needs no content.
        """
        if not keys:
            return set()
        by_type: dict[str, list[str]] = {}
        for res_type, res_id in keys:
            by_type.setdefault(res_type, []).append(res_id)
        # One statement for every type (a create's subject, focus and performer are three types):
        # each statement is a round trip, and a write sends this one for every create.
        result = await conn.execute(
            select(ResourceRow.res_type, ResourceRow.res_id).where(
                or_(*(and_(ResourceRow.res_type == t, ResourceRow.res_id.in_(ids)) for t, ids in by_type.items())),
                ResourceRow.deleted.is_(False),
                visible(viewer),
            )
        )
        return {(res_type, res_id) for res_type, res_id in result}

    async def vread(
        self, conn: AsyncConnection, res_type: str, res_id: str, version: int, *, viewer: Viewer
    ) -> StoredResource:
        result = await conn.execute(
            select_versions().where(
                ResourceRow.res_type == res_type,
                ResourceRow.res_id == res_id,
                ResourceVersionRow.version == version,
                visible(viewer, version=ResourceVersionRow),
            )
        )
        row = result.first()
        if row is None:
            raise ResourceNotFound(res_type, res_id, version)
        if row.content is None:
            raise ResourceGone(res_type, res_id, version)
        return to_stored(row)

    async def history(
        self,
        conn: AsyncConnection,
        *,
        res_type: str | None = None,
        res_id: str | None = None,
        since: datetime | None = None,
        count: int = 50,
        offset: int = 0,
        viewer: Viewer,
    ) -> tuple[int, list[StoredResource]]:
        """Versions newest first, for instance, type or whole-system history; each version is
        judged on its own label as well as the resource's."""
        conditions = [visible(viewer, version=ResourceVersionRow)]
        if res_type is not None:
            conditions.append(ResourceVersionRow.res_type == res_type)
        if res_id is not None:
            conditions.append(ResourceRow.res_id == res_id)
        if since is not None:
            conditions.append(ResourceVersionRow.last_updated >= since)
        total = await conn.scalar(
            select(func.count())
            .select_from(ResourceVersionRow)
            .join(ResourceRow, ResourceRow.pk == ResourceVersionRow.resource_pk)
            .where(*conditions)
        )
        result = await conn.execute(
            select_versions()
            .where(*conditions)
            .order_by(
                ResourceVersionRow.last_updated.desc(),
                ResourceVersionRow.resource_pk.desc(),
                ResourceVersionRow.version.desc(),
            )
            .limit(count)
            .offset(offset)
        )
        return int(total or 0), [to_stored(row) for row in result]

    async def _drop_conditional_keys(self, conn: AsyncConnection, pk: int) -> None:
        await conn.execute(delete(ConditionalKeyRow).where(ConditionalKeyRow.resource_pk == pk))

    @staticmethod
    def _check_may_change(res_type: str, res_id: str, row: Any, viewer: Viewer) -> None:
        """Invisible rows are missing; owned types change only by their owner's hand."""
        if not row.visible:
            raise ResourceNotFound(res_type, res_id)
        if res_type in OWNER_CHANGES_ONLY and not viewer.owns(row.owner_org):
            raise NotOwner(res_type, res_id)
        ods.check_may_change(res_type, res_id, viewer, row.owner_org)

    async def _lock_row(self, conn: AsyncConnection, res_type: str, res_id: str, viewer: Viewer) -> Any:
        # FOR UPDATE serialises writers of one resource on PostgreSQL; SQLite's writers are
        # already serialised by BEGIN IMMEDIATE and the clause is left out there.
        result = await conn.execute(
            select(
                ResourceRow.pk,
                ResourceRow.version,
                ResourceRow.deleted,
                ResourceRow.restricted,
                ResourceRow.owner_org,
                visible(viewer).label("visible"),
            )
            .where(ResourceRow.res_type == res_type, ResourceRow.res_id == res_id)
            .with_for_update(of=ResourceRow)
        )
        return result.first()

    async def _advance(
        self, conn: AsyncConnection, pk: int, version: int, now: datetime, *, deleted: bool, restricted: bool
    ) -> None:
        await conn.execute(
            update(ResourceRow)
            .where(ResourceRow.pk == pk)
            .values(version=version, last_updated=now, deleted=deleted, restricted=restricted)
        )

    async def _insert_version(
        self,
        conn: AsyncConnection,
        pk: int,
        res_type: str,
        version: int,
        now: datetime,
        method: str,
        content: dict[str, Any] | None,
        *,
        restricted: bool | None = None,
    ) -> None:
        await conn.execute(
            insert(ResourceVersionRow).values(
                resource_pk=pk,
                version=version,
                res_type=res_type,
                last_updated=now,
                method=method,
                content=content,
                restricted=is_restricted(content) if restricted is None else restricted,
            )
        )
