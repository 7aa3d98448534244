"""What a resource is indexed under: one row per value per search parameter.

Values are classified by their JSON shape, not by the element's declared type: the FHIRPath
engine hands elements back as their JSON values.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from service import fhirpath
from service.search.registry import SearchParam, SearchRegistry
from service.search.values import (
    MAX_INSTANT,
    MIN_INSTANT,
    ValueFormatError,
    date_range,
    decimal_range,
    decimal_value,
    normalise_string,
)

# ContactPoint.system codes; an Identifier's system is a URI, so these never collide.
_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
_NAME_PARTS = ("family", "given", "text", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")
STRING_INDEX_LENGTH = 255


class TokenRow(NamedTuple):
    param: str
    system: str | None
    code: str | None
    text: str | None  # normalised display/text, for :text


class StringRow(NamedTuple):
    param: str
    value: str  # normalised, for the default and :contains searches
    exact: str


class DateRow(NamedTuple):
    param: str
    low: datetime
    high: datetime  # inclusive


class ReferenceRow(NamedTuple):
    param: str
    target_type: str | None
    target_id: str | None
    url: str | None


class NumberRow(NamedTuple):
    param: str
    value: Decimal
    low: Decimal
    high: Decimal


class QuantityRow(NamedTuple):
    param: str
    value: Decimal
    low: Decimal
    high: Decimal
    system: str | None
    code: str | None


class UriRow(NamedTuple):
    param: str
    value: str


@dataclass(slots=True)
class IndexRows:
    """Every index row of one resource, by table; duplicates are already removed."""

    token: list[TokenRow] = field(default_factory=list)
    string: list[StringRow] = field(default_factory=list)
    date: list[DateRow] = field(default_factory=list)
    reference: list[ReferenceRow] = field(default_factory=list)
    number: list[NumberRow] = field(default_factory=list)
    quantity: list[QuantityRow] = field(default_factory=list)
    uri: list[UriRow] = field(default_factory=list)


class _Indexer(NamedTuple):
    param: SearchParam
    evaluate: Callable[[dict[str, Any]], list[Any]]


# Compiled once per registry and type; weak so a reloaded registry takes its cache with it.
_INDEXERS: "WeakKeyDictionary[SearchRegistry, dict[str, list[_Indexer]]]" = WeakKeyDictionary()


def indexers_for(registry: SearchRegistry, res_type: str) -> list[_Indexer]:
    """The compiled evaluators of a type's indexable parameters."""
    by_type = _INDEXERS.setdefault(registry, {})
    indexers = by_type.get(res_type)
    if indexers is None:
        indexers = by_type[res_type] = [
            _Indexer(param, fhirpath.compile(param.expression).evaluate)
            for param in registry.params_for(res_type).values()
            if param.expression is not None and param.type in _EXTRACTORS
        ]
    return indexers


def index_rows(registry: SearchRegistry, res_type: str, resource: dict[str, Any]) -> IndexRows:
    return _rows(indexers_for(registry, res_type), resource)


def param_rows(registry: SearchRegistry, res_type: str, resource: dict[str, Any], params: frozenset[str]) -> IndexRows:
    """The rows of the named parameters only, as index_rows gives them: for telling search matches
    apart by a few parameters without indexing the whole resource again."""
    return _rows([i for i in indexers_for(registry, res_type) if i.param.code in params], resource)


def _rows(indexers: list[_Indexer], resource: dict[str, Any]) -> IndexRows:
    rows = IndexRows()
    for indexer in indexers:
        values = indexer.evaluate(resource)
        if values:
            _EXTRACTORS[indexer.param.type](rows, indexer.param.code, values)
    _dedupe(rows)
    return rows


def rows_for_values(param: SearchParam, values: list[Any]) -> IndexRows:
    """The rows one parameter's evaluated values index as; lets tests compare evaluators."""
    rows = IndexRows()
    extractor = _EXTRACTORS.get(param.type)
    if extractor is not None and values:
        extractor(rows, param.code, values)
    _dedupe(rows)
    return rows


def _dedupe(rows: IndexRows) -> None:
    # FHIRPath unions drop duplicates; a code in both code and component.code indexes once.
    for name in IndexRows.__slots__:
        table = getattr(rows, name)
        if len(table) > 1:
            setattr(rows, name, list(dict.fromkeys(table)))


# --- one extractor per search parameter type --------------------------------------------------


def _tokens(rows: IndexRows, param: str, values: list[Any]) -> None:
    out = rows.token
    for value in values:
        if isinstance(value, bool):
            out.append(TokenRow(param, None, "true" if value else "false", None))
        elif isinstance(value, str):
            out.append(TokenRow(param, None, value, None))
        elif isinstance(value, dict):
            out.extend(_token_rows(param, value))


def _token_rows(param: str, value: dict[str, Any]) -> Iterator[TokenRow]:
    if "coding" in value or ("text" in value and "code" not in value and "value" not in value):
        text = value.get("text")
        for coding in value.get("coding") or ():
            if isinstance(coding, dict):
                yield _coding_row(param, coding)
        if isinstance(text, str):
            yield TokenRow(param, None, None, normalise_string(text))
    elif "value" in value and not ("code" in value or "unit" in value):
        system = value.get("system")
        if isinstance(system, str) and system in _CONTACT_SYSTEMS:
            yield TokenRow(param, system, _text_or_none(value.get("value")), None)
        else:  # Identifier; its :text is the identifier type's text
            kind = value.get("type")
            label = kind.get("text") if isinstance(kind, dict) else None
            yield TokenRow(
                param,
                _text_or_none(system),
                _text_or_none(value.get("value")),
                normalise_string(label) if isinstance(label, str) else None,
            )
    elif "code" in value or "system" in value:
        yield _coding_row(param, value)


def _coding_row(param: str, coding: dict[str, Any]) -> TokenRow:
    display = coding.get("display")
    return TokenRow(
        param,
        _text_or_none(coding.get("system")),
        _text_or_none(coding.get("code")),
        normalise_string(display) if isinstance(display, str) else None,
    )


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _strings(rows: IndexRows, param: str, values: list[Any]) -> None:
    out = rows.string
    for value in values:
        for text in _string_parts(value):
            out.append(StringRow(param, normalise_string(text)[:STRING_INDEX_LENGTH], text))


def _string_parts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        parts = _NAME_PARTS if ("family" in value or "given" in value) else _ADDRESS_PARTS
        if not any(p in value for p in parts):
            parts = _NAME_PARTS
        for part in parts:
            item = value.get(part)
            if isinstance(item, str):
                yield item
            elif isinstance(item, list):
                yield from (i for i in item if isinstance(i, str))


def _dates(rows: IndexRows, param: str, values: list[Any]) -> None:
    out = rows.date
    for value in values:
        for low, high in _date_ranges(value):
            out.append(DateRow(param, low, high))


def _date_ranges(value: Any) -> Iterator[tuple[datetime, datetime]]:
    if isinstance(value, str):
        bounds = _lenient_range(value)
        if bounds is not None:
            yield bounds
    elif isinstance(value, dict):
        if "start" in value or "end" in value:  # Period: open ends reach the end of time
            start = _lenient_range(value["start"]) if "start" in value else None
            end = _lenient_range(value["end"]) if "end" in value else None
            if start is not None or end is not None:
                yield (start[0] if start else MIN_INSTANT), (end[1] if end else MAX_INSTANT)
        else:  # Timing: each event, and the repeat bounds
            for event in value.get("event") or ():
                bounds = _lenient_range(event) if isinstance(event, str) else None
                if bounds is not None:
                    yield bounds
            repeat = value.get("repeat")
            if isinstance(repeat, dict) and isinstance(repeat.get("boundsPeriod"), dict):
                yield from _date_ranges(repeat["boundsPeriod"])


def _lenient_range(text: object) -> tuple[datetime, datetime] | None:
    """Stored resources were validated; a bad date here indexes nothing rather than failing."""
    if not isinstance(text, str):
        return None
    try:
        return date_range(text)
    except ValueFormatError:
        return None


def _references(rows: IndexRows, param: str, values: list[Any]) -> None:
    out = rows.reference
    for value in values:
        text = value.get("reference") if isinstance(value, dict) else value
        if isinstance(text, str) and text:
            out.append(reference_row(param, text))


def reference_row(param: str, text: str) -> ReferenceRow:
    """`Type/id` and `Type/id/_history/n` are local; anything else (URLs, canonicals) by url."""
    parts = text.split("/")
    if len(parts) in (2, 4) and parts[0][:1].isupper() and parts[0].isalpha():
        if len(parts) == 2 or parts[2] == "_history":
            return ReferenceRow(param, parts[0], parts[1], None)
    return ReferenceRow(param, None, None, text)


def _numbers(rows: IndexRows, param: str, values: list[Any]) -> None:
    out = rows.number
    for value in values:
        number = _lenient_decimal(value)
        if number is not None:
            low, high = decimal_range(number)
            out.append(NumberRow(param, number, low, high))


def _lenient_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        return None
    try:
        return decimal_value(value)
    except ValueFormatError:
        return None


def _quantities(rows: IndexRows, param: str, values: list[Any]) -> None:
    out = rows.quantity
    for value in values:
        if not isinstance(value, dict):
            continue
        number = _lenient_decimal(value.get("value"))
        if number is None:
            continue
        low, high = decimal_range(number)
        code = value.get("code") if isinstance(value.get("code"), str) else value.get("unit")
        out.append(QuantityRow(param, number, low, high, _text_or_none(value.get("system")), _text_or_none(code)))


def _uris(rows: IndexRows, param: str, values: list[Any]) -> None:
    out = rows.uri
    for value in values:
        if isinstance(value, str) and value:
            out.append(UriRow(param, value))


_EXTRACTORS = {
    "token": _tokens,
    "string": _strings,
    "date": _dates,
    "reference": _references,
    "number": _numbers,
    "quantity": _quantities,
    "uri": _uris,
}
