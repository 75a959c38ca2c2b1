"""Japanese fiscal years: labels, parsing and as-of dates."""

import datetime

import pytest
from django.utils import translation

from initiatives.fiscal_years import (
    MAX_FISCAL_YEAR,
    MIN_FISCAL_YEAR,
    as_of_label,
    fiscal_year_bounds,
    fiscal_year_of,
    long_label,
    parse_as_of,
    parse_fiscal_year,
    short_label,
    year_fields,
)


@pytest.mark.parametrize(
    ("fiscal_year", "short", "long"),
    [
        (2024, "R6", "令和6年度"),
        (2023, "R5", "令和5年度"),
        (2018, "H30", "平成30年度"),
        (1989, "H1", "平成元年度"),
    ],
)
def test_labels(fiscal_year: int, short: str, long: str) -> None:
    assert short_label(fiscal_year) == short
    assert long_label(fiscal_year) == long


def test_fiscal_year_2019_is_the_first_of_reiwa() -> None:
    assert short_label(2019) == "R1"
    assert long_label(2019) == "令和元年度"


def test_year_fields() -> None:
    assert year_fields(2024) == {
        "fiscal_year": 2024,
        "fiscal_year_label": "R6",
        "fiscal_year_label_ja": "令和6年度",
    }
    assert year_fields(2023, "from_year") == {
        "from_year": 2023,
        "from_year_label": "R5",
        "from_year_label_ja": "令和5年度",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024", 2024),
        (2024, 2024),
        (" 2024 ", 2024),
        ("FY2024", 2024),
        ("fy2024", 2024),
        ("R6", 2024),
        ("r6", 2024),
        ("R1", 2019),
        ("令和6年度", 2024),
        ("令和元年度", 2019),
        ("H30", 2018),
        ("平成30年度", 2018),
        ("平成元年度", 1989),
    ],
)
def test_parse_fiscal_year(text, expected: int) -> None:
    assert parse_fiscal_year(text) == expected


@pytest.mark.parametrize(
    "text",
    ["R", "2024x", "", "   ", "FY", "令和", "6", "R6.3", "S64", "2024-25", "1988", "2101", "R99"],
)
def test_parse_fiscal_year_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_fiscal_year(text)


def test_parse_fiscal_year_range_is_inclusive() -> None:
    assert parse_fiscal_year(str(MIN_FISCAL_YEAR)) == MIN_FISCAL_YEAR
    assert parse_fiscal_year(str(MAX_FISCAL_YEAR)) == MAX_FISCAL_YEAR
    with translation.override("en"), pytest.raises(ValueError, match="outside"):
        parse_fiscal_year(str(MAX_FISCAL_YEAR + 1))
    with translation.override("ja"), pytest.raises(ValueError, match="範囲（1989〜2100年度）の外"):
        parse_fiscal_year(str(MAX_FISCAL_YEAR + 1))


@pytest.mark.parametrize("fiscal_year", [1989, 2018, 2019, 2023, 2024, 2100])
def test_labels_parse_back(fiscal_year: int) -> None:
    assert parse_fiscal_year(short_label(fiscal_year)) == fiscal_year
    assert parse_fiscal_year(long_label(fiscal_year)) == fiscal_year


def test_as_of_label() -> None:
    assert as_of_label(datetime.date(2025, 3, 31)) == "R7.3時点"
    assert as_of_label(datetime.date(2024, 12, 1)) == "R6.12時点"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("R7.3時点", datetime.date(2025, 3, 31)),
        ("r7.3時点", datetime.date(2025, 3, 31)),
        ("R7.3末時点", datetime.date(2025, 3, 31)),
        ("R7.3", datetime.date(2025, 3, 31)),
        ("R6.2時点", datetime.date(2024, 2, 29)),  # leap year: the last day of the month
        ("R6.11時点", datetime.date(2024, 11, 30)),
    ],
)
def test_parse_as_of(text: str, expected: datetime.date) -> None:
    assert parse_as_of(text) == expected


def test_as_of_label_parses_back() -> None:
    day = datetime.date(2025, 3, 31)
    assert parse_as_of(as_of_label(day)) == day


@pytest.mark.parametrize("text", ["", "R7", "R7.13時点", "R7.0時点", "2025-03-31", "7.3時点"])
def test_parse_as_of_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_as_of(text)


@pytest.mark.parametrize(
    ("day", "fiscal_year"),
    [
        (datetime.date(2024, 4, 1), 2024),
        (datetime.date(2024, 12, 31), 2024),
        (datetime.date(2025, 1, 1), 2024),
        (datetime.date(2025, 3, 31), 2024),
        (datetime.date(2025, 4, 1), 2025),
    ],
)
def test_fiscal_year_of(day: datetime.date, fiscal_year: int) -> None:
    assert fiscal_year_of(day) == fiscal_year


def test_fiscal_year_bounds() -> None:
    start, end = fiscal_year_bounds(2024)
    assert (start, end) == (datetime.date(2024, 4, 1), datetime.date(2025, 3, 31))
    assert fiscal_year_of(start) == fiscal_year_of(end) == 2024


@pytest.mark.parametrize("text", ["R0", "令和0年度", "H0", "H32", "H40"])
def test_rejects_years_an_era_does_not_have(text: str) -> None:
    with translation.override("en"), pytest.raises(ValueError, match="has no year"):
        parse_fiscal_year(text)


def test_as_of_labels_follow_the_calendar_era() -> None:
    assert as_of_label(datetime.date(2019, 4, 30)) == "H31.4時点"
    assert as_of_label(datetime.date(2019, 5, 31)) == "R1.5時点"
    assert parse_as_of("H31.3時点") == datetime.date(2019, 3, 31)
    with translation.override("en"), pytest.raises(ValueError, match="not a month of"):
        parse_as_of("R1.3時点")
    with (
        translation.override("ja"),
        pytest.raises(ValueError, match="令和の期間の月ではありません"),
    ):
        parse_as_of("R1.3時点")
