"""Periods: parsing phrases like "this quarter", "Q3" or "next month" into dates.

Every function is pure and takes ``today``; nothing here reads the clock.

Conventions (used by every answer that names a period):

- A :class:`Period` is a closed range of calendar days: ``start`` and ``end`` are both
  included. A deal closing on ``end`` is in the period; one closing the day after is not.
- Weeks run Monday to Sunday (ISO weeks).
- Fiscal years start on the first day of ``fiscal_year_start_month`` (1 = January, the
  calendar year) and are named after the calendar year in which they **end**: with a
  February start, FY2025 runs 2024-02-01 to 2025-01-31. Fiscal quarters are the four
  three-month blocks of the fiscal year; halves (H1, H2) are its two six-month blocks.
  With a January start the labels are plain ("Q3 2024"); otherwise they say "FY".
- "this/next/last week|month|quarter|year" are the whole calendar (or fiscal) unit that
  contains ``today``, the one after it and the one before it. "to date" phrases
  (``"quarter to date"``, ``"ytd"``) run from the unit's first day to ``today``.
- "last N days" is the N days ending on ``today`` (``today`` included); "next N days" is
  the N days starting on ``today``. Weeks count 7 days; "last/next N months" move the
  other end by N calendar months (from ``today`` inclusive).
- "Q3" without a year is Q3 of the fiscal year that contains ``today``; a month name
  without a year ("March") is that month of ``today``'s calendar year; a bare year
  ("2024", "FY24") is the fiscal year ending in it.
- A single ISO date is that one day; "A to B", "A..B", "from A to B" and
  "between A and B" are the days from A to B inclusive; "since A" runs from A to ``today``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from dateutil import parser as date_parser
from dateutil.relativedelta import relativedelta

from analytics.errors import PeriodParseError

__all__ = [
    "Period",
    "day_period",
    "fiscal_quarter",
    "fiscal_year",
    "fiscal_year_of",
    "last_days",
    "month_period",
    "next_days",
    "parse_period",
    "quarter_period",
    "quarters_ending_before",
    "week_period",
    "year_period",
]

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}


@dataclass(frozen=True)
class Period:
    """Calendar days from ``start`` to ``end``, both included, with a human label."""

    start: dt.date
    end: dt.date
    label: str

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise PeriodParseError(
                f"the period {self.label!r} ends ({self.end}) before it starts ({self.start})"
            )

    @property
    def days(self) -> int:
        """Number of days in the period (both ends counted)."""
        return (self.end - self.start).days + 1

    def __contains__(self, day: object) -> bool:
        if isinstance(day, dt.datetime):
            day = day.date()
        if not isinstance(day, dt.date):
            return False
        return self.start <= day <= self.end

    def overlap_days(self, start: dt.date, end: dt.date) -> int:
        """Days shared with the closed range ``start``..``end`` (0 when disjoint)."""
        first = max(self.start, start)
        last = min(self.end, end)
        return max((last - first).days + 1, 0)

    def __str__(self) -> str:
        return f"{self.label} ({self.start.isoformat()} to {self.end.isoformat()})"


# ---------------------------------------------------------------------- units


def _check_fy_start(fiscal_year_start_month: int) -> None:
    if not 1 <= fiscal_year_start_month <= 12:
        raise PeriodParseError(
            f"the fiscal year must start in a month 1..12, not {fiscal_year_start_month}"
        )


def day_period(day: dt.date, offset: int = 0) -> Period:
    """The single day ``day + offset``."""
    target = day + dt.timedelta(days=offset)
    return Period(target, target, target.isoformat())


def week_period(day: dt.date, offset: int = 0) -> Period:
    """The Monday-to-Sunday week containing ``day``, shifted by ``offset`` weeks."""
    monday = day - dt.timedelta(days=day.weekday()) + dt.timedelta(weeks=offset)
    iso_year, iso_week, _ = monday.isocalendar()
    return Period(monday, monday + dt.timedelta(days=6), f"week {iso_week} {iso_year}")


def month_period(day: dt.date, offset: int = 0) -> Period:
    """The calendar month containing ``day``, shifted by ``offset`` months."""
    first = day.replace(day=1) + relativedelta(months=offset)
    last = first + relativedelta(months=1, days=-1)
    return Period(first, last, first.strftime("%B %Y"))


def fiscal_year_of(day: dt.date, fiscal_year_start_month: int = 1) -> int:
    """The fiscal year (named by the calendar year it ends in) that contains ``day``."""
    _check_fy_start(fiscal_year_start_month)
    if fiscal_year_start_month == 1:
        return day.year
    return day.year + 1 if day.month >= fiscal_year_start_month else day.year


def _fiscal_year_start(year: int, fiscal_year_start_month: int) -> dt.date:
    if fiscal_year_start_month == 1:
        return dt.date(year, 1, 1)
    return dt.date(year - 1, fiscal_year_start_month, 1)


def _year_label(year: int, fiscal_year_start_month: int) -> str:
    return str(year) if fiscal_year_start_month == 1 else f"FY{year}"


def fiscal_year(year: int, fiscal_year_start_month: int = 1) -> Period:
    """Fiscal year ``year`` (the one ending in calendar year ``year``)."""
    _check_fy_start(fiscal_year_start_month)
    start = _fiscal_year_start(year, fiscal_year_start_month)
    end = start + relativedelta(years=1, days=-1)
    return Period(start, end, _year_label(year, fiscal_year_start_month))


def fiscal_quarter(year: int, quarter: int, fiscal_year_start_month: int = 1) -> Period:
    """Quarter ``quarter`` (1..4) of fiscal year ``year``."""
    _check_fy_start(fiscal_year_start_month)
    if not 1 <= quarter <= 4:
        raise PeriodParseError(f"a quarter is 1 to 4, not {quarter}")
    start = _fiscal_year_start(year, fiscal_year_start_month) + relativedelta(
        months=3 * (quarter - 1)
    )
    end = start + relativedelta(months=3, days=-1)
    return Period(start, end, f"Q{quarter} {_year_label(year, fiscal_year_start_month)}")


def _fiscal_half(year: int, half: int, fiscal_year_start_month: int) -> Period:
    start = _fiscal_year_start(year, fiscal_year_start_month) + relativedelta(months=6 * (half - 1))
    end = start + relativedelta(months=6, days=-1)
    return Period(start, end, f"H{half} {_year_label(year, fiscal_year_start_month)}")


def quarter_period(day: dt.date, offset: int = 0, fiscal_year_start_month: int = 1) -> Period:
    """The fiscal quarter containing ``day``, shifted by ``offset`` quarters."""
    _check_fy_start(fiscal_year_start_month)
    months_into_year = (day.month - fiscal_year_start_month) % 12
    quarter_start = day.replace(day=1) - relativedelta(months=months_into_year % 3)
    target = quarter_start + relativedelta(months=3 * offset)
    year = fiscal_year_of(target, fiscal_year_start_month)
    quarter = (target.month - fiscal_year_start_month) % 12 // 3 + 1
    return fiscal_quarter(year, quarter, fiscal_year_start_month)


def year_period(day: dt.date, offset: int = 0, fiscal_year_start_month: int = 1) -> Period:
    """The fiscal year containing ``day``, shifted by ``offset`` years."""
    return fiscal_year(
        fiscal_year_of(day, fiscal_year_start_month) + offset, fiscal_year_start_month
    )


def last_days(today: dt.date, days: int) -> Period:
    """The ``days`` days ending on ``today`` (included)."""
    if days < 1:
        raise PeriodParseError(f"a period needs at least one day, not {days}")
    return Period(today - dt.timedelta(days=days - 1), today, f"last {days} days")


def next_days(today: dt.date, days: int) -> Period:
    """The ``days`` days starting on ``today`` (included)."""
    if days < 1:
        raise PeriodParseError(f"a period needs at least one day, not {days}")
    return Period(today, today + dt.timedelta(days=days - 1), f"next {days} days")


def quarters_ending_before(
    day: dt.date, count: int, fiscal_year_start_month: int = 1
) -> list[Period]:
    """The ``count`` complete fiscal quarters before the one containing ``day``, oldest first."""
    return [quarter_period(day, -offset, fiscal_year_start_month) for offset in range(count, 0, -1)]


# ---------------------------------------------------------------------- parsing

_RELATIVE = {
    "this": 0,
    "current": 0,
    "next": 1,
    "coming": 1,
    "last": -1,
    "previous": -1,
    "prior": -1,
}
_UNIT_ALIASES = {
    "week": "week",
    "wk": "week",
    "month": "month",
    "mo": "month",
    "quarter": "quarter",
    "qtr": "quarter",
    "year": "year",
    "fiscal year": "year",
    "fy": "year",
}
_TO_DATE = {
    "wtd": "week",
    "mtd": "month",
    "qtd": "quarter",
    "ytd": "year",
}


def _unit_period(unit: str, today: dt.date, offset: int, fiscal_year_start_month: int) -> Period:
    if unit == "week":
        return week_period(today, offset)
    if unit == "month":
        return month_period(today, offset)
    if unit == "quarter":
        return quarter_period(today, offset, fiscal_year_start_month)
    return year_period(today, offset, fiscal_year_start_month)


def _year_number(text: str | None, default: int) -> int:
    if not text:
        return default
    digits = text.lower().removeprefix("fy").strip("' ")
    year = int(digits)
    return year + 2000 if year < 100 else year


def _parse_date(text: str) -> dt.date:
    text = text.strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return date_parser.parse(text, default=dt.datetime(2000, 1, 1)).date()
    except (ValueError, OverflowError) as exc:
        raise PeriodParseError(f"{text!r} is not a date I can read (try 2024-03-31)") from exc


_YEAR = r"(?:fy\s*)?'?\d{2}(?:\d{2})?"


def parse_period(text: str, today: dt.date, fiscal_year_start_month: int = 1) -> Period:
    """Read a period phrase relative to ``today``; see the module docstring for the rules.

    Raises :class:`PeriodParseError` for phrases it cannot read.
    """
    _check_fy_start(fiscal_year_start_month)
    fy = fiscal_year_start_month
    phrase = re.sub(r"\s+", " ", text.strip().lower()).removeprefix("the ").strip(" ?.!")
    phrase = phrase.removeprefix("in ").removeprefix("for ").removeprefix("the ")
    if not phrase:
        raise PeriodParseError("an empty period phrase")

    if phrase == "today":
        return Period(today, today, "today")
    if phrase == "yesterday":
        day = today - dt.timedelta(days=1)
        return Period(day, day, "yesterday")
    if phrase == "tomorrow":
        day = today + dt.timedelta(days=1)
        return Period(day, day, "tomorrow")

    if phrase in _TO_DATE:
        unit = _TO_DATE[phrase]
        whole = _unit_period(unit, today, 0, fy)
        return Period(whole.start, today, f"{unit} to date")
    match = re.fullmatch(r"(week|month|quarter|year|fiscal year) to date", phrase)
    if match:
        unit = _UNIT_ALIASES[match.group(1)]
        whole = _unit_period(unit, today, 0, fy)
        return Period(whole.start, today, f"{unit} to date")

    match = re.fullmatch(
        r"(this|current|next|coming|last|previous|prior) (week|wk|month|mo|quarter|qtr|year|fiscal year|fy)",
        phrase,
    )
    if match:
        return _unit_period(_UNIT_ALIASES[match.group(2)], today, _RELATIVE[match.group(1)], fy)

    match = re.fullmatch(
        r"(last|past|previous|next|coming) (\d+) (day|days|week|weeks|month|months)", phrase
    )
    if match:
        count = int(match.group(2))
        unit = match.group(3).rstrip("s")
        backwards = match.group(1) in {"last", "past", "previous"}
        if count < 1:
            raise PeriodParseError(f"{text!r} covers no days")
        if unit == "month":
            if backwards:
                start = today - relativedelta(months=count) + dt.timedelta(days=1)
                return Period(start, today, f"last {count} months")
            end = today + relativedelta(months=count) - dt.timedelta(days=1)
            return Period(today, end, f"next {count} months")
        days = count * (7 if unit == "week" else 1)
        period = last_days(today, days) if backwards else next_days(today, days)
        word = "last" if backwards else "next"
        return Period(period.start, period.end, f"{word} {count} {match.group(3)}")

    match = re.fullmatch(rf"q([1-4])(?: ({_YEAR}))?|({_YEAR}) q([1-4])", phrase)
    if match:
        quarter = int(match.group(1) or match.group(4))
        year = _year_number(match.group(2) or match.group(3), fiscal_year_of(today, fy))
        return fiscal_quarter(year, quarter, fy)

    match = re.fullmatch(rf"h([12])(?: ({_YEAR}))?|({_YEAR}) h([12])", phrase)
    if match:
        half = int(match.group(1) or match.group(4))
        year = _year_number(match.group(2) or match.group(3), fiscal_year_of(today, fy))
        return _fiscal_half(year, half, fy)

    match = re.fullmatch(r"(?:fy\s*'?(\d{2}|\d{4})|(\d{4}))", phrase)
    if match:
        return fiscal_year(_year_number(match.group(1) or match.group(2), today.year), fy)

    match = re.fullmatch(r"([a-z]+)(?:,? (\d{4}))?", phrase)
    if match and match.group(1) in MONTHS:
        year = int(match.group(2)) if match.group(2) else today.year
        return month_period(dt.date(year, MONTHS[match.group(1)], 1))

    match = re.fullmatch(r"since (.+)", phrase)
    if match:
        start = _parse_date(match.group(1))
        return Period(start, today, f"since {start.isoformat()}")

    match = re.fullmatch(r"(?:from |between )?(.+?) (?:to|until|through|and|-) (.+)", phrase)
    if match is None:
        match = re.fullmatch(r"(.+?)\s*\.\.\s*(.+)", phrase)
    if match:
        start, end = _parse_date(match.group(1)), _parse_date(match.group(2))
        return Period(start, end, f"{start.isoformat()} to {end.isoformat()}")

    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", phrase):
        day = _parse_date(phrase)
        return Period(day, day, day.isoformat())

    raise PeriodParseError(
        f"I can't read {text!r} as a period; try 'this quarter', 'Q3', 'next month', "
        "'last 30 days' or '2024-01-01 to 2024-03-31'"
    )
