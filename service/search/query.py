"""A FHIR search request parsed into what to match, how to sort, page and include.

Parsing knows the registry (which parameters exist and their types) but no SQL; the store
turns a SearchQuery into statements (service.store.search).
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from service.errors import DyadError
from service.search.extract import reference_row
from service.search.registry import SearchParam, SearchRegistry
from service.search.values import (
    ValueFormatError,
    date_range,
    decimal_range,
    decimal_value,
    normalise_string,
)

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
Prefix = Literal["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]
_PREFIXED_TYPES = frozenset({"date", "number", "quantity"})
_MODIFIERS: dict[str, frozenset[str]] = {
    "token": frozenset({"missing", "not", "text"}),
    "string": frozenset({"missing", "exact", "contains"}),
    "date": frozenset({"missing"}),
    "reference": frozenset({"missing"}),  # plus a resource type (:Patient)
    "number": frozenset({"missing"}),
    "quantity": frozenset({"missing"}),
    "uri": frozenset({"missing", "below", "above"}),
}
# Handled by the API, not a search: never reported as unknown, never in links.
_TRANSPORT_PARAMS = frozenset({"_format", "_pretty"})
_SUMMARY_VALUES = frozenset({"true", "false", "text", "data", "count"})
_TOTAL_VALUES = frozenset({"none", "estimate", "accurate"})
MAX_CHAIN_DEPTH = 3
# Bounds on what one search may ask (docs/security-limits.md). Each alternative and each AND-ed
# parameter becomes part of one SQL statement; past these, SQLite's expression depth and
# PostgreSQL's planner give out (a 500, or a server held for minutes), so they are refused first.
MAX_VALUES_PER_PARAMETER = 100
MAX_PARAMETERS = 50
MAX_INCLUDES = 10  # distinct _include and _revinclude parameters together
# Integers a query may carry (_count, _offset): both databases hold 32-bit offsets and limits.
MAX_QUERY_INTEGER = 2**31 - 1
MAX_NUMBER_DIGITS = 20
MAX_DECIMAL_PLACES = 10


class SearchError(DyadError, ValueError):
    """The search cannot be run as asked; the API answers 400 with this message."""

    status, code = 400, "invalid"


# --- values: one OR-alternative of a filter ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenValue:
    code: str | None
    system: str | None
    system_given: bool  # `|code` (no system) differs from `code` (any system)


@dataclass(frozen=True, slots=True)
class TextValue:
    """token:text, and string searches: already normalised."""

    text: str


@dataclass(frozen=True, slots=True)
class ExactValue:
    text: str


@dataclass(frozen=True, slots=True)
class DateValue:
    prefix: Prefix
    low: datetime
    high: datetime


@dataclass(frozen=True, slots=True)
class NumberValue:
    prefix: Prefix
    value: Decimal
    low: Decimal
    high: Decimal
    system: str | None = None  # quantity only
    code: str | None = None
    system_given: bool = False


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    target_types: tuple[str, ...]  # empty: any type
    target_id: str | None
    url: str | None


@dataclass(frozen=True, slots=True)
class UriValue:
    value: str


@dataclass(frozen=True, slots=True)
class IdValue:
    res_id: str


FilterValue = TokenValue | TextValue | ExactValue | DateValue | NumberValue | ReferenceValue | UriValue | IdValue


# --- filters: AND-ed at the top of a query -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParamFilter:
    """Matches when any value matches (OR); `:not` negates the whole OR."""

    param: SearchParam
    modifier: str | None
    values: tuple[FilterValue, ...]


@dataclass(frozen=True, slots=True)
class MissingFilter:
    param: SearchParam
    missing: bool


@dataclass(frozen=True, slots=True)
class ChainFilter:
    """`subject:Patient.name=x`: the reference points at a resource of one of the types matching inner."""

    param: SearchParam
    targets: tuple[tuple[str, "Filter"], ...]  # (target type, filter on that type), OR-ed


@dataclass(frozen=True, slots=True)
class HasFilter:
    """`_has:Observation:subject:code=x`: some Observation whose subject is this resource matches."""

    source_type: str
    reference_param: SearchParam
    inner: "Filter"


Filter = ParamFilter | MissingFilter | ChainFilter | HasFilter


@dataclass(frozen=True, slots=True)
class SortKey:
    param: SearchParam
    descending: bool


@dataclass(frozen=True, slots=True)
class Include:
    """`_include=Observation:subject:Patient`; param None means the `*` wildcard."""

    source_type: str
    param: SearchParam | None
    target_type: str | None
    iterate: bool


@dataclass
class SearchQuery:
    res_type: str
    filters: list[Filter] = field(default_factory=list)
    sort: list[SortKey] = field(default_factory=list)
    count: int | None = None
    offset: int = 0
    summary: str | None = None
    elements: list[str] | None = None
    total: str | None = None
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    _link_items: list[tuple[str, str]] = field(default_factory=list)

    def link_params(self) -> list[tuple[str, str]]:
        """The parameters that were applied, for self/next/previous links (no _count/_offset)."""
        return list(self._link_items)


# --- parsing -----------------------------------------------------------------------------------


def parse_search(registry: SearchRegistry, res_type: str, items: list[tuple[str, str]], *, strict: bool) -> SearchQuery:
    """Parse query items in order; repeated names AND, commas within one value OR."""
    query = SearchQuery(res_type=res_type)
    for name, value in items:
        if name in _TRANSPORT_PARAMS:
            continue
        if name.startswith("_") and _parse_control(registry, query, name, value):
            if name not in ("_count", "_offset"):
                query._link_items.append((name, value))
            continue
        search_filter = _parse_filter(registry, res_type, name, value, depth=0)
        if search_filter is None:
            if strict:
                raise SearchError(f"Unknown search parameter '{name}' for {res_type}")
            query.unknown.append(name)
            continue
        query.filters.append(search_filter)
        query._link_items.append((name, value))
    return query


def _parse_control(registry: SearchRegistry, query: SearchQuery, name: str, value: str) -> bool:
    """Result parameters (_sort, _count...); False when the name is not one of them."""
    if name == "_count":
        query.count = _non_negative_int(name, value)
    elif name == "_offset":
        query.offset = _non_negative_int(name, value)
    elif name == "_sort":
        query.sort.extend(_parse_sort(registry, query.res_type, value))
    elif name == "_summary":
        if value not in _SUMMARY_VALUES:
            raise SearchError(f"_summary must be one of {sorted(_SUMMARY_VALUES)}, not '{value}'")
        query.summary = value
    elif name == "_elements":
        query.elements = [e.strip() for e in value.split(",") if e.strip()]
    elif name == "_total":
        if value not in _TOTAL_VALUES:
            raise SearchError(f"_total must be one of {sorted(_TOTAL_VALUES)}, not '{value}'")
        query.total = value
    elif name in ("_include", "_include:iterate", "_include:recurse"):
        _add_include(query.includes, query, _parse_include(registry, value, name != "_include", reverse=False))
    elif name in ("_revinclude", "_revinclude:iterate", "_revinclude:recurse"):
        _add_include(query.revincludes, query, _parse_include(registry, value, name != "_revinclude", reverse=True))
    else:
        return False
    return True


def _add_include(into: list[Include], query: SearchQuery, include: Include) -> None:
    """A repeated include adds nothing (each one used to be followed again, every round)."""
    if include in into:
        return
    if len(query.includes) + len(query.revincludes) >= MAX_INCLUDES:
        raise SearchError(f"A search may have at most {MAX_INCLUDES} distinct _include and _revinclude parameters")
    into.append(include)


def _non_negative_int(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SearchError(f"{name} must be a whole number, not '{value}'") from None
    if number < 0:
        raise SearchError(f"{name} must not be negative")
    if number > MAX_QUERY_INTEGER:
        raise SearchError(f"{name} must be at most {MAX_QUERY_INTEGER}")
    return number


def check_query_size(items: list[tuple[str, str]]) -> None:
    """Refuse a search that asks more than the bounds allow, before any of it is parsed.

    Applied where a client's search enters (the API); the server's own searches may be wider
    (the outbox asks for every id a transaction wrote).
    """
    if len(items) > MAX_PARAMETERS:
        raise SearchError(f"A search may have at most {MAX_PARAMETERS} parameters")
    for name, value in items:
        if len(_split_or(value)) > MAX_VALUES_PER_PARAMETER:
            raise SearchError(f"'{name}' may have at most {MAX_VALUES_PER_PARAMETER} comma-separated values")


def _parse_sort(registry: SearchRegistry, res_type: str, value: str) -> list[SortKey]:
    keys = []
    for raw in value.split(","):
        raw = raw.strip()
        descending = raw.startswith("-")
        code = raw[1:] if descending else raw
        param = registry.get(res_type, code)
        if param is None or param.type in ("composite", "special"):
            raise SearchError(f"Cannot sort {res_type} by '{code}'")
        keys.append(SortKey(param, descending))
    return keys


ANY_TYPE = "*"


def _parse_include(registry: SearchRegistry, value: str, iterate: bool, *, reverse: bool) -> Include:
    kind = "_revinclude" if reverse else "_include"
    if value == "*":  # every reference of (or to) the resources found, whatever their type
        return Include(ANY_TYPE, None, None, iterate)
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise SearchError(f"{kind} must be Type:param or Type:param:TargetType, not '{value}'")
    source_type, code = parts[0], parts[1]
    target_type = parts[2] if len(parts) == 3 else None
    if code == "*":
        return Include(source_type, None, target_type, iterate)
    param = registry.get(source_type, code)
    if param is None or param.type != "reference":
        raise SearchError(f"{kind}: '{code}' is not a reference parameter of {source_type}")
    if target_type is not None and param.targets and target_type not in param.targets:
        raise SearchError(f"{kind}: {source_type}.{code} cannot point at {target_type}")
    return Include(source_type, param, target_type, iterate)


def _parse_filter(registry: SearchRegistry, res_type: str, name: str, value: str, *, depth: int) -> Filter | None:
    """One name=value pair; None when the parameter is not known for the type."""
    if depth > MAX_CHAIN_DEPTH:
        raise SearchError(f"'{name}' chains more than {MAX_CHAIN_DEPTH} levels deep")
    if name.startswith("_has:"):
        return _parse_has(registry, res_type, name, value, depth=depth)
    head, dot, rest = name.partition(".")
    code, colon, modifier = head.partition(":")
    param = registry.get(res_type, code)
    if param is None:
        return None
    if dot:
        return _parse_chain(registry, param, modifier if colon else None, rest, value, depth=depth)
    if colon and modifier == "missing":
        if value not in ("true", "false"):
            raise SearchError(f"{name} must be true or false, not '{value}'")
        return MissingFilter(param, value == "true")
    if param.type in ("composite", "special"):
        raise SearchError(f"Searching by {param.type} parameter '{code}' is not supported")
    modifier_or_none = modifier if colon else None
    _check_modifier(param, modifier_or_none, name)
    values = tuple(_parse_value(param, modifier_or_none, raw, res_type) for raw in _split_or(value))
    if not values:
        raise SearchError(f"'{name}' has no value")
    return ParamFilter(param, modifier_or_none, values)


def _check_modifier(param: SearchParam, modifier: str | None, name: str) -> None:
    if modifier is None:
        return
    if param.type == "reference" and modifier[:1].isupper():
        if param.targets and modifier not in param.targets:
            raise SearchError(f"'{name}': {param.code} cannot point at {modifier}")
        return
    if param.code == "_id":
        # _id is matched on the resource's own id, not through the token index: :text has
        # nothing to search, and answering it as an exact id would be a wrong answer.
        if modifier not in ("missing", "not"):
            raise SearchError(f"Unknown or unsupported modifier ':{modifier}' on '{param.code}'")
        return
    if modifier not in _MODIFIERS.get(param.type, frozenset()):
        raise SearchError(f"Unknown or unsupported modifier ':{modifier}' on '{param.code}'")


def _split_or(value: str) -> list[str]:
    """Split on commas that are not escaped with a backslash; unescape `\\,` `\\|` `\\$`."""
    parts, current, escaped = [], [], False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p != ""]


def _unescape(text: str) -> str:
    return text.replace("\\,", ",").replace("\\$", "$").replace("\\|", "|").replace("\\\\", "\\")


def _split_bar(text: str) -> list[str]:
    """Split a token/quantity value on unescaped `|`."""
    parts, start, index = [], 0, 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == "|":
            parts.append(text[start:index])
            start = index + 1
        index += 1
    parts.append(text[start:])
    return [_unescape(p) for p in parts]


def _parse_value(param: SearchParam, modifier: str | None, raw: str, res_type: str) -> FilterValue:
    if param.code == "_id":
        return IdValue(_unescape(raw))
    kind = param.type
    if kind == "token":
        if modifier == "text":
            return TextValue(normalise_string(_unescape(raw)))
        return _token_value(raw)
    if kind == "string":
        text = _unescape(raw)
        return ExactValue(text) if modifier == "exact" else TextValue(normalise_string(text))
    if kind == "date":
        prefix, rest = _prefix(raw)
        try:
            low, high = date_range(rest)
        except ValueFormatError as exc:
            raise SearchError(f"{param.code}: {exc}") from None
        return DateValue(prefix, low, high)
    if kind == "number":
        prefix, rest = _prefix(raw)
        number = _decimal(param, rest)
        lowest, highest = decimal_range(number)
        return NumberValue(prefix, number, lowest, highest)
    if kind == "quantity":
        return _quantity_value(param, raw)
    if kind == "reference":
        return _reference_value(param, modifier, _unescape(raw))
    if kind == "uri":
        return UriValue(_unescape(raw))
    raise SearchError(f"Searching by {kind} parameter '{param.code}' is not supported")


def _token_value(raw: str) -> TokenValue:
    parts = _split_bar(raw)
    if len(parts) == 1:
        return TokenValue(parts[0], None, system_given=False)
    if len(parts) == 2:
        system, code = parts
        return TokenValue(code or None, system or None, system_given=True)
    raise SearchError(f"'{raw}' is not a token (code, system|code, |code or system|)")


def _prefix(raw: str) -> tuple[Prefix, str]:
    head = raw[:2]
    if len(raw) > 2 and head.isalpha():
        if head not in PREFIXES:
            raise SearchError(f"Unknown prefix '{head}' in '{raw}'; use one of {', '.join(PREFIXES)}")
        return head, raw[2:]  # type: ignore[return-value]
    return "eq", raw


def _decimal(param: SearchParam, text: str) -> Decimal:
    try:
        number = decimal_value(text)
    except ValueFormatError as exc:
        raise SearchError(f"{param.code}: {exc}") from None
    # The index holds numbers below 10^20 to 10 decimal places; PostgreSQL refuses to compare
    # a wider one with them (a 500), so it is refused here.
    # adjusted(): the power of ten of the leading digit, read without arithmetic (which would
    # overflow the decimal context on 1e99999999999).
    if number and not -MAX_DECIMAL_PLACES <= number.adjusted() < MAX_NUMBER_DIGITS:
        raise SearchError(f"{param.code}: '{text}' is outside the numbers Dyad can search")
    return number


def _quantity_value(param: SearchParam, raw: str) -> NumberValue:
    prefix, rest = _prefix(raw)
    parts = _split_bar(rest)
    if len(parts) not in (1, 3):
        raise SearchError(f"{param.code}: '{raw}' is not number, number|system|code or number||code")
    number = _decimal(param, parts[0])
    low, high = decimal_range(number)
    if len(parts) == 1:
        return NumberValue(prefix, number, low, high)
    system, code = parts[1] or None, parts[2] or None
    return NumberValue(prefix, number, low, high, system, code, system_given=system is not None)


def _reference_value(param: SearchParam, modifier: str | None, raw: str) -> ReferenceValue:
    row = reference_row(param.code, raw)
    if row.url is not None:
        if "/" not in raw:  # a bare id: the parameter's targets (or the :Type modifier) decide
            types = (modifier,) if modifier else param.targets
            return ReferenceValue(types, raw, None)
        return ReferenceValue((), None, raw)
    assert row.target_type is not None
    if modifier and modifier != row.target_type:
        raise SearchError(f"{param.code}:{modifier} cannot match '{raw}'")
    return ReferenceValue((row.target_type,), row.target_id, None)


def _parse_chain(
    registry: SearchRegistry,
    param: SearchParam,
    type_modifier: str | None,
    rest: str,
    value: str,
    *,
    depth: int,
) -> Filter:
    if param.type != "reference":
        raise SearchError(f"Cannot chain through '{param.code}': it is not a reference parameter")
    if type_modifier is not None and not type_modifier[:1].isupper():
        raise SearchError(f"Modifier ':{type_modifier}' cannot be used in a chain")
    candidates = (type_modifier,) if type_modifier else param.targets
    if not candidates:
        raise SearchError(f"'{param.code}' can point at any type; name one, e.g. {param.code}:Patient.{rest}")
    inner_filters: list[tuple[str, Filter]] = []
    for target in candidates:
        inner = _parse_filter(registry, target, rest, value, depth=depth + 1)
        if inner is not None:
            inner_filters.append((target, inner))
    if not inner_filters:
        raise SearchError(f"No type '{param.code}' points at has a search parameter '{rest}'")
    return ChainFilter(param, tuple(inner_filters))


def _parse_has(registry: SearchRegistry, res_type: str, name: str, value: str, *, depth: int) -> Filter:
    parts = name.split(":", 3)
    if len(parts) != 4 or not parts[1] or not parts[2] or not parts[3]:
        raise SearchError(f"'{name}' must be _has:Type:reference-param:search-param")
    _, source_type, ref_code, rest = parts
    ref_param = registry.get(source_type, ref_code)
    if ref_param is None or ref_param.type != "reference":
        raise SearchError(f"_has: '{ref_code}' is not a reference parameter of {source_type}")
    if ref_param.targets and res_type not in ref_param.targets:
        raise SearchError(f"_has: {source_type}.{ref_code} cannot point at {res_type}")
    inner = _parse_filter(registry, source_type, rest, value, depth=depth + 1)
    if inner is None:
        raise SearchError(f"_has: '{rest}' is not a search parameter of {source_type}")
    return HasFilter(source_type, ref_param, inner)
