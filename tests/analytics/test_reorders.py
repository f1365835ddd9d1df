"""Reorders due from each account's own cycle (today 2024-06-30, window 06-30..07-06)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analytics.periods import Period
from analytics.pipeline import is_member, rows_with
from analytics.reorders import REORDER_COLUMNS, purchase_cycles, reorders_due

TODAY = dt.date(2024, 6, 30)


def lines(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["account_id", "category", "order_date", "amount"])
    frame["order_date"] = pd.to_datetime(frame["order_date"]).astype("datetime64[ns]")
    frame["category"] = frame["category"].astype("category")
    frame["order_id"] = np.arange(len(frame))
    frame["product_id"] = 1
    frame["quantity"] = 1.0
    return frame


BOOK = lines(
    [
        # 1 coffee: every 14 days, last 06-16 -> due 06-30
        (1, "coffee", "2024-05-19", 100.0),
        (1, "coffee", "2024-06-02", 110.0),
        (1, "coffee", "2024-06-16", 100.0),
        (1, "coffee", "2024-06-16", 20.0),
        # 1 tea: two order days only, no cycle
        (1, "tea", "2024-01-01", 40.0),
        (1, "tea", "2024-04-01", 40.0),
        # 2 coffee: gaps 31, 30, 33 -> cycle 31, last 06-03 -> due 07-04
        (2, "coffee", "2024-03-01", 300.0),
        (2, "coffee", "2024-04-01", 300.0),
        (2, "coffee", "2024-05-01", 320.0),
        (2, "coffee", "2024-06-03", 310.0),
        # 3 coffee: gaps 5, 100, 40 -> cycle 40 but spread 35/40: too irregular
        (3, "coffee", "2024-01-03", 10.0),
        (3, "coffee", "2024-01-08", 10.0),
        (3, "coffee", "2024-04-17", 10.0),
        (3, "coffee", "2024-05-27", 10.0),
        # 4 coffee: weekly in January, then silent
        (4, "coffee", "2024-01-01", 70.0),
        (4, "coffee", "2024-01-08", 70.0),
        (4, "coffee", "2024-01-15", 70.0),
        # 5 cups: weekly; the 07-01 line is after today and unknown
        (5, "cups", "2024-06-09", 50.0),
        (5, "cups", "2024-06-16", 50.0),
        (5, "cups", "2024-06-23", 50.0),
        (5, "cups", "2024-07-01", 50.0),
    ]
)


def test_reorders_due_in_the_coming_week() -> None:
    due = reorders_due(BOOK, today=TODAY)
    assert list(due.columns) == REORDER_COLUMNS
    assert list(zip(due["account_id"], due["category"], strict=True)) == [
        (1, "coffee"),
        (5, "cups"),
        (2, "coffee"),
    ]
    assert due["cycle_days"].tolist() == [14.0, 7.0, 31.0]
    assert due["days_until_due"].tolist() == [0, 0, 4]
    assert due["expected_date"].tolist() == [
        pd.Timestamp("2024-06-30"),
        pd.Timestamp("2024-06-30"),
        pd.Timestamp("2024-07-04"),
    ]
    assert due["typical_amount"].tolist() == [110.0, 50.0, 305.0]
    assert due.loc[2, "reason"] == (
        "buys coffee every 31 days (median of the last 3 gaps); last order 2024-06-03, "
        "next expected 2024-07-04, usually 305"
    )


def test_irregular_buyers_are_left_out_unless_allowed() -> None:
    loose = reorders_due(BOOK, today=TODAY, max_spread=1.0)
    assert 3 in set(loose["account_id"])
    cycles = purchase_cycles(BOOK, today=TODAY).set_index(["account_id", "category"])
    assert cycles.loc[(3, "coffee"), "spread"] == pytest.approx(35 / 40)
    assert cycles.loc[(2, "coffee"), "spread"] == pytest.approx(1 / 31)
    assert (1, "tea") not in cycles.index


def test_lapsed_accounts_are_not_running_low() -> None:
    january = Period(dt.date(2024, 1, 20), dt.date(2024, 1, 25), "late January")
    assert reorders_due(BOOK, today=TODAY, period=january).empty
    assert reorders_due(BOOK, today=TODAY, period=january, lapse_factor=100)[
        "account_id"
    ].tolist() == [4]


def test_cycle_follows_the_recent_rhythm() -> None:
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(
        np.cumsum([0, 60, 60, 60, 10, 10, 10, 10, 10, 10]), unit="D"
    )
    frame = lines([(7, "paper", day, 1.0) for day in days])
    cycles = purchase_cycles(frame, today=TODAY, max_gaps=6)
    assert cycles["cycle_days"].tolist() == [10.0]
    assert cycles["order_days"].tolist() == [10]
    assert purchase_cycles(frame, today=TODAY, max_gaps=9)["cycle_days"].tolist() == [10.0]
    assert purchase_cycles(frame, today=TODAY, max_gaps=9, min_order_days=11).empty


def test_scope_to_accounts_and_empty_inputs() -> None:
    assert reorders_due(BOOK, today=TODAY, account_ids=[2])["account_id"].tolist() == [2]
    assert reorders_due(BOOK, today=TODAY, account_ids=[]).empty
    assert reorders_due(BOOK, today=dt.date(2020, 1, 1)).empty


def test_account_slice_by_binary_search_matches_a_plain_filter() -> None:
    many = pd.concat([BOOK.assign(account_id=BOOK["account_id"] + 10 * k) for k in range(20)])
    ordered = many.sort_values("account_id", kind="stable")
    for frame in (ordered, many):
        picked = rows_with(frame, "account_id", [13, 2, 999])
        expected = frame[frame["account_id"].isin([13, 2])]
        pd.testing.assert_frame_equal(picked.sort_index(), expected.sort_index())


def test_precomputed_cycles_give_the_same_answer() -> None:
    cycles = purchase_cycles(BOOK, today=TODAY)
    pd.testing.assert_frame_equal(
        reorders_due(None, today=TODAY, cycles=cycles, account_ids=[1, 2]),
        reorders_due(BOOK, today=TODAY, account_ids=[1, 2]),
    )


def test_membership_lookup_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(-5, 2000, 5000)
    for ids in (rng.integers(0, 1500, 40), np.array([7]), np.array([-1, 1999]), np.array([])):
        ids = ids.astype(np.int64)
        np.testing.assert_array_equal(is_member(values, ids), np.isin(values, ids))
