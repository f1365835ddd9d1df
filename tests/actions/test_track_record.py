"""The track record: every scoring run backtests itself on the company's own history (the
time split one horizon back), stores the figures, and they are answered in chat."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from actions.settings import get_settings
from actions.track_record import ActionTrackRecord
from analytics.activity import track_record
from analytics.health import HealthModel
from store import insights
from tests.actions.harness import run_action, tracker_for
from tests.seed import AS_OF, seed_book


def _book_with_stoppers() -> pd.DataFrame:
    """80 regular buyers; every third one stops at a different point in 2024-2025."""
    rng = np.random.default_rng(5)
    rows = []
    for account in range(80):
        cycle = int(rng.integers(7, 40))
        stop = dt.date(2024, 3, 1) + dt.timedelta(days=7 * account) if account % 3 == 0 else AS_OF
        day = dt.date(2023, 1, 1) + dt.timedelta(days=int(rng.integers(0, cycle)))
        while day <= stop:
            rows.append((account, pd.Timestamp(day), "Disposables", 100.0))
            day += dt.timedelta(days=cycle + int(rng.integers(-3, 4)))
    return pd.DataFrame(rows, columns=["account_id", "order_date", "category", "amount"])


def test_the_backtest_is_on_the_time_split_one_horizon_back():
    lines = _book_with_stoppers()
    model = HealthModel().fit(lines, as_of=AS_OF)
    backtest = model.backtest_
    assert backtest is not None
    back = AS_OF - dt.timedelta(days=90)
    assert backtest.as_of == back
    # its labels are what happened after that day and by the scoring day, counted by hand
    days = lines[["account_id", "order_date"]].drop_duplicates()
    before = days[days["order_date"] <= pd.Timestamp(back)].groupby("account_id").size()
    repeat = before[before >= 2].index
    after = days[
        (days["order_date"] > pd.Timestamp(back)) & (days["order_date"] <= pd.Timestamp(AS_OF))
    ]["account_id"].unique()
    assert backtest.accounts == len(repeat)
    assert backtest.positives == int((~np.isin(repeat, after)).sum())
    assert 0 <= backtest.flagged_no_order <= backtest.flagged
    assert set(backtest.quality) >= {"learnt model", "recency", "BG/NBD", "blend"}
    assert backtest.chosen in backtest.quality
    # orders after the scoring day change nothing (they are never read)
    later = pd.DataFrame(
        {
            "account_id": list(range(80)),
            "order_date": pd.Timestamp(AS_OF + dt.timedelta(days=3)),
            "category": "Disposables",
            "amount": 100.0,
        }
    )
    again = HealthModel().fit(pd.concat([lines, later]), as_of=AS_OF).backtest_
    assert again is not None and again.quality == backtest.quality


def _store_run(engine, backtest):
    run_id = insights.start_run(engine, AS_OF)
    insights.finish_run(engine, run_id, accounts_scored=80, recommendations=0, backtest=backtest)


def test_how_accurate_answers_with_the_companys_own_figures(action_env, monkeypatch):
    ids = seed_book(action_env)
    model = HealthModel().fit(_book_with_stoppers(), as_of=AS_OF)
    stored = track_record(model.backtest_, None)
    _store_run(action_env, stored)
    monkeypatch.setenv("SALESBOT_AS_OF", AS_OF.isoformat())
    get_settings.cache_clear()
    result = run_action(
        ActionTrackRecord(),
        tracker_for(
            rep_id=ids.reps["ann"],
            text="how accurate are your slipping flags?",
            intent="ask_track_record",
        ),
    )
    answer = result.answers[0]
    slipping = answer.data["backtest"]["slipping"]
    assert slipping == stored["slipping"]
    chosen = slipping["quality"][slipping["chosen"]]
    assert f"{round(100 * chosen['roc_auc'])}%" in answer.text
    assert f"as of {slipping['as_of']}" in answer.text
    assert (
        f"({slipping['accounts']} repeat customers, {slipping['positives']} did not order)"
        in answer.text
    )
    assert f"Of {slipping['flagged']} accounts" in answer.text or slipping["flagged"] == 0
    assert f"Based on the scoring run of {AS_OF.isoformat()}" in answer.text


def test_without_a_scoring_run_or_a_backtest_it_says_so(action_env, monkeypatch):
    ids = seed_book(action_env)
    monkeypatch.setenv("SALESBOT_AS_OF", AS_OF.isoformat())
    get_settings.cache_clear()
    tracker = tracker_for(
        rep_id=ids.reps["ann"], text="why should I trust this?", intent="ask_track_record"
    )
    first = run_action(ActionTrackRecord(), tracker).answers[0]
    assert first.text.startswith("Nothing has been scored yet")
    _store_run(action_env, None)
    second = run_action(ActionTrackRecord(), tracker).answers[0]
    assert "could not check itself" in second.text
    assert second.data["backtest"] == {}
