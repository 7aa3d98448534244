"""The search index in SQL: writing a resource's index rows, and running a SearchQuery.

Every filter becomes `resource.pk IN (SELECT resource_pk FROM <index table> WHERE ...)` so
that each database can pick its own join strategy; filters AND, the values of one filter OR.
"""

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from service.search.extract import STRING_INDEX_LENGTH, IndexRows, index_rows
from service.search.query import (
    ANY_TYPE,
    ChainFilter,
    DateValue,
    ExactValue,
    Filter,
    FilterValue,
    HasFilter,
    IdValue,
    Include,
    MissingFilter,
    NumberValue,
    ParamFilter,
    ReferenceValue,
    SearchQuery,
    SortKey,
    TextValue,
    TokenValue,
    UriValue,
)
from service.search.registry import SearchRegistry
from service.search.values import MAX_INSTANT, MIN_INSTANT
from service.store.access import Viewer, viewer_parameters, viewer_shape, visible, visible_bound
from service.store.records import StoredResource, select_current, to_stored
from service.store.search_statements import SearchStatements
from service.store.tables import (
    DateIndexRow,
    NumberIndexRow,
    QuantityIndexRow,
    ReferenceIndexRow,
    ResourceRow,
    StringIndexRow,
    TokenIndexRow,
    UriIndexRow,
)

_TABLES: dict[str, Any] = {
    "token": TokenIndexRow,
    "string": StringIndexRow,
    "date": DateIndexRow,
    "reference": ReferenceIndexRow,
    "number": NumberIndexRow,
    "quantity": QuantityIndexRow,
    "uri": UriIndexRow,
}
# Bounds on _include:iterate so a cyclic graph or a huge fan-out cannot run away.
MAX_INCLUDE_ROUNDS = 4
MAX_INCLUDED = 1000


@dataclass(frozen=True, slots=True)
class SearchPage:
    total: int | None
    matches: list[StoredResource]
    included: list[StoredResource]


# --- writing -----------------------------------------------------------------------------------


async def write_index(
    conn: AsyncConnection,
    registry: SearchRegistry,
    resource_pk: int,
    res_type: str,
    resource: dict[str, Any] | None,
    *,
    fresh: bool = False,
) -> None:
    """Replace a resource's index rows; None (a delete) only removes them.

    `fresh=True` (a create: no rows can exist yet) skips the seven DELETEs.
    """
    if not fresh:
        for kind in _kinds_of(registry, res_type):
            table = _TABLES[kind]
            await conn.execute(delete(table).where(table.resource_pk == resource_pk))
    if resource is not None:
        await write_new_indexes(conn, registry, [(resource_pk, res_type, resource)])


async def write_new_indexes(
    conn: AsyncConnection, registry: SearchRegistry, items: Sequence[tuple[int, str, dict[str, Any]]]
) -> None:
    """Index rows of resources that have none yet: one INSERT per table for all of them."""
    await insert_index_rows(conn, [(pk, res_type, index_rows(registry, res_type, r)) for pk, res_type, r in items])


async def insert_index_rows(conn: AsyncConnection, items: Sequence[tuple[int, str, IndexRows]]) -> None:
    """Index rows already extracted, each resource's by its key: one INSERT per table for all."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for resource_pk, res_type, rows in items:
        for kind in _TABLES:
            entries = getattr(rows, kind)
            if entries:
                by_kind.setdefault(kind, []).extend(_row_dicts(resource_pk, res_type, entries))
    for kind, dicts in by_kind.items():
        await conn.execute(insert(_TABLES[kind]), dicts)


def _kinds_of(registry: SearchRegistry, res_type: str) -> set[str]:
    """The index tables a type's parameters can write to; the others hold nothing of it."""
    return {p.type for p in registry.params_for(res_type).values() if p.type in _TABLES}


class SearchIndexer:
    """The repository's index writer (see IndexWriter in service/store/repository.py)."""

    def __init__(self, registry: SearchRegistry) -> None:
        self.registry = registry

    async def __call__(
        self, conn: AsyncConnection, pk: int, res_type: str, content: dict[str, Any] | None, *, fresh: bool = False
    ) -> None:
        await write_index(conn, self.registry, pk, res_type, content, fresh=fresh)

    async def many(self, conn: AsyncConnection, items: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        await write_new_indexes(conn, self.registry, items)


def _row_dicts(resource_pk: int, res_type: str, entries: Iterable[Any]) -> list[dict[str, Any]]:
    # One table's rows share one NamedTuple type; zipping its fields is twice as fast as
    # _asdict(), which a 1,000-entry Bundle calls some 28,000 times.
    rows = list(entries)
    if not rows:
        return []
    fields = type(rows[0])._fields
    return [dict(zip(fields, e, strict=True), resource_pk=resource_pk, res_type=res_type) for e in rows]


# --- searching ---------------------------------------------------------------------------------


async def run_search(
    conn: AsyncConnection,
    registry: SearchRegistry,
    query: SearchQuery,
    *,
    viewer: Viewer,
    readable: Callable[[str], bool] = lambda res_type: True,
    statements: SearchStatements | None = None,
) -> SearchPage:
    """Matches and includes the viewer may see; the total counts only those.

    `readable` says which types may be included: others are neither returned nor followed by
    `:iterate`, so an unreadable type cannot serve as a stepping stone to readable ones.

    The total is exact (also for `_total=estimate`, which an exact count satisfies). The page is
    read with one row more than `_count`: a page without that row holds the last match, so it
    proves the total itself (offset + rows) and most searches (a patient's records, a page or less)
    take one statement with nothing counted. Only a page with more after it, or an empty one past an
    offset, counts its matches in a second statement; that statement sees the database a moment
    later, so the total it gives is never taken below what the page itself showed exists. A count
    in the page's own statement made the database plan and run every search's filters twice.

    With `statements`, the statements are built once per shape of query and viewer and the
    values go in as parameters; without, they are built for this request (the reference).
    """
    counted = query.total != "none" or query.summary == "count"
    only_count = query.summary == "count" or query.count == 0
    if statements is None:
        count, statement = _page_statements(query, viewer, _LITERAL, only_count)
        parameters: dict[str, Any] = {}
    else:
        key = ("page", only_count, _query_shape(query, viewer))
        count, statement = statements.get(key, lambda: _page_statements(query, viewer, _BOUND, only_count))
        parameters = _parameters(query, viewer)
    if statement is None:
        return SearchPage(await count_matches(conn, count, parameters) if counted else None, [], [])
    rows = (await conn.execute(statement, parameters)).all()
    more = query.count is not None and len(rows) > query.count
    rows = rows[: query.count] if more else rows
    total = None
    if counted:
        total = _proven_total(query, len(rows), more)
        if total is None:
            at_least = query.offset + len(rows) + (1 if more else 0) if rows else 0
            total = max(await count_matches(conn, count, parameters), at_least)
    matches = [to_stored(row) for row in rows]
    included = await _included(conn, query, matches, viewer, readable) if matches else []
    return SearchPage(total, matches, included)


def _proven_total(query: SearchQuery, found: int, more: bool) -> int | None:
    """The total a page proves on its own: with no match after it, offset + rows, unless it is
    empty past an offset (the offset may lie beyond the end)."""
    if more or (found == 0 and query.offset):
        return None
    return query.offset + found


async def count_matches(conn: AsyncConnection, count: Select[Any], parameters: dict[str, Any]) -> int:
    """Every match of the query, counted in a statement of its own."""
    return int((await conn.execute(count, parameters)).scalar_one())


def _page_statements(
    query: SearchQuery, viewer: Viewer, sql: "_Values", only_count: bool
) -> tuple[Select[Any], Select[Any] | None]:
    """The count and (unless only the count is asked for) the page."""
    where = _where(query, viewer, sql)
    count = select(func.count()).select_from(ResourceRow).where(*where)
    if only_count:
        return count, None
    statement = select_current().where(*where).order_by(*_order_by(query.sort), ResourceRow.pk)
    if query.count is not None:  # one row more: whether any match follows the page
        statement = statement.limit(sql.value("dyad_page_rows", query.count + 1, type_=Integer()))
    if query.offset:
        statement = statement.offset(sql.value("dyad_offset", query.offset, type_=Integer()))
    return count, statement


async def find_pks(
    conn: AsyncConnection,
    query: SearchQuery,
    *,
    viewer: Viewer,
    limit: int | None = None,
    statements: SearchStatements | None = None,
) -> list[int]:
    """Primary keys of the current resources matching query; for conditional interactions."""
    if statements is None:
        statement, parameters = _pks_statement(query, viewer, _LITERAL, limit), {}
    else:
        key = ("pks", limit is None, _query_shape(query, viewer))
        statement = statements.get(key, lambda: _pks_statement(query, viewer, _BOUND, limit))
        parameters = {**_parameters(query, viewer), "dyad_limit": limit}
    return [int(pk) for pk in (await conn.execute(statement, parameters)).scalars()]


def _pks_statement(query: SearchQuery, viewer: Viewer, sql: "_Values", limit: int | None) -> Select[Any]:
    statement = select(ResourceRow.pk).where(*_where(query, viewer, sql)).order_by(ResourceRow.pk)
    if limit is not None:
        statement = statement.limit(sql.value("dyad_limit", limit, type_=Integer()))
    return statement


@dataclass(frozen=True, slots=True)
class _Values:
    """How a search's values enter its statement.

    Literal: as themselves, in a statement built for one request (the reference). Bound: as
    named parameters, in a statement built once per shape; `_parameters` gives their values
    under the same names, which both derive from where the value sits in the query.
    """

    bound: bool

    def value(self, name: str, value: Any, *, type_: Any = None, expanding: bool = False) -> Any:
        return bindparam(name, type_=type_, expanding=expanding) if self.bound else value

    def values(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """A condition's values, each under its name in the statement."""
        return {field: self.value(f"{path}_{field}", v, expanding=isinstance(v, list)) for field, v in params.items()}

    def visible(self, viewer: Viewer, resource: Any = ResourceRow) -> ColumnElement[bool]:
        return visible_bound(viewer, resource) if self.bound else visible(viewer, resource)


_LITERAL = _Values(bound=False)
_BOUND = _Values(bound=True)


def _where(query: SearchQuery, viewer: Viewer, sql: _Values) -> list[ColumnElement[bool]]:
    return [
        ResourceRow.res_type == query.res_type,
        ResourceRow.deleted == false(),
        sql.visible(viewer),
        *_filter_clauses(query.filters, query.res_type, ResourceRow, viewer, sql, ""),
    ]


def _filter_clauses(
    filters: Sequence[Filter], res_type: str, res: Any, viewer: Viewer, sql: _Values, path: str
) -> list[ColumnElement[bool]]:
    """The most selective filter becomes `pk IN (...)` and drives; the rest are EXISTS probes.

    PostgreSQL plans IN and EXISTS alike (as semi-joins), but SQLite materialises every
    `IN (subquery)`: a broad date filter would copy most of its index for each search. Probing
    by (resource_pk, param) from the few rows the driver yields is what keeps SQLite fast.
    """
    driver = min(range(len(filters)), key=lambda i: _selectivity_rank(filters[i]), default=None)
    if driver is not None and _selectivity_rank(filters[driver]) >= _NEVER_DRIVES:
        driver = None
    return [
        _filter_clause(f, res_type, res, viewer, sql, f"{path}f{i}", drives=i == driver) for i, f in enumerate(filters)
    ]


_NEVER_DRIVES = 9


def _selectivity_rank(search_filter: Filter) -> int:
    """A guess at how few resources a filter keeps; lower drives the search."""
    if isinstance(search_filter, MissingFilter):
        return _NEVER_DRIVES
    if isinstance(search_filter, ChainFilter):
        return 3
    if isinstance(search_filter, HasFilter):
        return 4
    if search_filter.modifier in ("not", "text", "contains"):
        return _NEVER_DRIVES
    return {"reference": 1, "token": 2, "uri": 2, "string": 3}.get(search_filter.param.type, 5)


def _filter_clause(
    search_filter: Filter, res_type: str, res: Any, viewer: Viewer, sql: _Values, path: str, *, drives: bool = True
) -> ColumnElement[bool]:
    """A condition on `res` (ResourceRow or an alias of it) for one AND-ed filter.

    Chains and _has look through other resources; those must be visible to the viewer too,
    or a search could reveal what a read would deny.
    """
    if isinstance(search_filter, ParamFilter):
        return _param_clause(search_filter, res_type, res, drives, sql, path)
    if isinstance(search_filter, MissingFilter):
        return _missing_clause(search_filter, res_type, res)
    if isinstance(search_filter, ChainFilter):
        return _chain_clause(search_filter, res_type, res, viewer, drives, sql, path)
    return _has_clause(search_filter, res_type, res, viewer, sql, path)


def _rows_of(table: Any, res_type: str, code: str, res: Any, drives: bool, *conditions: Any) -> ColumnElement[bool]:
    """`res` has index rows of `code` meeting conditions, as IN (driving) or EXISTS (probing)."""
    if drives:
        return res.pk.in_(select(table.resource_pk).where(table.res_type == res_type, table.param == code, *conditions))
    return exists().where(table.resource_pk == res.pk, table.param == code, table.res_type == res_type, *conditions)


def _param_clause(
    search_filter: ParamFilter, res_type: str, res: Any, drives: bool, sql: _Values, path: str
) -> ColumnElement[bool]:
    param = search_filter.param
    if param.code == "_id":
        listed = res.res_id.in_(sql.value(f"{path}_ids", _ids(search_filter), expanding=True))
        return not_(listed) if search_filter.modifier == "not" else listed
    if param.code == "_lastUpdated":
        return or_(
            *(
                _date_condition(v, res.last_updated, res.last_updated, sql.values(f"{path}_{j}", _date_params(v)))
                for j, v in enumerate(_dates(search_filter))
            )
        )
    table = _TABLES[param.type]
    matching = or_(*_value_conditions(table, search_filter.values, search_filter.modifier, sql, path))
    if search_filter.modifier == "not":
        return not_(_rows_of(table, res_type, param.code, res, False, matching))
    return _rows_of(table, res_type, param.code, res, drives, matching)


def _ids(search_filter: ParamFilter) -> list[str]:
    return [v.res_id for v in search_filter.values if isinstance(v, IdValue)]


def _dates(search_filter: ParamFilter) -> list[DateValue]:
    return [v for v in search_filter.values if isinstance(v, DateValue)]


def _missing_clause(search_filter: MissingFilter, res_type: str, res: Any) -> ColumnElement[bool]:
    param = search_filter.param
    if param.code in ("_id", "_lastUpdated"):  # every resource has both
        return false() if search_filter.missing else true()
    table = _TABLES.get(param.type)
    if table is None:
        return false() if search_filter.missing else true()
    present = _rows_of(table, res_type, param.code, res, False)
    return not_(present) if search_filter.missing else present


def _chain_clause(
    search_filter: ChainFilter, res_type: str, res: Any, viewer: Viewer, drives: bool, sql: _Values, path: str
) -> ColumnElement[bool]:
    ref = ReferenceIndexRow
    per_type = []
    for j, (target_type, inner) in enumerate(search_filter.targets):
        target = aliased(ResourceRow)
        target_ids = select(target.res_id).where(
            target.res_type == target_type,
            target.deleted == false(),
            sql.visible(viewer, target),
            *_filter_clauses([inner], target_type, target, viewer, sql, f"{path}c{j}"),
        )
        per_type.append(and_(ref.target_type == target_type, ref.target_id.in_(target_ids)))
    return _rows_of(ref, res_type, search_filter.param.code, res, drives, or_(*per_type))


def _has_clause(
    search_filter: HasFilter, res_type: str, res: Any, viewer: Viewer, sql: _Values, path: str
) -> ColumnElement[bool]:
    ref = ReferenceIndexRow
    source = aliased(ResourceRow)
    referenced_ids = (
        select(ref.target_id)
        .join(source, source.pk == ref.resource_pk)
        .where(
            ref.res_type == search_filter.source_type,
            ref.param == search_filter.reference_param.code,
            ref.target_type == res_type,
            source.deleted == false(),
            sql.visible(viewer, source),
            *_filter_clauses([search_filter.inner], search_filter.source_type, source, viewer, sql, f"{path}h"),
        )
    )
    return res.res_id.in_(referenced_ids)


# --- the shape of a search and the values it is run with ---------------------------------------


def _query_shape(query: SearchQuery, viewer: Viewer) -> Hashable:
    """Everything that decides a search's SQL text, none of the values it compares with.

    Equal shapes build equal statements: what varies between them (codes, ids, dates, the
    viewer's organisation, _count, _offset) goes in as parameters (`_parameters`).
    """
    sort = tuple((k.param.code, k.param.type, k.descending) for k in query.sort)
    filters = tuple(_filter_shape(f) for f in query.filters)
    return (query.res_type, filters, sort, query.count is None, bool(query.offset), viewer_shape(viewer))


def _filter_shape(search_filter: Filter) -> Hashable:
    if isinstance(search_filter, ParamFilter):
        param, modifier = search_filter.param, search_filter.modifier
        if param.code == "_id":
            return ("id", modifier)
        if param.code == "_lastUpdated":
            return ("lastUpdated", tuple(v.prefix for v in _dates(search_filter)))
        alternatives = tuple(_alternative_shape(a) for a in _alternatives(search_filter.values, modifier))
        return ("param", param.code, param.type, modifier, alternatives)
    if isinstance(search_filter, MissingFilter):
        return ("missing", search_filter.param.code, search_filter.param.type, search_filter.missing)
    if isinstance(search_filter, ChainFilter):
        targets = tuple((t, _filter_shape(inner)) for t, inner in search_filter.targets)
        return ("chain", search_filter.param.code, targets)
    return ("has", search_filter.source_type, search_filter.reference_param.code, _filter_shape(search_filter.inner))


def _alternative_shape(alternative: "Alternative") -> Hashable:
    if isinstance(alternative, ValueList):
        return ("in", alternative.shape)
    value = alternative
    if isinstance(value, TokenValue):
        return ("token", value.code is None, value.system is None, value.system_given)
    if isinstance(value, DateValue):
        return ("date", value.prefix)
    if isinstance(value, NumberValue):
        return ("number", value.prefix, value.code is None, value.system is None, value.system_given)
    if isinstance(value, ReferenceValue):
        return ("reference", value.url is None, value.target_id is None, value.target_types)
    return (type(value).__name__,)


def _parameters(query: SearchQuery, viewer: Viewer) -> dict[str, Any]:
    """The values of a bound statement of the query's shape, under the names it gives them."""
    page_rows = None if query.count is None else query.count + 1
    out = {**viewer_parameters(viewer), "dyad_page_rows": page_rows, "dyad_offset": query.offset}
    _filter_parameters(query.filters, "", out)
    return out


def _filter_parameters(filters: Sequence[Filter], path: str, out: dict[str, Any]) -> None:
    """Walks the filters as `_filter_clauses` does, naming each value as it does."""
    for i, search_filter in enumerate(filters):
        here = f"{path}f{i}"
        if isinstance(search_filter, ParamFilter):
            if search_filter.param.code == "_id":
                out[f"{here}_ids"] = _ids(search_filter)
            elif search_filter.param.code == "_lastUpdated":
                for j, date in enumerate(_dates(search_filter)):
                    _named(f"{here}_{j}", _date_params(date), out)
            else:
                table = _TABLES[search_filter.param.type]
                modifier = search_filter.modifier
                for j, alternative in enumerate(_alternatives(search_filter.values, modifier)):
                    _named(f"{here}_{j}", _alternative_params(table, alternative, modifier), out)
        elif isinstance(search_filter, ChainFilter):
            for j, (_target_type, inner) in enumerate(search_filter.targets):
                _filter_parameters([inner], f"{here}c{j}", out)
        elif isinstance(search_filter, HasFilter):
            _filter_parameters([search_filter.inner], f"{here}h", out)


def _named(path: str, params: dict[str, Any], out: dict[str, Any]) -> None:
    for field, value in params.items():
        out[f"{path}_{field}"] = value


# --- the OR-alternatives of one filter ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValueList:
    """Alternatives that differ only in one compared value: one `IN (...)`."""

    shape: Hashable  # what decides the condition's SQL (the list's kind, never its values)
    first: FilterValue
    values: tuple[FilterValue, ...]


Alternative = FilterValue | ValueList


def _alternatives(values: Sequence[FilterValue], modifier: str | None) -> list[Alternative]:
    """The OR-alternatives, those that differ only in one compared value as one `IN (...)`.

    The pathway searches with up to a hundred references or identifiers at once: as an OR-chain
    each is a few ORM expressions to build, walk for the cache key and compile (a chain of a new
    length is a new statement); as one IN its values are a single expanding parameter. A lone
    value keeps its plain condition, so one-value searches are planned as before.
    """
    lists: dict[Hashable, list[FilterValue]] = {}
    for value in values:
        key = _list_key(value, modifier)
        if key is not None:
            lists.setdefault(key, []).append(value)
    out: list[Alternative] = []
    done: set[Hashable] = set()
    for value in values:
        key = _list_key(value, modifier)
        if key is None or len(lists[key]) < 2:
            out.append(value)
        elif key not in done:
            done.add(key)
            out.append(ValueList(_list_shape(key), value, tuple(lists[key])))
    return out


def _list_key(value: FilterValue, modifier: str | None) -> Hashable | None:
    """What the values of one IN share (their condition bar the one value); None: no IN form."""
    if isinstance(value, TokenValue) and value.code is not None:
        return ("token", value.system_given, value.system)
    if isinstance(value, ReferenceValue) and value.url is None and value.target_id is not None:
        return ("reference", value.target_types)
    if isinstance(value, ExactValue):
        return ("exact",)
    if isinstance(value, UriValue) and modifier not in ("below", "above"):
        return ("uri",)
    return None


def _list_shape(key: Hashable) -> Hashable:
    """The list's key without the values it binds (a token list's system is a parameter)."""
    if isinstance(key, tuple) and key[0] == "token":
        return ("token", key[1], key[2] is None)
    return key


def _value_conditions(
    table: Any, values: Sequence[FilterValue], modifier: str | None, sql: _Values, path: str
) -> list[ColumnElement[bool]]:
    return [
        _alternative_condition(table, alternative, modifier, sql.values(f"{path}_{j}", params))
        for j, alternative in enumerate(_alternatives(values, modifier))
        for params in [_alternative_params(table, alternative, modifier)]
    ]


def _alternative_condition(
    table: Any, alternative: Alternative, modifier: str | None, p: dict[str, Any]
) -> ColumnElement[bool]:
    if isinstance(alternative, ValueList):
        return _list_condition(table, alternative, p)
    return _value_condition(table, alternative, modifier, p)


def _alternative_params(table: Any, alternative: Alternative, modifier: str | None) -> dict[str, Any]:
    if isinstance(alternative, ValueList):
        return _list_params(alternative)
    return _value_params(table, alternative, modifier)


def _list_params(value_list: ValueList) -> dict[str, Any]:
    first, values = value_list.first, value_list.values
    if isinstance(first, TokenValue):
        return {"codes": [v.code for v in values if isinstance(v, TokenValue)], "system": first.system}
    if isinstance(first, ReferenceValue):
        return {"ids": [v.target_id for v in values if isinstance(v, ReferenceValue)]}
    if isinstance(first, ExactValue):
        return {"texts": [v.text for v in values if isinstance(v, ExactValue)]}
    if isinstance(first, UriValue):
        return {"values": [v.value for v in values if isinstance(v, UriValue)]}
    raise AssertionError(f"no IN form for {first!r}")


def _list_condition(table: Any, value_list: ValueList, p: dict[str, Any]) -> ColumnElement[bool]:
    """`_value_condition` of each value, OR-ed, as one condition with IN."""
    first = value_list.first
    if isinstance(first, TokenValue):
        condition = table.code.in_(p["codes"])
        if not first.system_given:
            return condition
        return and_(table.system.is_(None) if first.system is None else table.system == p["system"], condition)
    if isinstance(first, ReferenceValue):
        condition = table.target_id.in_(p["ids"])
        return and_(condition, table.target_type.in_(first.target_types)) if first.target_types else condition
    if isinstance(first, ExactValue):
        return table.exact.in_(p["texts"])
    if isinstance(first, UriValue):
        return table.value.in_(p["values"])
    raise AssertionError(f"no IN form for {first!r}")


# --- one OR-alternative against one index table ------------------------------------------------


def _like_start(text: str) -> str:
    """A LIKE pattern (escape '/') matching text at the start, its wildcards taken literally."""
    return _escape_like(text) + "%"


def _like_inside(text: str) -> str:
    return "%" + _escape_like(text) + "%"


def _escape_like(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _value_params(table: Any, value: FilterValue, modifier: str | None) -> dict[str, Any]:
    """The values a condition compares with, derived ones (LIKE patterns, `ap` bounds) included."""
    if isinstance(value, TokenValue):
        return {"code": value.code, "system": value.system}
    if isinstance(value, TextValue):
        if table is TokenIndexRow:  # :text matches the start of any word of the display text
            return {"start": _like_start(value.text), "word": _like_inside(" " + value.text)}
        if modifier == "contains":
            return {"like": _like_inside(value.text)}
        return {"like": _like_start(value.text[:STRING_INDEX_LENGTH])}
    if isinstance(value, ExactValue):
        return {"text": value.text}
    if isinstance(value, DateValue):
        return _date_params(value)
    if isinstance(value, NumberValue):
        return _number_params(value)
    if isinstance(value, ReferenceValue):
        return {"url": value.url} if value.url is not None else {"target_id": value.target_id}
    if isinstance(value, UriValue):
        return {"like": _like_start(value.value)} if modifier == "below" else {"value": value.value}
    raise AssertionError(f"no SQL for {value!r}")


def _value_condition(table: Any, value: FilterValue, modifier: str | None, p: dict[str, Any]) -> ColumnElement[bool]:
    if isinstance(value, TokenValue):
        return _token_condition(table, value, p)
    if isinstance(value, TextValue):
        if table is TokenIndexRow:
            return or_(table.text.like(p["start"], escape="/"), table.text.like(p["word"], escape="/"))
        return table.value.like(p["like"], escape="/")
    if isinstance(value, ExactValue):
        return table.exact == p["text"]
    if isinstance(value, DateValue):
        return _date_condition(value, table.low, table.high, p)
    if isinstance(value, NumberValue):
        return _number_condition(table, value, p)
    if isinstance(value, ReferenceValue):
        return _reference_condition(table, value, p)
    if isinstance(value, UriValue):
        return _uri_condition(table, modifier, p)
    raise AssertionError(f"no SQL for {value!r}")


def _token_condition(table: Any, value: TokenValue, p: dict[str, Any]) -> ColumnElement[bool]:
    conditions = []
    if value.code is not None:
        conditions.append(table.code == p["code"])
    if value.system_given:
        conditions.append(table.system.is_(None) if value.system is None else table.system == p["system"])
    return and_(*conditions) if conditions else true()


def _date_params(value: DateValue) -> dict[str, Any]:
    params = {"low": value.low, "high": value.high}
    if value.prefix == "ap":
        margin = _approximate_margin(value.low)
        params |= {"ap_high": _clamp(value.high + margin), "ap_low": _clamp(value.low - margin)}
    return params


def _date_condition(value: DateValue, low: Any, high: Any, p: dict[str, Any]) -> ColumnElement[bool]:
    """FHIR's prefixes compare the search range [sl, sh] with the indexed range [low, high]."""
    sl, sh = p["low"], p["high"]
    within = and_(low >= sl, high <= sh)
    match value.prefix:
        case "eq":
            return within
        case "ne":
            return not_(within)
        case "gt":
            return high > sh
        case "lt":
            return low < sl
        case "ge":
            return or_(high > sh, within)
        case "le":
            return or_(low < sl, within)
        case "sa":
            return low > sh
        case "eb":
            return high < sl
        case "ap":
            return and_(low <= p["ap_high"], high >= p["ap_low"])
    raise AssertionError(value.prefix)


def _approximate_margin(value: datetime) -> timedelta:
    """The spec suggests 10% of the distance between now and the value searched for."""
    gap = abs(datetime.now(UTC) - value)
    return max(gap / 10, timedelta(days=1))


def _clamp(value: datetime) -> datetime:
    return max(MIN_INSTANT, min(MAX_INSTANT, value))


def _number_params(value: NumberValue) -> dict[str, Any]:
    params = {"value": value.value, "low": value.low, "high": value.high, "code": value.code, "system": value.system}
    if value.prefix == "ap":
        margin = abs(value.value) / Decimal(10)
        params |= {"ap_low": value.value - margin, "ap_high": value.value + margin}
    return params


def _number_condition(table: Any, value: NumberValue, p: dict[str, Any]) -> ColumnElement[bool]:
    column = table.value
    within = and_(column >= p["low"], column < p["high"])
    match value.prefix:
        case "eq":
            condition = within
        case "ne":
            condition = not_(within)
        case "gt" | "sa":
            condition = column > p["value"]
        case "lt" | "eb":
            condition = column < p["value"]
        case "ge":
            condition = column >= p["value"]
        case "le":
            condition = column <= p["value"]
        case "ap":
            condition = and_(column >= p["ap_low"], column <= p["ap_high"])
    if table is not QuantityIndexRow:
        return condition
    units = []
    if value.code is not None:
        units.append(table.code == p["code"])
    if value.system_given:
        units.append(table.system == p["system"])
    return and_(condition, *units)


def _reference_condition(table: Any, value: ReferenceValue, p: dict[str, Any]) -> ColumnElement[bool]:
    if value.url is not None:
        return table.url == p["url"]
    # IS NULL as `== None` would have it: the parameter may not be compared with = NULL.
    condition = table.target_id.is_(None) if value.target_id is None else table.target_id == p["target_id"]
    if value.target_types:
        condition = and_(condition, table.target_type.in_(value.target_types))
    return condition


def _uri_condition(table: Any, modifier: str | None, p: dict[str, Any]) -> ColumnElement[bool]:
    if modifier == "below":
        return table.value.like(p["like"], escape="/")
    if modifier == "above":  # the stored uri is a prefix of the one searched for
        return func.substr(cast(p["value"], String), 1, func.length(table.value)) == table.value
    return table.value == p["value"]


# --- sorting -----------------------------------------------------------------------------------


def _order_by(keys: Sequence[SortKey]) -> list[Any]:
    """Each key sorts by the resource's smallest value (largest when descending), nulls last."""
    order: list[Any] = []
    for key in keys:
        expression = _sort_value(key)
        order.append(expression.is_(None))
        order.append(expression.desc() if key.descending else expression.asc())
    return order


# Which indexed column orders a resource: a date sorts by its start ascending, its end descending.
_SORT_COLUMNS: dict[str, Any] = {
    "token": lambda t, _desc: t.code,
    "string": lambda t, _desc: t.value,
    "date": lambda t, desc: t.high if desc else t.low,
    "reference": lambda t, _desc: t.target_id,
    "number": lambda t, _desc: t.value,
    "quantity": lambda t, _desc: t.value,
    "uri": lambda t, _desc: t.value,
}


def _sort_value(key: SortKey) -> Any:
    param = key.param
    if param.code == "_id":
        return ResourceRow.res_id
    if param.code == "_lastUpdated":
        return ResourceRow.last_updated
    table = _TABLES[param.type]
    column = _SORT_COLUMNS[param.type](table, key.descending)
    aggregate = func.max(column) if key.descending else func.min(column)
    return (
        select(aggregate)
        .where(
            table.resource_pk == ResourceRow.pk,
            table.res_type == ResourceRow.res_type,
            table.param == param.code,
        )
        .scalar_subquery()
    )


# --- _include and _revinclude ------------------------------------------------------------------


async def _included(
    conn: AsyncConnection,
    query: SearchQuery,
    matches: list[StoredResource],
    viewer: Viewer,
    readable: Callable[[str], bool],
) -> list[StoredResource]:
    seen = {m.pk for m in matches}
    included: list[StoredResource] = []
    sources = matches
    for round_number in range(MAX_INCLUDE_ROUNDS):
        includes = [i for i in query.includes if round_number == 0 or i.iterate]
        revincludes = [i for i in query.revincludes if round_number == 0 or i.iterate]
        if not includes and not revincludes:
            break
        found: list[StoredResource] = []
        for include in includes:
            found.extend(await _follow_include(conn, include, sources, viewer))
        for include in revincludes:
            found.extend(await _follow_revinclude(conn, include, sources, viewer))
        fresh = []
        for resource in found:
            if resource.pk not in seen and readable(resource.res_type) and len(seen) < MAX_INCLUDED + len(matches):
                seen.add(resource.pk)
                fresh.append(resource)
        if not fresh:
            break
        included.extend(fresh)
        sources = fresh
    return included


async def _follow_include(
    conn: AsyncConnection, include: Include, sources: list[StoredResource], viewer: Viewer
) -> list[StoredResource]:
    any_source = include.source_type == ANY_TYPE
    source_pks = [s.pk for s in sources if any_source or s.res_type == include.source_type]
    if not source_pks:
        return []
    ref = ReferenceIndexRow
    statement = (
        select(ref.target_type, ref.target_id)
        .distinct()
        .where(
            ref.resource_pk.in_(source_pks),
            true() if any_source else ref.res_type == include.source_type,
            ref.target_type.is_not(None),
        )
    )
    if include.param is not None:
        statement = statement.where(ref.param == include.param.code)
    if include.target_type is not None:
        statement = statement.where(ref.target_type == include.target_type)
    targets: dict[str, list[str]] = {}
    for target_type, target_id in (await conn.execute(statement)).all():
        if target_type is not None and target_id is not None:  # an untyped or id-less reference names nothing held
            targets.setdefault(target_type, []).append(target_id)
    found: list[StoredResource] = []
    for target_type, ids in targets.items():
        fetch = select_current().where(
            ResourceRow.res_type == target_type,
            ResourceRow.res_id.in_(ids),
            ResourceRow.deleted == false(),
            visible(viewer),
        )
        found.extend(to_stored(row) for row in (await conn.execute(fetch)).all())
    return found


async def _follow_revinclude(
    conn: AsyncConnection, include: Include, targets: list[StoredResource], viewer: Viewer
) -> list[StoredResource]:
    by_type: dict[str, list[str]] = {}
    for target in targets:
        if include.target_type is None or include.target_type == target.res_type:
            by_type.setdefault(target.res_type, []).append(target.res_id)
    if not by_type:
        return []
    ref = ReferenceIndexRow
    referring = select(ref.resource_pk).where(
        true() if include.source_type == ANY_TYPE else ref.res_type == include.source_type,
        or_(*(and_(ref.target_type == t, ref.target_id.in_(ids)) for t, ids in by_type.items())),
    )
    if include.param is not None:
        referring = referring.where(ref.param == include.param.code)
    fetch: Select[Any] = (
        select_current()
        .where(ResourceRow.pk.in_(referring), ResourceRow.deleted == false(), visible(viewer))
        .order_by(ResourceRow.pk)
    )
    return [to_stored(row) for row in (await conn.execute(fetch)).all()]
