"""The FHIR interactions, free of HTTP: the routes and the Bundle processor both call these.

Each function works inside a transaction its caller opened, so a Bundle can run many of them
and roll all of them back together. Each checks the caller's scopes for what it does, and
reads and writes only what the caller's organisation may see.
"""

from dataclasses import dataclass, replace
from typing import Any

import jsonpatch
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api.context import FhirContext
from service.api.outcome import FhirError
from service.api.references import require_resolvable
from service.search.query import SearchQuery, parse_search
from service.security.access import Access
from service.security.labels import labelled
from service.store.errors import VersionConflict
from service.store.records import StoredResource
from service.store.repository import Along, conditional_key
from service.store.search import SearchPage, run_search

QueryItems = list[tuple[str, str]]


@dataclass(frozen=True)
class Outcome:
    status: int
    stored: StoredResource | None = None
    wrote: bool = True  # False when a conditional create found its match instead

    @property
    def created(self) -> bool:
        return self.status == 201


async def read(ctx: FhirContext, conn: AsyncConnection, access: Access, res_type: str, res_id: str) -> StoredResource:
    access.require(res_type, "r")
    return await ctx.repository.read(conn, res_type, res_id, viewer=access.viewer)


async def vread(
    ctx: FhirContext, conn: AsyncConnection, access: Access, res_type: str, res_id: str, version: int
) -> StoredResource:
    access.require(res_type, "r")
    return await ctx.repository.vread(conn, res_type, res_id, version, viewer=access.viewer)


async def search(
    ctx: FhirContext, conn: AsyncConnection, access: Access, res_type: str, items: QueryItems, *, strict: bool
) -> tuple[SearchQuery, SearchPage]:
    access.require(res_type, "s")
    query = parse_search(ctx.registry, res_type, items, strict=strict)
    query.count = min(
        ctx.settings.default_page_size if query.count is None else query.count,
        ctx.settings.max_page_size,
    )
    page = await run_search(conn, ctx.registry, query, viewer=access.viewer)
    # Included resources of types the scopes do not let the caller read are left out.
    return query, replace(page, included=[s for s in page.included if access.may(s.res_type, "r")])


async def find_matches(
    ctx: FhirContext, conn: AsyncConnection, access: Access, res_type: str, items: QueryItems
) -> list[StoredResource]:
    """At most two matches: enough to tell none, one and too many apart."""
    if not items:
        raise FhirError(412, f"A conditional {res_type} request needs search criteria", code="invalid")
    # No total: only the matches are wanted, and counting them would run the search twice.
    criteria = [(k, v) for k, v in items if k not in ("_count", "_offset", "_total")] + [("_count", "2"), ("_total", "none")]
    _, page = await search(ctx, conn, access, res_type, criteria, strict=True)
    return page.matches


def one_or_none(res_type: str, matches: list[StoredResource]) -> StoredResource | None:
    if len(matches) > 1:
        raise FhirError(
            412, f"The criteria matched more than one {res_type}", code="multiple-matches"
        )
    return matches[0] if matches else None


async def create(
    ctx: FhirContext,
    conn: AsyncConnection,
    access: Access,
    resource: dict[str, Any],
    *,
    if_none_exist: QueryItems | None = None,
    res_id: str | None = None,
    along: Along | None = None,
    references_checked: bool = False,
) -> Outcome:
    """Create with a server id (or the one a transaction assigned); If-None-Exist makes it idempotent.

    `along` makes the records of a plain create (its Provenance and AuditEvent) to be written in
    the create's own statements; a conditional create does not use it (its outcome is not known
    until it has searched), and its caller records it afterwards. `references_checked`: a
    transaction checked every entry's references at once, against the ids the Bundle assigns.
    """
    res_type = resource["resourceType"]
    access.require(res_type, "c")
    resource = labelled(resource, ctx.settings, access.organization)
    if not if_none_exist:
        await _fits_the_store(ctx, conn, access, resource, res_id=res_id, references_checked=references_checked)
        stored = await ctx.repository.create(conn, resource, res_id=res_id, owner_org=access.organization, along=along)
        return Outcome(201, stored)
    existing = one_or_none(res_type, await find_matches(ctx, conn, access, res_type, if_none_exist))
    if existing is not None:
        return Outcome(200, existing, wrote=False)
    await _fits_the_store(ctx, conn, access, resource, res_id=res_id, references_checked=references_checked)
    return await _create_once(ctx, conn, access, resource, if_none_exist, res_id)


async def _fits_the_store(
    ctx: FhirContext,
    conn: AsyncConnection,
    access: Access,
    resource: dict[str, Any],
    *,
    res_id: str | None,
    references_checked: bool,
) -> None:
    """What a write must meet against what is stored: its references resolve (unless a
    transaction checked them for all its entries at once), and a Patient's NHS number is its own."""
    if not references_checked:
        await require_resolvable(ctx.repository, conn, access.viewer, resource)
    await ctx.repository.require_unique_identity(conn, resource, res_id=res_id, viewer=access.viewer)


async def _create_once(
    ctx: FhirContext,
    conn: AsyncConnection,
    access: Access,
    resource: dict[str, Any],
    criteria: QueryItems,
    res_id: str | None,
) -> Outcome:
    """Create under a unique conditional key: of racing identical creates, one wins."""
    res_type = resource["resourceType"]
    key = conditional_key(res_type, criteria)
    try:
        async with conn.begin_nested():
            stored = await ctx.repository.create(
                conn, resource, res_id=res_id, conditional_key=key, owner_org=access.organization
            )
    except IntegrityError:
        winner = one_or_none(res_type, await find_matches(ctx, conn, access, res_type, criteria))
        if winner is None:
            raise FhirError(
                409, f"A concurrent conditional create of {res_type} did not finish; retry",
                code="conflict",
            ) from None
        return Outcome(200, winner, wrote=False)
    return Outcome(201, stored)


async def update(
    ctx: FhirContext,
    conn: AsyncConnection,
    access: Access,
    resource: dict[str, Any],
    res_id: str,
    *,
    if_match: int | None = None,
    references_checked: bool = False,
) -> Outcome:
    """Update, or create with the client's id when the resource does not exist yet."""
    res_type = resource["resourceType"]
    access.require(res_type, "u")
    if resource.get("id") != res_id:
        raise FhirError(
            400, f"Resource id '{resource.get('id')}' does not match the URL's id '{res_id}'",
            code="invalid", expression="id",
        )
    resource = labelled(resource, ctx.settings, access.organization)
    await _fits_the_store(ctx, conn, access, resource, res_id=res_id, references_checked=references_checked)
    owner = access.organization
    try:
        async with conn.begin_nested():
            stored, created = await ctx.repository.update(
                conn, resource, res_id, expected_version=if_match, owner_org=owner, viewer=access.viewer
            )
    except IntegrityError:
        # Another request created this id between our look and our insert: now it exists.
        stored, created = await ctx.repository.update(
            conn, resource, res_id, expected_version=if_match, owner_org=owner, viewer=access.viewer
        )
    if created:
        access.require(res_type, "c")
    return Outcome(201 if created else 200, stored)


async def conditional_update(
    ctx: FhirContext,
    conn: AsyncConnection,
    access: Access,
    resource: dict[str, Any],
    criteria: QueryItems,
    *,
    if_match: int | None = None,
) -> Outcome:
    res_type = resource["resourceType"]
    access.require(res_type, "u")
    target = one_or_none(res_type, await find_matches(ctx, conn, access, res_type, criteria))
    if target is not None:
        if resource.get("id") not in (None, target.res_id):
            raise FhirError(
                409, "The resource id does not match the resource the criteria found",
                code="conflict", expression="id",
            )
        return await update(ctx, conn, access, {**resource, "id": target.res_id}, target.res_id, if_match=if_match)
    if resource.get("id"):
        return await update(ctx, conn, access, resource, resource["id"], if_match=if_match)
    return await create_by_criteria(ctx, conn, access, resource, criteria)


async def create_by_criteria(
    ctx: FhirContext,
    conn: AsyncConnection,
    access: Access,
    resource: dict[str, Any],
    criteria: QueryItems,
    *,
    references_checked: bool = False,
) -> Outcome:
    """A conditional update that matched nothing creates, under the criteria's conditional key.

    A racing request that created first wins the key; this one then updates what it made, as
    it would have had it come second.
    """
    res_type = resource["resourceType"]
    access.require(res_type, "u")
    access.require(res_type, "c")
    await _fits_the_store(ctx, conn, access, resource, res_id=resource.get("id"), references_checked=references_checked)
    created = await _create_once(ctx, conn, access, labelled(resource, ctx.settings, access.organization),
                                 criteria, resource.get("id"))
    if created.wrote or created.stored is None:
        return created
    winner = created.stored
    return await update(ctx, conn, access, {**resource, "id": winner.res_id}, winner.res_id, references_checked=True)


async def delete(
    ctx: FhirContext, conn: AsyncConnection, access: Access, res_type: str, res_id: str, *, if_match: int | None = None
) -> Outcome:
    access.require(res_type, "d")
    stored = await ctx.repository.delete(conn, res_type, res_id, expected_version=if_match, viewer=access.viewer)
    return Outcome(204, stored)


async def conditional_delete(
    ctx: FhirContext, conn: AsyncConnection, access: Access, res_type: str, criteria: QueryItems
) -> Outcome:
    access.require(res_type, "d")
    target = one_or_none(res_type, await find_matches(ctx, conn, access, res_type, criteria))
    if target is None:
        return Outcome(204)
    return await delete(ctx, conn, access, res_type, target.res_id)


async def patch(
    ctx: FhirContext,
    conn: AsyncConnection,
    access: Access,
    res_type: str,
    res_id: str,
    operations: Any,
    *,
    if_match: int | None = None,
) -> Outcome:
    """JSON Patch (RFC 6902) applied to the current version, then checked like any update."""
    access.require(res_type, "u")
    current = await ctx.repository.read(conn, res_type, res_id, viewer=access.viewer)
    if if_match is not None and if_match != current.version:
        raise VersionConflict(res_type, res_id, if_match, current.version)
    patched = apply_json_patch(current.content or {}, operations)
    if patched.get("resourceType") != res_type or patched.get("id") != res_id:
        raise FhirError(422, "A patch may not change resourceType or id", code="business-rule")
    patched = labelled(ctx.admission.admit(patched, res_type), ctx.settings, access.organization)
    await _fits_the_store(ctx, conn, access, patched, res_id=res_id, references_checked=False)
    stored, _ = await ctx.repository.update(
        conn, patched, res_id, expected_version=current.version, method="PATCH", viewer=access.viewer
    )
    return Outcome(200, stored)


def apply_json_patch(document: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise FhirError(400, "A JSON Patch body must be an array of operations", code="structure")
    try:
        patched = jsonpatch.JsonPatch(operations).apply(document)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise FhirError(422, f"JSON Patch test failed: {exc}", code="business-rule") from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
        raise FhirError(400, f"JSON Patch could not be applied: {exc}", code="structure") from None
    if not isinstance(patched, dict):
        raise FhirError(422, "JSON Patch did not leave a resource", code="business-rule")
    return patched
