"""The FHIRPath function library (R4 / FHIRPath N1, plus the 2.0 additions the R4 tests use)."""

import base64
import html
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from functools import cmp_to_key, lru_cache
from typing import Any

from service.fhirpath import operators as ops
from service.fhirpath.compiler import Compiled, Context, _compile, dotted_name, user_function
from service.fhirpath.values import (
    FHIRPathError,
    Node,
    Quantity,
    Temporal,
    as_string,
    boundary,
    now_value,
    parse_date_time,
    parse_decimal,
    parse_quantity,
    parse_time,
    system,
)

Collection = list[Any]
Impl = Callable[..., Collection]


def compile_function(name: str, params: list[dict[str, Any]], explicit_input: bool) -> Compiled:
    if name in _TYPE_FUNCTIONS:
        if len(params) != 1:
            raise FHIRPathError(f"{name}() takes one type")
        return _TYPE_FUNCTIONS[name](dotted_name(params[0]))
    if name == "sort":
        return _sort([_sort_key(p) for p in params])
    if name == "iif":
        return _iif([_compile(p) for p in params], explicit_input)
    spec = _LAMBDAS.get(name)
    if spec is not None:
        low, high, impl = spec
        _arity(name, params, low, high)
        lambdas = [_compile(p) for p in params]
        return lambda focus, ctx: impl(focus, ctx, *lambdas)
    custom = user_function(name)
    if custom is not None:
        return _user_call(custom, [_compile(p) for p in params])
    spec = _FUNCTIONS.get(name)
    if spec is None:
        raise FHIRPathError(f"unknown function {name}()")
    low, high, impl = spec
    _arity(name, params, low, high)
    args = [_compile(p) for p in params]
    if not args:
        return lambda focus, ctx: impl(focus, ctx)
    if len(args) == 1:
        (only,) = args
        constant = getattr(only, "constant", None)
        if constant is not None:
            return lambda focus, ctx: impl(focus, ctx, constant)
        return lambda focus, ctx: impl(focus, ctx, _argument(only, ctx))
    return lambda focus, ctx: impl(focus, ctx, *(_argument(a, ctx) for a in args))


def _user_call(fn: Callable[..., Collection], args: list[Compiled]) -> Compiled:
    """A caller's function gets plain values: the focus's, and each argument's single value."""
    from service.fhirpath import plain

    def run(focus: Collection, ctx: Context) -> Collection:
        values = [_single_plain(_argument(a, ctx), plain) for a in args]
        result = fn([plain(item) for item in focus], *values)
        return [ops.wrap_root(v) for v in result]

    return run


def _single_plain(collection: Collection, plain: Callable[[Any], Any]) -> Any:
    return plain(collection[0]) if len(collection) == 1 else None


def _arity(name: str, params: list[Any], low: int, high: int) -> None:
    if not low <= len(params) <= high:
        raise FHIRPathError(f"{name}() takes {low}..{high} arguments, not {len(params)}")


def _argument(arg: Compiled, ctx: Context) -> Collection:
    """Arguments are evaluated against $this (the context the function's invocation sits in)."""
    return arg([] if ctx.this is None else [ctx.this], ctx)


def _each(focus: Collection, ctx: Context, criteria: Compiled) -> list[tuple[Any, Collection]]:
    out = []
    for index, item in enumerate(focus):
        out.append((item, criteria([item], ctx.iteration(item, index))))
    return out


# --- filtering and projection ---------------------------------------------------------------------


# where() and select() set $this/$index on the context in place and put them back after: an
# evaluation is synchronous, so nothing can see the context in between, and it saves an object
# per item on the hottest paths.


def _where(focus: Collection, ctx: Context, criteria: Compiled) -> Collection:
    out = []
    saved = ctx.this, ctx.index
    try:
        for index, item in enumerate(focus):
            ctx.this, ctx.index = item, index
            if ops.truth(criteria([item], ctx)) is True:
                out.append(item)
    finally:
        ctx.this, ctx.index = saved
    return out


def _select(focus: Collection, ctx: Context, projection: Compiled) -> Collection:
    out: Collection = []
    saved = ctx.this, ctx.index
    try:
        for index, item in enumerate(focus):
            ctx.this, ctx.index = item, index
            out.extend(projection([item], ctx))
    finally:
        ctx.this, ctx.index = saved
    return out


def _exists(focus: Collection, ctx: Context, criteria: Compiled | None = None) -> Collection:
    if criteria is None:
        return [bool(focus)]
    return [bool(_where(focus, ctx, criteria))]


def _all(focus: Collection, ctx: Context, criteria: Compiled) -> Collection:
    return [all(ops.truth(result) is True for _, result in _each(focus, ctx, criteria))]


def _repeat(focus: Collection, ctx: Context, projection: Compiled) -> Collection:
    out: Collection = []
    queue = list(focus)
    while queue:
        found = _select(queue, ctx, projection)
        queue = []
        for item in found:
            if not ops.contains_item(out, item):
                out.append(item)
                queue.append(item)
    return out


def _aggregate(focus: Collection, ctx: Context, aggregator: Compiled, init: Compiled | None = None) -> Collection:
    total = _argument(init, ctx) if init is not None else []
    for index, item in enumerate(focus):
        inner = ctx.iteration(item, index)
        inner.total = total
        total = aggregator([item], inner)
    return total


def _trace(focus: Collection, ctx: Context, _name: Compiled, _projection: Compiled | None = None) -> Collection:
    return focus


def _iif(args: list[Compiled], explicit_input: bool) -> Compiled:
    if len(args) not in (2, 3):
        raise FHIRPathError("iif() takes 2 or 3 arguments")
    condition, then = args[0], args[1]
    otherwise = args[2] if len(args) == 3 else None

    def run(focus: Collection, ctx: Context) -> Collection:
        inner = ctx
        if explicit_input:
            if len(focus) > 1:
                raise FHIRPathError("iif() on a collection of several items")
            if focus:
                inner = ctx.iteration(focus[0], 0)
        value = _argument(condition, inner)
        if len(value) > 1:
            raise FHIRPathError("iif() criterion is a collection")
        if value and ctx.strict and type(system(value[0])) is not bool:
            raise FHIRPathError("iif() criterion is not a boolean")
        if ops.truth(value) is True:
            return _argument(then, inner)
        return _argument(otherwise, inner) if otherwise is not None else []

    return run


# --- sort -----------------------------------------------------------------------------------------


def _sort_key(param: dict[str, Any]) -> tuple[Compiled, bool]:
    if param["type"] == "PolarityExpression" and param["terminalNodeText"][0] == "-":
        return _compile(param["children"][0]), True
    return _compile(param), False


def _sort(keys: list[tuple[Compiled, bool]]) -> Compiled:
    def run(focus: Collection, ctx: Context) -> Collection:
        if not keys:
            decorated = [((system(item),), item) for item in focus]
            descending = [False]
        else:
            decorated = []
            for index, item in enumerate(focus):
                inner = ctx.iteration(item, index)
                decorated.append((tuple(ops.single(key([item], inner)) for key, _ in keys), item))
            descending = [desc for _, desc in keys]

        def order(a: tuple[Any, Any], b: tuple[Any, Any]) -> int:
            for x, y, desc in zip(a[0], b[0], descending, strict=False):
                if x is None or y is None:
                    result = (x is None) - (y is None)  # an empty key sorts after every value
                else:
                    result = ops.compare(x, y) or 0
                if result:
                    return -result if desc else result
            return 0

        return [item for _, item in sorted(decorated, key=cmp_to_key(order))]

    return run


# --- types ----------------------------------------------------------------------------------------


def _of_type(spec: str) -> Compiled:
    return lambda focus, ctx: [item for item in focus if ops.is_type(item, spec, ctx.model, exact_primitive=True)]


def _as_function(spec: str) -> Compiled:
    def run(focus: Collection, ctx: Context) -> Collection:
        if len(focus) > 1 and ctx.strict:
            raise FHIRPathError("as() needs a single item")
        return [item for item in focus if ops.is_type(item, spec, ctx.model, exact_primitive=True)]

    return run


def _is_function(spec: str) -> Compiled:
    def run(focus: Collection, ctx: Context) -> Collection:
        if not focus:
            return []
        if len(focus) > 1:
            raise FHIRPathError("is() needs a single item")
        return [ops.is_type(focus[0], spec, ctx.model)]

    return run


_TYPE_FUNCTIONS: dict[str, Callable[[str], Compiled]] = {"ofType": _of_type, "as": _as_function, "is": _is_function}


def _type(focus: Collection, _ctx: Context) -> Collection:
    out: Collection = []
    for item in focus:
        namespace, name = ops.type_info(item)
        out.append(Node({"namespace": namespace, "name": name}, None, None))
    return out


# --- existence and subsetting ---------------------------------------------------------------------


def _boolean_all(expected: bool, empty_answer: bool, any_mode: bool) -> Impl:
    def run(focus: Collection, _ctx: Context) -> Collection:
        values = [system(item) for item in focus]
        for value in values:
            if type(value) is not bool:
                raise FHIRPathError("a collection of booleans was expected")
        if any_mode:
            return [any(v is expected for v in values)]
        return [all(v is expected for v in values)] if values else [empty_answer]

    return run


def _single(focus: Collection, _ctx: Context) -> Collection:
    if len(focus) > 1:
        raise FHIRPathError("single() on a collection of several items")
    return focus


def _count_arg(value: Collection) -> int:
    number = ops.single(value)
    if type(number) is not int:
        raise FHIRPathError("an integer argument was expected")
    return number


def _subset_of(focus: Collection, _ctx: Context, other: Collection) -> Collection:
    return [all(ops.contains_item(other, item) for item in focus)]


def _superset_of(focus: Collection, _ctx: Context, other: Collection) -> Collection:
    return [all(ops.contains_item(focus, item) for item in other)]


def _is_distinct(focus: Collection, _ctx: Context) -> Collection:
    return [len(ops.distinct(focus)) == len(focus)]


def _intersect(focus: Collection, _ctx: Context, other: Collection) -> Collection:
    out: Collection = []
    for item in focus:
        if ops.contains_item(other, item) and not ops.contains_item(out, item):
            out.append(item)
    return out


def _exclude(focus: Collection, _ctx: Context, other: Collection) -> Collection:
    return [item for item in focus if not ops.contains_item(other, item)]


# --- conversions ----------------------------------------------------------------------------------

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})


def _convert(converter: Callable[[Any], Any]) -> tuple[Impl, Impl]:
    def to(focus: Collection, _ctx: Context) -> Collection:
        value = ops.single(focus)
        if value is None:
            return []
        result = converter(value)
        return [] if result is None else [result]

    def converts(focus: Collection, _ctx: Context) -> Collection:
        value = ops.single(focus)
        if value is None:
            return []
        return [converter(value) is not None]

    return to, converts


def _to_boolean(value: Any) -> bool | None:
    if type(value) is bool:
        return value
    if type(value) is int:
        return {1: True, 0: False}.get(value)
    if type(value) is Decimal:
        return True if value == 1 else False if value == 0 else None
    if type(value) is str:
        lowered = value.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else None
    return None


def _to_integer(value: Any) -> int | None:
    if type(value) is bool:
        return int(value)
    if type(value) is int:
        return value
    if type(value) is str and re.fullmatch(r"[+-]?\d+", value):
        return int(value)
    return None


def _to_decimal(value: Any) -> Decimal | None:
    if type(value) is bool:
        return Decimal(int(value))
    if type(value) in (int, Decimal):
        return Decimal(value)
    if type(value) is str:
        return parse_decimal(value)
    return None


def _to_string(value: Any) -> str | None:
    return as_string(value)


def _to_quantity(value: Any) -> Quantity | None:
    if type(value) is Quantity:
        return value
    if type(value) is bool:
        return Quantity(Decimal(int(value)), "1")
    if type(value) in (int, Decimal):
        return Quantity(Decimal(value), "1")
    if type(value) is str:
        return parse_quantity(value)
    return None


def _to_date(value: Any) -> Temporal | None:
    if type(value) is Temporal and value.kind != "Time":
        return Temporal("Date", value.parts[:3])
    if type(value) is str:
        parsed = parse_date_time(value)
        return Temporal("Date", parsed.parts[:3]) if parsed is not None else None
    return None


def _to_date_time(value: Any) -> Temporal | None:
    if type(value) is Temporal and value.kind != "Time":
        return Temporal("DateTime", value.parts, value.fraction, value.tz)
    if type(value) is str:
        parsed = parse_date_time(value)
        return Temporal("DateTime", parsed.parts, parsed.fraction, parsed.tz) if parsed is not None else None
    return None


def _to_time(value: Any) -> Temporal | None:
    if type(value) is Temporal and value.kind == "Time":
        return value
    if type(value) is str:
        return parse_time(value[1:] if value.startswith("T") else value)
    return None


def _quantity_to(focus: Collection, ctx: Context, unit: Collection | None = None) -> Collection:
    value = ops.single(focus)
    if value is None:
        return []
    quantity = _to_quantity(value)
    if quantity is None:
        return []
    if unit:
        target = ops.single(unit)
        if target != quantity.unit:
            converted = ops.arithmetic("+", Quantity(Decimal(0), target), quantity) if target else None
            if type(converted) is not Quantity or converted.unit != target:
                return []
            return [converted]
    return [quantity]


def _converts_quantity(focus: Collection, ctx: Context, unit: Collection | None = None) -> Collection:
    if not focus:
        return []
    return [bool(_quantity_to(focus, ctx, unit))]


# --- strings --------------------------------------------------------------------------------------


def _string_input(focus: Collection) -> str | None:
    value = ops.single(focus, "string")
    if value is None:
        return None
    if type(value) is not str:
        raise FHIRPathError("a string was expected")
    return value


def _string_arg(value: Collection) -> str | None:
    item = ops.single(value, "string")
    if item is not None and type(item) is not str:
        raise FHIRPathError("a string argument was expected")
    return item


def _string_fn(fn: Callable[..., Any]) -> Impl:
    def run(focus: Collection, _ctx: Context, *args: Collection) -> Collection:
        text = _string_input(focus)
        if text is None:
            return []
        values = [ops.single(a) for a in args]
        if any(v is None for v in values):
            return []
        result = fn(text, *values)
        if result is None:
            return []
        return result if type(result) is list else [result]

    return run


def _substring(text: str, start: Any, length: Any = None) -> str | None:
    if type(start) is not int or start < 0 or start >= len(text):
        return None
    if length is None:
        return text[start:]
    return text[start : start + max(length, 0)]


def _substring_impl(
    focus: Collection, _ctx: Context, start: Collection, length: Collection | None = None
) -> Collection:
    text = _string_input(focus)
    if text is None or not start:
        return []
    if length is not None and not length:
        length = None
    result = _substring(text, ops.single(start), ops.single(length) if length else None)
    return [] if result is None else [result]


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    # FHIRPath regexes run in single-line mode: '.' matches a newline too.
    return re.compile(pattern, re.DOTALL)


def _matches(text: str, pattern: str) -> bool:
    return _regex(pattern).search(text) is not None


def _matches_full(text: str, pattern: str) -> bool:
    return _regex(pattern).fullmatch(text) is not None


def _replace_matches(text: str, pattern: str, substitution: str) -> str:
    if pattern == "":
        return text
    return _regex(pattern).sub(re.sub(r"\$(\d+)", r"\\\1", substitution), text)


def _replace(text: str, pattern: str, substitution: str) -> str:
    if pattern == "":
        return substitution + substitution.join(text) + substitution
    return text.replace(pattern, substitution)


def _index_of(text: str, sub: str) -> int:
    return text.find(sub)


def _split(text: str, separator: str) -> list[str]:
    return text.split(separator) if separator else list(text)


def _join(focus: Collection, _ctx: Context, separator: Collection | None = None) -> Collection:
    joiner = _string_arg(separator) if separator else ""
    parts = []
    for item in focus:
        value = system(item)
        if type(value) is not str:
            raise FHIRPathError("join() needs strings")
        parts.append(value)
    return ["" if joiner is None else joiner.join(parts) if parts else ""] if focus or True else []


def _encode(text: str, encoding: str) -> str | None:
    data = text.encode()
    if encoding == "base64":
        return base64.b64encode(data).decode()
    if encoding == "urlbase64":
        return base64.urlsafe_b64encode(data).decode()
    if encoding == "hex":
        return data.hex()
    return None


def _decode(text: str, encoding: str) -> str | None:
    try:
        if encoding == "base64":
            return base64.b64decode(text).decode()
        if encoding == "urlbase64":
            return base64.urlsafe_b64decode(text).decode()
        if encoding == "hex":
            return bytes.fromhex(text).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return None


def _escape(text: str, target: str) -> str | None:
    if target == "html":
        return html.escape(text, quote=True).replace("&#x27;", "&#39;")
    if target == "json":
        return json.dumps(text)[1:-1]
    return None


def _unescape(text: str, target: str) -> str | None:
    if target == "html":
        return html.unescape(text)
    if target == "json":
        return _JSON_ESCAPE.sub(_json_unescape_one, text)
    return None


_JSON_ESCAPE = re.compile(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])')
_JSON_SINGLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _json_unescape_one(match: re.Match[str]) -> str:
    code = match.group(1)
    return chr(int(code[1:], 16)) if code[0] == "u" else _JSON_SINGLE[code]


# --- maths ----------------------------------------------------------------------------------------


def _math(fn: Callable[..., Any], quantity: bool = True) -> Impl:
    def run(focus: Collection, _ctx: Context, *args: Collection) -> Collection:
        value = ops.single(focus)
        if value is None:
            return []
        extra = [ops.single(a) for a in args]
        if any(e is None for e in extra):
            return []
        if type(value) is Quantity and quantity:
            inner = fn(value.value, *extra)
            return [] if inner is None else [Quantity(Decimal(inner), value.unit)]
        if type(value) is bool or type(value) not in (int, Decimal):
            raise FHIRPathError("a number was expected")
        try:
            result = fn(value, *extra)
        except (InvalidOperation, ValueError, OverflowError, ZeroDivisionError):
            return []
        return [] if result is None else [result]

    return run


def _round(value: Any, places: Any = 0) -> Decimal:
    if type(places) is not int or places < 0:
        raise FHIRPathError("round() takes a non-negative integer")
    return Decimal(value).quantize(Decimal(1).scaleb(-places))


def _sqrt(value: Any) -> Decimal | None:
    return None if value < 0 else Decimal(value).sqrt()


def _ln(value: Any) -> Decimal | None:
    return None if value <= 0 else Decimal(value).ln()


def _log(value: Any, base: Any) -> Decimal | None:
    if value <= 0 or base <= 0 or base == 1:
        return None
    return Decimal(value).ln() / Decimal(base).ln()


def _power(value: Any, exponent: Any) -> Any:
    if type(value) is int and type(exponent) is int and exponent >= 0:
        return value**exponent
    if value < 0 and Decimal(exponent) != Decimal(exponent).to_integral_value():
        return None
    result = Decimal(value) ** Decimal(exponent)
    return result


def _truncate(value: Any) -> int:
    return int(value)


def _floor(value: Any) -> int:
    return int(Decimal(value).to_integral_value(rounding=ROUND_FLOOR))


def _ceiling(value: Any) -> int:
    return int(Decimal(value).to_integral_value(rounding=ROUND_CEILING))


# --- boundaries and precision ---------------------------------------------------------------------


def _precision(focus: Collection, _ctx: Context) -> Collection:
    value = ops.single(focus)
    if value is None:
        return []
    if type(value) is Decimal:
        exponent = value.as_tuple().exponent
        return [max(-exponent, 0) if isinstance(exponent, int) else 0]
    if type(value) is int:
        return [0]
    if type(value) is Temporal:
        if value.kind == "Time":
            digits = [2, 4, 6][len(value.parts) - 1]
            return [9 if value.fraction is not None else digits]
        digits = [4, 6, 8, 10, 12, 14][len(value.parts) - 1]
        return [17 if value.fraction is not None else digits]
    return []


def _decimal_boundary(value: Decimal, digits: int | None, high: bool) -> Decimal | None:
    exponent = value.as_tuple().exponent
    places = max(-exponent, 0) if isinstance(exponent, int) else 0
    target = 8 if digits is None else digits
    if target < 0 or target > 28:
        return None
    half = Decimal(5).scaleb(-(places + 1))
    edge = value + half if high else value - half
    quantum = Decimal(1).scaleb(-target)
    if target >= places + 1:
        return edge.quantize(quantum)
    return edge.quantize(quantum, rounding=ROUND_CEILING if high else ROUND_FLOOR)


def _boundary(high: bool) -> Impl:
    def run(focus: Collection, _ctx: Context, digits: Collection | None = None) -> Collection:
        value = ops.single(focus)
        if value is None:
            return []
        precision = ops.single(digits) if digits else None
        if type(value) in (int, Decimal) and type(value) is not bool:
            result = _decimal_boundary(Decimal(value), precision, high)
            return [] if result is None else [result]
        if type(value) is Quantity:
            result = _decimal_boundary(value.value, precision, high)
            return [] if result is None else [Quantity(result, value.unit)]
        if type(value) is Temporal:
            result_t = boundary(value, precision, high)
            return [] if result_t is None else [result_t]
        return []

    return run


def _comparable(focus: Collection, _ctx: Context, other: Collection) -> Collection:
    a, b = ops.single(focus), ops.single(other)
    if type(a) is not Quantity or type(b) is not Quantity:
        return []
    from service.fhirpath.values import quantity_base

    left, right = quantity_base(a, False), quantity_base(b, False)
    return [left is not None and right is not None and left[0] == right[0]]


# --- FHIR -----------------------------------------------------------------------------------------


def _extension(focus: Collection, ctx: Context, url: Collection) -> Collection:
    wanted = ops.single(url)
    extensions = ops.member(focus, "extension", ctx)
    return [e for e in extensions if type(e) is Node and type(e.value) is dict and e.value.get("url") == wanted]


def _has_value(focus: Collection, _ctx: Context) -> Collection:
    return [
        len(focus) == 1 and type(focus[0]) is Node and focus[0].value is not None and type(focus[0].value) is not dict
    ]


def _get_value(focus: Collection, _ctx: Context) -> Collection:
    if len(focus) == 1 and type(focus[0]) is Node and focus[0].value is not None and type(focus[0].value) is not dict:
        return [system(focus[0])]
    return []


def _resolve(focus: Collection, ctx: Context) -> Collection:
    """Contained resources and Bundle entries resolve to themselves; any other reference to a
    stub of its type and id (enough for `resolve() is Patient` when indexing)."""
    out: Collection = []
    for item in focus:
        value = system(item)
        text = (
            value
            if type(value) is str
            else (item.value.get("reference") if type(item) is Node and type(item.value) is dict else None)
        )
        if not isinstance(text, str):
            continue
        found = _find_local(text, ctx)
        if found is not None:
            out.append(found)
            continue
        parts = text.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2][:1].isupper():
            out.append(Node({"resourceType": parts[-2], "id": parts[-1]}, parts[-2], parts[-2]))
    return out


def _find_local(reference: str, ctx: Context) -> Node | None:
    root = ctx.root
    if type(root) is not Node or type(root.value) is not dict:
        return None
    if reference.startswith("#"):
        for resource in root.value.get("contained") or []:
            if isinstance(resource, dict) and resource.get("id") == reference[1:]:
                return Node(resource, resource.get("resourceType"), resource.get("resourceType"))
        return None
    for entry in root.value.get("entry") or []:
        if isinstance(entry, dict) and entry.get("fullUrl") == reference and isinstance(entry.get("resource"), dict):
            resource = entry["resource"]
            return Node(resource, resource.get("resourceType"), resource.get("resourceType"))
    return None


_CORE_PROFILE = "http://hl7.org/fhir/StructureDefinition/"


def _conforms_to(focus: Collection, ctx: Context, url: Collection) -> Collection:
    """Only the core resource definitions: a resource conforms to its own type's (and its
    ancestors'). Any other profile needs the validator, which the engine does not call."""
    wanted = ops.single(url)
    if not isinstance(wanted, str) or not wanted.startswith(_CORE_PROFILE):
        raise FHIRPathError("conformsTo() knows only the core resource definitions")
    name = wanted[len(_CORE_PROFILE) :]
    if not ctx.model.is_type(name):
        raise FHIRPathError(f"conformsTo(): unknown definition {wanted}")
    out = []
    for item in focus:
        if type(item) is Node and item.type is not None:
            out.append(item.type == name or ctx.model.is_subtype(item.type, name))
    return out


def _html_checks(focus: Collection, _ctx: Context) -> Collection:
    return [True] if focus else []


def _unsupported(name: str) -> Impl:
    def run(*_args: Any) -> Collection:
        raise FHIRPathError(f"{name}() needs a terminology or profile service, which this engine has not")

    return run


# --- dates ----------------------------------------------------------------------------------------


def _clock(ctx: Context) -> datetime:
    if ctx.clock is None:
        ctx.clock = datetime.now(UTC)
    return ctx.clock


def _now(_focus: Collection, ctx: Context) -> Collection:
    return [now_value(_clock(ctx))]


def _today(_focus: Collection, ctx: Context) -> Collection:
    value = now_value(_clock(ctx))
    return [Temporal("Date", value.parts[:3])]


def _time_of_day(_focus: Collection, ctx: Context) -> Collection:
    value = now_value(_clock(ctx))
    return [Temporal("Time", value.parts[3:], value.fraction)]


# --- tables ---------------------------------------------------------------------------------------


def _simple(fn: Callable[[Collection], Collection]) -> tuple[int, int, Impl]:
    return 0, 0, lambda focus, _ctx: fn(focus)


def _numeric_arg(fn: Callable[[Collection, int], Collection]) -> tuple[int, int, Impl]:
    return 1, 1, lambda focus, _ctx, n: fn(focus, _count_arg(n))


def _strings(fn: Callable[..., Any], arity: int) -> tuple[int, int, Impl]:
    return arity, arity, _string_fn(fn)


_CONVERSIONS = {
    "Boolean": _to_boolean,
    "Integer": _to_integer,
    "Decimal": _to_decimal,
    "String": _to_string,
    "Date": _to_date,
    "DateTime": _to_date_time,
    "Time": _to_time,
}

_LAMBDAS: dict[str, tuple[int, int, Impl]] = {
    "where": (1, 1, _where),
    "select": (1, 1, _select),
    "exists": (0, 1, _exists),
    "all": (1, 1, _all),
    "repeat": (1, 1, _repeat),
    "aggregate": (1, 2, _aggregate),
    "trace": (1, 2, _trace),
}

_FUNCTIONS: dict[str, tuple[int, int, Impl]] = {
    "empty": _simple(lambda f: [not f]),
    "not": _simple(lambda f: [] if (v := ops.truth(f)) is None else [not v]),
    "count": _simple(lambda f: [len(f)]),
    "first": _simple(lambda f: f[:1]),
    "last": _simple(lambda f: f[-1:]),
    "tail": _simple(lambda f: f[1:]),
    "distinct": _simple(ops.distinct),
    "single": (0, 0, _single),
    "isDistinct": (0, 0, _is_distinct),
    "skip": _numeric_arg(lambda f, n: f[max(n, 0) :]),
    "take": _numeric_arg(lambda f, n: f[: max(n, 0)]),
    "allTrue": (0, 0, _boolean_all(True, True, False)),
    "allFalse": (0, 0, _boolean_all(False, True, False)),
    "anyTrue": (0, 0, _boolean_all(True, False, True)),
    "anyFalse": (0, 0, _boolean_all(False, False, True)),
    "subsetOf": (1, 1, _subset_of),
    "supersetOf": (1, 1, _superset_of),
    "intersect": (1, 1, _intersect),
    "exclude": (1, 1, _exclude),
    "union": (1, 1, lambda f, _c, other: ops.distinct(f + other)),
    "combine": (1, 1, lambda f, _c, other: f + other),
    "children": (0, 0, lambda f, c: ops.children(f, c)),
    "descendants": (0, 0, lambda f, c: _descendants(f, c)),
    "type": (0, 0, _type),
    "toQuantity": (0, 1, _quantity_to),
    "convertsToQuantity": (0, 1, _converts_quantity),
    "indexOf": _strings(_index_of, 1),
    "substring": (1, 2, _substring_impl),
    "startsWith": _strings(str.startswith, 1),
    "endsWith": _strings(str.endswith, 1),
    "contains": _strings(str.__contains__, 1),
    "upper": _strings(str.upper, 0),
    "lower": _strings(str.lower, 0),
    "replace": _strings(_replace, 2),
    "matches": _strings(_matches, 1),
    "matchesFull": _strings(_matches_full, 1),
    "replaceMatches": _strings(_replace_matches, 2),
    "length": _strings(len, 0),
    "toChars": _strings(list, 0),
    "split": _strings(_split, 1),
    "trim": _strings(str.strip, 0),
    "join": (0, 1, _join),
    "encode": _strings(_encode, 1),
    "decode": _strings(_decode, 1),
    "escape": _strings(_escape, 1),
    "unescape": _strings(_unescape, 1),
    "abs": (0, 0, _math(abs)),
    "ceiling": (0, 0, _math(_ceiling, False)),
    "floor": (0, 0, _math(_floor, False)),
    "truncate": (0, 0, _math(_truncate, False)),
    "round": (0, 1, _math(_round, False)),
    "sqrt": (0, 0, _math(_sqrt, False)),
    "exp": (0, 0, _math(lambda v: Decimal(v).exp(), False)),
    "ln": (0, 0, _math(_ln, False)),
    "log": (1, 1, _math(_log, False)),
    "power": (1, 1, _math(_power, False)),
    "precision": (0, 0, _precision),
    "lowBoundary": (0, 1, _boundary(False)),
    "highBoundary": (0, 1, _boundary(True)),
    "comparable": (1, 1, _comparable),
    "now": (0, 0, _now),
    "today": (0, 0, _today),
    "timeOfDay": (0, 0, _time_of_day),
    "extension": (1, 1, _extension),
    "hasValue": (0, 0, _has_value),
    "getValue": (0, 0, _get_value),
    "resolve": (0, 0, _resolve),
    "htmlChecks": (0, 0, _html_checks),
    "memberOf": (1, 1, _unsupported("memberOf")),
    "conformsTo": (1, 1, _conforms_to),
    "subsumes": (1, 1, _unsupported("subsumes")),
    "subsumedBy": (1, 1, _unsupported("subsumedBy")),
}
for _name, _converter in _CONVERSIONS.items():
    _to, _converts = _convert(_converter)
    _FUNCTIONS[f"to{_name}"] = (0, 0, _to)
    _FUNCTIONS[f"convertsTo{_name}"] = (0, 0, _converts)


def _descendants(focus: Collection, ctx: Context) -> Collection:
    out: Collection = []
    queue = ops.children(focus, ctx)
    while queue:
        out.extend(queue)
        queue = ops.children(queue, ctx)
    return out
