"""FHIR values as ranges and normal forms, shared by indexing and by search.

Indexing and searching must agree exactly on how a date becomes a range or a name becomes a
comparable string, so both sides use these functions and nothing else.
"""

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

UTC = UTC
# The widest instants both databases store; an open Period end is indexed as one of these.
MIN_INSTANT = datetime(1, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)

_DATE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


class ValueFormatError(ValueError):
    """A value that is not in the FHIR form its type needs."""


def date_range(text: str) -> tuple[datetime, datetime]:
    """The instants a FHIR date/dateTime/instant covers, inclusive, in UTC.

    `2024` covers the whole year and `2024-03-01T10:00` the whole minute; without a zone the
    time is taken as UTC, so the same text always indexes and searches the same way.
    """
    match = _DATE.match(text.strip())
    if match is None:
        raise ValueFormatError(f"'{text}' is not a FHIR date, dateTime or instant")
    parts = match.groupdict()
    try:
        return _range_from_parts(parts)
    except ValueError as exc:
        raise ValueFormatError(f"'{text}' is not a valid date: {exc}") from None
    except OverflowError:  # 9999-12-31T23:59-14:00 is after the last instant stored
        raise ValueFormatError(f"'{text}' is outside the dates Dyad can store") from None


def _range_from_parts(parts: dict[str, str | None]) -> tuple[datetime, datetime]:
    year = int(parts["year"] or 0)
    if parts["month"] is None:
        low = datetime(year, 1, 1, tzinfo=UTC)
        return low, _end_before(_add_years(year, 1), low)
    month = int(parts["month"])
    if parts["day"] is None:
        low = datetime(year, month, 1, tzinfo=UTC)
        nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC) if year < 9999 or month < 12 else None
        return low, _end_before(nxt, low)
    day = int(parts["day"])
    if parts["hour"] is None:
        low = datetime(year, month, day, tzinfo=UTC)
        return low, _step_end(low, timedelta(days=1))
    zone = _zone(parts["tz"])
    local = datetime(year, month, day, int(parts["hour"]), int(parts["minute"] or 0), tzinfo=zone)
    if parts["second"] is None:
        step = timedelta(minutes=1)
    else:
        local = local.replace(second=int(parts["second"]))
        fraction = parts["fraction"]
        if fraction is None:
            step = timedelta(seconds=1)
        else:
            digits = fraction[:6]
            local = local.replace(microsecond=int(digits.ljust(6, "0")))
            step = timedelta(microseconds=10 ** (6 - len(digits)))
    low = local.astimezone(UTC)
    return low, _step_end(low, step)


def _zone(text: str | None) -> timezone:
    if text is None or text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _add_years(year: int, years: int) -> datetime | None:
    return datetime(year + years, 1, 1, tzinfo=UTC) if year + years <= 9999 else None


def _end_before(nxt: datetime | None, low: datetime) -> datetime:
    return MAX_INSTANT if nxt is None else nxt - ONE_MICROSECOND


def _step_end(low: datetime, step: timedelta) -> datetime:
    try:
        return low + step - ONE_MICROSECOND
    except OverflowError:
        return MAX_INSTANT


def normalise_string(text: str) -> str:
    """Case- and accent-insensitive form: `Zoë` and `ZOE` both become `zoe`."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def decimal_value(value: object) -> Decimal:
    """A JSON number (or search text) as a Decimal, keeping the digits it was written with."""
    if isinstance(value, bool):
        raise ValueFormatError(f"'{value}' is not a number")
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueFormatError(f"'{value}' is not a number") from None
    if not result.is_finite():
        raise ValueFormatError(f"'{value}' is not a finite number")
    return result


def decimal_range(value: Decimal) -> tuple[Decimal, Decimal]:
    """The interval a number's significant figures stand for: `100` is 99.5 to 100.5."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5).scaleb(exponent - 1)
    return value - half, value + half


def parse_instant(value: Any) -> datetime | None:
    """A FHIR instant (or full dateTime) as an aware datetime; None for anything else.
    Without a zone the time is taken as UTC, as everywhere in Dyad."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
