"""End to end through the terminal channel: ``salesbot ask --json`` -> bot -> real Rasa ->
real action server -> store, on a small scored demo company (the ``stack`` fixture).

Each reply's data is checked against the analytics functions run here on the same store
for the same rep, so what a rep reads is what the analytics compute.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from functools import cache
from typing import Any

import pandas as pd
import pytest
from sqlmodel import Session, select

from analytics.forecast import forecast
from analytics.health import HealthModel
from analytics.leads import LeadScorer
from analytics.metrics import MetricFrames, compute_metric
from analytics.periods import Period, parse_period
from analytics.pipeline import StageModel, pipeline_summary, stalled_deals
from analytics.recommend import PeerRecommender
from analytics.reorders import reorders_due
from store import crud, frames
from store.demo import DEMO_MANAGER_EMAIL, DEMO_REP_EMAIL
from store.models import Account, Rep
from tests.conftest import STACK_AS_OF

pytestmark = [pytest.mark.rasa, pytest.mark.xdist_group("stack")]
TODAY = dt.date.fromisoformat(STACK_AS_OF)


def ask(stack, email: str, text: str, *, sender: str | None = None) -> list[dict[str, Any]]:
    """What ``salesbot ask --as EMAIL TEXT --json`` prints, parsed."""
    argv = [sys.executable, "-m", "bot.cli", "ask", "--as", email, text, "--json"]
    argv += ["--sender", sender or conversation()]  # a fresh conversation unless continuing one
    env = {**os.environ, **stack.env()}
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def one(replies: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [r for r in replies if r.get("kind") == kind]
    assert found, (
        f"no {kind!r} reply in {[(r.get('kind'), r.get('text', '')[:80]) for r in replies]}"
    )
    return found[0]


def conversation() -> str:
    return f"it-{uuid.uuid4().hex[:10]}"


@cache
def _frames(db_url: str) -> dict[str, pd.DataFrame]:
    from store.db import make_engine

    engine = make_engine(db_url)
    return {
        "lines": frames.order_lines(engine, end=TODAY),
        "accounts": frames.accounts(engine),
        "opportunities": frames.opportunities(engine),
        "history": frames.stage_history(engine),
        "leads": frames.leads(engine),
        "activities": frames.activities(engine),
        "targets": frames.targets(engine),
    }


def rep_id(stack, email: str) -> int:
    with Session(stack.engine) as session:
        rep = session.exec(select(Rep).where(Rep.email == email)).one()
        assert rep.id is not None
        return rep.id


def account_named(stack, name: str) -> Account:
    with Session(stack.engine) as session:
        return session.exec(select(Account).where(Account.name == name)).one()


# ------------------------------------------------------------------ account skills


def test_slipping_accounts_match_the_health_model(stack):
    f = _frames(stack.db_url)
    reply = one(ask(stack, DEMO_REP_EMAIL, "which of my accounts are slipping?"), "slipping")
    health = (
        HealthModel()
        .fit(f["lines"], f["accounts"], as_of=TODAY)
        .assess(f["lines"], f["accounts"], as_of=TODAY)
    )
    owners = f["accounts"].set_index("account_id")["owner_id"]
    mine = health.accounts[
        health.accounts["account_id"].map(owners) == rep_id(stack, DEMO_REP_EMAIL)
    ]
    flagged = mine[mine["status"].isin(["slipping", "lapsed"])].sort_values(
        ["revenue_at_risk", "account_id"], ascending=[False, True]
    )
    data = reply["data"]
    assert data["total_flagged"] == len(flagged) > 0
    assert [a["account_id"] for a in data["accounts"]] == flagged["account_id"].tolist()[
        : len(data["accounts"])
    ]
    assert data["total_revenue_at_risk"] == pytest.approx(
        flagged["revenue_at_risk"].sum(), rel=1e-6
    )
    assert data["accounts"][0]["reason"] == flagged["reason"].iloc[0]
    assert reply["blocks"], "Slack would get Block Kit too"


def test_pitch_matches_the_peer_recommender(stack):
    f = _frames(stack.db_url)
    account = account_named(stack, "Acme Food Service")
    reply = one(ask(stack, DEMO_REP_EMAIL, "what should I pitch to Acme Food Service?"), "pitch")
    recs = PeerRecommender().fit(f["lines"], f["accounts"], as_of=TODAY).recommend([account.id])
    got = reply["data"]["recommendations"]
    assert reply["data"]["account"]["account_id"] == account.id
    assert [r["category"] for r in got] == recs.sort_values("rank")["category"].tolist()[: len(got)]


def test_account_overview_matches_the_stored_health(stack):
    f = _frames(stack.db_url)
    account = account_named(stack, "Acme Food Service")
    reply = one(ask(stack, DEMO_REP_EMAIL, "how is acme food service doing?"), "account_overview")
    health = (
        HealthModel()
        .fit(f["lines"], f["accounts"], as_of=TODAY)
        .assess(f["lines"], f["accounts"], as_of=TODAY)
    )
    row = health.accounts.set_index("account_id").loc[account.id]
    assert reply["data"]["health"]["status"] == row["status"]
    open_deals = f["opportunities"][
        (f["opportunities"]["account_id"] == account.id) & ~f["opportunities"]["is_closed"]
    ]
    assert reply["data"]["open_pipeline"] == pytest.approx(open_deals["amount"].sum())


# ------------------------------------------------------------------- deal skills


def _model(f):
    return StageModel().fit(f["opportunities"], f["history"], as_of=TODAY)


def test_pipeline_matches_the_pipeline_summary(stack):
    f = _frames(stack.db_url)
    me = rep_id(stack, DEMO_REP_EMAIL)
    reply = one(ask(stack, DEMO_REP_EMAIL, "how does my pipeline look this quarter?"), "pipeline")
    summary = pipeline_summary(
        f["opportunities"],
        f["history"],
        today=TODAY,
        model=_model(f),
        rep_ids=[me],
        period=parse_period("this quarter", TODAY),
    )
    data = reply["data"]
    assert data["open_deals"] == summary.open_deals
    assert data["total_value"] == pytest.approx(summary.open_amount)
    assert data["weighted_value"] == pytest.approx(summary.weighted_amount)
    assert data["period"]["start"] == parse_period("this quarter", TODAY).start.isoformat()


def test_stalled_deals_match(stack):
    f = _frames(stack.db_url)
    me = rep_id(stack, DEMO_REP_EMAIL)
    reply = one(ask(stack, DEMO_REP_EMAIL, "which of my deals are stuck?"), "stalled_deals")
    stalled = stalled_deals(
        f["opportunities"],
        f["history"],
        f["activities"],
        today=TODAY,
        model=_model(f),
        rep_ids=[me],
        no_activity_days=reply["data"]["no_activity_days"],
    )
    assert reply["data"]["total"] == len(stalled)
    shown = [d["opportunity_id"] for d in reply["data"]["deals"]]
    assert shown == stalled["opportunity_id"].tolist()[: len(shown)]


def test_forecast_matches(stack):
    f = _frames(stack.db_url)
    me = rep_id(stack, DEMO_REP_EMAIL)
    reply = one(ask(stack, DEMO_REP_EMAIL, "what's my forecast for this quarter?"), "forecast")
    data = reply["data"]
    result = forecast(
        f["opportunities"],
        f["history"],
        period=parse_period("this quarter", TODAY),
        today=TODAY,
        model=_model(f),
        rep_ids=[me],
        targets=f["targets"],
        commit_probability=data["thresholds"]["commit_probability"],
        best_case_probability=data["thresholds"]["best_case_probability"],
    )
    assert data["closed_won"] == pytest.approx(result.closed_won)
    assert data["commit"] == pytest.approx(result.commit)
    assert data["best_case"] == pytest.approx(result.best_case)
    assert data["weighted"] == pytest.approx(result.weighted)
    assert data["quota"] == pytest.approx(result.quota)


@pytest.mark.parametrize(
    ("question", "metric"),
    [
        ("what's my win rate?", "win_rate"),
        ("what's my lead conversion rate?", "conversion_rate"),
        ("what is my average deal size?", "acv"),
        ("what's the customer lifetime value of my accounts?", "clv"),
        ("how long is my sales cycle?", "cycle_length"),
        ("what is my total pipeline value?", "pipeline_value"),
        ("what's my quota attainment this quarter?", "quota_attainment"),
    ],
)
def test_metrics_carry_numerator_denominator_and_period(stack, question, metric):
    f = _frames(stack.db_url)
    me = rep_id(stack, DEMO_REP_EMAIL)
    reply = one(ask(stack, DEMO_REP_EMAIL, question), "metric")
    data = reply["data"]
    assert data["metric"] == metric
    period = (
        parse_period(data["period"]["label"], TODAY)
        if data["period"] is not None and metric != "pipeline_value"
        else None
    )
    owned = f["accounts"][f["accounts"]["owner_id"] == me]
    result = compute_metric(
        metric,
        MetricFrames(
            opportunities=f["opportunities"],
            leads=f["leads"],
            order_lines=f["lines"],
            accounts=f["accounts"],
            targets=f["targets"],
        ),
        today=TODAY,
        period=period,
        rep_ids=[me],
    )
    assert data["numerator"] == pytest.approx(result.numerator)
    assert data["denominator"] == pytest.approx(result.denominator)
    assert (data["value"] is None) == (result.value is None)
    if result.value is not None:
        assert data["value"] == pytest.approx(result.value)
    assert data["period"] is None or data["period"]["start"] <= data["period"]["end"]
    assert len(owned) > 0


def test_lead_priorities_match_the_lead_model(stack):
    f = _frames(stack.db_url)
    me = rep_id(stack, DEMO_REP_EMAIL)
    reply = one(ask(stack, DEMO_REP_EMAIL, "which leads should I call first?"), "lead_priorities")
    scorer = LeadScorer().fit(
        f["leads"], f["activities"], today=TODAY, opportunities=f["opportunities"]
    )
    ranked = scorer.rank(
        f["leads"], f["activities"], today=TODAY, opportunities=f["opportunities"], rep_ids=[me]
    )
    shown = [lead["lead_id"] for lead in reply["data"]["leads"]]
    assert reply["data"]["total"] == len(ranked)
    assert shown == ranked["lead_id"].tolist()[: len(shown)]


def test_reorders_due_match(stack):
    f = _frames(stack.db_url)
    me = rep_id(stack, DEMO_REP_EMAIL)
    reply = one(ask(stack, DEMO_REP_EMAIL, "who's due to reorder this week?"), "reorders_due")
    asked = reply["data"]["period"]
    period = Period(
        dt.date.fromisoformat(asked["start"]), dt.date.fromisoformat(asked["end"]), asked["label"]
    )
    owned = f["accounts"].loc[f["accounts"]["owner_id"] == me, "account_id"].tolist()
    due = reorders_due(f["lines"], today=TODAY, period=period, account_ids=owned)
    assert reply["data"]["total"] == len(due)
    got = {(a["account_id"], a["category"]) for a in reply["data"]["accounts"]}
    assert got <= set(zip(due["account_id"], due["category"], strict=True))


# ------------------------------------------------------------------ conversations


def test_form_asks_which_account_then_answers(stack):
    sender = conversation()
    first = ask(stack, DEMO_REP_EMAIL, "what should I pitch?", sender=sender)
    assert any("which account" in r["text"].lower() for r in first), first
    second = ask(stack, DEMO_REP_EMAIL, "Acme Food Service", sender=sender)
    assert one(second, "pitch")["data"]["account"]["name"] == "Acme Food Service"


def test_ambiguous_account_gets_buttons_and_a_click_answers(stack):
    sender = conversation()
    replies = ask(stack, DEMO_MANAGER_EMAIL, "what should I pitch to acme?", sender=sender)
    question = one(replies, "clarify")
    names = {c["name"] for c in question["data"]["candidates"]}
    assert {"Acme Foods", "Acme Food Service"} <= names
    button = next(b for b in question["data"]["buttons"] if b["title"] == "Acme Foods")
    answer = one(ask(stack, DEMO_MANAGER_EMAIL, button["payload"], sender=sender), "pitch")
    assert answer["data"]["account"]["name"] == "Acme Foods"


def test_follow_ups_keep_the_context(stack):
    sender = conversation()
    overview = one(
        ask(stack, DEMO_REP_EMAIL, "how is Acme Food Service doing?", sender=sender),
        "account_overview",
    )
    assert overview["data"]["account"]["name"] == "Acme Food Service"
    pitch = one(ask(stack, DEMO_REP_EMAIL, "what should I pitch to them?", sender=sender), "pitch")
    assert pitch["data"]["account"]["name"] == "Acme Food Service"
    why = ask(stack, DEMO_REP_EMAIL, "why?", sender=sender)
    assert one(why, "explain")
    other = one(ask(stack, DEMO_REP_EMAIL, "and for Acme Foods?", sender=sender), "pitch")
    assert other["data"]["account"]["name"] == "Acme Foods"


def test_slipping_then_show_more(stack):
    sender = conversation()
    first = one(
        ask(stack, DEMO_MANAGER_EMAIL, "which accounts on my team are slipping?", sender=sender),
        "slipping",
    )
    assert first["data"]["total_flagged"] > first["data"]["shown"], (
        "the team has more than one page"
    )
    more = one(ask(stack, DEMO_MANAGER_EMAIL, "show more", sender=sender), "slipping")
    assert more["data"]["offset"] == first["data"]["shown"]
    assert not {a["account_id"] for a in more["data"]["accounts"]} & {
        a["account_id"] for a in first["data"]["accounts"]
    }


# -------------------------------------------------------------------- visibility


def _someone_elses_account(stack) -> Account:
    """An account outside the demo rep's book: owned by someone else, no deal of theirs on it."""
    me = rep_id(stack, DEMO_REP_EMAIL)
    with Session(stack.engine) as session:
        shared = crud.shared_account_ids(session, rep_ids={me})
        return session.exec(
            select(Account)
            .where(Account.owner_id != me, Account.owner_id.is_not(None))
            .where(Account.id.not_in(shared or {-1}))  # type: ignore[union-attr]
            .order_by(Account.id)  # type: ignore[union-attr]
        ).first()


def test_account_outside_the_book_is_refused_without_data(stack):
    other = _someone_elses_account(stack)
    replies = ask(stack, DEMO_REP_EMAIL, f"how is {other.name} doing?")
    assert not [r for r in replies if r.get("kind") in ("account_overview", "pitch")]
    text = " ".join(r["text"] for r in replies)
    said = other.name.rstrip(".")  # as the question ends
    assert f'I can\'t find an account called "{said}"' in text
    assert all(not r.get("data") or "health" not in r["data"] for r in replies)
    # the same words for a name that is no account at all, and no "Which account?" after
    invented = ask(stack, DEMO_REP_EMAIL, "how is Zyxqu Vantor Holdings doing?")
    assert [r["text"].replace("Zyxqu Vantor Holdings", said) for r in invented] == [
        r["text"] for r in replies
    ]


def test_a_refusal_does_not_hold_the_next_question_hostage(stack):
    sender = conversation()
    other = _someone_elses_account(stack)
    refused = ask(stack, DEMO_REP_EMAIL, f"what should I pitch to {other.name}?", sender=sender)
    assert not any("which account" in r["text"].lower() for r in refused), refused
    after = ask(stack, DEMO_REP_EMAIL, "what's my win rate?", sender=sender)
    assert one(after, "metric")["data"]["metric"] == "win_rate"
    assert not any("which account" in r["text"].lower() for r in after), after


def test_a_fresh_slipping_question_forgets_the_last_ones_rep_and_category(stack):
    sender = conversation()
    me = rep_id(stack, DEMO_MANAGER_EMAIL)
    with Session(stack.engine) as session:
        team = crud.team_rep_ids(session, manager_id=me)
        report = session.exec(
            select(Rep).where(Rep.manager_id == me, Rep.role == "rep").order_by(Rep.id)
        ).first()
    first_name = report.name.split()[0]
    theirs = one(
        ask(
            stack,
            DEMO_MANAGER_EMAIL,
            f"which of {first_name}'s accounts are slipping?",
            sender=sender,
        ),
        "slipping",
    )
    assert theirs["data"]["scope"]["rep_ids"] == [report.id]
    mine = one(
        ask(stack, DEMO_MANAGER_EMAIL, "which of my accounts are slipping?", sender=sender),
        "slipping",
    )
    assert set(mine["data"]["scope"]["rep_ids"]) == team


def test_another_reps_pipeline_is_refused(stack):
    me = rep_id(stack, DEMO_REP_EMAIL)
    with Session(stack.engine) as session:
        other = session.exec(
            select(Rep).where(Rep.id != me, Rep.role == "rep").order_by(Rep.id)
        ).first()
    replies = ask(stack, DEMO_REP_EMAIL, f"how does {other.name}'s pipeline look?")
    assert not [r for r in replies if r.get("kind") == "pipeline"]
    assert any("can't" in r["text"] or "not" in r["text"] for r in replies)


def test_unknown_email_gets_nothing(stack):
    replies = ask(stack, "nobody@example.com", "which of my accounts are slipping?")
    assert [r["kind"] for r in replies] == ["error"]
    assert replies[0]["data"] == {"error": "NotLinked"}
