from datetime import UTC, datetime
from decimal import Decimal

import pytest

from service.search.values import (
    MAX_INSTANT,
    ValueFormatError,
    date_range,
    decimal_range,
    normalise_string,
)

UTC = UTC


def test_a_year_covers_the_whole_year() -> None:
    assert date_range("2024") == (
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    )


def test_a_month_covers_the_whole_month_including_february_of_a_leap_year() -> None:
    low, high = date_range("2024-02")
    assert (low.day, high.month, high.day) == (1, 2, 29)
    assert date_range("2024-12")[1] == datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_a_day_and_a_minute_cover_their_span() -> None:
    assert date_range("2024-03-05")[1] == datetime(2024, 3, 5, 23, 59, 59, 999999, tzinfo=UTC)
    assert date_range("2024-03-05T10:30Z")[1] == datetime(2024, 3, 5, 10, 30, 59, 999999, tzinfo=UTC)


def test_a_datetime_without_a_zone_is_utc_and_with_one_is_converted() -> None:
    assert date_range("2024-03-05T10:30:00")[0] == datetime(2024, 3, 5, 10, 30, tzinfo=UTC)
    assert date_range("2024-03-05T10:30:00+02:00")[0] == datetime(2024, 3, 5, 8, 30, tzinfo=UTC)


def test_fractional_seconds_set_the_precision() -> None:
    low, high = date_range("2024-03-05T10:30:00.5Z")
    assert low.microsecond == 500000 and high.microsecond == 599999


def test_the_last_year_ends_at_the_largest_instant() -> None:
    assert date_range("9999")[1] == MAX_INSTANT


@pytest.mark.parametrize("text", ["yesterday", "2024-13", "2024-02-30", "24-01-01", "2024-01-01T25:00Z"])
def test_text_that_is_not_a_date_is_refused(text: str) -> None:
    with pytest.raises(ValueFormatError):
        date_range(text)


def test_strings_are_compared_without_case_or_accents() -> None:
    assert normalise_string("Zoë ÉLODIE") == "zoe elodie"


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [("100", "99.5", "100.5"), ("5.40", "5.395", "5.405"), ("1e2", "50", "150")],
)
def test_a_number_stands_for_the_range_of_its_significant_figures(text: str, low: str, high: str) -> None:
    assert decimal_range(Decimal(text)) == (Decimal(low), Decimal(high))
