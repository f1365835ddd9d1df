"""The digest of a seeded team: every section matches the analytics and store answers for
the same team, the hand-known numbers of tests/digests/seed.py, and Slack's limits."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from analytics.digest import build_digest
from analytics.forecast import forecast
from analytics.periods import quarter_period
from analytics.pipeline import (
    StageModel,
    movement_summary,
    pipeline_movement,
    pipeline_summary,
    stalled_deals,
)
from render.blocks import validate_blocks
from render.digest import digest_answer, rep_line_answer
from store import book, frames
from store.team import team_frames, team_of
from tests.digests.seed import AS_OF, QUOTA, SCORED, SINCE, TEAM_RISK, seed_team

CALLS_SINCE = dt.datetime(2026, 2, 10, tzinfo=dt.UTC)


@pytest.fixture
def seeded(engine):
    return seed_team(engine)


def _digest(engine, rep_ids, manager_id=None):
    team = team_frames(engine, rep_ids, calls_since=CALLS_SINCE)
    return build_digest(
        **team.frames(), rep_ids=rep_ids, today=AS_OF, since=SINCE, manager_id=manager_id
    )


def test_digest_matches_the_analytics_for_the_team(engine, seeded):
    team = team_of(engine, seeded.reps["vera"])
    assert team == seeded.team
    digest = _digest(engine, team, seeded.reps["vera"])
    opportunities, history = frames.opportunities(engine), frames.stage_history(engine)
    model = StageModel().fit(opportunities, history, as_of=AS_OF)
    quarter = quarter_period(AS_OF)

    summary = pipeline_summary(
        opportunities, history, today=AS_OF, model=model, rep_ids=team, period=quarter
    )
    assert digest.period == quarter
    assert digest.pipeline.open_deals == summary.open_deals == 3
    assert digest.pipeline.open_amount == pytest.approx(summary.open_amount) == 80_000.0
    assert digest.pipeline.weighted_amount == pytest.approx(summary.weighted_amount)
    assert digest.pipeline.closing_deals == summary.closing_deals
    pd.testing.assert_frame_equal(digest.pipeline.by_stage, summary.by_stage)

    outlook = forecast(
        opportunities, history, period=quarter, today=AS_OF, model=model, rep_ids=team,
        targets=frames.targets(engine), n_simulations=2000,
    )  # fmt: skip
    assert digest.forecast.closed_won == outlook.closed_won == 8_000.0
    assert digest.forecast.quota == pytest.approx(QUOTA)
    assert digest.forecast.attainment == pytest.approx(8_000.0 / QUOTA)
    assert digest.forecast.commit == pytest.approx(outlook.commit)
    assert digest.forecast.weighted == pytest.approx(outlook.weighted)

    moved = pipeline_movement(
        opportunities, history, since=SINCE, today=AS_OF, model=model, rep_ids=team
    )
    pd.testing.assert_frame_equal(digest.movement, movement_summary(moved))
    counts = digest.movement.set_index("movement")["deals"].to_dict()
    assert counts == {"new": 1, "advanced": 1, "slipped": 1, "won": 1, "lost": 1}

    stalled = stalled_deals(
        opportunities, history, frames.activities(engine), today=AS_OF, model=model, rep_ids=team
    )
    assert digest.stalled_total == len(stalled)
    assert list(digest.stalled["opportunity_id"]) == list(stalled["opportunity_id"].head(5))
    assert seeded.deals["Globex expansion"] in set(stalled["opportunity_id"])

    flagged = book.flagged_accounts(engine, owner_ids=team, limit=10)
    assert digest.slipping_total == flagged.total == 3
    assert digest.slipping_revenue_at_risk == pytest.approx(flagged.total_revenue_at_risk)
    assert digest.slipping_revenue_at_risk == pytest.approx(TEAM_RISK)
    assert list(digest.slipping["account_id"]) == list(flagged.rows["account_id"])
    assert digest.accounts_in_book == flagged.accounts_in_book == 4
    by_rep = digest.slipping_by_rep.set_index("name")["revenue_at_risk"].to_dict()
    assert by_rep == {"Bob Nakamura": 30_000.0, "Ann Kowalski": 12_000.0, "Cy Duarte": 5_000.0}
    assert digest.scored_as_of == SCORED


def test_pitches_not_acted_on_leave_out_accounts_contacted_since_scoring(engine, seeded):
    digest = _digest(engine, seeded.team, seeded.reps["vera"])
    best = book.top_recommendations(engine, owner_ids=seeded.team, limit=10)
    contacted_since = {seeded.accounts["umbrella"]}
    expected = best[~best["account_id"].isin(contacted_since)]
    assert list(digest.pitches["account_id"]) == list(expected["account_id"])
    assert list(digest.pitches["name"]) == ["Initech Schools", "Globex Hotels"]
    assert digest.pitches_open == 2
    assert digest.pitches_open_value == pytest.approx(14_400.0)
    assert digest.pitches_acted_on == 1


def test_coaching_themes_compare_the_last_seven_days_with_the_seven_before(engine, seeded):
    digest = _digest(engine, seeded.team, seeded.reps["vera"])
    themes = digest.coaching.set_index("category")
    assert themes.loc["pricing", ["flags", "flags_before"]].tolist() == [3, 2]
    assert themes.loc["pricing", "change"] == pytest.approx(0.5)
    assert pd.isna(themes.loc["competitor", "change"])  # nothing to compare with
    assert themes.loc["next_steps", "change"] == pytest.approx(-1.0)
    assert list(digest.coaching["category"]) == ["pricing", "competitor", "next_steps"]
    assert (digest.calls_reviewed, digest.calls_reviewed_before) == (2, 2)
    assert str(digest.coaching_period.start) == "2026-02-24"
    text = digest_answer(digest.to_data()).text
    assert "pricing objections up 50% (3 vs 2)" in text
    assert "competitor mentions new (1 vs 0)" in text


def test_one_line_per_rep_adds_up_to_the_team(engine, seeded):
    digest = _digest(engine, seeded.team, seeded.reps["vera"])
    lines = digest.rep_lines.set_index("name")
    assert sorted(lines.index) == ["Ann Kowalski", "Bob Nakamura", "Cy Duarte"]
    assert lines["open_amount"].sum() == pytest.approx(digest.pipeline.open_amount)
    assert lines["closed_won"].sum() == pytest.approx(digest.forecast.closed_won)
    assert lines["quota"].sum() == pytest.approx(QUOTA)
    assert lines["revenue_at_risk"].sum() == pytest.approx(TEAM_RISK)
    assert lines["stalled_deals"].sum() == digest.stalled_total
    assert lines.loc["Bob Nakamura", ["new_deals", "lost_deals"]].tolist() == [1, 1]
    assert lines.loc["Cy Duarte", ["won_deals", "won_amount"]].tolist() == [1, 8_000.0]
    assert lines.loc["Ann Kowalski", "coaching_flags"] == 4


def test_another_teams_rows_never_show(engine, seeded):
    data = _digest(engine, seeded.team, seeded.reps["vera"]).to_data()
    text = json.dumps(data)
    for outsider in ("Outside Co", "Outside deal", "Zed Quinn"):
        assert outsider not in text
    company = _digest(engine, team_of(engine, seeded.reps["ada"]))
    assert company.slipping_total == 4
    assert company.pipeline.open_amount == pytest.approx(150_000.0)


def test_rendered_digest_says_every_period_and_fits_slack(engine, seeded):
    data = _digest(engine, seeded.team, seeded.reps["vera"]).to_data()
    json.dumps(data, allow_nan=False)
    answer = digest_answer(data)
    assert answer.kind == "digest"
    assert validate_blocks(answer.blocks) == []
    assert answer.blocks[0]["text"]["text"] == "Team digest: Vera Lind's team"
    text = answer.text
    for phrase in (
        "As of Mar 2, 2026",
        "moves since Feb 23, 2026",
        "quarter Q1 2026 (Jan 1 – Mar 31, 2026)",
        "accounts scored Mar 1, 2026",
        "*Pipeline*: $80k open in 3 deals",
        "closed won $8.0k (1 deal) of a $90k quota (9%)",
        "*What moved* since Feb 23, 2026 (7 days): 1 new ($50k), 1 advanced ($10k), "
        "1 slipped ($20k), 1 won ($8.0k), 1 lost ($6.0k).",
        "3 accounts of 4, $47k a year at risk",
        "2 accounts, $14k a year expected; 1 account contacted since",
        "*Coaching themes* (last 7 days, Feb 24 – Mar 2, 2026: 2 calls; 2 the 7 days before)",
        "*Bob Nakamura* — $50k open (1 deal) · won $0 of $30k (0%) in Q1 2026 · moves: 1 new, 1 lost",
    ):
        assert phrase in text, phrase
    charts = data["charts"]
    assert [s["stage"] for s in charts["pipeline_by_stage"]["stages"]] == [
        "prospecting", "qualification", "proposal", "negotiation",
    ]  # fmt: skip
    assert charts["revenue_at_risk_by_rep"]["reps"][0] == {
        "rep_id": seeded.reps["bob"], "name": "Bob Nakamura", "accounts": 1, "revenue_at_risk": 30_000.0,
    }  # fmt: skip
    assert charts["forecast_vs_quota"]["quota"] == pytest.approx(QUOTA)


def test_a_reps_own_line(engine, seeded):
    data = _digest(engine, frozenset({seeded.reps["ann"]}), seeded.reps["ann"]).to_data()
    answer = rep_line_answer(data, intro="Team digests are for managers.")
    assert answer.text.splitlines()[1].startswith("*Ann Kowalski* — $30k open (2 deals)")
    assert "Bob" not in answer.text
    assert validate_blocks(answer.blocks) == []


def test_a_team_without_open_deals_or_scores_still_gets_a_digest(sqlite_engine):
    seeded = seed_team(sqlite_engine)
    with sqlite_engine.begin() as conn:
        for table in ("account_health", "recommendation"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    olga_team = team_of(sqlite_engine, seeded.reps["olga"])
    frames_ = team_frames(sqlite_engine, olga_team, calls_since=CALLS_SINCE)
    digest = build_digest(**frames_.frames(), rep_ids=olga_team, today=dt.date(2025, 1, 2))
    assert digest.pipeline.open_deals == 0 and digest.stalled_total == 0
    assert digest.scored_as_of is None and digest.slipping_total == 0
    answer = digest_answer(digest.to_data())
    assert validate_blocks(answer.blocks) == []
    assert "*Stalled deals* (on Jan 2, 2025): none." in answer.text
    assert "*Slipping accounts* (not scored yet): none of 1 account is slipping" in answer.text


def test_the_digest_says_how_the_last_runs_flags_and_pitches_turned_out(engine, seeded):
    data = _digest(engine, seeded.team, seeded.reps["vera"]).to_data()
    assert "Track record" not in digest_answer(data).text  # no backtest stored: no line
    data["track_record"] = {
        "slipping": {
            "as_of": "2026-03-01",
            "horizon_days": 90,
            "flagged": 57,
            "flagged_no_order": 31,
        },
        "pitch": {"as_of": "2026-03-01", "horizon_days": 90, "pitched": 40, "pitched_adopted": 9},
    }
    answer = digest_answer(data)
    assert (
        "*Track record*: of 57 accounts the model would have flagged on Mar 1, 2026, 31 did not "
        "order again in the next 90 days." in answer.text
    )
    assert "Pitches made on Mar 1, 2026: 9 of 40 became first orders within 90 days." in answer.text
    validate_blocks(answer.blocks)
