"""FHIRPath's System values: exact decimals, partial dates and times, quantities.

Resource elements travel through an evaluation as `Node`s (the JSON value with its FHIR type);
arithmetic, comparison and functions work on the System value a node is read as (`system`).
"""

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from service.fhirpath.model import PRIMITIVES


class FHIRPathError(Exception):
    """An expression that cannot be parsed or evaluated (the spec's syntax, semantic and
    execution errors)."""


class Node:
    """A value from the resource: its JSON value, FHIR type, model path and, for a primitive,
    the `_name` element carrying its id and extensions."""

    __slots__ = ("value", "type", "path", "ext")

    def __init__(self, value: Any, type_: str | None, path: str | None, ext: Any = None) -> None:
        self.value = value
        self.type = type_
        self.path = path
        self.ext = ext

    def __repr__(self) -> str:
        return f"Node({self.value!r}, {self.type})"


# --- dates and times ---------------------------------------------------------------------------

_DATE_TIME = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?"
    r"(?:T(?:(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?"
)
_TIME = re.compile(r"(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?")
_UNIT_ORDER = ("year", "month", "day", "hour", "minute", "second")


@dataclass(frozen=True, slots=True)
class Temporal:
    """A Date, DateTime or Time to its stated precision. parts: year..second (or hour..second
    for a Time), as many as were given; fraction: the digits after the second's point."""

    kind: str  # Date | DateTime | Time
    parts: tuple[int, ...]
    fraction: str | None = None
    tz: int | None = None  # offset in minutes

    @property
    def units(self) -> tuple[str, ...]:
        return _UNIT_ORDER[3:] if self.kind == "Time" else _UNIT_ORDER

    @property
    def precision_name(self) -> str:
        if self.fraction is not None:
            return "millisecond"
        return self.units[len(self.parts) - 1]

    def __str__(self) -> str:
        if self.kind == "Time":
            text = ":".join(f"{p:02d}" for p in self.parts)
        else:
            text = f"{self.parts[0]:04d}" + "".join(f"-{p:02d}" for p in self.parts[1:3])
            if len(self.parts) > 3:
                text += "T" + ":".join(f"{p:02d}" for p in self.parts[3:])
        if self.fraction is not None:
            text += "." + self.fraction
        if self.tz is not None and self.kind == "DateTime":
            text += _offset(self.tz)
        return text


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_date_time(text: str, kind: str | None = None) -> Temporal | None:
    """A date/dateTime/instant string (FHIR JSON or FHIRPath literal without '@')."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    parts = tuple(int(p) for p in (year, month, day, hour, minute, second) if p is not None)
    if not _valid_parts(parts):
        return None
    has_time = "T" in text
    tz = None
    if zone is not None:
        tz = 0 if zone == "Z" else (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 60 + int(zone[4:6]))
    resolved = kind or ("DateTime" if has_time else "Date")
    return Temporal(resolved, parts, fraction, tz)


def parse_time(text: str) -> Temporal | None:
    match = _TIME.fullmatch(text)
    if match is None:
        return None
    hour, minute, second, fraction = match.groups()
    parts = tuple(int(p) for p in (hour, minute, second) if p is not None)
    if parts[0] > 23 or any(p > 59 for p in parts[1:]):
        return None
    return Temporal("Time", parts, fraction)


def _valid_parts(parts: tuple[int, ...]) -> bool:
    if len(parts) >= 2 and not 1 <= parts[1] <= 12:
        return False
    if len(parts) >= 3 and not 1 <= parts[2] <= calendar.monthrange(parts[0], parts[1])[1]:
        return False
    return not (len(parts) >= 4 and (parts[3] > 23 or any(p > 59 for p in parts[4:])))


def _second(value: Temporal) -> Decimal:
    return Decimal(f"{value.parts[-1]}.{value.fraction}") if value.fraction else Decimal(value.parts[-1])


def _comparable_parts(value: Temporal, shift: bool) -> list[Any]:
    parts: list[Any] = list(value.parts)
    if shift and value.tz and len(parts) >= 4:
        moment = _to_datetime(value) - timedelta(minutes=value.tz)
        full = [moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second]
        parts = full[: len(parts)]
    if len(value.parts) == len(value.units):
        parts[-1] = _second(value) if value.fraction else Decimal(parts[-1])
    return parts


def compare_temporal(a: Temporal, b: Temporal) -> int | None:
    """-1/0/1, or None where the precisions differ and the values agree as far as both go."""
    if (a.kind == "Time") != (b.kind == "Time"):
        raise FHIRPathError(f"cannot compare {a.kind} with {b.kind}")
    shift = a.tz is not None and b.tz is not None
    if not shift and (a.tz is None) != (b.tz is None) and len(a.parts) > 3 and len(b.parts) > 3:
        return None  # one local, one zoned: which instant the local one is cannot be known
    left, right = _comparable_parts(a, shift), _comparable_parts(b, shift)
    for x, y in zip(left, right, strict=False):
        if x != y:
            return -1 if x < y else 1
    if len(left) != len(right):
        return None
    return 0


def _to_datetime(value: Temporal) -> datetime:
    if value.kind == "Time":
        full = [2000, 1, 1] + list(value.parts) + [0] * (3 - len(value.parts))
    else:
        full = list(value.parts) + [1, 1, 1, 0, 0, 0][len(value.parts) :]
    micro = int((value.fraction or "0")[:6].ljust(6, "0"))
    return datetime(*full, micro)  # type: ignore[arg-type, call-arg]


_CALENDAR_UNITS = {
    "year": "year",
    "years": "year",
    "a": "year",
    "month": "month",
    "months": "month",
    "mo": "month",
    "week": "week",
    "weeks": "week",
    "wk": "week",
    "day": "day",
    "days": "day",
    "d": "day",
    "hour": "hour",
    "hours": "hour",
    "h": "hour",
    "minute": "minute",
    "minutes": "minute",
    "min": "minute",
    "second": "second",
    "seconds": "second",
    "s": "second",
    "millisecond": "millisecond",
    "milliseconds": "millisecond",
    "ms": "millisecond",
}


def add_duration(value: Temporal, amount: "Quantity", sign: int) -> Temporal:
    """Date/time arithmetic in the value's own timezone and precision (spec 6.6.1)."""
    unit = _CALENDAR_UNITS.get(amount.unit)
    if unit is None or amount.unit in ("a", "mo"):
        # UCUM's 'a' and 'mo' are mean lengths (365.25 d, 30.4375 d), not calendar steps
        raise FHIRPathError(f"cannot add '{amount.unit}' to a {value.kind}")
    count = int(amount.value) * sign
    moment = _to_datetime(value)
    precision = len(value.parts)
    if unit in ("year", "month"):
        months = int(count) * (12 if unit == "year" else 1)
        total = moment.year * 12 + moment.month - 1 + months
        year, month = divmod(total, 12)
        month += 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        moment = moment.replace(year=year, month=month, day=day)
    else:
        delta = count * _SECONDS[unit]
        # a step finer than the value's precision is dropped whole (spec: truncated)
        step = _STEP[value.kind][min(precision, 6 if value.kind != "Time" else 3)]
        delta = int(delta / step) * step
        moment = moment + timedelta(seconds=float(delta))
    return _from_datetime(moment, value)


_SECONDS: dict[str, Decimal] = {
    "week": Decimal(604800),
    "day": Decimal(86400),
    "hour": Decimal(3600),
    "minute": Decimal(60),
    "second": Decimal(1),
    "millisecond": Decimal("0.001"),
}
# the smallest step a value of each kind and precision (number of parts) can take, in seconds
_STEP: dict[str, dict[int, Decimal]] = {
    "Date": {1: Decimal(86400), 2: Decimal(86400), 3: Decimal(86400)},
    "DateTime": {
        1: Decimal(86400),
        2: Decimal(86400),
        3: Decimal(86400),
        4: Decimal(3600),
        5: Decimal(60),
        6: Decimal("0.001"),
    },
    "Time": {1: Decimal(3600), 2: Decimal(60), 3: Decimal("0.001")},
}


def _from_datetime(moment: datetime, like: Temporal) -> Temporal:
    full: tuple[int, ...]
    if like.kind == "Time":
        full = (moment.hour, moment.minute, moment.second)
    else:
        full = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    parts = full[: len(like.parts)]
    fraction = None
    if like.fraction is not None:
        fraction = f"{moment.microsecond:06d}"[: max(len(like.fraction), 3)]
    return Temporal(like.kind, parts, fraction, like.tz)


def now_value(clock: datetime) -> Temporal:
    local = clock.astimezone()
    offset = local.utcoffset() or timedelta(0)
    parts = (local.year, local.month, local.day, local.hour, local.minute, local.second)
    return Temporal("DateTime", parts, f"{local.microsecond // 1000:03d}", int(offset.total_seconds() // 60))


def boundary(value: Temporal, digits: int | None, high: bool) -> Temporal | None:
    """lowBoundary/highBoundary: the earliest/latest value the partial one could stand for."""
    full = len(value.units)
    target = digits
    if value.kind == "Date":
        target = target or 8
        if target not in (4, 6, 8):
            return None
        count = {4: 1, 6: 2, 8: 3}[target]
        fraction = None
    elif value.kind == "DateTime":
        target = target or 17
        if target not in (4, 6, 8, 10, 12, 14, 17):
            return None
        count = {4: 1, 6: 2, 8: 3, 10: 4, 12: 5, 14: 6, 17: 6}[target]
        fraction = ("999" if high else "000") if target == 17 else None
    else:
        target = target or 9
        if target not in (2, 4, 6, 9):
            return None
        count = {2: 1, 4: 2, 6: 3, 9: 3}[target]
        fraction = ("999" if high else "000") if target == 9 else None
    parts = list(value.parts[:count])
    while len(parts) < count:
        unit = value.units[len(parts)]
        if unit == "month":
            parts.append(12 if high else 1)
        elif unit == "day":
            parts.append(calendar.monthrange(parts[0], parts[1])[1] if high else 1)
        elif unit == "hour":
            parts.append(23 if high else 0)
        else:
            parts.append(59 if high else 0)
    if fraction is not None and value.fraction is not None and len(value.parts) == full:
        fraction = (value.fraction + ("9" if high else "0") * 3)[:3] if len(value.fraction) < 3 else value.fraction[:3]
    tz = value.tz
    if value.kind == "DateTime" and tz is None and count >= 4:
        tz = -12 * 60 if high else 14 * 60
    return Temporal(value.kind, tuple(parts), fraction, tz if value.kind == "DateTime" else None)


# --- quantities ---------------------------------------------------------------------------------

# UCUM units the engine can convert between: unit -> (dimension, factor to the base unit).
_UCUM: dict[str, tuple[str, Decimal]] = {
    "g": ("g", Decimal(1)),
    "kg": ("g", Decimal(1000)),
    "mg": ("g", Decimal("0.001")),
    "ug": ("g", Decimal("0.000001")),
    "[lb_av]": ("g", Decimal("453.59237")),
    "m": ("m", Decimal(1)),
    "cm": ("m", Decimal("0.01")),
    "mm": ("m", Decimal("0.001")),
    "km": ("m", Decimal(1000)),
    "[in_i]": ("m", Decimal("0.0254")),
    "s": ("s", Decimal(1)),
    "ms": ("s", Decimal("0.001")),
    "min": ("s", Decimal(60)),
    "h": ("s", Decimal(3600)),
    "d": ("s", Decimal(86400)),
    "wk": ("s", Decimal(604800)),
    "L": ("L", Decimal(1)),
    "l": ("L", Decimal(1)),
    "mL": ("L", Decimal("0.001")),
    "dL": ("L", Decimal("0.1")),
    "m2": ("m2", Decimal(1)),
    "cm2": ("m2", Decimal("0.0001")),
    "1": ("1", Decimal(1)),
}
# Calendar duration keywords that are the same as a UCUM definite duration.
_DEFINITE = {
    "week": "wk",
    "weeks": "wk",
    "day": "d",
    "days": "d",
    "hour": "h",
    "hours": "h",
    "minute": "min",
    "minutes": "min",
    "second": "s",
    "seconds": "s",
    "millisecond": "ms",
    "milliseconds": "ms",
}
_CALENDAR_KEYWORDS = {"year": "a", "years": "a", "month": "mo", "months": "mo"}


@dataclass(frozen=True, slots=True)
class Quantity:
    value: Decimal
    unit: str  # a UCUM code or a calendar duration keyword

    def __str__(self) -> str:
        if self.unit in _DEFINITE or self.unit in _CALENDAR_KEYWORDS:
            return f"{self.value} {self.unit}"
        return f"{self.value} '{self.unit}'"


def _canonical_unit(unit: str, equivalence: bool) -> str:
    if unit in _DEFINITE:
        return _DEFINITE[unit]
    if equivalence and unit in _CALENDAR_KEYWORDS:
        return _CALENDAR_KEYWORDS[unit]
    return unit


def quantity_base(q: Quantity, equivalence: bool) -> tuple[str, Decimal] | None:
    unit = _canonical_unit(q.unit, equivalence)
    if unit in _UCUM:
        dimension, factor = _UCUM[unit]
        return dimension, q.value * factor
    return unit, q.value


def compare_quantity(a: Quantity, b: Quantity, equivalence: bool = False) -> int | None:
    left, right = quantity_base(a, equivalence), quantity_base(b, equivalence)
    if left is None or right is None or left[0] != right[0]:
        return None
    return (left[1] > right[1]) - (left[1] < right[1])


def multiply_units(a: str, b: str, divide: bool) -> str | None:
    if b == "1":
        return a
    if a == b:
        return "1" if divide else (f"{a}2" if a.isalpha() else None)
    if divide:
        return f"{a}/{b}" if a != "1" else None
    return f"{a}.{b}"


def to_base_quantity(q: Quantity) -> Quantity:
    """The quantity in its dimension's base unit, so that products and quotients can be formed."""
    canonical = _canonical_unit(q.unit, False)
    if canonical in _UCUM:
        dimension, factor = _UCUM[canonical]
        return Quantity(q.value * factor, dimension)
    return q


_QUANTITY_TEXT = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*(?:'([^']+)'|([a-zA-Z]+))?\s*")


def parse_quantity(text: str) -> Quantity | None:
    match = _QUANTITY_TEXT.fullmatch(text)
    if match is None:
        return None
    number, ucum, word = match.groups()
    if word is not None and word not in _DEFINITE and word not in _CALENDAR_KEYWORDS:
        return None
    return Quantity(Decimal(number), ucum or word or "1")


# --- reading JSON values -------------------------------------------------------------------------


def to_decimal(value: Any) -> Decimal:
    if type(value) is float:
        return Decimal(repr(value))
    return Decimal(value)


def system(item: Any) -> Any:
    """The System value of a collection item: a node is read as its FHIR type says."""
    if type(item) is not Node:
        return item
    value, fhir_type = item.value, item.type
    if value is None or type(value) is dict:
        if type(value) is dict and fhir_type in _QUANTITY_TYPES:
            return fhir_quantity(value) or item
        return item
    kind = PRIMITIVES.get(fhir_type or "")
    if kind in ("Date", "DateTime"):
        parsed = parse_date_time(value, None)
        if parsed is not None and kind == "DateTime" and parsed.kind == "Date":
            parsed = Temporal("DateTime", parsed.parts, parsed.fraction, parsed.tz)
        return parsed if parsed is not None else value
    if kind == "Time":
        return parse_time(value) or value
    if type(value) is float or (kind == "Decimal" and type(value) is int):
        return to_decimal(value)
    return value


_QUANTITY_TYPES = frozenset({"Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "MoneyQuantity"})


def fhir_quantity(value: dict[str, Any]) -> Quantity | None:
    """A FHIR Quantity as a System Quantity: its UCUM code when coded in UCUM, else its unit text."""
    number = value.get("value")
    if not isinstance(number, (int, float, Decimal)) or isinstance(number, bool):
        return None
    unit = value.get("code") if value.get("system") == "http://unitsofmeasure.org" else None
    return Quantity(to_decimal(number), unit or value.get("unit") or "1")


def type_name(value: Any) -> str:
    """The System type of a System value."""
    kind = type(value)
    if kind is bool:
        return "Boolean"
    if kind is int:
        return "Integer"
    if kind is Decimal or kind is float:
        return "Decimal"
    if kind is str:
        return "String"
    if kind is Temporal:
        return value.kind
    if kind is Quantity:
        return "Quantity"
    return "Any"


def decimal_text(value: Decimal) -> str:
    return format(value, "f")


def as_string(value: Any) -> str | None:
    """toString()'s text for a System value."""
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) in (int, str):
        return str(value)
    if type(value) is Decimal:
        return decimal_text(value)
    if type(value) is float:
        return decimal_text(to_decimal(value))
    if type(value) is Temporal:
        return str(value)
    if type(value) is Quantity:
        return str(value)
    return None


def parse_decimal(text: str) -> Decimal | None:
    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", text.strip()):
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return None


UTC = UTC
