"""Deal and lead skills in-process (pipeline, stalled deals, forecast, metrics, lead
priorities, reorders due) on SQLite and PostgreSQL.

Every answer's data is compared with what the analytics functions return for the same
scope when called on the whole store's frames (so the company-wide stage model and lead
scorer are fitted the same way), and visibility, identity and empty stores are checked.

The team (today = 2026-05-20, Q2 2026 = Apr 1 - Jun 30): Priya (manager) -> Jordan, Aisha;
Marcus (manager) -> Olga; Sam is an admin. Closed deals spread over the reps teach the stage
odds; Jordan has a stuck deal, a new one, one that advanced past its close date and a quiet
account; Aisha has a deal closing next quarter and lost one this week; Olga a large deal.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from actions import data as kept
from actions.base import Context, SalesAction, identity_of, load_asker, today_for
from actions.deals import ActionForecast, ActionMetric, ActionPipeline, ActionStalledDeals
from actions.leads import ActionLeadPriorities, ActionReordersDue
from actions.settings import get_settings
from analytics.buying_group import buying_group_coverage
from analytics.forecast import forecast
from analytics.leads import LeadScorer
from analytics.metrics import MetricFrames, compute_metric
from analytics.periods import next_days, parse_period
from analytics.pipeline import (
    StageModel,
    deals_closing,
    movement_summary,
    pipeline_movement,
    pipeline_summary,
    stalled_deals,
)
from analytics.reorders import reorders_due
from render.blocks import validate_blocks
from store import frames
from store.db import cached_engine
from store.models import (
    Account,
    Activity,
    Contact,
    Lead,
    Opportunity,
    OpportunityStageHistory,
    Order,
    OrderLine,
    Product,
    Rep,
    RepRole,
    Target,
)
from tests.actions.harness import run_action, tracker_for

TODAY = dt.date(2026, 5, 20)
Q2 = parse_period("this quarter", TODAY)
WEEK_AGO = TODAY - dt.timedelta(days=7)
METRICS = (
    "win_rate",
    "conversion_rate",
    "acv",
    "clv",
    "cycle_length",
    "pipeline_value",
    "quota_attainment",
)
ACTIONS: dict[str, tuple[type[SalesAction], str, list[dict[str, Any]]]] = {
    "pipeline": (ActionPipeline, "ask_pipeline", []),
    "stalled_deals": (ActionStalledDeals, "ask_stalled_deals", []),
    "forecast": (ActionForecast, "ask_forecast", []),
    "metric": (ActionMetric, "ask_metric", [{"entity": "metric", "value": "win_rate"}]),
    "lead_priorities": (ActionLeadPriorities, "ask_lead_priorities", []),
    "reorders_due": (ActionReordersDue, "ask_reorders_due", []),
}


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text + "T10:00:00").replace(tzinfo=dt.UTC)


# --------------------------------------------------------------------------- seed


@dataclass
class Team:
    reps: dict[str, int]
    accounts: dict[str, int]
    deals: dict[str, int]


def _add(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


def seed_reps(session: Session) -> dict[str, int]:
    def rep(key: str, name: str, role: RepRole, manager: int | None = None) -> int:
        row = _add(
            session,
            Rep(
                external_id=key,
                name=name,
                email=f"{key}@example.com",
                role=role,
                manager_id=manager,
            ),
        )
        return int(row.id)

    priya = rep("priya", "Priya Shah", RepRole.manager)
    marcus = rep("marcus", "Marcus Bell", RepRole.manager)
    return {
        "priya": priya,
        "marcus": marcus,
        "jordan": rep("jordan", "Jordan Reyes", RepRole.rep, priya),
        "aisha": rep("aisha", "Aisha Grant", RepRole.rep, priya),
        "olga": rep("olga", "Olga Petrova", RepRole.rep, marcus),
        "sam": rep("sam", "Sam Okafor", RepRole.admin),
    }


DEALS = [
    # key, owner, account, amount, created, close, closed, won, category, history
    ("w1", "jordan", "Acme Foods", 10000, "2025-10-01", "2025-12-20", True, True, None,
     [("prospecting", "2025-10-01"), ("qualification", "2025-10-20"),
      ("proposal", "2025-11-10"), ("negotiation", "2025-12-01"), ("closed_won", "2025-12-20")]),
    ("w2", "aisha", "Globex Hotels", 20000, "2025-11-01", "2026-01-10", True, True, None,
     [("prospecting", "2025-11-01"), ("qualification", "2025-11-15"), ("proposal", "2025-12-01"),
      ("closed_won", "2026-01-10")]),
    ("w3", "olga", "Umbrella Clinic", 5000, "2025-09-01", "2025-11-01", True, True, None,
     [("prospecting", "2025-09-01"), ("qualification", "2025-09-10"), ("proposal", "2025-10-01"),
      ("negotiation", "2025-10-15"), ("closed_won", "2025-11-01")]),
    ("w4", "jordan", "Acme Foods", 12000, "2026-02-01", "2026-04-15", True, True, None,
     [("prospecting", "2026-02-01"), ("proposal", "2026-03-01"), ("closed_won", "2026-04-15")]),
    ("l1", "jordan", "Initech Schools", 8000, "2025-10-05", "2025-12-01", True, False, None,
     [("prospecting", "2025-10-05"), ("qualification", "2025-11-01"), ("closed_lost", "2025-12-01")]),
    ("l2", "olga", "Umbrella Clinic", 3000, "2026-01-05", "2026-02-01", True, False, None,
     [("prospecting", "2026-01-05"), ("closed_lost", "2026-02-01")]),
    ("l3", "aisha", "Globex Hotels", 7000, "2026-03-01", "2026-05-18", True, False, None,
     [("prospecting", "2026-03-01"), ("closed_lost", "2026-05-18")]),
    # open deals
    ("stuck", "jordan", "Acme Foods", 15000, "2026-03-01", "2026-06-15", False, False, None,
     [("prospecting", "2026-03-01"), ("qualification", "2026-03-10")]),
    ("fresh", "jordan", "Initech Schools", 4000, "2026-05-15", "2026-06-30", False, False, None,
     [("prospecting", "2026-05-15")]),
    ("pushed", "jordan", "Acme Foods", 25000, "2026-04-01", "2026-05-15", False, False, "Commit",
     [("prospecting", "2026-04-01"), ("proposal", "2026-05-16")]),
    ("later", "aisha", "Globex Hotels", 9000, "2026-05-05", "2026-07-20", False, False, None,
     [("qualification", "2026-05-05")]),
    ("big", "olga", "Umbrella Clinic", 50000, "2026-04-01", "2026-06-01", False, False, None,
     [("prospecting", "2026-04-01")]),
]  # fmt: skip


def seed_team(engine: Engine, *, with_business: bool = True) -> Team:
    with Session(engine, expire_on_commit=False) as session:
        reps = seed_reps(session)
        accounts: dict[str, int] = {}
        deals: dict[str, int] = {}
        if not with_business:
            session.commit()
            return Team(reps, accounts, deals)
        for name, owner in [
            ("Acme Foods", "jordan"),
            ("Initech Schools", "jordan"),
            ("Globex Hotels", "aisha"),
            ("Umbrella Clinic", "olga"),
        ]:
            row = _add(
                session,
                Account(
                    external_id=name.lower().replace(" ", "-"),
                    name=name,
                    owner_id=reps[owner],
                    segment="Food Service",
                ),
            )
            accounts[name] = int(row.id)
        for key, owner, account, amount, created, close, closed, won, category, history in DEALS:
            deal = _add(
                session,
                Opportunity(
                    external_id=key,
                    name=f"{account} - {key} program",
                    amount=float(amount),
                    stage=history[-1][0],
                    created_date=day(created),
                    close_date=day(close),
                    is_closed=closed,
                    is_won=won,
                    forecast_category=category,
                    account_id=accounts[account],
                    owner_id=reps[owner],
                    next_step="Send the pricing sheet" if key == "stuck" else None,
                ),
            )
            deals[key] = int(deal.id)
            for stage, entered in history:
                session.add(
                    OpportunityStageHistory(
                        opportunity_id=deal.id,
                        stage=stage,
                        entered_date=day(entered),
                        amount=float(amount),
                    )
                )
        cfo = _add(
            session,
            Contact(
                external_id="c-cfo",
                name="Dana Cole",
                title="CFO",
                account_id=accounts["Acme Foods"],
            ),
        )
        champion = _add(
            session,
            Contact(
                external_id="c-champ",
                name="Eli Park",
                title="Kitchen manager",
                buying_role="champion",
                account_id=accounts["Acme Foods"],
            ),
        )
        activities = [
            ("a1", "fresh", "Initech Schools", None, "2026-05-19"),
            ("a2", "pushed", "Acme Foods", champion.id, "2026-05-18"),
            ("a3", "later", "Globex Hotels", None, "2026-05-10"),
            ("a4", "big", "Umbrella Clinic", None, "2026-05-01"),
            ("a5", None, "Acme Foods", cfo.id, "2026-01-15"),
        ]
        for key, deal_key, account, contact_id, when in activities:
            session.add(
                Activity(
                    external_id=key,
                    kind="call",
                    occurred_at=moment(when),
                    rep_id=reps["jordan"],
                    account_id=accounts[account],
                    opportunity_id=deals[deal_key] if deal_key else None,
                    contact_id=contact_id,
                )
            )
        leads = [
            ("ld1", "jordan", "Northwind Deli", "referral", "open", "2026-05-01", None, 120),
            ("ld2", "jordan", "Contoso Cafe", "outbound", "open", "2026-04-10", None, 8),
            ("ld3", "jordan", "Fabrikam Diner", "inbound", "open", "2026-05-12", None, 60),
            ("ld4", "aisha", "Tailspin Bistro", "event", "open", "2026-05-02", None, 30),
            ("ld5", "olga", "Wingtip Grill", "referral", "open", "2026-05-03", None, 200),
            ("ld6", "jordan", "Litware Kitchen", "referral", "converted", "2026-02-01", "2026-03-01", 100),
            ("ld7", "jordan", "Proseware Pub", "outbound", "disqualified", "2026-02-15", None, 15),
            ("ld8", "aisha", "Adatum Eatery", "inbound", "converted", "2026-04-05", "2026-04-25", 80),
        ]  # fmt: skip
        lead_ids = {}
        for key, owner, company, source, status, created, converted, employees in leads:
            lead = _add(
                session,
                Lead(
                    external_id=key,
                    company=company,
                    source=source,
                    status=status,
                    created_date=day(created),
                    converted_date=day(converted) if converted else None,
                    owner_id=reps[owner],
                    segment="Food Service",
                    employees=employees,
                ),
            )
            lead_ids[key] = lead.id
        for key, lead_key, when in [("t1", "ld1", "2026-05-03"), ("t2", "ld1", "2026-05-06")]:
            session.add(
                Activity(
                    external_id=key,
                    kind="email",
                    occurred_at=moment(when),
                    rep_id=reps["jordan"],
                    lead_id=lead_ids[lead_key],
                )
            )
        for owner, amount in [("jordan", 30000.0), ("aisha", 25000.0), ("olga", 10000.0)]:
            session.add(
                Target(
                    rep_id=reps[owner],
                    period_start=Q2.start,
                    period_end=Q2.end,
                    metric="bookings",
                    amount=amount,
                )
            )
        paper = _add(session, Product(external_id="p-paper", name="Towels", category="Paper"))
        cleaning = _add(
            session, Product(external_id="p-clean", name="Floor cleaner", category="Cleaning")
        )
        orders = [
            # account, product, dates
            ("Acme Foods", paper, ["2025-01-15", "2025-02-15", "2026-03-01", "2026-03-15",
                                   "2026-03-29", "2026-04-12", "2026-04-26", "2026-05-10"]),
            ("Initech Schools", cleaning, ["2026-01-20", "2026-02-19", "2026-03-21", "2026-04-20"]),
            ("Globex Hotels", paper, ["2026-04-01", "2026-04-15", "2026-04-29", "2026-05-13"]),
            ("Umbrella Clinic", paper, ["2026-04-22", "2026-04-29", "2026-05-06", "2026-05-13"]),
        ]  # fmt: skip
        n = 0
        for account, product, dates in orders:
            for when in dates:
                n += 1
                order = _add(
                    session,
                    Order(external_id=f"o{n}", account_id=accounts[account], order_date=day(when)),
                )
                session.add(
                    OrderLine(
                        order_id=order.id,
                        line_key="1",
                        account_id=accounts[account],
                        product_id=product.id,
                        order_date=day(when),
                        quantity=10.0,
                        unit_price=25.0 + n,
                        amount=10.0 * (25.0 + n),
                    )
                )
        session.commit()
    return Team(reps, accounts, deals)


def _today(monkeypatch, list_size: int = 5) -> None:
    monkeypatch.setenv("SALESBOT_AS_OF", TODAY.isoformat())
    monkeypatch.setenv("SALESBOT_LIST_SIZE", str(list_size))
    get_settings.cache_clear()


@pytest.fixture
def team(action_env, monkeypatch) -> Iterator[Team]:
    kept.reset()
    seeded = seed_team(action_env)
    _today(monkeypatch)
    yield seeded
    kept.reset()  # waits for background builds before the store goes away


@pytest.fixture
def store(team, action_env) -> SimpleNamespace:
    """The whole store's frames, as an analytics caller would load them."""
    return SimpleNamespace(
        opportunities=frames.opportunities(action_env),
        history=frames.stage_history(action_env),
        activities=frames.activities(action_env),
        leads=frames.leads(action_env),
        targets=frames.targets(action_env),
        accounts=frames.accounts(action_env),
        contacts=frames.contacts(action_env),
        order_lines=frames.order_lines(action_env),
    )


def ask(
    action: SalesAction,
    rep_id: int | None,
    intent: str,
    entities: list[dict[str, Any]] | None = None,
    **extra: Any,
):
    return run_action(
        action,
        tracker_for(rep_id=rep_id, text="question", intent=intent, entities=entities, **extra),
    )


def only_answer(result):
    assert result.responses == []
    [answer] = result.answers
    json.dumps(answer.data, allow_nan=False)
    assert validate_blocks(answer.blocks) == []
    return answer


def context_of(rep_id: int, intent: str = "ask_why") -> Context:
    tracker = tracker_for(rep_id=rep_id, text="why?", intent=intent)
    settings = get_settings()
    engine = cached_engine(settings.store_url)
    return Context(
        asker=load_asker(engine, identity_of(tracker, settings)),
        engine=engine,
        today=today_for(settings),
        settings=settings,
        tracker=tracker,
    )


# ----------------------------------------------------------------------- pipeline


def test_pipeline_numbers_are_the_analytics_numbers_for_the_reps_book(team, store):
    result = ask(ActionPipeline(), team.reps["jordan"], "ask_pipeline")
    answer = only_answer(result)
    data = answer.data
    jordan = {team.reps["jordan"]}
    summary = pipeline_summary(
        store.opportunities, store.history, today=TODAY, rep_ids=jordan, period=Q2
    )
    assert data["scope"] == {
        "label": "your book",
        "rep_ids": [team.reps["jordan"]],
        "rep_id": team.reps["jordan"],
        "is_team": False,
    }
    assert data["period"] == {"label": "Q2 2026", "start": "2026-04-01", "end": "2026-06-30"}
    assert data["open_deals"] == summary.open_deals == 3
    assert data["total_value"] == pytest.approx(summary.open_amount) == 44000
    assert data["weighted_value"] == pytest.approx(summary.weighted_amount)
    assert [(s["stage"], s["deals"], s["value"]) for s in data["stages"]] == [
        (row.stage, row.deals, pytest.approx(row.amount)) for row in summary.by_stage.itertuples()
    ]
    assert [s["weighted"] for s in data["stages"]] == pytest.approx(
        summary.by_stage["weighted_amount"].tolist()
    )
    assert data["closing_total"]["deals"] == summary.closing_deals
    assert data["closing_total"]["value"] == pytest.approx(summary.closing_amount)
    assert data["closing_total"]["weighted"] == pytest.approx(summary.closing_weighted)
    assert data["past_due"] == {
        "deals": summary.past_due_deals,
        "value": pytest.approx(summary.past_due_amount),
    }
    closing = deals_closing(
        store.opportunities, store.history, period=Q2, today=TODAY, rep_ids=jordan
    )
    assert [d["opportunity_id"] for d in data["closing"]] == closing["opportunity_id"].tolist()
    assert data["closing"][0]["account_name"] in {"Acme Foods", "Initech Schools"}
    moved = pipeline_movement(
        store.opportunities, store.history, since=WEEK_AGO, today=TODAY, rep_ids=jordan
    )
    expected = movement_summary(moved).set_index("movement")
    assert data["movement"]["since"] == WEEK_AGO.isoformat()
    for kind, counts in data["movement"]["summary"].items():
        assert counts["deals"] == expected.loc[kind, "deals"]
        assert counts["value"] == pytest.approx(expected.loc[kind, "amount"])
    assert data["movement"]["summary"]["new"]["deals"] == 1  # the fresh deal
    assert data["by_rep"] is None
    # the text says what it is based on and names the numbers
    assert "Q2 2026" in answer.text and "$44k" in answer.text
    assert "Olga" not in answer.text and "Umbrella" not in answer.text
    last = result.slot("last_answer")
    assert last["skill"] == "pipeline" and last["params"] == {"rep": None, "period": None}


def test_pipeline_for_a_named_period_counts_movement_from_its_start(team, store):
    result = ask(
        ActionPipeline(),
        team.reps["jordan"],
        "ask_pipeline",
        [{"entity": "period", "value": "this quarter"}],
    )
    data = only_answer(result).data
    since = Q2.start - dt.timedelta(days=1)
    assert data["movement"]["since"] == since.isoformat()
    expected = movement_summary(
        pipeline_movement(
            store.opportunities,
            store.history,
            since=since,
            today=TODAY,
            rep_ids={team.reps["jordan"]},
        )
    ).set_index("movement")
    assert {k: v["deals"] for k, v in data["movement"]["summary"].items()} == {
        k: int(expected.loc[k, "deals"]) for k in expected.index
    }
    assert result.slot("period") == "this quarter"


def test_manager_sees_the_team_with_a_line_per_rep(team, store):
    data = only_answer(ask(ActionPipeline(), team.reps["priya"], "ask_pipeline")).data
    members = {team.reps["priya"], team.reps["jordan"], team.reps["aisha"]}
    summary = pipeline_summary(
        store.opportunities, store.history, today=TODAY, rep_ids=members, period=Q2
    )
    assert data["scope"]["rep_ids"] == sorted(members)
    assert data["scope"]["label"] == "your team"
    assert data["open_deals"] == summary.open_deals == 4
    assert data["total_value"] == pytest.approx(summary.open_amount)
    by_rep = {r["name"]: r["open_amount"] for r in data["by_rep"]}
    assert by_rep == {"Jordan Reyes": 44000, "Aisha Grant": 9000, "Priya Shah": 0}
    assert data["movement"]["summary"]["lost"]["deals"] == 1  # Aisha's lost deal this week


def test_admin_sees_the_company(team, store):
    data = only_answer(ask(ActionPipeline(), team.reps["sam"], "ask_pipeline")).data
    summary = pipeline_summary(store.opportunities, store.history, today=TODAY, period=Q2)
    assert data["scope"]["rep_ids"] is None and data["scope"]["label"] == "the company"
    assert data["total_value"] == pytest.approx(summary.open_amount) == 103000


def test_manager_can_ask_for_one_rep_by_name(team, store):
    result = ask(
        ActionPipeline(),
        team.reps["priya"],
        "ask_pipeline",
        [{"entity": "rep", "value": "Aisha"}],
    )
    data = only_answer(result).data
    assert data["scope"]["rep_ids"] == [team.reps["aisha"]]
    assert data["scope"]["label"] == "Aisha Grant's book"
    assert data["total_value"] == 9000
    assert result.slot("rep") == "Aisha"


def test_more_pages_through_the_deals_closing_and_why_shows_the_learned_odds(
    team, store, monkeypatch
):
    _today(monkeypatch, list_size=1)
    result = ask(ActionPipeline(), team.reps["jordan"], "ask_pipeline")
    first = only_answer(result)
    last = result.slot("last_answer")
    assert last["shown"] == 1
    closing = deals_closing(
        store.opportunities, store.history, period=Q2, today=TODAY, rep_ids={team.reps["jordan"]}
    )["opportunity_id"].tolist()
    assert [d["opportunity_id"] for d in first.data["closing"]] == closing[:1]

    ctx = context_of(team.reps["jordan"])
    more = ActionPipeline().more(ctx, last)
    [page] = more.answers
    assert page.data["offset"] == 1
    assert [d["opportunity_id"] for d in page.data["closing"]] == closing[1:2]
    assert validate_blocks(page.blocks) == []
    shown = next(e for e in more.events if e.get("name") == "last_answer")["value"]["shown"]
    assert shown == 2
    done = ActionPipeline().more(ctx, {**last, "shown": len(closing)})
    assert done.responses == [("utter_nothing_more", {})]

    [why] = ActionPipeline().explain(ctx, last).answers
    model = StageModel().fit(store.opportunities, store.history, as_of=TODAY)
    expected = model.win_probabilities_
    assert [w["stage"] for w in why.data["stage_weights"]] == expected["stage"].tolist()
    assert [w["win_probability"] for w in why.data["stage_weights"]] == pytest.approx(
        expected["win_probability"].tolist()
    )
    assert why.data["weights"]["closed_deals"] == model.closed_deals_ == 7
    assert "7 deals closed" in why.text
    assert validate_blocks(why.blocks) == []


def test_a_new_deal_shows_up_once_the_kept_deals_are_refreshed(team, action_env):
    jordan = team.reps["jordan"]
    before = only_answer(ask(ActionPipeline(), jordan, "ask_pipeline")).data["open_deals"]
    with Session(action_env) as session:
        deal = _add(
            session,
            Opportunity(
                external_id="late",
                name="Acme Foods - late addition",
                amount=1000.0,
                stage="prospecting",
                created_date=TODAY,
                close_date=TODAY + dt.timedelta(days=30),
                account_id=team.accounts["Acme Foods"],
                owner_id=jordan,
            ),
        )
        session.add(
            OpportunityStageHistory(
                opportunity_id=deal.id, stage="prospecting", entered_date=TODAY, amount=1000.0
            )
        )
        session.commit()
    ask(ActionPipeline(), jordan, "ask_pipeline")  # sees the new rows, refreshes behind
    kept.join_refreshes()
    after = only_answer(ask(ActionPipeline(), jordan, "ask_pipeline")).data["open_deals"]
    assert after == before + 1


def test_the_first_question_prepares_the_other_skills_company_data(team, action_env):
    assert not kept.LEADS.has(action_env)
    ask(ActionPipeline(), team.reps["jordan"], "ask_pipeline")
    kept.join_refreshes()
    assert kept.LEADS.has(action_env) and kept.ACTIVITIES.has(action_env)
    prepared = kept.lead_book(action_env, TODAY)
    answer = only_answer(ask(ActionLeadPriorities(), team.reps["jordan"], "ask_lead_priorities"))
    assert kept.lead_book(action_env, TODAY) is prepared
    assert answer.data["model_as_of"] == TODAY.isoformat()


# ------------------------------------------------------------------------ stalled


def test_stalled_deals_with_reasons_next_steps_and_buying_group_gaps(team, store):
    result = ask(ActionStalledDeals(), team.reps["jordan"], "ask_stalled_deals")
    answer = only_answer(result)
    data = answer.data
    expected = stalled_deals(
        store.opportunities,
        store.history,
        store.activities,
        today=TODAY,
        rep_ids={team.reps["jordan"]},
    )
    assert [d["opportunity_id"] for d in data["deals"]] == expected["opportunity_id"].tolist()
    assert data["total"] == len(expected) == 2
    assert data["total_value"] == pytest.approx(expected["amount"].sum())
    assert [d["reason"] for d in data["deals"]] == expected["reason"].tolist()
    assert [d["next_step"] for d in data["deals"]] == expected["next_step"].tolist()
    assert [tuple(d["stalled_by"]) for d in data["deals"]] == expected["stalled_by"].tolist()
    stuck = next(d for d in data["deals"] if d["opportunity_id"] == team.deals["stuck"])
    assert "stage_time" in stuck["stalled_by"] and "no_activity" in stuck["stalled_by"]
    assert "Send the pricing sheet" in stuck["next_step"]
    coverage = buying_group_coverage(
        team.deals["stuck"], store.opportunities, store.contacts, store.activities, today=TODAY
    )
    assert stuck["buying_group"]["engaged_roles"] == list(coverage.engaged_roles)
    assert stuck["buying_group"]["missing_roles"] == list(coverage.missing_roles)
    assert stuck["buying_group"]["not_engaged_roles"] == list(coverage.not_engaged_roles)
    assert stuck["buying_group"]["next_step"] == coverage.next_step
    assert "champion" in stuck["buying_group"]["engaged_roles"]  # Eli, called 2 days ago
    assert data["open_deals"] == 3
    assert "Acme Foods" in answer.text and "pricing sheet" in answer.text

    [why] = (
        ActionStalledDeals()
        .explain(context_of(team.reps["jordan"]), result.slot("last_answer"))
        .answers
    )
    model = StageModel().fit(store.opportunities, store.history, as_of=TODAY)
    typical = {r["stage"]: r["typical_days"] for r in why.data["stage_days"]}
    learned = dict(zip(model.stage_days_["stage"], model.stage_days_["typical_days"], strict=True))
    assert typical.keys() == learned.keys()
    for stage, days in learned.items():
        if pd.isna(days):
            assert typical[stage] is None, stage
        else:
            assert typical[stage] == pytest.approx(days), stage
    assert typical["qualification"] is not None  # three won deals passed through it
    assert validate_blocks(why.blocks) == []


def test_no_stalled_deals_is_a_clear_sentence(team):
    answer = only_answer(ask(ActionStalledDeals(), team.reps["aisha"], "ask_stalled_deals"))
    assert answer.data["total"] == 0 and answer.data["deals"] == []
    assert answer.text.startswith("None of the 1 open deal of your book looks stuck")


# ----------------------------------------------------------------------- forecast


def test_forecast_is_the_analytics_forecast_with_quota(team, store):
    result = ask(ActionForecast(), team.reps["jordan"], "ask_forecast")
    answer = only_answer(result)
    data = answer.data
    expected = forecast(
        store.opportunities,
        store.history,
        period=Q2,
        today=TODAY,
        rep_ids={team.reps["jordan"]},
        targets=store.targets,
    )
    for key in ("closed_won", "commit", "best_case", "pipeline", "weighted", "std", "p10", "p50",
                "p90", "quota", "attainment", "projected_attainment", "chance_of_quota"):  # fmt: skip
        assert data[key] == pytest.approx(getattr(expected, key)), key
    assert data["closed_won"] == 12000 and data["quota"] == 30000
    assert data["closed_won_deals"] == expected.closed_won_deals
    assert data["open_deals"] == expected.open_deals == 3
    assert [d["opportunity_id"] for d in data["deals"]] == expected.deals["opportunity_id"].tolist()
    assert [d["category"] for d in data["deals"]] == expected.deals["category"].tolist()
    assert "Q2 2026" in answer.text and "$30k" in answer.text

    [why] = (
        ActionForecast()
        .explain(context_of(team.reps["jordan"]), result.slot("last_answer"))
        .answers
    )
    assert why.kind == "forecast_why"
    assert why.data["thresholds"] == {"commit_probability": 0.6, "best_case_probability": 0.3}
    assert "simulated" in why.text


def test_forecast_for_the_team_splits_by_rep(team, store):
    data = only_answer(
        ask(
            ActionForecast(),
            team.reps["priya"],
            "ask_forecast",
            [{"entity": "period", "value": "Q2"}],
        )
    ).data
    members = {team.reps["priya"], team.reps["jordan"], team.reps["aisha"]}
    expected = forecast(
        store.opportunities, store.history, period=Q2, today=TODAY, rep_ids=members,
        targets=store.targets,
    )  # fmt: skip
    assert data["weighted"] == pytest.approx(expected.weighted)
    assert data["quota"] == pytest.approx(expected.quota) == 55000
    assert {r["name"] for r in data["by_rep"]} == {"Priya Shah", "Jordan Reyes", "Aisha Grant"}


# ------------------------------------------------------------------------- metric


@pytest.mark.parametrize("metric", METRICS)
def test_each_metric_carries_the_analytics_numerator_denominator_and_period(team, store, metric):
    result = ask(
        ActionMetric(), team.reps["jordan"], "ask_metric", [{"entity": "metric", "value": metric}]
    )
    answer = only_answer(result)
    data = answer.data
    expected = compute_metric(
        metric,
        MetricFrames(
            opportunities=store.opportunities,
            leads=store.leads,
            order_lines=store.order_lines,
            accounts=store.accounts,
            targets=store.targets,
        ),
        today=TODAY,
        rep_ids={team.reps["jordan"]},
    )
    assert data["metric"] == metric
    assert data["numerator"] == pytest.approx(expected.numerator)
    assert data["denominator"] == pytest.approx(expected.denominator)
    assert data["numerator_label"] == expected.numerator_label
    assert data["denominator_label"] == expected.denominator_label
    assert data["period"] == {
        "label": expected.period.label,
        "start": expected.period.start.isoformat(),
        "end": expected.period.end.isoformat(),
    }
    if expected.value is None:
        assert data["value"] is None and data["reason"] == expected.reason
        assert answer.text.startswith("Not enough data")
    else:
        assert data["value"] == pytest.approx(expected.value)
    assert expected.period.label in answer.text
    assert result.slot("last_answer")["params"]["metric"] == metric


def test_win_rate_numbers(team):
    data = only_answer(
        ask(
            ActionMetric(),
            team.reps["jordan"],
            "ask_metric",
            [{"entity": "metric", "value": "win_rate"}],
        )
    ).data
    # Jordan closed w1, w4 (won) and l1 (lost) in the last 12 months
    assert (data["numerator"], data["denominator"]) == (2, 3)
    assert data["value"] == pytest.approx(2 / 3)


def test_metric_for_a_period_and_its_explanation(team):
    result = ask(
        ActionMetric(),
        team.reps["jordan"],
        "ask_metric",
        [{"entity": "metric", "value": "acv"}, {"entity": "period", "value": "this quarter"}],
    )
    data = only_answer(result).data
    assert data["period"]["label"] == "Q2 2026"
    assert (data["numerator"], data["denominator"], data["value"]) == (12000, 1, 12000)
    [why] = (
        ActionMetric().explain(context_of(team.reps["jordan"]), result.slot("last_answer")).answers
    )
    assert "won amount / won deals" in why.text and "$12k" in why.text


@pytest.mark.parametrize("metric", ["quota_attainment", "new_pipeline"])
def test_a_managers_metric_is_given_rep_by_rep(team, store, metric):
    """ "Who on my team is behind quota?", "new pipeline per rep": Priya's team, each rep's
    figure the analytics' own for that rep alone; quota says who is below it."""
    answer = only_answer(
        ask(
            ActionMetric(),
            team.reps["priya"],
            "ask_metric",
            [{"entity": "metric", "value": metric}],
        )
    )
    frames_ = MetricFrames(opportunities=store.opportunities, targets=store.targets)
    rows = {row["name"]: row for row in answer.data["by_rep"]}
    assert set(rows) == {"Priya Shah", "Jordan Reyes", "Aisha Grant"}
    for name, key in [("Jordan Reyes", "jordan"), ("Aisha Grant", "aisha")]:
        expected = compute_metric(metric, frames_, today=TODAY, rep_ids={team.reps[key]})
        if expected.value is None:
            assert rows[name]["value"] is None
        else:
            assert rows[name]["value"] == pytest.approx(expected.value)
    assert "By rep:" in answer.text
    if metric == "quota_attainment":
        behind = [r["name"] for r in rows.values() if r["value"] is not None and r["value"] < 1]
        assert f"{len(behind)} of 3 reps below quota so far" in answer.text
        # Priya has no quota of her own: said, not shown as 0%
        assert rows["Priya Shah"]["value"] is None
        assert "No quota for 1 rep." in answer.text
    # a rep's own question has no table
    own = only_answer(
        ask(
            ActionMetric(),
            team.reps["jordan"],
            "ask_metric",
            [{"entity": "metric", "value": metric}],
        )
    )
    assert "by_rep" not in own.data and "By rep:" not in own.text


def test_missing_metric_asks_which_one(team):
    result = ask(ActionMetric(), team.reps["jordan"], "ask_metric")
    assert result.responses == ["utter_ask_metric"]
    assert result.answers == []


def test_a_follow_up_keeps_the_metric_and_takes_the_new_period(team):
    result = ask(
        ActionMetric(),
        team.reps["jordan"],
        "inform",
        [{"entity": "period", "value": "Q1"}],
        slots={"metric": "win_rate", "period": "Q1"},
    )
    data = only_answer(result).data
    assert data["metric"] == "win_rate" and data["period"]["label"] == "Q1 2026"


# -------------------------------------------------------------------------- leads


def test_lead_priorities_are_the_scorers_ranking_for_the_scope(team, store):
    result = ask(ActionLeadPriorities(), team.reps["jordan"], "ask_lead_priorities")
    answer = only_answer(result)
    data = answer.data
    scorer = LeadScorer().fit(
        store.leads, store.activities, today=TODAY, opportunities=store.opportunities
    )
    expected = scorer.rank(
        store.leads,
        store.activities,
        today=TODAY,
        opportunities=store.opportunities,
        rep_ids={team.reps["jordan"]},
    )
    assert data["method"] == scorer.method_ == "rules"
    assert data["total"] == len(expected) == 3
    assert [lead["lead_id"] for lead in data["leads"]] == expected["lead_id"].tolist()
    assert [lead["score"] for lead in data["leads"]] == pytest.approx(expected["score"].tolist())
    assert [lead["rank"] for lead in data["leads"]] == expected["rank"].tolist()
    assert [tuple(lead["reasons"]) for lead in data["leads"]] == expected["reasons"].tolist()
    assert data["leads"][0]["company"] == "Northwind Deli"  # referral with two early touches
    assert "Northwind Deli" in answer.text and "Wingtip" not in answer.text
    [why] = (
        ActionLeadPriorities()
        .explain(context_of(team.reps["jordan"]), result.slot("last_answer"))
        .answers
    )
    assert "Points: source" in why.text


# ----------------------------------------------------------------------- reorders


def test_reorders_due_from_each_accounts_own_cycle(team, store):
    result = ask(ActionReordersDue(), team.reps["jordan"], "ask_reorders_due")
    answer = only_answer(result)
    data = answer.data
    jordan_accounts = [team.accounts["Acme Foods"], team.accounts["Initech Schools"]]
    expected = reorders_due(
        store.order_lines, today=TODAY, period=next_days(TODAY, 7), account_ids=jordan_accounts
    )
    assert data["period"]["label"] == next_days(TODAY, 7).label
    assert [(r["account_id"], r["category"]) for r in data["accounts"]] == list(
        zip(expected["account_id"], expected["category"], strict=True)
    )
    assert [r["cycle_days"] for r in data["accounts"]] == pytest.approx(
        expected["cycle_days"].tolist()
    )
    assert [r["expected_date"] for r in data["accounts"]] == [
        d.date().isoformat() for d in expected["expected_date"]
    ]
    assert {r["account_name"] for r in data["accounts"]} == {"Acme Foods", "Initech Schools"}
    assert data["total_typical_amount"] == pytest.approx(expected["typical_amount"].sum())
    assert "Acme Foods" in answer.text and "every 14 days" in answer.text
    assert result.slot("last_answer")["focus"]["account"] == data["accounts"][0]["account_name"]


def test_no_reorder_due_is_a_clear_sentence(team):
    answer = only_answer(
        ask(
            ActionReordersDue(),
            team.reps["aisha"],
            "ask_reorders_due",
            [{"entity": "period", "value": "next 3 days"}],
        )
    )
    assert answer.data["total"] == 0
    assert answer.text.startswith("No account of your book is due to reorder")


# ------------------------------------------------------- visibility and identity


@pytest.mark.parametrize("skill", list(ACTIONS))
def test_a_rep_asking_about_someone_outside_their_book_gets_no_figure(team, skill):
    action, intent, entities = ACTIONS[skill]
    for other in ("Olga", "Aisha Grant", "Priya"):
        result = ask(
            action(),
            team.reps["jordan"],
            intent,
            [*entities, {"entity": "rep", "value": other}],
        )
        assert result.responses == ["utter_rep_not_visible"], other
        assert result.answers == []
        assert result.slot("last_answer") is None


@pytest.mark.parametrize("skill", ["pipeline", "forecast"])
def test_a_manager_cannot_see_another_managers_rep(team, skill):
    action, intent, _ = ACTIONS[skill]
    result = ask(action(), team.reps["priya"], intent, [{"entity": "rep", "value": "Olga"}])
    assert result.responses == ["utter_rep_not_visible"]
    assert result.answers == []


@pytest.mark.parametrize("skill", list(ACTIONS))
def test_without_a_valid_signed_identity_nothing_is_shown(team, skill):
    action, intent, entities = ACTIONS[skill]
    unsigned = ask(action(), None, intent, entities)
    forged = ask(action(), team.reps["sam"], intent, entities, secret="not-the-secret")
    for result in (unsigned, forged):
        assert result.responses == ["utter_identity_refused"]
        assert result.answers == []
        assert result.events == []


def test_an_unknown_rep_name_is_said_so(team):
    result = ask(
        ActionPipeline(), team.reps["sam"], "ask_pipeline", [{"entity": "rep", "value": "Zebulon"}]
    )
    assert result.responses == ["utter_rep_not_visible"]


def test_an_unreadable_period_is_said_so(team):
    result = ask(
        ActionForecast(),
        team.reps["jordan"],
        "ask_forecast",
        [{"entity": "period", "value": "the blue moon"}],
    )
    assert result.responses == ["utter_unknown_period"]
    assert result.answers == []


# ----------------------------------------------------------------------- no data


@pytest.fixture
def empty(action_env, monkeypatch) -> Iterator[Team]:
    kept.reset()
    seeded = seed_team(action_env, with_business=False)
    _today(monkeypatch)
    yield seeded
    kept.reset()


@pytest.mark.parametrize("skill", list(ACTIONS))
def test_an_empty_store_gives_clear_sentences_not_nan(empty, skill):
    action, intent, entities = ACTIONS[skill]
    answer = only_answer(ask(action(), empty.reps["jordan"], intent, entities))
    text = answer.text
    assert "nan" not in text.lower().split() and "NaN" not in json.dumps(answer.data)
    sentences = {
        "pipeline": "There are no open deals in your book",
        "stalled_deals": "There are no open deals in your book",
        "forecast": "No deal had closed by 2026-05-20",
        "metric": "Not enough data for the win rate of your book",
        "lead_priorities": "There are no open leads in your book",
        "reorders_due": "No account of your book is due to reorder",
    }
    assert sentences[skill] in text


@pytest.mark.parametrize("metric", METRICS)
def test_every_metric_on_an_empty_book_says_why_there_is_no_value(empty, metric):
    answer = only_answer(
        ask(
            ActionMetric(),
            empty.reps["jordan"],
            "ask_metric",
            [{"entity": "metric", "value": metric}],
        )
    )
    if metric == "pipeline_value":
        assert answer.data["value"] == 0
    else:
        assert answer.data["value"] is None and answer.data["reason"]
        assert answer.text.startswith("Not enough data")


def test_a_stray_function_word_tagged_as_a_period_is_not_a_period(team):
    """ "the lifetime value of my accounts": a language model may tag "of" as the period;
    the metric is answered for its default period instead of "I couldn't tell which dates"."""
    tagged = ask(
        ActionMetric(),
        team.reps["jordan"],
        "ask_metric",
        [{"entity": "metric", "value": "win_rate"}, {"entity": "period", "value": "of"}],
    )
    plain = ask(
        ActionMetric(),
        team.reps["jordan"],
        "ask_metric",
        [{"entity": "metric", "value": "win_rate"}],
    )
    assert only_answer(tagged).data["period"] == only_answer(plain).data["period"]
    # a real period word still counts, and an unknown one is still said to be unknown
    last = ask(
        ActionMetric(),
        team.reps["jordan"],
        "ask_metric",
        [{"entity": "metric", "value": "win_rate"}, {"entity": "period", "value": "last quarter"}],
    )
    assert only_answer(last).data["period"]["label"] == "Q1 2026"
    odd = ask(
        ActionMetric(),
        team.reps["jordan"],
        "ask_metric",
        [{"entity": "metric", "value": "win_rate"}, {"entity": "period", "value": "the blue moon"}],
    )
    assert odd.responses == ["utter_unknown_period"]
