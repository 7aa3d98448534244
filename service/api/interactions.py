"""The FHIR interactions, free of HTTP: the routes and the Bundle processor both call these.

Each function works inside a transaction its caller opened, so a Bundle can run many of them
and roll all of them back together. Each checks the caller's scopes for what it does, and
reads and writes only what the caller's organisation may see.
"""

from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import jsonpatch
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api.context import FhirContext
from service.api.outcome import FhirError
from service.api.references import require_resolvable
from service.conformance.supported import SUPPORTED_TYPES
from service.notify.subscriptions import split_criteria
from service.search.query import (
    ChainFilter,
    Filter,
    HasFilter,
    SearchError,
    SearchQuery,
    check_query_size,
    parse_search,
)
from service.security.access import Access
from service.security.consent import check_recorder
from service.security.labels import labelled, writes_restricted
from service.security.scopes import EXPLICIT_SCOPE_ONLY
from service.store.access import is_restricted
from service.store.errors import VersionConflict
from service.store.records import StoredJSON, StoredResource
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


async def read_json(ctx: FhirContext, access: Access, res_type: str, res_id: str) -> StoredJSON:
    """A read on its own (not inside a Bundle or an operation): one statement, no transaction."""
    access.require(res_type, "r")
    return await ctx.repository.read_json(ctx.db, res_type, res_id, viewer=access.viewer)


async def vread(
    ctx: FhirContext, conn: AsyncConnection, access: Access, res_type: str, res_id: str, version: int
) -> StoredResource:
    access.require(res_type, "r")
    return await ctx.repository.vread(conn, res_type, res_id, version, viewer=access.viewer)


async def search(
    ctx: FhirContext, conn: AsyncConnection, access: Access, res_type: str, items: QueryItems, *, strict: bool
) -> tuple[SearchQuery, SearchPage]:
    query = scoped_query(ctx, access, res_type, items, strict=strict)
    query.count = min(
        ctx.settings.default_page_size if query.count is None else query.count,
        ctx.settings.max_page_size,
    )
    # Included resources of types the scopes do not let the caller read are left out, and are
    # not followed further by :iterate either.
    page = await run_search(
        conn,
        ctx.registry,
        query,
        viewer=access.viewer,
        readable=lambda t: access.may(t, "r"),
        statements=ctx.search_statements,
    )
    return query, page


def scoped_query(ctx: FhirContext, access: Access, res_type: str, items: QueryItems, *, strict: bool) -> SearchQuery:
    """The search as the caller may run it: `s` on its type and on every type it passes through."""
    access.require(res_type, "s")
    check_query_size(items)
    query = parse_search(ctx.registry, res_type, items, strict=strict)
    for passed in _explicit_only_types_passed(query):
        access.require(passed, "s")
    query.filters = [within_scopes(access, f) for f in query.filters]
    return query


def may_watch(ctx: FhirContext, access: Access, subscription: dict[str, Any]) -> None:
    """A Subscription delivers what its criteria match, for as long as it lives: its writer needs
    the read and search rights that running the criteria and reading the matches would need."""
    res_type, items = split_criteria(str(subscription.get("criteria") or ""))
    if res_type not in SUPPORTED_TYPES:
        return  # refused as invalid (422) when the Subscription is read for delivery
    access.require(res_type, "r")
    try:
        scoped_query(ctx, access, res_type, items, strict=True)
    except SearchError:
        return  # likewise: criteria Dyad cannot run are refused as invalid, with the reason


def within_scopes(access: Access, search_filter: Filter) -> Filter:
    """A chain or `_has` searches the types it passes through, so it needs `s` on each of them.

    A chain with a type (`subject:Patient.family`) or a `_has` naming a type the scopes do not
    reach is refused (403); an untyped chain keeps only the target types the caller may search,
    and is refused when none is left. Computing it anyway would let totals answer questions
    about resources the caller may not search (issue 11 #8).
    """
    if isinstance(search_filter, HasFilter):
        access.require(search_filter.source_type, "s")
        return replace(search_filter, inner=within_scopes(access, search_filter.inner))
    if isinstance(search_filter, ChainFilter):
        allowed = tuple(
            (target, within_scopes(access, inner)) for target, inner in search_filter.targets if access.may(target, "s")
        )
        if not allowed:
            access.require(search_filter.targets[0][0], "s")
        return replace(search_filter, targets=allowed)
    return search_filter


async def prepared(ctx: FhirContext, conn: AsyncConnection, access: Access, resource: dict[str, Any]) -> dict[str, Any]:
    """What every client write stores: a Consent checked against who may record it, and the
    resource labelled by the rules (source, writer's organisation, identity never restricted)."""
    if resource.get("resourceType") == "Consent":
        check_recorder(access.caller, resource)
    if resource.get("resourceType") == "Subscription":
        may_watch(ctx, access, resource)
    restricted = await writes_restricted(ctx.repository, conn, ctx.settings, access)
    return labelled(resource, ctx.settings, restricted_writer=restricted)


def creation_key(access: Access, resource: dict[str, Any], criteria: QueryItems) -> str:
    """The conditional key a create is stored under.

    A restricted resource's key is its owner's alone: another organisation's identical
    conditional create, which cannot see it, must neither collide with it (a 409 would tell that
    it exists) nor be blocked by it; two of the owner's still collide as they should.
    """
    owner = access.organization if is_restricted(resource) else None
    extra = [("_dyad_owner", owner)] if owner else []
    return conditional_key(resource["resourceType"], criteria + extra)


def _explicit_only_types_passed(query: SearchQuery) -> set[str]:
    """The audit-trail types a search looks through (chains, _has, includes): asking which families
    an organisation's AuditEvents name is reading the audit trail, so it needs the same explicit
    scope as searching AuditEvent itself (EXPLICIT_SCOPE_ONLY; wildcards never grant it)."""
    passed: set[str] = set()
    pending: list[Filter] = list(query.filters)
    while pending:
        item = pending.pop()
        if isinstance(item, HasFilter):
            passed.add(item.source_type)
            pending.append(item.inner)
        elif isinstance(item, ChainFilter):
            for target_type, inner in item.targets:
                passed.add(target_type)
                pending.append(inner)
    for include in [*query.includes, *query.revincludes]:
        passed.update(t for t in (include.source_type, include.target_type) if t)
    return passed & EXPLICIT_SCOPE_ONLY


async def find_matches(
    ctx: FhirContext, conn: AsyncConnection, access: Access, res_type: str, items: QueryItems
) -> list[StoredResource]:
    """At most two matches: enough to tell none, one and too many apart."""
    if not items:
        raise FhirError(412, f"A conditional {res_type} request needs search criteria", code="invalid")
    # No total: only the matches are wanted, and counting them would run the search twice.
    criteria = [(k, v) for k, v in items if k not in ("_count", "_offset", "_total")] + [
        ("_count", "2"),
        ("_total", "none"),
    ]
    _, page = await search(ctx, conn, access, res_type, criteria, strict=True)
    return page.matches


def one_or_none(res_type: str, matches: list[StoredResource]) -> StoredResource | None:
    if len(matches) > 1:
        raise FhirError(412, f"The criteria matched more than one {res_type}", code="multiple-matches")
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
    resource = await prepared(ctx, conn, access, resource)
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
    key = creation_key(access, resource, criteria)
    try:
        async with conn.begin_nested():
            stored = await ctx.repository.create(
                conn, resource, res_id=res_id, conditional_key=key, owner_org=access.organization
            )
    except IntegrityError:
        winner = one_or_none(res_type, await find_matches(ctx, conn, access, res_type, criteria))
        if winner is None:
            raise FhirError(
                409,
                f"A concurrent conditional create of {res_type} did not finish; retry",
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
            400,
            f"Resource id '{resource.get('id')}' does not match the URL's id '{res_id}'",
            code="invalid",
            expression="id",
        )
    resource = await prepared(ctx, conn, access, resource)
    if res_type == "Subscription":
        resource = await _keeping_secret(ctx, conn, access, resource, res_id)
    await _fits_the_store(ctx, conn, access, resource, res_id=res_id, references_checked=references_checked)
    owner = access.organization
    # A restricted resource is never created under a client's id (no existence oracle: see
    # IdNotAssignable); the server's ids for it cannot be guessed.
    may_create = not is_restricted(resource) or access.viewer.sees_everything
    write = partial(
        ctx.repository.update,
        conn,
        resource,
        res_id,
        expected_version=if_match,
        owner_org=owner,
        viewer=access.viewer,
        may_create=may_create,
    )
    try:
        async with conn.begin_nested():
            stored, created = await write()
    except IntegrityError:
        # Another request created this id between our look and our insert: now it exists.
        stored, created = await write()
    if created:
        access.require(res_type, "c")
    return Outcome(201 if created else 200, stored)


async def _keeping_secret(
    ctx: FhirContext, conn: AsyncConnection, access: Access, resource: dict[str, Any], res_id: str
) -> dict[str, Any]:
    """A Subscription's channel.header is never returned, so its owner's read-modify-write would
    drop it: an update without one keeps the stored one, but only for the same endpoint, so a
    secret never follows a subscription to an endpoint it was not given for."""
    channel = resource.get("channel")
    if not isinstance(channel, dict) or "header" in channel:
        return resource
    current = (await ctx.repository.read_many(conn, [("Subscription", res_id)], viewer=access.viewer)).get(
        ("Subscription", res_id)
    )
    stored = ((current.content or {}).get("channel") or {}) if current is not None else {}
    if "header" not in stored or stored.get("endpoint") != channel.get("endpoint"):
        return resource
    return {**resource, "channel": {**channel, "header": stored["header"]}}


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
                409,
                "The resource id does not match the resource the criteria found",
                code="conflict",
                expression="id",
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
    resource = await prepared(ctx, conn, access, resource)
    await _fits_the_store(ctx, conn, access, resource, res_id=resource.get("id"), references_checked=references_checked)
    created = await _create_once(ctx, conn, access, resource, criteria, resource.get("id"))
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
    patched = await prepared(ctx, conn, access, ctx.admission.admit(patched, res_type))
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
