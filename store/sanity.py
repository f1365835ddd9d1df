"""The sanity report printed after every import: what went in, and warnings that name
likely mapping mistakes.

An import can be valid row by row and still wrong as a whole: every deal open because
the won/lost rule never matched, every date on the 1st because day and month were
swapped or the export holds months, prices in cents, every line in one category
because a lookup fed the wrong column. These checks look at the imported rows as a
whole and say so in words a user can act on. They never reject an import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MIN_ROWS_FOR_SHAPE = 5
"""Shape warnings (dates on the 1st, cents, one category) need at least this many values."""

CENTS_MEDIAN = 1000.0
"""Whole-number amounts whose median is at least this, and mostly not round, look like cents."""


@dataclass
class Sanity:
    """Facts about an import and warnings about likely mapping mistakes."""

    facts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def dates_of(cells: np.ndarray) -> pd.Series:
    """The dates (``datetime.date``) of an object array, empty cells left out."""
    values = [v for v in cells.tolist() if isinstance(v, dt.date)]
    return pd.Series(values, dtype=object)


def numbers_of(cells: np.ndarray) -> pd.Series:
    """The numbers of an object array of text or numbers; cells that are not numbers
    are left out."""
    series = pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce")
    return series[np.isfinite(series.to_numpy(dtype=float, na_value=np.nan))]


def date_range_fact(label: str, dates: pd.Series) -> str | None:
    if dates.empty:
        return None
    return f"{label}: {min(dates)} to {max(dates)}"


def first_of_month_warning(label: str, column: str, dates: pd.Series) -> str | None:
    """Every date on the 1st of a month: the export holds months, or day and month are
    read the wrong way round."""
    if len(dates) < MIN_ROWS_FOR_SHAPE or dates.nunique() < 2:
        return None
    if all(day.day == 1 for day in dates.tolist()):
        return (
            f"every {label} (column {column}) is on the 1st of a month: the export may hold "
            "months rather than days, or its date format reads day and month the wrong way "
            "round (check `dates:` in the mapping)"
        )
    return None


def cents_warning(label: str, column: str, amounts: pd.Series) -> str | None:
    """Whole numbers, large, and mostly not round: prices written in cents."""
    amounts = amounts[amounts != 0]
    if len(amounts) < MIN_ROWS_FOR_SHAPE:
        return None
    values = amounts.to_numpy(dtype=float)
    if not np.all(values == np.round(values)):
        return None
    if float(np.median(np.abs(values))) < CENTS_MEDIAN:
        return None
    round_share = float(np.mean(values % 10 == 0))
    if round_share >= 0.5:
        return None
    return (
        f"every {label} (column {column}) is a whole number and the median is "
        f"{float(np.median(values)):,.0f}: these look like cents; if so, divide them with "
        f"`fields: {{{label}: {{column: {column}, scale: 0.01}}}}` in the mapping"
    )


def one_category_warning(noun: str, categories: Sequence[str | None]) -> str | None:
    """Every row in the same category: a category lookup or column is probably wrong."""
    present = [c for c in categories if c is not None]
    if len(present) < MIN_ROWS_FOR_SHAPE:
        return None
    distinct = set(present)
    if len(distinct) != 1:
        return None
    return (
        f"every {noun} is in one category ({next(iter(distinct))!r}): check which column "
        "feeds `category` in the products mapping"
    )


def deal_outcome(won: int, lost: int, open_: int, stages: Sequence[str]) -> Sanity:
    """Won/lost/open counts of the imported deals, and a warning when none closed."""
    sanity = Sanity(facts=[f"deals: {won:,} won, {lost:,} lost, {open_:,} open"])
    if won + lost == 0 and open_ >= 1:
        seen = ", ".join(repr(s) for s in sorted(set(stages))[:12])
        sanity.warnings.append(
            "no deal was imported as won or lost: if the file has closed deals, list their "
            f"stages in `won_stages:` and `lost_stages:` in the mapping (stages in the file: "
            f"{seen})"
        )
    return sanity


def stage_rule_warning(rule: str, stages: Sequence[str], members: Sequence[str]) -> str | None:
    """A won/lost rule that matched no stage of the file."""
    if not stages:
        return None
    seen = ", ".join(repr(s) for s in sorted(set(stages))[:12])
    return (
        f"`{rule}` ({', '.join(repr(m) for m in members)}) matched no stage of the file "
        f"(stages in the file: {seen}); check the mapping's `{rule}:`"
    )
