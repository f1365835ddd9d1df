"""Metric definitions on the hand-computed team of ``test_pipeline`` (today 2024-06-30).

Closed in H1 2024: 1 won (100, 60 days), 2 lost (200), 3 won (300, 60 days), 4 lost (400),
9 won (600, 65 days), 10 lost (80). Created in Q2: 5, 6, 7, 9, 10, 11 (2300).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analytics.errors import InvalidParameterError, UnknownMetricError
from analytics.metrics import (
    METRICS,
    MetricFrames,
    acv,
    compute_metric,
    conversion_by_source,
    customer_lifetime_value,
    cycle_length,
    daily_order_totals,
    default_period,
    lead_conversion_rate,
    new_pipeline,
    new_pipeline_by_rep,
    opportunity_win_rate,
    pipeline_value,
    quota_attainment,
    win_rate,
)
from analytics.periods import Period, fiscal_quarter, parse_period
from tests.analytics import test_pipeline as team

TODAY = team.TODAY
H1 = parse_period("H1", TODAY)
Q1, Q2 = fiscal_quarter(2024, 1), fiscal_quarter(2024, 2)


def leads() -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            (1, "referral", "converted", "2024-01-10", "2024-02-01", 1),
            (2, "referral", "open", "2024-02-10", None, 1),  # deal 1 came from it
            (3, "outbound", "disqualified", "2024-03-05", None, 1),
            (4, "outbound", "open", "2024-03-20", None, 2),
            (5, "inbound", "open", "2024-05-01", "2024-07-10", 2),  # converts after today
            (6, "outbound", "converted", "2023-12-01", "2023-12-20", 2),
        ],
        columns=["lead_id", "source", "status", "created_date", "converted_date", "owner_id"],
    )
    for column in ("created_date", "converted_date"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    frame["owner_id"] = pd.array(frame["owner_id"], dtype="Int64")
    frame["segment"] = "retail"
    frame["employees"] = pd.array([10] * len(frame), dtype="Int64")
    return frame


def opportunities() -> pd.DataFrame:
    frame = team.opportunities()
    frame["lead_id"] = pd.array([2 if i == 1 else None for i in frame["opportunity_id"]], "Int64")
    return frame


def order_lines(rows: list[tuple] | None = None) -> pd.DataFrame:
    rows = rows or [
        (1, 1, "2022-03-01", 100.0),
        (1, 2, "2022-09-01", 100.0),
        (1, 3, "2023-03-01", 200.0),
        (1, 3, "2023-03-01", 50.0),  # second line of the same order
        (1, 4, "2023-09-01", 200.0),
        (2, 5, "2022-05-01", 50.0),
        (2, 6, "2022-06-01", 50.0),
        (3, 7, "2023-02-01", 300.0),
        (3, 8, "2023-04-01", 300.0),
        (4, 9, "2023-05-01", 1000.0),
        (5, 10, "2022-01-15", 80.0),
        (5, 11, "2023-06-15", 80.0),
        (5, 12, "2024-03-01", 80.0),
    ]
    frame = pd.DataFrame(rows, columns=["account_id", "order_id", "order_date", "amount"])
    frame["order_date"] = pd.to_datetime(frame["order_date"]).astype("datetime64[ns]")
    frame["product_id"] = 1
    frame["category"] = "coffee"
    frame["quantity"] = 1.0
    return frame


def targets() -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            (1, "2024-04-01", "2024-06-30", "bookings", 400.0),
            (2, "2024-04-01", "2024-06-30", "bookings", 800.0),
            (1, "2024-01-01", "2024-12-31", "revenue", 3660.0),
        ],
        columns=["rep_id", "period_start", "period_end", "metric", "amount"],
    )
    for column in ("period_start", "period_end"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    return frame


# ----------------------------------------------------------------------- deals


def test_win_rate_by_count_and_amount() -> None:
    result = win_rate(opportunities(), period=H1, today=TODAY)
    assert (result.value, result.numerator, result.denominator) == (0.5, 3.0, 6.0)
    assert result.period == H1 and result.kind == "ratio" and result.reason is None
    by_amount = win_rate(opportunities(), period=H1, today=TODAY, by="amount")
    assert (by_amount.numerator, by_amount.denominator) == (1000.0, 1680.0)
    assert win_rate(opportunities(), period=H1, today=TODAY, rep_ids={1}).value == 1 / 3
    assert win_rate(opportunities(), period=Q2, today=TODAY).value == 0.5


def test_win_rate_without_closed_deals_is_not_nan() -> None:
    result = win_rate(opportunities(), period=H1, today=TODAY, rep_ids={3})
    assert result.value is None
    assert (result.numerator, result.denominator) == (0.0, 0.0)
    assert result.reason == "no deals closed in H1 2024, so there is no win rate yet"


def test_period_reaching_past_today_counts_only_what_is_known() -> None:
    # deal 10 closed 2024-06-25: on 2024-06-20 it was not closed yet
    result = win_rate(opportunities(), period=Q2, today=dt.date(2024, 6, 20))
    assert (result.numerator, result.denominator) == (2.0, 3.0)
    with pytest.raises(InvalidParameterError, match="starts after"):
        win_rate(opportunities(), period=fiscal_quarter(2024, 3), today=TODAY)


def test_opportunity_to_won_conversion_keeps_open_deals_in_the_cohort() -> None:
    result = opportunity_win_rate(opportunities(), period=H1, today=TODAY)
    assert (result.numerator, result.denominator) == (3.0, 11.0)
    assert result.details["still_open"] == 5.0


def test_lead_to_opportunity_conversion() -> None:
    result = lead_conversion_rate(leads(), period=H1, today=TODAY, opportunities=opportunities())
    assert (result.value, result.numerator, result.denominator) == (0.4, 2.0, 5.0)
    assert result.details["still_open"] == 2.0
    referral = lead_conversion_rate(leads(), period=H1, today=TODAY, source="referral")
    assert (referral.numerator, referral.denominator) == (1.0, 2.0)  # no link to deal 1
    nobody = lead_conversion_rate(leads(), period=H1, today=TODAY, rep_ids={3})
    assert nobody.value is None and nobody.reason == "no leads were created in H1 2024"


def test_conversion_by_source() -> None:
    opps = opportunities()
    opps["source"] = ["referral", "referral", "outbound", None, *(["inbound"] * 7)]
    table = conversion_by_source(leads(), opps, period=H1, today=TODAY)
    rows = {(r.funnel_step, r.source): (r.numerator, r.denominator) for r in table.itertuples()}
    assert rows == {
        ("lead_to_opportunity", "inbound"): (0, 1),
        ("lead_to_opportunity", "outbound"): (0, 2),
        ("lead_to_opportunity", "referral"): (2, 2),
        ("opportunity_to_won", "(none)"): (0, 1),
        ("opportunity_to_won", "inbound"): (1, 7),
        ("opportunity_to_won", "outbound"): (1, 1),
        ("opportunity_to_won", "referral"): (1, 2),
    }
    assert table["value"].tolist() == pytest.approx([0, 0, 1, 0, 1 / 7, 1, 0.5])


def test_new_pipeline_and_per_rep_per_quarter() -> None:
    result = new_pipeline(opportunities(), period=Q2, today=TODAY)
    assert (result.value, result.numerator, result.denominator, result.kind) == (
        2300.0,
        2300.0,
        6.0,
        "sum",
    )
    table = new_pipeline_by_rep(opportunities(), periods=[Q1, Q2], today=TODAY, rep_ids={1, 2, 3})
    assert table["period"].tolist() == ["Q1 2024"] * 3 + ["Q2 2024"] * 3
    assert table["deals"].tolist() == [3, 2, 0, 2, 2, 2]
    assert table["amount"].tolist() == [550.0, 700.0, 0.0, 1080.0, 1100.0, 120.0]


def test_pipeline_value() -> None:
    result = pipeline_value(opportunities(), today=TODAY)
    assert (result.value, result.denominator) == (1870.0, 5.0)
    assert result.period == Period(TODAY, TODAY, "2024-06-30")
    july = pipeline_value(opportunities(), today=TODAY, period=parse_period("next month", TODAY))
    assert (july.value, july.denominator) == (1000.0, 1.0)


def test_acv_and_contract_terms() -> None:
    result = acv(opportunities(), period=H1, today=TODAY)
    assert (result.numerator, result.denominator) == (1000.0, 3.0)
    assert result.value == pytest.approx(1000 / 3)
    opps = opportunities()
    opps["term_months"] = [24.0] + [np.nan] * 10
    assert acv(opps, period=H1, today=TODAY, term_months_column="term_months").value == (
        pytest.approx(950 / 3)
    )
    assert acv(opportunities(), period=H1, today=TODAY, rep_ids={3}).value is None


def test_cycle_length_of_won_deals() -> None:
    result = cycle_length(opportunities(), period=H1, today=TODAY)
    assert (result.numerator, result.denominator) == (60.0 + 60.0 + 65.0, 3.0)
    assert result.unit == "days"


def test_quota_attainment_for_rep_team_and_missing_quota() -> None:
    rep2 = quota_attainment(
        targets(), period=Q2, today=TODAY, rep_ids={2}, opportunities=opportunities()
    )
    assert (rep2.numerator, rep2.denominator, rep2.value) == (900.0, 800.0, 1.125)
    both = quota_attainment(
        targets(), period=Q2, today=TODAY, rep_ids={1, 2}, opportunities=opportunities()
    )
    assert both.value == 0.75
    none = quota_attainment(
        targets(), period=Q2, today=TODAY, rep_ids={3}, opportunities=opportunities()
    )
    assert none.value is None and none.reason == "no bookings quota overlaps Q2 2024"
    revenue = quota_attainment(
        targets(),
        period=H1,
        today=TODAY,
        rep_ids={1},
        order_lines=order_lines(),
        account_ids=[5],
        metric="revenue",
    )
    # 80 ordered on 2024-03-01; quota 3660 * 182 / 366 days
    assert (revenue.numerator, revenue.denominator) == (80.0, pytest.approx(1820.0))


# ---------------------------------------------------------------------- orders


def test_clv_of_repeat_order_accounts() -> None:
    year = parse_period("2023", TODAY)
    result = customer_lifetime_value(order_lines(), period=year, today=TODAY)
    # repeat: 1, 2, 3, 5 (4 ordered once); active in 2023: 1 (450), 3 (600), 5 (80)
    assert (result.numerator, result.denominator) == (1130.0, 3.0)
    # ordered in 2022: 1, 2, 5; again in 2023: 1, 5 -> retention 2/3, lifetime 3 years
    assert result.details["retention_rate"] == pytest.approx(2 / 3)
    assert result.details["expected_lifetime_years"] == pytest.approx(3.0)
    assert result.value == pytest.approx(1130 / 3 * 3)
    half = customer_lifetime_value(order_lines(), period=year, today=TODAY, margin=0.5)
    assert half.value == pytest.approx(1130 / 2)


def test_clv_without_enough_history() -> None:
    first_year = customer_lifetime_value(
        order_lines(), period=parse_period("2022", TODAY), today=TODAY
    )
    assert first_year.value is None and "retention" in (first_year.reason or "")
    one_off = customer_lifetime_value(
        order_lines(), period=parse_period("2023", TODAY), today=TODAY, account_ids=[4]
    )
    assert one_off.value is None
    assert one_off.reason == "no repeat-order account bought in 2023"


# ------------------------------------------------------------------ dispatcher


def test_every_named_metric_answers_through_the_dispatcher() -> None:
    accounts = pd.DataFrame(
        {"account_id": [1, 2, 3, 4, 5], "owner_id": pd.array([1, 1, 2, 2, 1], dtype="Int64")}
    )
    frames = MetricFrames(
        opportunities=opportunities(),
        leads=leads(),
        order_lines=order_lines(),
        accounts=accounts,
        targets=targets(),
    )
    for metric in METRICS:
        result = compute_metric(metric, frames, today=TODAY, period=None, rep_ids={1, 2})
        assert result.metric == metric
        assert (result.value is None) == (result.reason is not None)
    clv = compute_metric(
        "clv", frames, today=TODAY, period=parse_period("2023", TODAY), rep_ids={1}
    )
    assert (clv.numerator, clv.denominator) == (530.0, 2.0)
    won = compute_metric(
        "conversion_rate", frames, today=TODAY, period=H1, conversion="opportunity_to_won"
    )
    assert won.label == "opportunity to won conversion"
    with pytest.raises(UnknownMetricError, match="known: win_rate"):
        compute_metric("nps", frames, today=TODAY)
    with pytest.raises(InvalidParameterError, match="needs the leads"):
        compute_metric("conversion_rate", MetricFrames(), today=TODAY)


def test_default_periods() -> None:
    assert default_period("win_rate", TODAY) == Period(dt.date(2023, 7, 1), TODAY, "last 12 months")
    assert default_period("quota_attainment", TODAY) == Q2
    assert default_period("pipeline_value", TODAY) is None


def test_daily_totals_give_the_same_order_metrics() -> None:
    daily = daily_order_totals(order_lines())
    assert len(daily) == 12  # two lines of one order on one day count once
    year = parse_period("2023", TODAY)
    for frame in (daily, order_lines().sample(frac=1.0, random_state=3)):
        result = customer_lifetime_value(frame, period=year, today=TODAY)
        assert (result.numerator, result.denominator) == (1130.0, 3.0)
        assert result.value == pytest.approx(1130.0)
