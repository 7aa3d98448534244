"""Bundle transaction (all or nothing) and batch (each entry on its own) at POST [base]."""

import asyncio
import base64
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from sqlalchemy.exc import IntegrityError

from service.api import bundles, interactions
from service.api.context import FhirContext
from service.api.errors import status_and_issues
from service.api.outcome import FhirError, operation_outcome
from service.api.paths import check_id
from service.api.references import dangling, references_in, target_of, unresolved_error
from service.api.requests import RENDER_PARAMS, Prefer, parse_if_match
from service.api.responses import etag, shaped
from service.conformance.issues import Issue, within_entry
from service.conformance.supported import SUPPORTED_TYPES
from service.errors import DyadError
from service.pathway.context import notices
from service.security.access import Access
from service.security.write_record import record_write, write_records
from service.store import ods
from service.store.errors import ResourceNotFound
from service.store.records import StoredResource, format_instant
from service.store.repository import NewResource

# FHIR's processing order for a transaction: deletes, creates, updates, then reads.
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_CONDITIONAL_REFERENCE = re.compile(r"^([A-Z][A-Za-z]+)\?(.*)$")
_STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content"}


@dataclass
class Entry:
    index: int
    method: str
    res_type: str
    res_id: str | None = None
    version: int | None = None
    criteria: list[tuple[str, str]] | None = None
    params: dict[str, str] = field(default_factory=dict)
    resource: dict[str, Any] | None = None
    patch: Any = None
    full_url: str | None = None
    if_match: int | None = None
    if_none_exist: list[tuple[str, str]] | None = None
    existing: StoredResource | None = None  # a conditional create that matched
    creates_by_criteria: bool = False  # a conditional update that matched nothing: it creates


@dataclass
class EntryResult:
    status: int
    stored: StoredResource | None = None
    wrote: bool = True
    body: dict[str, Any] | None = None


async def process_bundle(ctx: FhirContext, access: Access, bundle: Any, base: str, prefer: Prefer) -> dict[str, Any]:
    kind = _bundle_kind(bundle, ctx.settings.max_bundle_entries)
    if kind == "transaction":
        return await _transaction(ctx, access, bundle.get("entry") or [], base, prefer)
    return await _batch(ctx, access, bundle.get("entry") or [], base, prefer)


def _bundle_kind(bundle: Any, max_entries: int) -> str:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirError(400, "POST to the base takes a Bundle", code="invalid", expression="resourceType")
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise FhirError(
            400, f"Bundle.type must be transaction or batch, not {kind!r}", code="invalid", expression="Bundle.type"
        )
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise FhirError(400, "Bundle.entry must be an array", code="structure", expression="Bundle.entry")
    if len(entries) > max_entries:
        raise FhirError(413, f"The Bundle has {len(entries)} entries; the limit is {max_entries}", code="too-costly")
    return str(kind)


async def _transaction(
    ctx: FhirContext, access: Access, raw_entries: list[Any], base: str, prefer: Prefer
) -> dict[str, Any]:
    entries = await _parse_entries(ctx, raw_entries, base)
    results: dict[int, EntryResult] = {}
    async with ctx.db.write() as conn:
        try:
            targets = {}
            for entry in entries:
                with _blame(entry):
                    targets.update(await _assign_identity(ctx, conn, access, entry))
            for entry in entries:
                if entry.resource is not None:
                    with _blame(entry):
                        entry.resource = await _resolve_references(ctx, conn, access, entry.resource, targets)
            if failed := await _first_dangling(ctx, conn, access, entries):
                raise _AtEntry(*failed)
            for entry in entries:
                if entry.method == "POST" and entry.existing is None and entry.resource is not None:
                    with _blame(entry):
                        await ctx.repository.require_unique_identity(
                            conn, entry.resource, res_id=entry.res_id, viewer=access.viewer
                        )
            for group in _processing_groups(entries):
                if group[0].method == "POST":
                    results.update(await _create_all(ctx, conn, access, group, base))
                    continue
                for entry in group:
                    with _blame(entry):
                        results[entry.index] = await _run(ctx, conn, access, entry, base)
        except _AtEntry as failed:
            raise _entry_error(failed.index, failed.error) from None
        await _record(ctx, conn, access, "transaction", list(results.values()))
        warned = list(notices(conn))
    return _response_bundle("transaction-response", entries, results, base, prefer, warned)


class _AtEntry(Exception):
    """A transaction entry's failure, carried out of the processing loops with the entry's place."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(index)
        self.index = index
        self.error = error


@contextmanager
def _blame(entry: Entry) -> Iterator[None]:
    try:
        yield
    except _ENTRY_ERRORS as exc:
        raise _AtEntry(entry.index, exc) from None


def _processing_groups(entries: list[Entry]) -> list[list[Entry]]:
    """The entries in FHIR's processing order, one group per step (deletes, creates, updates, reads)."""
    groups: dict[int, list[Entry]] = {}
    for entry in sorted(entries, key=lambda e: _ORDER[e.method]):
        groups.setdefault(_ORDER[entry.method], []).append(entry)
    return list(groups.values())


async def _create_all(
    ctx: FhirContext, conn: Any, access: Access, entries: list[Entry], base: str
) -> dict[int, EntryResult]:
    """The Bundle's creates in one batch: one INSERT per table for all of them, then the listeners.

    Every create's identity (and a conditional create's match) was settled before any write, so
    no create depends on another and they can go in together. The one-by-one path is kept for
    what a batch cannot tell apart: two creates under the same conditional key (the second
    matches the first), and a conditional key a concurrent writer took in the meantime.
    """
    results = {e.index: EntryResult(200, e.existing, wrote=False) for e in entries if e.existing is not None}
    fresh = [e for e in entries if e.existing is None]
    new = [await _new_resource(ctx, conn, access, entry) for entry in fresh]
    keys = [n.conditional_key for n in new if n.conditional_key]
    if len(set(keys)) < len(keys):
        return results | await _one_by_one(ctx, conn, access, fresh, base)
    try:
        async with _savepoint_if(conn, bool(keys)):
            created = await ctx.repository.create_many(conn, new, announce=False)
    except IntegrityError:
        return results | await _one_by_one(ctx, conn, access, fresh, base)
    await ctx.repository.prepare_announcements(conn, created)
    # One scope over every entry's announcements: the Tasks the pathway raises for all of them
    # are created together at its end, not a few statements each per entry.
    async with ctx.repository.announcing(conn):
        for entry, stored in zip(fresh, created, strict=True):
            with _blame(entry):
                await ctx.repository.announce(conn, stored)
            results[entry.index] = EntryResult(201, stored)
    return results


async def _new_resource(ctx: FhirContext, conn: Any, access: Access, entry: Entry) -> NewResource:
    """What interactions.create would write for the entry, checked the same way."""
    assert entry.resource is not None and entry.res_id is not None
    with _blame(entry):
        access.require(entry.res_type, "c")
        resource = await interactions.prepared(ctx, conn, access, entry.resource)
    key = interactions.creation_key(access, resource, entry.if_none_exist) if entry.if_none_exist else None
    return NewResource(resource, res_id=entry.res_id, conditional_key=key, owner_org=access.organization)


async def _one_by_one(
    ctx: FhirContext, conn: Any, access: Access, entries: list[Entry], base: str
) -> dict[int, EntryResult]:
    results = {}
    for entry in entries:
        with _blame(entry):
            results[entry.index] = await _run(ctx, conn, access, entry, base)
    return results


@asynccontextmanager
async def _savepoint_if(conn: Any, wanted: bool) -> AsyncIterator[None]:
    """A savepoint only where a batch can fail and be retried (conditional keys), since it costs two statements."""
    if not wanted:
        yield
        return
    async with conn.begin_nested():
        yield


async def _record(ctx: FhirContext, conn: Any, access: Access, interaction: str, results: list[EntryResult]) -> None:
    written = [r.stored for r in results if r.stored is not None and r.wrote]
    touched = tuple(f"{r.stored.res_type}/{r.stored.res_id}" for r in results if r.stored is not None and not r.wrote)
    brought_own = any(w.res_type == "Provenance" for w in written)
    records = write_records(access, interaction, 200, written, touched=touched, with_provenance=not brought_own)
    await record_write(ctx.repository, conn, records)


async def _batch(ctx: FhirContext, access: Access, raw_entries: list[Any], base: str, prefer: Prefer) -> dict[str, Any]:
    entries: list[Entry | None] = []
    results: dict[int, EntryResult] = {}
    for index, raw in enumerate(raw_entries):
        try:
            entry = _parse_entry(ctx, index, raw, base)
            async with ctx.db.write() as conn:
                await _assign_identity(ctx, conn, access, entry)
                if failed := await _first_dangling(ctx, conn, access, [entry]):
                    raise failed[1]
                results[index] = await _run(ctx, conn, access, entry, base)
                await _record(ctx, conn, access, "batch", [results[index]])
            entries.append(entry)
        except _ENTRY_ERRORS as exc:
            error = _entry_error(index, exc)
            entries.append(None)
            results[index] = EntryResult(error.status, body=operation_outcome(error.issues))
    return _response_bundle("batch-response", entries, results, base, prefer)


async def _parse_entries(ctx: FhirContext, raw_entries: list[Any], base: str) -> list[Entry]:
    """Each entry parsed and validated, letting the event loop run between entries.

    Validation is synchronous CPU work (a millisecond or more per resource); done for a whole
    Bundle in one go it holds the loop for tens of milliseconds (seconds at 1,000 entries), and
    every other request and the notification worker's deliveries wait behind it.
    """
    entries = []
    for index, raw in enumerate(raw_entries):
        entries.append(_parse_entry(ctx, index, raw, base))
        await asyncio.sleep(0)
    return entries


def _parse_entry(ctx: FhirContext, index: int, raw: Any, base: str) -> Entry:
    try:
        return _entry_from(ctx, index, raw, base)
    except _ENTRY_ERRORS as exc:
        raise _entry_error(index, exc) from None


def _entry_from(ctx: FhirContext, index: int, raw: Any, base: str) -> Entry:
    request = raw.get("request") if isinstance(raw, dict) else None
    if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
        raise FhirError(400, "request.method and request.url are required", code="required")
    method = str(request["method"]).upper()
    if method not in _ORDER:
        raise FhirError(400, f"request.method {method!r} is not supported", code="not-supported")
    path, _, query = str(request["url"]).removeprefix(base).lstrip("/").partition("?")
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in SUPPORTED_TYPES:
        raise FhirError(404, f"request.url {request['url']!r} names no supported resource type", code="not-supported")
    entry = Entry(index=index, method=method, res_type=parts[0], full_url=raw.get("fullUrl"))
    entry.params = dict(parse_qsl(query, keep_blank_values=True))
    _read_target(entry, parts, query)
    entry.if_match = parse_if_match(request.get("ifMatch"))
    if request.get("ifNoneExist"):
        entry.if_none_exist = _criteria(str(request["ifNoneExist"]))
    _read_body(ctx, entry, raw.get("resource"))
    return entry


def _read_target(entry: Entry, parts: list[str], query: str) -> None:
    if len(parts) >= 2 and parts[1] != "_search":
        check_id(parts[1])
        entry.res_id = parts[1]
    if len(parts) == 4 and parts[2] == "_history" and parts[3].isdigit():
        entry.version = int(parts[3])
    elif len(parts) > 2 or (len(parts) == 2 and parts[1] == "_search"):
        raise FhirError(
            400,
            f"request.url path {'/'.join(parts)!r} is not an interaction Dyad runs in a Bundle",
            code="not-supported",
        )
    if query or (entry.method in ("PUT", "DELETE", "PATCH") and entry.res_id is None):
        entry.criteria = _criteria(query)
    if entry.method == "POST" and entry.res_id is not None:
        raise FhirError(400, "POST in a Bundle goes to the type, not an instance", code="invalid")


def _read_body(ctx: FhirContext, entry: Entry, resource: Any) -> None:
    if entry.method in ("POST", "PUT"):
        if resource is None:
            raise FhirError(400, f"A {entry.method} entry needs a resource", code="required")
        entry.resource = ctx.admission.admit(resource, entry.res_type)
    elif entry.method == "PATCH":
        entry.patch = _patch_operations(resource)


def _patch_operations(resource: Any) -> Any:
    """A PATCH entry carries its JSON Patch as a Binary, as FHIR R4 transactions do."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary":
        raise FhirError(400, "A PATCH entry needs a Binary resource holding a JSON Patch", code="required")
    if resource.get("contentType") != "application/json-patch+json":
        raise FhirError(415, "The Binary's contentType must be application/json-patch+json", code="not-supported")
    try:
        return orjson.loads(base64.b64decode(resource.get("data", ""), validate=True))
    except (ValueError, orjson.JSONDecodeError):
        raise FhirError(400, "The Binary's data is not base64-encoded JSON", code="structure") from None


def _criteria(query: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in RENDER_PARAMS]


async def _assign_identity(ctx: FhirContext, conn: Any, access: Access, entry: Entry) -> dict[str, str]:
    """Decide which resource each write entry will be, so references to it can be rewritten."""
    if entry.method == "POST":
        if entry.if_none_exist:
            matches = await interactions.find_matches(ctx, conn, access, entry.res_type, entry.if_none_exist)
            entry.existing = interactions.one_or_none(entry.res_type, matches)
        entry.res_id = entry.existing.res_id if entry.existing else ods.new_id(entry.resource or {})
    elif entry.method == "PUT" and entry.criteria is not None and entry.res_id is None:
        matches = await interactions.find_matches(ctx, conn, access, entry.res_type, entry.criteria)
        found = interactions.one_or_none(entry.res_type, matches)
        assert entry.resource is not None
        entry.creates_by_criteria = found is None and not entry.resource.get("id")
        entry.res_id = found.res_id if found else entry.resource.get("id") or ods.new_id(entry.resource)
    if entry.method in ("POST", "PUT") and entry.full_url and entry.res_id:
        return {entry.full_url: f"{entry.res_type}/{entry.res_id}"}
    return {}


async def _resolve_references(
    ctx: FhirContext, conn: Any, access: Access, resource: dict[str, Any], targets: dict[str, str]
) -> dict[str, Any]:
    """Rewrite urn:uuid and fullUrl references to the ids assigned, and resolve `Type?query` ones.

    The conditional references are searched first and the resource then rewritten in one plain
    walk: an awaited call per node was ~13 % of a 1,000-entry Bundle's time (py-spy).
    """
    resolved = {
        value: await _resolve_conditional(ctx, conn, access, value)
        for value in _conditional_references(resource, targets)
    }
    rewritten: dict[str, Any] = _rewrite(resource, targets, resolved)
    return rewritten


async def _first_dangling(
    ctx: FhirContext, conn: Any, access: Access, entries: list[Entry]
) -> tuple[int, FhirError] | None:
    """The first entry (and its error) with a reference that resolves to nothing held, visible,
    or written by another entry.

    One look-up for the whole Bundle. A reference to what the Bundle deletes dangles once the
    deletes (processed first) are done, so it is refused too.
    """
    writing = [e for e in entries if e.resource is not None]
    pending = {(e.res_type, e.res_id) for e in writing if e.res_id}
    deleting = {(e.res_type, e.res_id) for e in entries if e.method == "DELETE" and e.res_id} - pending
    missing = await dangling(
        ctx.repository, conn, access.viewer, [e.resource for e in writing if e.resource], pending=pending
    )
    missing += [
        (index, ref)
        for index, entry in enumerate(writing)
        for ref in references_in(entry.resource or {})
        if target_of(ref.value) in deleting
    ]
    if not missing:
        return None
    index, ref = min(missing, key=lambda m: writing[m[0]].index)
    return writing[index].index, unresolved_error(ref)


def _conditional_references(node: Any, targets: dict[str, str]) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                if value not in targets and _is_conditional(value):
                    found.add(value)
            else:
                found |= _conditional_references(value, targets)
    elif isinstance(node, list):
        for item in node:
            found |= _conditional_references(item, targets)
    return found


def _is_conditional(value: str) -> bool:
    conditional = _CONDITIONAL_REFERENCE.match(value)
    return conditional is not None and conditional.group(1) in SUPPORTED_TYPES


def _rewrite(node: Any, targets: dict[str, str], resolved: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            key: (targets.get(value) or resolved.get(value, value))
            if key == "reference" and isinstance(value, str)
            else _rewrite(value, targets, resolved)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(item, targets, resolved) for item in node]
    if isinstance(node, str):
        return targets.get(node, node)
    return node


async def _resolve_conditional(ctx: FhirContext, conn: Any, access: Access, value: str) -> str:
    res_type, query = value.split("?", 1)
    matches = await interactions.find_matches(ctx, conn, access, res_type, _criteria(query))
    if len(matches) != 1:
        raise FhirError(
            412,
            f"Conditional reference {value!r} matched {len(matches)} resources; it must match exactly one",
            code="not-found" if not matches else "multiple-matches",
        )
    return f"{res_type}/{matches[0].res_id}"


async def _run(ctx: FhirContext, conn: Any, access: Access, entry: Entry, base: str) -> EntryResult:
    if entry.method in ("GET", "HEAD"):
        return await _read(ctx, conn, access, entry, base)
    if entry.method == "DELETE":
        if entry.res_id is None:
            outcome = await interactions.conditional_delete(ctx, conn, access, entry.res_type, entry.criteria or [])
        else:
            outcome = await interactions.delete(
                ctx, conn, access, entry.res_type, entry.res_id, if_match=entry.if_match
            )
        return EntryResult(204, outcome.stored)
    if entry.method == "PATCH":
        if entry.res_id is None:
            matches = await interactions.find_matches(ctx, conn, access, entry.res_type, entry.criteria or [])
            found = interactions.one_or_none(entry.res_type, matches)
            if found is None:
                raise ResourceNotFound(entry.res_type, "?" + "&".join(f"{k}={v}" for k, v in entry.criteria or []))
            entry.res_id = found.res_id
        outcome = await interactions.patch(
            ctx, conn, access, entry.res_type, entry.res_id, entry.patch, if_match=entry.if_match
        )
        return EntryResult(outcome.status, outcome.stored)
    assert entry.resource is not None and entry.res_id is not None
    if entry.method == "POST":
        if entry.existing is not None:
            return EntryResult(200, entry.existing, wrote=False)
        outcome = await interactions.create(
            ctx,
            conn,
            access,
            entry.resource,
            if_none_exist=entry.if_none_exist,
            res_id=entry.res_id,
            references_checked=True,
        )
        return EntryResult(outcome.status, outcome.stored, wrote=outcome.wrote)
    resource = {**entry.resource, "id": entry.res_id}
    if entry.creates_by_criteria:
        # Under the criteria's key, as a direct conditional update: of racing Bundles, one creates.
        outcome = await interactions.create_by_criteria(
            ctx, conn, access, resource, entry.criteria or [], references_checked=True
        )
        return EntryResult(outcome.status, outcome.stored)
    outcome = await interactions.update(
        ctx, conn, access, resource, entry.res_id, if_match=entry.if_match, references_checked=True
    )
    return EntryResult(outcome.status, outcome.stored)


async def _read(ctx: FhirContext, conn: Any, access: Access, entry: Entry, base: str) -> EntryResult:
    if entry.res_id is None:
        query, page = await interactions.search(ctx, conn, access, entry.res_type, entry.criteria or [], strict=False)
        return EntryResult(200, body=bundles.searchset(query, page, entry.params, base, entry.res_type))
    if entry.version is not None:
        stored = await interactions.vread(ctx, conn, access, entry.res_type, entry.res_id, entry.version)
    else:
        stored = await interactions.read(ctx, conn, access, entry.res_type, entry.res_id)
    return EntryResult(200, stored, wrote=False)


def _response_bundle(
    kind: str,
    entries: Sequence[Entry | None],
    results: dict[int, EntryResult],
    base: str,
    prefer: Prefer,
    warned: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    # The pathway's warnings about an entry's resource (a concern it could not route) go in that
    # entry's response.outcome; gathered by reference once, not searched for every entry.
    by_reference: dict[str, list[str]] = {}
    for ref, message in warned or []:
        by_reference.setdefault(ref, []).append(message)
    out = []
    for index in range(len(entries)):
        entry, result = entries[index], results[index]
        item = _response_entry(entry, result, base, prefer)
        stored = result.stored
        warnings = by_reference.get(f"{stored.res_type}/{stored.res_id}", []) if stored is not None else []
        if warnings:
            item["response"]["outcome"] = operation_outcome([Issue("warning", "incomplete", m) for m in warnings])
        out.append(item)
    return {"resourceType": "Bundle", "type": kind, "entry": out}


def _response_entry(entry: Entry | None, result: EntryResult, base: str, prefer: Prefer) -> dict[str, Any]:
    response: dict[str, Any] = {"status": _STATUS_TEXT.get(result.status, str(result.status))}
    item: dict[str, Any] = {}
    stored = result.stored
    if stored is not None:
        item["fullUrl"] = f"{base}/{stored.res_type}/{stored.res_id}"
        response["etag"] = etag(stored.version)
        response["lastModified"] = format_instant(stored.last_updated)
        if entry is not None and entry.method in ("POST", "PUT", "PATCH"):
            response["location"] = f"{stored.res_type}/{stored.res_id}/_history/{stored.version}"
        wants_body = entry is None or entry.method in ("GET", "HEAD") or prefer.return_mode == "representation"
        if stored.content is not None and wants_body:
            item["resource"] = shaped(stored.content, entry.params) if entry else stored.content
    elif result.body is not None:
        if result.status >= 400:
            response["outcome"] = result.body
        else:
            item["resource"] = result.body
    item["response"] = response
    return item


_ENTRY_ERRORS = DyadError


def _entry_error(index: int, exc: Exception) -> FhirError:
    """The entry's failure, named by its place in the Bundle."""
    status, issues = status_and_issues(exc)
    prefix = f"Bundle.entry[{index}]"
    named = [within_entry(issue, prefix) for issue in issues]
    return FhirError(status, named[0].message, issues=named)
