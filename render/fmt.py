"""Numbers as a sales team reads them: $14.2k, 38%, 47 days."""

from __future__ import annotations

import datetime as dt
import math


def money(value: float | None, *, currency: str = "$") -> str:
    """``$950``, ``$14.2k``, ``$1.3M``; ``n/a`` for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1_000_000_000:
        return f"{sign}{currency}{value / 1e9:.1f}B"
    if value >= 1_000_000:
        return f"{sign}{currency}{value / 1e6:.1f}M"
    if value >= 10_000:
        return f"{sign}{currency}{value / 1e3:.0f}k"
    if value >= 1_000:
        return f"{sign}{currency}{value / 1e3:.1f}k"
    return f"{sign}{currency}{value:,.0f}"


def pct(value: float | None, *, digits: int = 0, signed: bool = False) -> str:
    """A share (0.381) as ``38%``; ``signed`` adds + for growth."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value * 100:.{digits}f}%"
    return f"+{text}" if signed and value > 0 else text


def days(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    n = round(value)
    return f"{n} day" if n == 1 else f"{n} days"


def missing(value: object) -> bool:
    """None, NaN and NaT (a deal without a close date, a number not computed)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and NaT are the values unequal to themselves
    except TypeError:  # pandas' NA: "boolean value of NA is ambiguous"
        return True
    except ValueError:  # an array: not one missing value
        return False


def day(value: object) -> dt.date | None:
    """A date from a date, a datetime/Timestamp or an ISO string; None when missing."""
    if missing(value) or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def date(value: dt.date | None) -> str:
    """``Mar 5, 2025``; ``n/a`` for a missing date (None, NaT)."""
    when = day(value)
    if when is None:
        return "n/a"
    return f"{when:%b} {when.day}, {when.year}"


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"
