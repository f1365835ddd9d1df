"""Reorders due: accounts whose next order in a category is expected soon, from their own cycle.

Input: ``order_lines`` (account_id, order_date, category, amount; as loaded by
``store.frames.order_lines``). ``today`` is a parameter.

Definitions
-----------
Order day
    A day on which the account bought something in the category (several lines or orders
    on one day count once), on or before ``today``.
Cycle
    The median of the account x category's last ``max_gaps`` gaps between consecutive
    order days. Needs at least ``min_order_days`` order days (default 3, i.e. two gaps).
Regular buyer
    The spread of those gaps (median absolute deviation / median) is at most
    ``max_spread`` (default 0.5); irregular buyers have no predictable next order and are
    left out.
Expected date
    Last order day + cycle (rounded to whole days).
Due
    The expected date lies in the period (both ends included; default: the 7 days from
    ``today``). ``days_until_due`` is expected date - ``today`` (negative: overdue within
    the period). Accounts silent for more than ``lapse_factor`` cycles are not "running
    low" but lapsing (the health analysis covers them) and are left out.
Typical order
    The median amount of the last ``max_gaps`` + 1 order days in the category.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError, require_columns
from analytics.periods import Period, next_days
from analytics.pipeline import rows_with

__all__ = ["REORDER_COLUMNS", "purchase_cycles", "reorders_due"]

ORDER_REQUIRED = ["account_id", "order_date", "amount"]
REORDER_COLUMNS = [
    "account_id",
    "category",
    "last_order_date",
    "order_days",
    "cycle_days",
    "expected_date",
    "days_until_due",
    "typical_amount",
    "reason",
]
CYCLE_COLUMNS = [
    "account_id",
    "category",
    "order_days",
    "last_order_date",
    "cycle_days",
    "spread",
    "typical_amount",
]


def purchase_cycles(
    order_lines: pd.DataFrame,
    *,
    today: dt.date,
    account_ids: Collection[int] | None = None,
    category_column: str = "category",
    min_order_days: int = 3,
    max_gaps: int = 6,
) -> pd.DataFrame:
    """Cycle of every account x category with at least ``min_order_days`` order days.

    Columns ``CYCLE_COLUMNS``: ``cycle_days`` (median recent gap), ``spread`` (median
    absolute deviation of those gaps / their median), ``typical_amount``.
    """
    require_columns("order_lines", order_lines.columns, [*ORDER_REQUIRED, category_column])
    if min_order_days < 2:
        raise InvalidParameterError("min_order_days must be at least 2 to measure a cycle")
    if max_gaps < 1:
        raise InvalidParameterError("max_gaps must be at least 1")
    lines = (
        order_lines if account_ids is None else rows_with(order_lines, "account_id", account_ids)
    )
    lines = lines[(lines["order_date"] <= pd.Timestamp(today)).to_numpy()]
    if not len(lines):
        return pd.DataFrame(columns=CYCLE_COLUMNS)
    category = lines[category_column].astype(object).to_numpy()
    days = (
        pd.DataFrame(
            {
                "account_id": lines["account_id"].to_numpy(),
                "category": category,
                "order_date": lines["order_date"].to_numpy(),
                "amount": lines["amount"].to_numpy(dtype=float),
            }
        )
        .groupby(["account_id", "category", "order_date"], sort=True)["amount"]
        .sum()
        .reset_index()
    )
    codes = _entity_codes(days)
    counts = np.bincount(codes)
    days = days[counts[codes] >= min_order_days].reset_index(drop=True)
    if not len(days):
        return pd.DataFrame(columns=CYCLE_COLUMNS)
    codes = _entity_codes(days)
    counts = np.bincount(codes)
    day_numbers = days["order_date"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    same = np.r_[False, codes[1:] == codes[:-1]]
    gaps = np.where(same, day_numbers - np.r_[0, day_numbers[:-1]], np.nan)
    # position counted from each entity's last order day (0 = last)
    ends = np.cumsum(counts) - 1
    from_end = ends[codes] - np.arange(len(codes))
    recent = (from_end < max_gaps) & same
    recent_codes = codes[recent]
    recent_gaps = pd.Series(gaps[recent])
    cycle = recent_gaps.groupby(recent_codes).median()
    deviation = (recent_gaps - cycle.reindex(recent_codes).to_numpy()).abs()
    mad = deviation.groupby(recent_codes).median()
    window = from_end <= max_gaps
    typical = days.loc[window, "amount"].groupby(codes[window]).median()
    last = days.iloc[ends]
    entities = np.arange(len(counts))
    table = pd.DataFrame(
        {
            "account_id": last["account_id"].to_numpy(),
            "category": last["category"].to_numpy(),
            "order_days": counts.astype("int64"),
            "last_order_date": last["order_date"].to_numpy(),
            "cycle_days": cycle.reindex(entities).to_numpy(dtype=float),
            "spread": (mad.reindex(entities) / cycle.reindex(entities)).to_numpy(dtype=float),
            "typical_amount": typical.reindex(entities).to_numpy(dtype=float),
        }
    )
    return table[CYCLE_COLUMNS]


def _entity_codes(days: pd.DataFrame) -> np.ndarray:
    """0-based code per account x category block of a frame sorted by account, category."""
    account = days["account_id"].to_numpy()
    category = days["category"].to_numpy(dtype=object)
    new = np.ones(len(days), dtype=bool)
    new[1:] = (account[1:] != account[:-1]) | (category[1:] != category[:-1])
    return np.cumsum(new) - 1


def reorders_due(
    order_lines: pd.DataFrame | None,
    *,
    today: dt.date,
    period: Period | None = None,
    account_ids: Collection[int] | None = None,
    cycles: pd.DataFrame | None = None,
    category_column: str = "category",
    min_order_days: int = 3,
    max_gaps: int = 6,
    max_spread: float = 0.5,
    lapse_factor: float = 3.0,
) -> pd.DataFrame:
    """Account x category pairs whose next order is expected in ``period``, soonest first.

    ``cycles`` may be a :func:`purchase_cycles` table computed beforehand (e.g. nightly,
    on or before ``today``) instead of ``order_lines``. Columns ``REORDER_COLUMNS``
    (definitions in the module docstring); ``reason`` puts the cycle and dates in words.
    """
    if max_spread < 0:
        raise InvalidParameterError("max_spread must be 0 or more")
    window = period or next_days(today, 7)
    if cycles is None:
        if order_lines is None:
            raise InvalidParameterError("reorders_due needs order_lines or a cycles table")
        cycles = purchase_cycles(
            order_lines,
            today=today,
            account_ids=account_ids,
            category_column=category_column,
            min_order_days=min_order_days,
            max_gaps=max_gaps,
        )
    else:
        require_columns("cycles", cycles.columns, CYCLE_COLUMNS)
        if account_ids is not None:
            cycles = rows_with(cycles, "account_id", account_ids)
    if not len(cycles):
        return pd.DataFrame(columns=REORDER_COLUMNS)
    cycles = cycles[(cycles["cycle_days"] > 0) & (cycles["spread"] <= max_spread)]
    expected = cycles["last_order_date"] + pd.to_timedelta(
        cycles["cycle_days"].round().astype("int64"), unit="D"
    )
    silent = (pd.Timestamp(today) - cycles["last_order_date"]).dt.days
    due = expected.between(pd.Timestamp(window.start), pd.Timestamp(window.end))
    due &= silent <= lapse_factor * cycles["cycle_days"]
    table = cycles[due.to_numpy()].assign(expected_date=expected[due.to_numpy()])
    table["days_until_due"] = (table["expected_date"] - pd.Timestamp(today)).dt.days.astype("int64")
    table["reason"] = [
        _reason(row.category, row.cycle_days, row.order_days, row.last_order_date,
                row.expected_date, row.typical_amount, max_gaps)
        for row in table.itertuples(index=False)
    ]  # fmt: skip
    table = table.sort_values(
        ["expected_date", "typical_amount", "account_id"],
        ascending=[True, False, True],
        kind="stable",
    )
    return table[REORDER_COLUMNS].reset_index(drop=True)


def _reason(
    category: object,
    cycle_days: float,
    order_days: int,
    last: pd.Timestamp,
    expected: pd.Timestamp,
    typical: float,
    max_gaps: int,
) -> str:
    gaps = min(order_days - 1, max_gaps)
    return (
        f"buys {category} every {cycle_days:.0f} days (median of the last {gaps} gaps); "
        f"last order {last.date()}, next expected {expected.date()}, "
        f"usually {typical:,.0f}"
    )
