"""Forecast definitions on the hand-computed team of ``test_pipeline`` (today 2024-06-30).

Learned stage-to-win: Discovery .5, Demo .5, Proposal .6, Negotiation .8.
Q2 2024: won 3 (300, 04-01) and 9 (600, 06-05); open deals dated in Q2: 6 (500, Discovery)
and 11 (70, Discovery). Q3 2024: open 5 (1000, Proposal, 07-15), 8 (250, Demo, 08-10),
7 (50, Demo, 09-15).
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from analytics.errors import InvalidParameterError
from analytics.forecast import (
    CloseTimingModel,
    forecast,
    forecast_by_rep,
    normalise_forecast_category,
    quota_for,
)
from analytics.periods import Period, fiscal_quarter, parse_period
from analytics.pipeline import StageModel
from tests.analytics import test_pipeline as team

TODAY = team.TODAY
Q2 = fiscal_quarter(2024, 2)
Q3 = fiscal_quarter(2024, 3)


def targets() -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            (1, "2024-07-01", "2024-09-30", "bookings", 1200.0),
            (2, "2024-07-01", "2024-09-30", "bookings", 2000.0),
            (1, "2024-01-01", "2024-12-31", "revenue", 99999.0),
            (3, "2024-07-01", "2024-07-31", "bookings", 300.0),
        ],
        columns=["rep_id", "period_start", "period_end", "metric", "amount"],
    )
    for column in ("period_start", "period_end"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    return frame


def model() -> StageModel:
    return team.fitted()


def test_forecast_for_a_quarter_in_progress() -> None:
    result = forecast(
        team.opportunities(), team.stage_history(), period=Q2, today=TODAY, model=model()
    )
    assert (result.closed_won, result.closed_won_deals) == (900.0, 2)
    assert result.open_deals == 2
    assert result.commit == 900.0  # p = .5 < .6: both open deals are best case
    assert result.best_case == 1470.0
    assert result.pipeline == 1470.0
    assert result.weighted == pytest.approx(900 + 250 + 35)
    assert result.std == pytest.approx(math.sqrt(500**2 * 0.25 + 70**2 * 0.25))
    # outcomes 900, 970, 1400, 1470 with a quarter of the mass each
    assert (result.p10, result.p90) == (900.0, 1470.0)
    assert 970.0 <= (result.p50 or 0) <= 1400.0
    assert result.quota is None and result.attainment is None
    assert result.quota_reason == "no quotas are loaded"
    assert result.deals["opportunity_id"].tolist() == [11, 6]


def test_forecast_next_quarter_with_quota_for_one_rep() -> None:
    result = forecast(
        team.opportunities(),
        team.stage_history(),
        period=Q3,
        today=TODAY,
        model=model(),
        rep_ids={1},
        targets=targets(),
        n_simulations=20000,
    )
    assert result.closed_won == 0.0
    assert result.commit == 1000.0  # Proposal .6 >= .6
    assert result.best_case == 1250.0
    assert result.weighted == pytest.approx(725.0)
    assert result.quota == 1200.0
    assert result.attainment == 0.0
    assert result.projected_attainment == pytest.approx(725 / 1200)
    # only "both deals won" (0.6 * 0.5) reaches 1200
    assert result.chance_of_quota == pytest.approx(0.3, abs=0.015)


def test_crm_forecast_categories_override_probabilities() -> None:
    opps = team.opportunities()
    opps.loc[opps["opportunity_id"] == 5, "forecast_category"] = "Omitted"
    opps.loc[opps["opportunity_id"] == 8, "forecast_category"] = "Commit"
    opps.loc[opps["opportunity_id"] == 7, "forecast_category"] = "Pipeline"
    result = forecast(opps, team.stage_history(), period=Q3, today=TODAY, model=model())
    assert result.open_deals == 2  # the omitted deal is out of every number
    assert (result.commit, result.best_case, result.pipeline) == (250.0, 250.0, 300.0)
    assert result.weighted == pytest.approx(150.0)
    assert result.deals["category"].tolist() == ["commit", "pipeline"]


def test_quota_is_pro_rated_and_summed_over_a_team() -> None:
    july = parse_period("next month", TODAY)
    assert quota_for(targets(), july, {1}).amount == pytest.approx(1200 * 31 / 92)
    assert quota_for(targets(), Q3, {1, 2, 11}).amount == 3200.0
    assert quota_for(targets(), Q3, {1}, metric="revenue").amount == pytest.approx(
        99999.0 * 92 / 366
    )
    missing = quota_for(targets(), Q2, {3})
    assert missing.amount is None
    assert missing.reason == "no bookings quota overlaps Q2 2024"


def test_no_closed_history_keeps_crm_numbers_and_says_why() -> None:
    only_open = team.opportunities([row for row in team.DEALS if not row[5]])
    only_open.loc[only_open["opportunity_id"] == 5, "forecast_category"] = "commit"
    result = forecast(only_open, team.stage_history(), period=Q3, today=TODAY)
    assert result.weighted is None and result.std is None and result.p50 is None
    assert "no deal had closed" in (result.reason or "")
    assert (result.commit, result.best_case, result.pipeline) == (1000.0, 1000.0, 1300.0)


def test_fixed_stage_probabilities_for_the_baseline() -> None:
    vendor = {"Discovery": 0.1, "Demo": 0.2, "Proposal": 0.4, "Negotiation": 0.8}
    result = forecast(
        team.opportunities(),
        team.stage_history(),
        period=Q3,
        today=TODAY,
        model=model(),
        stage_probabilities=vendor,
    )
    assert result.weighted == pytest.approx(1000 * 0.4 + 250 * 0.2 + 50 * 0.2)
    with pytest.raises(InvalidParameterError, match="Demo"):
        forecast(
            team.opportunities(),
            team.stage_history(),
            period=Q3,
            today=TODAY,
            model=model(),
            stage_probabilities={"Proposal": 0.4},
        )


def test_forecast_by_rep_lines() -> None:
    table = forecast_by_rep(
        team.opportunities(),
        team.stage_history(),
        team.reps(),
        period=Q3,
        today=TODAY,
        rep_ids={1, 2, 3},
        model=model(),
        targets=targets(),
    )
    assert table["rep_id"].tolist() == [1, 3, 2]
    assert table["weighted"].tolist() == pytest.approx([725.0, 25.0, 0.0])
    assert table["quota"].tolist() == [1200.0, 300.0, 2000.0]
    assert table["attainment"].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Best Case", "best_case"), ("UPSIDE", "best_case"), ("Commit", "commit"), ("", None),
     (None, None), ("Omitted", "omitted"), ("pipeline", "pipeline")],
)  # fmt: skip
def test_forecast_category_spellings(raw: object, expected: str | None) -> None:
    assert normalise_forecast_category(raw) == expected


def test_period_before_any_deal_is_all_zero() -> None:
    result = forecast(
        team.opportunities(),
        team.stage_history(),
        period=fiscal_quarter(2020, 1),
        today=TODAY,
        model=model(),
    )
    assert (result.closed_won, result.weighted, result.std, result.open_deals) == (
        0.0,
        0.0,
        0.0,
        0,
    )
    assert dt.date(2020, 1, 1) in result.period


def timing_model() -> CloseTimingModel:
    # snapshots on 05-31, 05-01 and 04-01, each judged 30 days later:
    # Discovery 5 open / 0 won, Demo 1 / 0, Proposal 4 / 0, Negotiation 2 / 1 (deal 9 on 06-05)
    return CloseTimingModel(horizons=(30,), step_days=30, lookback_days=90, prior_strength=0).fit(
        team.opportunities(), team.stage_history(), as_of=TODAY, model=model()
    )


def test_close_timing_is_learned_from_past_snapshots() -> None:
    table = timing_model().table_
    assert table["stage"].tolist() == team.STAGES
    assert table["open_deals"].tolist() == [5, 1, 4, 2]
    assert table["won_within"].tolist() == [0, 0, 0, 1]
    assert table["probability"].tolist() == [0.0, 0.0, 0.0, 0.5]
    stages = pd.Series(["Negotiation", "Discovery", "(no stage history)"])
    assert timing_model().win_within(stages, 15).tolist() == [0.25, 0.0, 0.0625]
    assert timing_model().win_within(stages, 400).tolist() == [0.5, 0.0, 0.125]
    assert timing_model().win_within(stages, 0).tolist() == [0.0, 0.0, 0.0]


def test_timed_forecast_does_not_use_close_dates() -> None:
    june = parse_period("June 2024", TODAY)
    result = forecast(
        team.opportunities(),
        team.stage_history(),
        period=june,
        today=dt.date(2024, 5, 31),
        model=model(),
        timing=timing_model(),
    )
    # open on 05-31: deals 5, 8, 10, 11 (p = 0 within 30 days) and 9 in Negotiation (600)
    assert result.timed == pytest.approx(300.0)
    assert result.timed_std == pytest.approx(300.0)
    late_june = Period(dt.date(2024, 6, 16), dt.date(2024, 6, 30), "late June")
    later = forecast(
        team.opportunities(),
        team.stage_history(),
        period=late_june,
        today=dt.date(2024, 5, 31),
        model=model(),
        timing=timing_model(),
    )
    assert later.timed == pytest.approx(600 * (0.5 - 0.25))
    assert (
        forecast(
            team.opportunities(), team.stage_history(), period=june, today=TODAY, model=model()
        ).timed
        is None
    )
