"""Pipeline definitions checked against hand-computed answers on a tiny team.

The deals (today = 2024-06-30; stages Discovery < Demo < Proposal < Negotiation):

| id | owner | amount | created    | closed            | history                                              |
|----|-------|--------|------------|-------------------|------------------------------------------------------|
| 1  | 1     | 100    | 2024-01-01 | won 2024-03-01    | Disc 01-01, Demo 01-11, Prop 01-21, Neg 02-10        |
| 2  | 1     | 200    | 2024-01-05 | lost 2024-02-15   | Disc 01-05, Demo 01-25                               |
| 3  | 2     | 300    | 2024-02-01 | won 2024-04-01    | Disc 02-01, Demo 02-06, Prop 02-16, Neg 03-17        |
| 4  | 2     | 400    | 2024-02-10 | lost 2024-05-01   | Disc 02-10, Demo 03-01, Prop 04-01                   |
| 5  | 1     | 1000   | 2024-05-01 | open, close 07-15 | Disc 05-01, Demo 05-20, Prop 06-01                   |
| 6  | 2     | 500    | 2024-06-10 | open, close 06-20 | Disc 06-10                                           |
| 7  | 3     | 50     | 2024-06-01 | open, close 09-15 | none (current stage Demo)                            |
| 8  | 1     | 250    | 2024-03-01 | open, close 08-10 | Disc 03-01, Prop 04-01, Demo 06-15 (moved back)      |
| 9  | 2     | 600    | 2024-04-01 | won 2024-06-05    | Disc 04-01, Neg 05-01                                |
| 10 | 1     | 80     | 2024-05-20 | lost 2024-06-25   | Disc 05-20                                           |
| 11 | 3     | 70     | 2024-04-15 | open, close 06-01 | Disc 04-15                                           |

Closed deals carry a final "Closed Won"/"Closed Lost" entry on their close date.
Win rate 3/6 = 0.5; stage-to-win with k = 2: Disc (3+1)/(6+2) = .5, Demo (2+1)/(4+2) = .5,
Prop (2+1)/(3+2) = .6, Neg (3+1)/(3+2) = .8.
Won visits (days): Disc 10, 5, 30; Demo 10, 10; Prop 20, 30; Neg 20, 15, 35.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analytics.errors import InsufficientDataError, NoTeamError, UnknownRepError
from analytics.periods import Period, parse_period
from analytics.pipeline import (
    NO_STAGE,
    StageModel,
    deal_states,
    deals_closing,
    infer_closed_stages,
    movement_summary,
    pipeline_by_rep,
    pipeline_by_stage,
    pipeline_movement,
    pipeline_summary,
    scope_rep_ids,
    stalled_deals,
    team_rep_ids,
)

TODAY = dt.date(2024, 6, 30)
STAGES = ["Discovery", "Demo", "Proposal", "Negotiation"]

DEALS = [
    # id, owner, amount, created, close, closed, won, stage
    (1, 1, 100.0, "2024-01-01", "2024-03-01", True, True, "Closed Won"),
    (2, 1, 200.0, "2024-01-05", "2024-02-15", True, False, "Closed Lost"),
    (3, 2, 300.0, "2024-02-01", "2024-04-01", True, True, "Closed Won"),
    (4, 2, 400.0, "2024-02-10", "2024-05-01", True, False, "Closed Lost"),
    (5, 1, 1000.0, "2024-05-01", "2024-07-15", False, False, "Proposal"),
    (6, 2, 500.0, "2024-06-10", "2024-06-20", False, False, "Discovery"),
    (7, 3, 50.0, "2024-06-01", "2024-09-15", False, False, "Demo"),
    (8, 1, 250.0, "2024-03-01", "2024-08-10", False, False, "Demo"),
    (9, 2, 600.0, "2024-04-01", "2024-06-05", True, True, "Closed Won"),
    (10, 1, 80.0, "2024-05-20", "2024-06-25", True, False, "Closed Lost"),
    (11, 3, 70.0, "2024-04-15", "2024-06-01", False, False, "Discovery"),
]
HISTORY = {
    1: [("Discovery", "2024-01-01"), ("Demo", "2024-01-11"), ("Proposal", "2024-01-21"),
        ("Negotiation", "2024-02-10"), ("Closed Won", "2024-03-01")],
    2: [("Discovery", "2024-01-05"), ("Demo", "2024-01-25"), ("Closed Lost", "2024-02-15")],
    3: [("Discovery", "2024-02-01"), ("Demo", "2024-02-06"), ("Proposal", "2024-02-16"),
        ("Negotiation", "2024-03-17"), ("Closed Won", "2024-04-01")],
    4: [("Discovery", "2024-02-10"), ("Demo", "2024-03-01"), ("Proposal", "2024-04-01"),
        ("Closed Lost", "2024-05-01")],
    5: [("Discovery", "2024-05-01"), ("Demo", "2024-05-20"), ("Proposal", "2024-06-01")],
    6: [("Discovery", "2024-06-10")],
    8: [("Discovery", "2024-03-01"), ("Proposal", "2024-04-01"), ("Demo", "2024-06-15")],
    9: [("Discovery", "2024-04-01"), ("Negotiation", "2024-05-01"), ("Closed Won", "2024-06-05")],
    10: [("Discovery", "2024-05-20"), ("Closed Lost", "2024-06-25")],
    11: [("Discovery", "2024-04-15")],
}  # fmt: skip


def opportunities(rows: list[tuple] | None = None) -> pd.DataFrame:
    """An opportunities frame shaped like ``store.frames.opportunities``."""
    rows = DEALS if rows is None else rows
    frame = pd.DataFrame(
        rows,
        columns=[
            "opportunity_id",
            "owner_id",
            "amount",
            "created_date",
            "close_date",
            "is_closed",
            "is_won",
            "stage",
        ],
    )
    frame["external_id"] = "OPP-" + frame["opportunity_id"].astype(str)
    frame["name"] = "Deal " + frame["opportunity_id"].astype(str)
    frame["account_id"] = 100 + frame["opportunity_id"]
    frame["owner_id"] = pd.array(frame["owner_id"], dtype="Int64")
    frame["created_date"] = pd.to_datetime(frame["created_date"]).astype("datetime64[ns]")
    frame["close_date"] = pd.to_datetime(frame["close_date"]).astype("datetime64[ns]")
    frame["source"] = "inbound"
    frame["forecast_category"] = None
    frame["lead_id"] = pd.array([None] * len(frame), dtype="Int64")
    frame["next_step"] = None
    return frame


def stage_history(history: dict | None = None) -> pd.DataFrame:
    history = HISTORY if history is None else history
    rows = [(opp, stage, day, None) for opp, entries in history.items() for stage, day in entries]
    frame = pd.DataFrame(rows, columns=["opportunity_id", "stage", "entered_date", "amount"])
    frame["opportunity_id"] = frame["opportunity_id"].astype("int64")
    frame["entered_date"] = pd.to_datetime(frame["entered_date"]).astype("datetime64[ns]")
    frame["amount"] = frame["amount"].astype(float)
    return frame.sort_values(["opportunity_id", "entered_date"], ignore_index=True)


def reps() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rep_id": [1, 2, 3, 10, 11],
            "name": ["Ann", "Bob", "Cy", "Vera", "Max"],
            "manager_id": pd.array([11, 11, 10, None, 10], dtype="Int64"),
            "role": ["rep", "rep", "rep", "admin", "manager"],
        }
    )


def activities(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["kind", "occurred_at", "opportunity_id", "account_id", "until_date"]
    )
    frame["activity_id"] = np.arange(1, len(frame) + 1)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"]).astype("datetime64[ns]")
    frame["until_date"] = pd.to_datetime(frame["until_date"]).astype("datetime64[ns]")
    frame["opportunity_id"] = pd.array(frame["opportunity_id"], dtype="Int64")
    frame["account_id"] = pd.array(frame["account_id"], dtype="Int64")
    frame["rep_id"] = pd.array([1] * len(frame), dtype="Int64")
    return frame


def fitted(**params) -> StageModel:
    return StageModel(**params).fit(opportunities(), stage_history(), as_of=TODAY)


# ----------------------------------------------------------------------- scopes


def test_team_is_recursive_and_includes_the_manager() -> None:
    assert team_rep_ids(reps(), 10) == {10, 11, 1, 2, 3}
    assert team_rep_ids(reps(), 11) == {11, 1, 2}
    assert team_rep_ids(reps(), 11, include_manager=False) == {1, 2}
    assert scope_rep_ids(reps(), 1, "rep") == {1}
    assert scope_rep_ids(reps(), 1, "company") is None


def test_a_rep_with_no_team_is_a_clear_error() -> None:
    with pytest.raises(NoTeamError, match="nobody reports to rep 1"):
        team_rep_ids(reps(), 1)
    with pytest.raises(InsufficientDataError):
        scope_rep_ids(reps(), 3, "team")
    with pytest.raises(UnknownRepError):
        team_rep_ids(reps(), 99)


# ----------------------------------------------------------------------- stages


def test_closed_stage_names_and_stage_order_are_learned() -> None:
    assert infer_closed_stages(opportunities(), stage_history()) == {"Closed Won", "Closed Lost"}
    model = fitted()
    assert model.stage_order_ == tuple(STAGES)
    assert model.overall_win_rate_ == 0.5
    assert (model.closed_deals_, model.won_deals_) == (6, 3)


def test_stage_to_win_probabilities_from_history() -> None:
    table = fitted().win_probabilities_
    assert table["stage"].tolist() == STAGES
    assert table["closed_deals"].tolist() == [6, 4, 3, 3]
    assert table["won_deals"].tolist() == [3, 2, 2, 3]
    assert table["win_probability"].tolist() == pytest.approx([0.5, 0.5, 0.6, 0.8])
    raw = fitted(prior_strength=0).win_probabilities_["raw_rate"].tolist()
    assert raw == pytest.approx([0.5, 0.5, 2 / 3, 1.0])


def test_isotonic_pooling_keeps_later_stages_at_least_as_likely() -> None:
    model = StageModel(prior_strength=0).fit(
        opportunities(), stage_history(), as_of=dt.date(2024, 2, 20)
    )
    # only deal 2 closed (lost): every stage it saw is 0/1, the others get the overall 0/1
    assert model.overall_win_rate_ == 0.0
    assert model.win_probabilities_["win_probability"].tolist() == [0.0, 0.0, 0.0, 0.0]
    model = StageModel(prior_strength=1).fit(
        opportunities(), stage_history(), as_of=dt.date(2024, 6, 10)
    )
    # closed by 06-10: 1 W, 2 L, 3 W, 4 L, 9 W -> p_all = 0.6
    # Disc (3 + .6)/(5 + 1) = .6, Demo (2 + .6)/(4 + 1) = .52 -> pooled (.6*6 + .52*5)/11
    pooled = (0.6 * 6 + 0.52 * 5) / 11
    probabilities = model.win_probabilities_["win_probability"].tolist()
    assert probabilities == pytest.approx([pooled, pooled, (2 + 0.6) / 4, (3 + 0.6) / 4])


def test_typical_days_in_stage_come_from_won_deals() -> None:
    days = fitted(min_won_samples=2).stage_days_
    assert days["won_visits"].tolist() == [3, 2, 2, 3]
    assert days["median_days"].tolist() == [10.0, 10.0, 25.0, 20.0]
    assert days["typical_days"].tolist() == [20.0, 10.0, 27.5, 27.5]
    thin = fitted(min_won_samples=3).stage_days_
    assert thin["typical_days"].isna().tolist() == [False, True, True, False]


def test_no_closed_deals_means_no_probabilities_not_nan_weights() -> None:
    only_open = opportunities([row for row in DEALS if not row[5]])
    model = StageModel().fit(only_open, stage_history(), as_of=TODAY)
    assert model.overall_win_rate_ is None
    with pytest.raises(InsufficientDataError, match="no deal had closed"):
        model.win_probability(pd.Series(["Demo"]))
    summary = pipeline_summary(only_open, stage_history(), today=TODAY, model=model)
    assert summary.open_amount == 1870.0
    assert summary.weighted_amount is None
    assert "no deal had closed" in (summary.weighted_reason or "")


# ----------------------------------------------------------------------- states


def test_deal_states_on_a_past_day() -> None:
    states = deal_states(opportunities(), stage_history(), as_of=dt.date(2024, 5, 15)).set_index(
        "opportunity_id"
    )
    assert 6 not in states.index and 10 not in states.index  # not created yet
    assert states.loc[4, "state"] == "lost" and states.loc[9, "state"] == "open"
    assert states.loc[9, "stage"] == "Negotiation"
    assert states.loc[5, "stage"] == "Discovery"
    assert states.loc[8, "stage"] == "Proposal"
    assert states.loc[8, "stage_entered"] == pd.Timestamp("2024-04-01")
    later = deal_states(opportunities(), stage_history(), as_of=dt.date(2024, 6, 15))
    row = later.set_index("opportunity_id").loc[7]
    assert (row["stage"], row["has_history"]) == ("Demo", False)  # no history, open today
    assert pd.isna(row["stage_entered"])


def test_deal_open_then_without_history_has_unknown_stage() -> None:
    history = {k: v for k, v in HISTORY.items() if k != 9}
    states = deal_states(
        opportunities(), stage_history(history), as_of=dt.date(2024, 5, 15)
    ).set_index("opportunity_id")
    assert states.loc[9, "state"] == "open"
    assert states.loc[9, "stage"] == NO_STAGE


# --------------------------------------------------------------------- pipeline


def test_pipeline_by_stage_company() -> None:
    table = pipeline_by_stage(opportunities(), stage_history(), today=TODAY, model=fitted())
    expected = pd.DataFrame(
        {
            "stage": STAGES,
            "position": np.arange(4, dtype="int64"),
            "deals": np.array([2, 2, 1, 0], dtype="int64"),
            "amount": [570.0, 300.0, 1000.0, 0.0],
            "win_probability": [0.5, 0.5, 0.6, 0.8],
            "weighted_amount": [285.0, 150.0, 600.0, 0.0],
        }
    )
    pd.testing.assert_frame_equal(table, expected)


def test_pipeline_summary_rep_and_period() -> None:
    july = parse_period("next month", TODAY)
    summary = pipeline_summary(
        opportunities(), stage_history(), today=TODAY, model=fitted(), period=july
    )
    assert (summary.open_deals, summary.open_amount) == (5, 1870.0)
    assert summary.weighted_amount == pytest.approx(1035.0)
    assert (summary.closing_deals, summary.closing_amount) == (1, 1000.0)
    assert summary.closing_weighted == pytest.approx(600.0)
    assert (summary.past_due_deals, summary.past_due_amount) == (2, 570.0)
    mine = pipeline_summary(
        opportunities(), stage_history(), today=TODAY, model=fitted(), rep_ids={1}
    )
    assert (mine.open_deals, mine.open_amount) == (2, 1250.0)
    assert mine.weighted_amount == pytest.approx(600.0 + 125.0)


def test_pipeline_for_a_team_and_per_rep() -> None:
    team = team_rep_ids(reps(), 11)
    table = pipeline_by_rep(
        opportunities(), stage_history(), reps(), today=TODAY, model=fitted(), rep_ids=team
    )
    assert table["rep_id"].tolist() == [1, 2, 11]
    assert table["open_deals"].tolist() == [2, 1, 0]
    assert table["open_amount"].tolist() == [1250.0, 500.0, 0.0]
    assert table["weighted_amount"].tolist() == pytest.approx([725.0, 250.0, 0.0])


def test_deals_closing_in_a_period() -> None:
    summer = Period(dt.date(2024, 6, 1), dt.date(2024, 8, 10), "summer")
    table = deals_closing(
        opportunities(), stage_history(), period=summer, today=TODAY, model=fitted()
    )
    # closes on the last day of the period are in; closed deals are not
    assert table["opportunity_id"].tolist() == [11, 6, 5, 8]
    assert table["weighted_amount"].tolist() == pytest.approx([35.0, 250.0, 600.0, 125.0])


def test_empty_scope_gives_zero_pipeline() -> None:
    summary = pipeline_summary(
        opportunities(), stage_history(), today=TODAY, model=fitted(), rep_ids=set()
    )
    assert (summary.open_deals, summary.open_amount, summary.weighted_amount) == (0, 0.0, 0.0)


# --------------------------------------------------------------------- movement


def test_movement_since_a_date() -> None:
    moves = pipeline_movement(
        opportunities(), stage_history(), since=dt.date(2024, 5, 15), today=TODAY, model=fitted()
    )
    got = dict(zip(moves["opportunity_id"], moves["movement"], strict=True))
    assert got == {
        6: "new",
        7: "new",
        5: "advanced",
        8: "slipped",
        11: "slipped",
        9: "won",
        10: "lost",
    }
    reasons = dict(zip(moves["opportunity_id"], moves["reason"], strict=True))
    assert reasons[8] == "moved back from Proposal to Demo"
    assert reasons[11] == "expected close date 2024-06-01 passed without closing"
    assert reasons[5] == "moved from Discovery to Proposal"
    summary = movement_summary(moves)
    assert summary["movement"].tolist() == ["new", "advanced", "slipped", "won", "lost"]
    assert summary["deals"].tolist() == [2, 1, 2, 1, 1]
    assert summary["amount"].tolist() == [550.0, 1000.0, 320.0, 600.0, 80.0]


def test_movement_for_one_rep_and_empty_kinds() -> None:
    moves = pipeline_movement(
        opportunities(),
        stage_history(),
        since=dt.date(2024, 5, 15),
        today=TODAY,
        model=fitted(),
        rep_ids={3},
    )
    summary = movement_summary(moves)
    assert summary["deals"].tolist() == [1, 0, 1, 0, 0]


# ---------------------------------------------------------------------- stalled


def test_stalled_deals_with_reasons_and_next_steps() -> None:
    acts = activities(
        [
            ("call", "2024-06-25 10:00", 5, 105, None),
            ("email", "2024-06-28 09:00", None, 106, None),  # account-level, deal 6's account
            ("email", "2024-06-01 09:00", 8, 108, None),
            ("snooze", "2024-06-20 09:00", 11, 111, "2024-07-05"),
        ]
    )
    table = stalled_deals(
        opportunities(),
        stage_history(),
        acts,
        today=TODAY,
        model=fitted(min_won_samples=2),
        no_activity_days=14,
    )
    assert table["opportunity_id"].tolist() == [5, 6, 8, 7]
    assert table["stalled_by"].tolist() == [
        ("stage_time",),
        ("past_close_date",),
        ("stage_time", "no_activity"),
        ("no_activity",),
    ]
    row = table.set_index("opportunity_id")
    assert row.loc[5, "days_in_stage"] == 29.0
    assert row.loc[5, "typical_days_in_stage"] == 27.5
    assert row.loc[5, "reason"] == (
        "in Proposal for 29 days; 75% of won deals moved on within 28 days (2 won deals)"
    )
    assert row.loc[6, "reason"] == "expected to close on 2024-06-20, 10 days ago"
    assert row.loc[8, "days_since_activity"] == 29.0
    assert row.loc[7, "reason"] == "no activity logged since it was created 29 days ago"
    assert np.isnan(row.loc[7, "days_in_stage"])  # no stage history: no stage-time rule
    assert row.loc[6, "next_step"].startswith("Agree a new close date")
    assert row.loc[5, "next_step"].startswith("Propose a mutual close plan")  # mid stage
    assert row.loc[7, "next_step"].startswith("Call the main contact")  # early stage


def test_stalled_without_activities_and_with_crm_next_step() -> None:
    opps = opportunities()
    opps.loc[opps["opportunity_id"] == 11, "next_step"] = "send revised quote"
    table = stalled_deals(opps, stage_history(), None, today=TODAY, model=fitted())
    # min 3 won visits: Discovery (20 days) and Negotiation only
    assert table["opportunity_id"].tolist() == [6, 11]
    row = table.set_index("opportunity_id").loc[11]
    assert row["stalled_by"] == ("past_close_date", "stage_time")
    assert row["next_step"].endswith("(next step in the CRM: send revised quote)")


def test_unfitted_model_is_fitted_on_the_fly() -> None:
    table = pipeline_by_stage(opportunities(), stage_history(), today=TODAY)
    assert table["weighted_amount"].sum() == pytest.approx(1035.0)


def test_activities_only_on_deals_or_only_on_accounts() -> None:
    deal_only = activities([("call", "2024-06-25 10:00", 5, 105, None)])
    table = stalled_deals(
        opportunities(), stage_history(), deal_only, today=TODAY, model=fitted(), stage_time=False
    )
    assert 5 not in set(table["opportunity_id"])
    account_only = activities([("call", "2024-06-25 10:00", None, 105, None)])
    table = stalled_deals(
        opportunities(),
        stage_history(),
        account_only,
        today=TODAY,
        model=fitted(),
        stage_time=False,
    )
    assert 5 not in set(table["opportunity_id"])
    assert 8 in set(table["opportunity_id"])


def test_open_deal_without_a_stage_is_counted_under_no_stage() -> None:
    rows = [*DEALS, (12, 1, 40.0, "2024-06-20", "2024-07-20", False, False, None)]
    table = pipeline_by_stage(opportunities(rows), stage_history(), today=TODAY, model=fitted())
    row = table.set_index("stage").loc[NO_STAGE]
    assert (row["deals"], row["amount"], row["win_probability"]) == (1, 40.0, 0.5)


def test_win_rates_weighted_by_amount() -> None:
    # closed: won 100 + 300 + 600 = 1000 of 1680; Demo saw 1, 2, 3, 4 (won 400 of 1000),
    # Proposal 1, 3, 4 (400 of 800), Negotiation 1, 3, 9 (1000 of 1000)
    model = fitted(weight="amount", prior_strength=0, monotone=False)
    assert model.overall_win_rate_ == pytest.approx(1000 / 1680)
    table = model.win_probabilities_
    assert table["closed_amount"].tolist() == [1680.0, 1000.0, 800.0, 1000.0]
    assert table["won_amount"].tolist() == [1000.0, 400.0, 400.0, 1000.0]
    assert table["win_probability"].tolist() == pytest.approx([1000 / 1680, 0.4, 0.5, 1.0])
    with pytest.raises(ValueError, match="weight"):
        StageModel(weight="value")  # type: ignore[arg-type]


def test_no_stage_history_at_all_falls_back_to_the_overall_win_rate() -> None:
    empty = stage_history({})
    model = StageModel().fit(opportunities(), empty, as_of=TODAY)
    # no history: the order is the open deals' current stages, alphabetically
    assert model.stage_order_ == ("Demo", "Discovery", "Proposal")
    assert model.overall_win_rate_ == 0.5
    table = pipeline_by_stage(opportunities(), empty, today=TODAY, model=model)
    assert table["win_probability"].tolist() == [0.5, 0.5, 0.5]
    assert table["deals"].tolist() == [2, 2, 1]
    assert model.stage_days_["typical_days"].isna().all()
    stalled = stalled_deals(opportunities(), empty, None, today=TODAY, model=model)
    assert set(stalled["stalled_by"]) == {("past_close_date",)}


def test_stalled_deals_with_activities_but_no_open_deal_is_empty():
    import datetime as dt

    import pandas as pd

    from analytics.pipeline import stalled_deals

    opportunities = pd.DataFrame(
        {
            "opportunity_id": [1],
            "account_id": [10],
            "owner_id": pd.array([5], dtype="Int64"),
            "amount": [1000.0],
            "stage": ["closed_won"],
            "created_date": pd.to_datetime(["2025-01-01"]),
            "close_date": pd.to_datetime(["2025-02-01"]),
            "is_closed": [True],
            "is_won": [True],
            "name": ["Won deal"],
            "next_step": [None],
        }
    )
    history = pd.DataFrame(
        {
            "opportunity_id": [1],
            "stage": ["closed_won"],
            "entered_date": pd.to_datetime(["2025-02-01"]),
        }
    )
    activities = pd.DataFrame(
        {
            "activity_id": [1],
            "kind": ["call"],
            "occurred_at": pd.to_datetime(["2025-01-15"]),
            "rep_id": pd.array([5], dtype="Int64"),
            "account_id": pd.array([10], dtype="Int64"),
            "opportunity_id": pd.array([1], dtype="Int64"),
            "until_date": pd.to_datetime([None]),
        }
    )
    stalled = stalled_deals(opportunities, history, activities, today=dt.date(2025, 3, 1))
    assert stalled.empty
