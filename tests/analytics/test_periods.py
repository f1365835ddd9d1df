"""Period phrases resolve to the days a sales manager would expect."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.errors import PeriodParseError
from analytics.periods import (
    Period,
    fiscal_quarter,
    fiscal_year_of,
    last_days,
    next_days,
    parse_period,
    quarter_period,
    quarters_ending_before,
    week_period,
)

TODAY = dt.date(2024, 8, 14)  # a Wednesday in Q3 2024


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@pytest.mark.parametrize(
    ("phrase", "start", "end", "label"),
    [
        ("this quarter", "2024-07-01", "2024-09-30", "Q3 2024"),
        ("next quarter", "2024-10-01", "2024-12-31", "Q4 2024"),
        ("last quarter", "2024-04-01", "2024-06-30", "Q2 2024"),
        ("Q3", "2024-07-01", "2024-09-30", "Q3 2024"),
        ("q1 2023", "2023-01-01", "2023-03-31", "Q1 2023"),
        ("2025 Q2", "2025-04-01", "2025-06-30", "Q2 2025"),
        ("this month", "2024-08-01", "2024-08-31", "August 2024"),
        ("next month", "2024-09-01", "2024-09-30", "September 2024"),
        ("last month", "2024-07-01", "2024-07-31", "July 2024"),
        ("this week", "2024-08-12", "2024-08-18", "week 33 2024"),
        ("next week", "2024-08-19", "2024-08-25", "week 34 2024"),
        ("this year", "2024-01-01", "2024-12-31", "2024"),
        ("last year", "2023-01-01", "2023-12-31", "2023"),
        ("quarter to date", "2024-07-01", "2024-08-14", "quarter to date"),
        ("YTD", "2024-01-01", "2024-08-14", "year to date"),
        ("last 30 days", "2024-07-16", "2024-08-14", "last 30 days"),
        ("next 7 days", "2024-08-14", "2024-08-20", "next 7 days"),
        ("next 2 weeks", "2024-08-14", "2024-08-27", "next 2 weeks"),
        ("last 3 months", "2024-05-15", "2024-08-14", "last 3 months"),
        ("March", "2024-03-01", "2024-03-31", "March 2024"),
        ("feb 2023", "2023-02-01", "2023-02-28", "February 2023"),
        ("H2", "2024-07-01", "2024-12-31", "H2 2024"),
        ("today", "2024-08-14", "2024-08-14", "today"),
        ("2023", "2023-01-01", "2023-12-31", "2023"),
        ("2024-01-01 to 2024-03-31", "2024-01-01", "2024-03-31", "2024-01-01 to 2024-03-31"),
        ("between 2024-02-01 and 2024-02-10", "2024-02-01", "2024-02-10", None),
        ("since 2024-08-01", "2024-08-01", "2024-08-14", "since 2024-08-01"),
        ("  For the Next Quarter? ", "2024-10-01", "2024-12-31", "Q4 2024"),
    ],
)
def test_calendar_phrases(phrase: str, start: str, end: str, label: str | None) -> None:
    period = parse_period(phrase, TODAY)
    assert (period.start, period.end) == (d(start), d(end))
    if label is not None:
        assert period.label == label


@pytest.mark.parametrize(
    ("phrase", "start", "end", "label"),
    [
        # fiscal year starting in February, named after the year it ends in
        ("this quarter", "2024-08-01", "2024-10-31", "Q3 FY2025"),
        ("Q1", "2024-02-01", "2024-04-30", "Q1 FY2025"),
        ("Q4 FY24", "2023-11-01", "2024-01-31", "Q4 FY2024"),
        ("this year", "2024-02-01", "2025-01-31", "FY2025"),
        ("last quarter", "2024-05-01", "2024-07-31", "Q2 FY2025"),
    ],
)
def test_fiscal_phrases(phrase: str, start: str, end: str, label: str) -> None:
    period = parse_period(phrase, TODAY, fiscal_year_start_month=2)
    assert (period.start, period.end, period.label) == (d(start), d(end), label)


def test_fiscal_year_is_named_after_the_year_it_ends_in() -> None:
    assert fiscal_year_of(dt.date(2024, 1, 31), 2) == 2024
    assert fiscal_year_of(dt.date(2024, 2, 1), 2) == 2025
    assert fiscal_year_of(dt.date(2024, 12, 31), 1) == 2024
    assert fiscal_quarter(2025, 4, 2) == Period(d("2024-11-01"), d("2025-01-31"), "Q4 FY2025")


def test_quarter_arithmetic_crosses_years() -> None:
    assert quarter_period(d("2024-02-29"), -1).label == "Q4 2023"
    assert quarter_period(d("2024-11-30"), 2).label == "Q2 2025"
    assert [p.label for p in quarters_ending_before(d("2024-05-01"), 3)] == [
        "Q3 2023",
        "Q4 2023",
        "Q1 2024",
    ]


def test_week_runs_monday_to_sunday_even_on_sunday() -> None:
    sunday = d("2024-08-18")
    assert week_period(sunday) == week_period(TODAY)


def test_period_bounds_are_inclusive() -> None:
    period = parse_period("this month", TODAY)
    assert d("2024-08-01") in period
    assert d("2024-08-31") in period
    assert d("2024-09-01") not in period
    assert period.days == 31
    assert period.overlap_days(d("2024-07-20"), d("2024-08-10")) == 10
    assert period.overlap_days(d("2024-09-20"), d("2024-09-21")) == 0


def test_day_counts() -> None:
    assert last_days(TODAY, 1) == Period(TODAY, TODAY, "last 1 days")
    assert next_days(TODAY, 7).days == 7


@pytest.mark.parametrize("phrase", ["", "soonish", "Q5", "last 0 days", "2024-13-45"])
def test_unreadable_phrases_raise_a_precise_error(phrase: str) -> None:
    with pytest.raises(PeriodParseError):
        parse_period(phrase, TODAY)


def test_reversed_range_is_rejected() -> None:
    with pytest.raises(PeriodParseError, match="ends"):
        parse_period("2024-03-01 to 2024-02-01", TODAY)


def test_invalid_fiscal_start_month() -> None:
    with pytest.raises(PeriodParseError):
        parse_period("this quarter", TODAY, fiscal_year_start_month=13)
