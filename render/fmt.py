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


def date(value: dt.date | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:%b} {value.day}, {value.year}"


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"
