"""Slipping rules on tiny hand-built order histories.

Every frame here is small enough that the score model cannot be learnt (too few rows), so
the statuses come from the rhythm rules alone and the numbers can be worked out by hand.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from analytics.cycles import day_number
from analytics.errors import MissingColumnsError, ModelNotFittedError, NoOrderHistoryError
from analytics.health import CATEGORY_HEALTH_COLUMNS, HEALTH_COLUMNS, HealthModel, account_health

D = dt.date


def _lines(rows: list[tuple[int, dt.date, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["account_id", "order_date", "category", "amount"])
    frame["order_date"] = pd.to_datetime(frame["order_date"]).astype("datetime64[ns]")
    frame.insert(1, "order_id", np.arange(len(frame)))
    frame["product_id"] = 1
    frame["quantity"] = 1.0
    return frame


def _every(
    account: int,
    start: dt.date,
    days: list[int],
    category: str = "Disposables",
    amount: float = 100.0,
):
    """Orders on ``start`` and then after each gap in ``days``."""
    out = [(account, start, category, amount)]
    day = start
    for gap in days:
        day = day + dt.timedelta(days=gap)
        out.append((account, day, category, amount))
    return out


def _assess(rows, as_of: dt.date, accounts: pd.DataFrame | None = None):
    lines = _lines(rows)
    model = HealthModel().fit(lines, accounts, as_of=as_of)
    assert model.account_classifier_ is None  # tiny data: the rule-based score is used
    return model.assess(lines, accounts, as_of=as_of)


def test_steady_buyer_overdue_is_slipping_and_volatile_buyer_is_tolerated():
    # account 1 orders every 10 days (20 orders); account 2 as often on median but irregularly
    steady = _every(1, D(2024, 1, 1), [10] * 19)  # last order 2024-07-09
    volatile = _every(2, D(2024, 1, 1), [3, 30, 5, 40, 8, 25, 4, 35, 10, 12, 6, 9], amount=150.0)
    as_of = D(2024, 8, 18)  # 40 days after the steady buyer's last order
    last_volatile = D(2024, 1, 1) + dt.timedelta(days=187)  # 2024-07-06
    result = _assess(steady + volatile, as_of)
    got = result.accounts.set_index("account_id").sort_index()
    expected = pd.DataFrame(
        {
            "status": ["slipping", "watch"],
            "cycle_days": [10.0, 9.5],
            "days_since_last_order": [40, (as_of - last_volatile).days],
            "orders": [20, 13],
        },
        index=pd.Index([1, 2], name="account_id"),
    )
    assert_frame_equal(got[expected.columns], expected, check_dtype=False)
    # last 91 days: 6 orders ($600); the whole quarter before: 9 orders ($900)
    assert got.loc[1, "reason"] == (
        "usually orders every 10 days (median of its last 12 gaps); 6 weeks since the last "
        "order; spend down 33% vs its usual quarter"
    )
    assert got.loc[1, "score"] > got.loc[2, "score"]
    assert list(result.accounts.columns) == HEALTH_COLUMNS


def test_seasonal_dip_is_not_flagged_but_the_same_silence_off_pattern_is():
    # account 1 buys every 14 days from April to September, two years running;
    # account 2 bought all year in 2023 and stopped at the same day in 2024
    seasonal = []
    for year in (2023, 2024):
        seasonal += _every(1, D(year, 4, 1), [14] * 13)  # last order of the season: Sep 16
    year_round = _every(2, D(2023, 4, 1), [14] * 38)  # 2023-04-01 .. 2024-09-14
    as_of = D(2024, 12, 1)
    result = _assess(seasonal + year_round, as_of)
    got = result.accounts.set_index("account_id")
    assert got.loc[1, "status"] == "healthy"
    assert "seasonal lull: last year it was quiet from" in got.loc[1, "reason"]
    assert got.loc[2, "status"] == "slipping"
    assert got.loc[1, "score"] < got.loc[2, "score"]


def test_one_off_and_new_accounts_are_not_flagged():
    rows = [(1, D(2024, 1, 10), "Disposables", 500.0)]  # a single purchase long ago
    rows += _every(2, D(2024, 6, 1), [5])  # started 30 days ago, silent 25 days since
    rows += _every(3, D(2023, 6, 1), [30] * 12)  # an ordinary repeat buyer, to give a population
    result = _assess(rows, D(2024, 7, 1))
    got = result.accounts.set_index("account_id").sort_index()
    assert got.loc[1, "status"] == "one_off"
    assert got.loc[1, "score"] == 0.0
    assert got.loc[1, "revenue_at_risk"] == 0.0
    assert got.loc[1, "reason"] == "one purchase so far, 6 months ago ($500)"
    assert got.loc[2, "status"] == "new"
    assert got.loc[2, "reason"] == "new: first order 4 weeks ago, 2 order(s) so far, $200"


def test_category_defection_is_flagged_while_the_account_still_buys():
    # weekly orders of both categories until 2024-03-25, then Disposables only
    rows = _every(1, D(2024, 1, 1), [7] * 25, category="Disposables", amount=300.0)
    rows += _every(1, D(2024, 1, 1), [7] * 12, category="Cleaning Supplies", amount=200.0)
    as_of = D(2024, 6, 27)  # 2024-06-24 is the last Disposables order
    result = _assess(rows, as_of)
    account = result.accounts.set_index("account_id").loc[1]
    categories = result.categories.set_index("category")
    assert categories.loc["Cleaning Supplies", "status"] == "slipping"
    assert categories.loc["Cleaning Supplies", "reason"] == (
        "still orders Disposables, stopped buying Cleaning Supplies 13 weeks ago (usually every 7 days)"
    )
    assert categories.loc["Disposables", "status"] == "healthy"
    assert account["status"] == "watch"  # healthy rhythm, but a sizeable category stopped
    assert account["reason"].endswith(
        "stopped buying Cleaning Supplies 13 weeks ago (usually every 7 days)"
    )
    assert list(result.categories.columns) == CATEGORY_HEALTH_COLUMNS


def test_lapsed_after_long_silence_with_revenue_at_risk_of_its_last_year():
    rows = _every(1, D(2023, 1, 2), [14] * 20, amount=70.0)  # 21 orders, last 2023-10-16
    rows += _every(2, D(2023, 1, 2), [30] * 20)
    result = _assess(rows, D(2024, 6, 1))
    got = result.accounts.set_index("account_id").loc[1]
    assert got["status"] == "lapsed"
    # its last year (2023-06-04 .. 2024-06-01) holds the orders of 2023-06-12 .. 2023-10-16:
    # 10 x $70 = $700, never annualised up from a shorter span
    assert got["annual_revenue"] == pytest.approx(700.0)
    assert got["revenue_at_risk"] == pytest.approx(got["score"] * 700.0, rel=1e-3)
    assert got["revenue_at_risk"] <= 700.0


def test_lines_after_as_of_are_ignored_and_errors_are_precise():
    rows = _every(1, D(2024, 1, 1), [10] * 10)
    lines = _lines(rows)
    before = account_health(lines, as_of=D(2024, 2, 1)).accounts
    assert before.loc[0, "orders"] == 4
    with pytest.raises(NoOrderHistoryError):
        HealthModel().fit(lines, as_of=D(2023, 1, 1))
    with pytest.raises(MissingColumnsError, match="amount"):
        HealthModel().fit(lines.drop(columns=["amount"]), as_of=D(2024, 6, 1))
    with pytest.raises(ModelNotFittedError):
        HealthModel().assess(lines, as_of=D(2024, 6, 1))


def test_learnt_score_ranks_overdue_steady_buyers_first():
    # 60 regular buyers with different cycles; half of them stop half-way through 2024
    rng = np.random.default_rng(3)
    rows = []
    for account in range(60):
        cycle = int(rng.integers(7, 30))
        stop = D(2024, 6, 1) if account % 2 else D(2025, 1, 1)
        day = D(2023, 1, 1) + dt.timedelta(days=int(rng.integers(0, cycle)))
        while day <= stop:
            rows.append((account, day, "Disposables", 100.0))
            day += dt.timedelta(days=cycle + int(rng.integers(-2, 3)))
    lines = _lines(rows)
    model = HealthModel().fit(lines, as_of=D(2024, 9, 30))
    assert model.account_classifier_ is not None
    got = model.predict(lines, as_of=D(2024, 9, 30)).set_index("account_id").sort_index()
    stopped = got.index % 2 == 1
    assert got.loc[stopped, "score"].min() > got.loc[~stopped, "score"].max()
    assert set(got.loc[stopped, "status"]) <= {"slipping", "lapsed"}
    assert set(got.loc[~stopped, "status"]) == {"healthy"}


def test_sharp_spend_drop_while_still_ordering_is_slipping():
    # weekly $1,000 orders, then the same weekly rhythm at $100 for the last quarter
    start = D(2024, 1, 1)
    rows = [
        (1, start + dt.timedelta(days=7 * k), "Disposables", 1000.0 if 7 * k < 210 else 100.0)
        for k in range(43)
    ]
    rows += _every(2, start, [7] * 42, amount=1000.0)  # the same buyer without the drop
    as_of = start + dt.timedelta(days=7 * 42)  # the day of the last order
    result = _assess(rows, as_of)
    got = result.accounts.set_index("account_id")
    assert got.loc[1, "status"] == "slipping"
    assert got.loc[1, "reason"] == (
        "usually orders every 7 days (median of its last 12 gaps); 0 days since the last order; "
        "spend down 90% vs its usual quarter"
    )
    assert got.loc[2, "status"] == "healthy"
    # the run-rate lost (usual quarter $13,000 -> latest $1,300, annualised: $46,800) is more
    # than it spent over its last year (30 x $1,000 + 13 x $100): at risk is at most that
    assert got.loc[1, "annual_revenue"] == pytest.approx(31_300)
    assert got.loc[1, "revenue_at_risk"] == pytest.approx(31_300)


def test_segment_seasonal_index_slows_the_clock_in_quiet_months():
    from analytics.cycles import build_history, seasonal_clock, seasonal_index

    # 30 accounts of one segment order weekly, but only every other week in June-August
    rows = []
    for account in range(30):
        day = D(2021, 1, 4) + dt.timedelta(days=account % 7)
        while day <= D(2024, 12, 31):
            summer = day.month in (6, 7, 8)
            if not summer or (day.toordinal() // 7) % 2 == 0:
                rows.append((account, day, "Disposables", 50.0))
            day += dt.timedelta(days=7)
    accounts = pd.DataFrame({"account_id": range(30), "segment": ["Education"] * 30})
    history = build_history(_lines(rows), D(2024, 12, 31), accounts)
    index = seasonal_index(history)
    assert index.shape == (1, 12)
    assert index[0, 5:8].max() < 0.75 < 1.0 < index[0, [0, 2, 3, 9, 10]].min()
    # a July day counts for about half a day on the clock, a March day for more than one
    clock = seasonal_clock(index, history.segments, history.first_day, history.last_day)
    july = clock.warp(np.array([0]), np.array([day_number(D(2024, 7, 31))])) - clock.warp(
        np.array([0]), np.array([day_number(D(2024, 6, 30))])
    )
    march = clock.warp(np.array([0]), np.array([day_number(D(2024, 3, 31))])) - clock.warp(
        np.array([0]), np.array([day_number(D(2024, 2, 29))])
    )
    assert july[0] < 0.75 * 31 < 31 < march[0]


def test_shrinking_category_is_told_apart_from_a_stopped_one():
    start = D(2024, 1, 1)
    rows = _every(1, start, [7] * 42, category="Disposables", amount=300.0)
    rows += [
        (1, start + dt.timedelta(days=7 * k), "Cleaning Supplies", 200.0 if 7 * k < 210 else 20.0)
        for k in range(43)
    ]
    result = _assess(rows, start + dt.timedelta(days=7 * 42 + 3))
    cleaning = result.categories.set_index("category").loc["Cleaning Supplies"]
    assert cleaning["status"] == "slipping"
    assert cleaning["reason"] == (
        "still orders Cleaning Supplies (last 3 days ago), but spend on it is down 90% "
        "vs its usual quarter"
    )


def test_repeat_orders_worth_nothing_get_a_finite_learnt_score():
    # free replacement or sample orders: a repeat account whose every order is 0.00 must not
    # turn its features into NaN (which would break learning and scoring)
    rng = np.random.default_rng(5)
    rows = []
    for account in range(60):
        cycle = int(rng.integers(7, 30))
        stop = D(2024, 6, 1) if account % 2 else D(2025, 1, 1)
        amount = 0.0 if account < 4 else 100.0
        day = D(2023, 1, 1) + dt.timedelta(days=int(rng.integers(0, cycle)))
        while day <= stop:
            rows.append((account, day, "Disposables", amount))
            day += dt.timedelta(days=cycle + int(rng.integers(-2, 3)))
    lines = _lines(rows)
    model = HealthModel().fit(lines, as_of=D(2024, 9, 30))
    assert model.account_classifier_ is not None
    got = model.predict(lines, as_of=D(2024, 9, 30)).set_index("account_id").sort_index()
    assert np.isfinite(got["score"]).all()
    assert got.loc[[1, 3], "score"].min() > got.loc[[0, 2], "score"].max()


def test_silences_longer_than_any_in_training_keep_ranking_by_silence():
    # one cohort that all started together: at every earlier cutoff the learnt model sees
    # silences of at most a few months, so at scoring time the longest silences are beyond its
    # training rows; they must still rank above shorter ones (the trees alone are flat there)
    rng = np.random.default_rng(11)
    rows = []
    for account in range(300):
        start = D(2024, 1, 1) + dt.timedelta(days=int(rng.integers(0, 30)))
        stop = start + dt.timedelta(days=int(rng.integers(20, 520)))
        day = start
        while day <= stop:
            rows.append((account, day, "CDs", 20.0))
            day += dt.timedelta(days=int(rng.integers(10, 40)))
    lines = _lines(rows)
    as_of = D(2025, 6, 30)
    model = HealthModel(horizon_days=180).fit(lines, as_of=as_of)
    assert model.account_classifier_ is not None
    seen = model.account_classifier_.seen_max_
    got = model.predict(lines, as_of=as_of).set_index("account_id")
    silent = got["days_since_last_order"]
    beyond = got[(silent > np.expm1(seen[2])) & (got["orders"] >= 2)]
    assert len(beyond) >= 10
    # beyond the training range the score still grows with the silence
    assert beyond["score"].corr(beyond["days_since_last_order"], method="spearman") > 0.5


def test_two_order_days_are_too_little_history_to_flag():
    # two orders a week apart, then silence: a long silence, but one gap is no evidence
    rows = _every(1, D(2024, 1, 1), [7], amount=500.0)
    rows += _every(2, D(2023, 6, 1), [14] * 30)
    rows += _every(3, D(2023, 6, 3), [10] * 40)
    got = _assess(rows, D(2024, 12, 1)).accounts.set_index("account_id")
    assert got.loc[1, "orders"] == 2
    assert got.loc[1, "status"] == "short_history"
    assert got.loc[1, "reason"].startswith("usually orders every 7 days (median of its only gap)")


def test_choose_method_keeps_the_learnt_model_unless_beaten_and_discounts_small_top_deciles():
    from analytics.activity import choose_method

    quality = {
        "learnt model": {"roc_auc": 0.70, "precision_at_10": 0.50},
        "recency": {"roc_auc": 0.65, "precision_at_10": 0.70},
        "BG/NBD": {"roc_auc": 0.69, "precision_at_10": 0.40},
        "gradient-boosted RFM": {"roc_auc": float("nan"), "precision_at_10": 0.90},
        "blend": {"roc_auc": 0.70, "precision_at_10": 0.50},
    }
    # 1,000 accounts: a top decile of 100, its precision counts in full (0.65 + 0.70 wins)
    assert choose_method(quality, accounts=1_000) == "recency"
    # 60 accounts: a top decile of 6, counted at a fifth: 0.70 + 0.10 beats 0.65 + 0.14
    assert choose_method(quality, accounts=60) == "learnt model"


def test_calibration_is_monotone_and_fits_the_outcome_rate():
    from analytics.activity import Calibration

    raw = np.linspace(-3, 3, 400)
    labels = (np.random.default_rng(0).random(400) < 1 / (1 + np.exp(-2 * raw))).astype(int)
    cal = Calibration.fit(raw, labels)
    p = cal(raw)
    assert np.all(np.diff(p) > 0)
    assert abs(p.mean() - labels.mean()) < 0.03
