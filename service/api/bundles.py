"""Bundles the server builds: searchset and history, with paging links."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from service.api.outcome import operation_outcome
from service.api.responses import etag, shaped
from service.conformance.issues import Issue
from service.search.query import SearchQuery
from service.store.records import StoredResource, format_instant
from service.store.search import SearchPage


def _bundle(kind: str, total: int | None, links: list[dict[str, str]], entries: list[dict[str, Any]]) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": kind,
        "meta": {"lastUpdated": format_instant(datetime.now(UTC))},
    }
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    if entries:
        bundle["entry"] = entries
    return bundle


def page_links(
    url: str, params: list[tuple[str, str]], count: int, offset: int, total: int | None, shown: int
) -> list[dict[str, str]]:
    """self, first, previous, next and last, each a full URL that reproduces that page."""

    def link(relation: str, at: int) -> dict[str, str]:
        query = urlencode(params + [("_count", str(count)), ("_offset", str(max(at, 0)))])
        return {"relation": relation, "url": f"{url}?{query}"}

    links = [link("self", offset), link("first", 0)]
    if offset > 0:
        links.append(link("previous", offset - count))
    more = offset + shown < total if total is not None else shown >= count
    if more and count > 0:
        links.append(link("next", offset + count))
    if total is not None and count > 0:
        links.append(link("last", max(total - 1, 0) // count * count))
    return links


def searchset(
    query: SearchQuery, page: SearchPage, params: Mapping[str, str], base: str, res_type: str
) -> dict[str, Any]:
    entries = [_search_entry(s, base, "match", params) for s in page.matches]
    entries += [_search_entry(s, base, "include", params) for s in page.included]
    if query.unknown:
        issues = [
            Issue(
                "warning",
                "not-supported",
                f"Search parameter '{name}' is not known for {res_type} and was ignored",
                name,
            )
            for name in query.unknown
        ]
        entries.append({"resource": operation_outcome(issues), "search": {"mode": "outcome"}})
    assert query.count is not None  # the search settled the page size
    links = page_links(
        f"{base}/{res_type}", query.link_params(), query.count, query.offset, page.total, len(page.matches)
    )
    if query.summary == "count":
        links = links[:1]  # a count has no pages to walk
    return _bundle("searchset", page.total, links, entries)


def _search_entry(stored: StoredResource, base: str, mode: str, params: Mapping[str, str]) -> dict[str, Any]:
    assert stored.content is not None
    return {
        "fullUrl": f"{base}/{stored.res_type}/{stored.res_id}",
        "resource": shaped(stored.content, params),
        "search": {"mode": mode},
    }


def history(total: int, versions: list[StoredResource], url: str, base: str, count: int, offset: int) -> dict[str, Any]:
    entries = [_history_entry(v, base) for v in versions]
    links = page_links(url, [], count, offset, total, len(versions))
    return _bundle("history", total, links, entries)


def _history_entry(stored: StoredResource, base: str) -> dict[str, Any]:
    instance = f"{stored.res_type}/{stored.res_id}"
    entry: dict[str, Any] = {"fullUrl": f"{base}/{instance}"}
    if stored.content is not None:
        entry["resource"] = stored.content
    method = stored.method if stored.method in ("POST", "PUT", "DELETE", "PATCH") else "PUT"
    entry["request"] = {"method": method, "url": stored.res_type if method == "POST" else instance}
    status = {"POST": "201 Created", "DELETE": "204 No Content"}.get(method, "200 OK")
    entry["response"] = {
        "status": status,
        "etag": etag(stored.version),
        "lastModified": format_instant(stored.last_updated),
    }
    return entry
