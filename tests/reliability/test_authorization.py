"""Authorization matrix: nobody sees a book that is not theirs.

In-process (the action classes run the way the action server runs them, on a scored demo
company): for every action that answers with account, deal or team data, a rep asks about
a teammate's and another team's rep or account, and a manager about another team, by
name, by a forged slot (``account_id``) and through a forged follow-up (``last_answer``):
each is refused, or answered from the asker's own book, and nothing of the other book
(ids, names, revenue at risk) appears in text, blocks or data. Managers' own answers hold
their team and nothing else. Every identity fault (none, forged, another conversation's,
expired, tampered, unknown or inactive rep) is refused before any data is read.

Against the real stack: the action server's ``/webhook`` called directly, Rasa's REST
channel called without the bot, and ``salesbot ask`` across teams.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

import actions
from actions.accounts import (
    ActionAccountOverview,
    ActionAskAccount,
    ActionExplain,
    ActionPitch,
    ActionShowMore,
    ActionSlippingAccounts,
    ValidateAccountForm,
)
from actions.base import SalesAction
from actions.calls import ActionReviewCall
from actions.deals import ActionForecast, ActionMetric, ActionPipeline, ActionStalledDeals
from actions.digests import ActionDigest, ActionSubscribeDigest
from actions.leads import ActionLeadPriorities, ActionReordersDue
from analytics.metrics import METRICS
from store.demo import DEMO_MANAGER_EMAIL, DEMO_REP_EMAIL
from store.identity import METADATA_KEY, Identity, sign_identity
from store.models import Account, AccountHealth, DigestSubscription, Rep
from tests.actions.harness import SECRET, Result, run_action, tracker_for
from tests.reliability.conftest import DemoStore
from tests.reliability.leaks import (
    REFUSALS,
    Book,
    all_rep_ids,
    book_of,
    dump,
    leaks,
    variables_of,
)
from tests.stack import TOKENS

# ------------------------------------------------------------------------ the cases


@dataclass(frozen=True)
class Other:
    """The rep (and one of their accounts) the asker must not see."""

    rep_name: str
    account_name: str
    account_id: int
    book: Book
    """Everything the asker may not see (every book outside their visibility)."""


@dataclass(frozen=True)
class Case:
    """One way of asking about another book."""

    action: type[SalesAction]
    intent: str
    entities: Callable[[Other], list[dict[str, Any]]] = lambda o: []
    slots: Callable[[Other], dict[str, Any]] = lambda o: {}
    said: Callable[[Other], list[str]] = lambda o: [o.rep_name]
    refused: bool = True
    """False: the action may answer, but from the asker's own book only."""


def rep_entity(other: Other) -> list[dict[str, Any]]:
    return [{"entity": "rep", "value": other.rep_name}]


def metric_case(metric: str) -> Case:
    return Case(
        ActionMetric,
        "ask_metric",
        entities=lambda o: [{"entity": "metric", "value": metric}, *rep_entity(o)],
    )


def followup(
    action: type[SalesAction], skill: str, params: Callable[[Other], dict[str, Any]], **kw: Any
) -> Case:
    """A follow-up ("why?", "show more") whose ``last_answer`` slot was forged to point at
    the other book (slots come from the conversation, which the user can steer)."""
    return Case(
        action,
        "ask_why" if action is ActionExplain else "show_more",
        slots=lambda o: {"last_answer": {"skill": skill, "shown": 5, **params(o)}},
        **kw,
    )


REP_CASES: dict[str, Case] = {
    # the rep named in this message (a rep slot left from an earlier question is not reused)
    "slipping": Case(
        ActionSlippingAccounts,
        "ask_slipping_accounts",
        entities=rep_entity,
        slots=lambda o: {"rep": o.rep_name},
    ),
    "pitch-by-name": Case(
        ActionPitch,
        "ask_pitch",
        slots=lambda o: {"account": o.account_name},
        said=lambda o: [o.account_name],
    ),
    "pitch-by-forged-id": Case(
        ActionPitch,
        "ask_pitch",
        slots=lambda o: {"account": o.account_name, "account_id": o.account_id},
        said=lambda o: [o.account_name],
    ),
    "overview-by-name": Case(
        ActionAccountOverview,
        "ask_account_overview",
        slots=lambda o: {"account": o.account_name},
        said=lambda o: [o.account_name],
    ),
    "overview-by-forged-id": Case(
        ActionAccountOverview,
        "ask_account_overview",
        slots=lambda o: {"account_id": o.account_id},
        said=lambda o: ["that account"],
    ),
    "growth": Case(ActionAskAccount, "ask_pitch", said=lambda o: [], refused=False),
    "account-form": Case(
        ValidateAccountForm,
        "ask_pitch",
        slots=lambda o: {"account": o.account_name},
        said=lambda o: [o.account_name],
    ),
    "pipeline": Case(ActionPipeline, "ask_pipeline", entities=rep_entity),
    "stalled": Case(ActionStalledDeals, "ask_stalled_deals", entities=rep_entity),
    "forecast": Case(ActionForecast, "ask_forecast", entities=rep_entity),
    **{f"metric-{m}": metric_case(m) for m in METRICS},
    "leads": Case(ActionLeadPriorities, "ask_lead_priorities", entities=rep_entity),
    "reorders": Case(ActionReordersDue, "ask_reorders_due", entities=rep_entity),
    "more-slipping": followup(ActionShowMore, "slipping_accounts", lambda o: {"params": {"rep": o.rep_name}}),
    "more-pipeline": followup(ActionShowMore, "pipeline", lambda o: {"params": {"rep": o.rep_name}}),
    "more-stalled": followup(ActionShowMore, "stalled_deals", lambda o: {"params": {"rep": o.rep_name}}),
    "more-forecast": followup(ActionShowMore, "forecast", lambda o: {"params": {"rep": o.rep_name}}),
    "more-leads": followup(ActionShowMore, "lead_priorities", lambda o: {"params": {"rep": o.rep_name}}),
    "more-reorders": followup(ActionShowMore, "reorders_due", lambda o: {"params": {"rep": o.rep_name}}),
    "why-overview": followup(
        ActionExplain, "account_overview", lambda o: {"params": {}, "focus": {"account_id": o.account_id}}, said=lambda o: [str(o.account_id), "that account"]
    ),
    "why-slipping": followup(
        ActionExplain,
        "slipping_accounts",
        lambda o: {"params": {}, "focus": {"account_ids": sorted(o.book.accounts)[:3]}},
        said=lambda o: [],
        refused=False,
    ),
    "why-pipeline": followup(ActionExplain, "pipeline", lambda o: {"params": {"rep": o.rep_name}}),
    "why-stalled": followup(ActionExplain, "stalled_deals", lambda o: {"params": {"rep": o.rep_name}}),
    "why-forecast": followup(ActionExplain, "forecast", lambda o: {"params": {"rep": o.rep_name}}),
    "why-metric": followup(
        ActionExplain, "metric", lambda o: {"params": {"metric": "win_rate", "rep": o.rep_name}}
    ),
    "why-leads": followup(ActionExplain, "lead_priorities", lambda o: {"params": {"rep": o.rep_name}}),
    "why-reorders": followup(ActionExplain, "reorders_due", lambda o: {"params": {"rep": o.rep_name}}),
    "review-call-by-name": Case(
        ActionReviewCall, "review_call", slots=lambda o: {"account": o.account_name}, said=lambda o: [o.account_name]
    ),
    "review-call-by-forged-id": Case(
        ActionReviewCall, "review_call", slots=lambda o: {"account_id": o.account_id}, said=lambda o: ["that account"]
    ),
    "digest": Case(ActionDigest, "request_digest", entities=rep_entity, refused=False),
}  # fmt: skip
"""How a rep can ask about someone else's book; a rep's digest is their own line."""

MANAGER_CASES: dict[str, Case] = {
    **REP_CASES,
    "digest": Case(ActionDigest, "request_digest", entities=rep_entity),
}
"""A manager asking about another team: the digest of another team is refused too."""

PAIRS = [
    ("jordan", "aisha", REP_CASES),  # a rep and a teammate
    ("jordan", "hannah", REP_CASES),  # a rep and another team's rep
    ("priya", "hannah", MANAGER_CASES),  # a manager and another team's rep
]
MATRIX = [
    pytest.param(asker, other, case, id=f"{asker}-asks-about-{other}:{name}")
    for asker, other, cases in PAIRS
    for name, case in cases.items()
]
NON_DATA_ACTIONS = {"action_subscribe_digest", "action_unsubscribe_digest"}
"""Actions that answer with no account, deal or team data (checked: they are refused
without identity like every other, see test_identity_faults_are_refused)."""


def salesbot_actions() -> dict[str, type[SalesAction]]:
    """Every SalesAction the action server loads (``--actions actions``), by name."""
    for module in pkgutil.iter_modules(actions.__path__, "actions."):
        importlib.import_module(module.name)
    found: dict[str, type[SalesAction]] = {}
    pending = list(SalesAction.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if getattr(cls, "action_name", None) and not getattr(cls, "__abstractmethods__", None):
            found[cls.action_name] = cls
    return found


# --------------------------------------------------------------------------- helpers


def visible_to(store: DemoStore, asker: str) -> set[int]:
    from store import crud

    with Session(store.engine) as session:
        rep = session.get(Rep, store.reps[asker])
        assert rep is not None
        visible = crud.visible_rep_ids(session, rep=rep)
    assert visible is not None
    return visible


def other_for(store: DemoStore, asker: str, other: str) -> Other:
    """``other``'s flagged account with the most revenue at risk (or any of theirs)."""
    outside = all_rep_ids(store.engine) - visible_to(store, asker)
    assert store.reps[other] in outside
    with Session(store.engine) as session:
        rows = session.exec(
            select(Account.id, Account.name, AccountHealth.revenue_at_risk)
            .join(AccountHealth, col(AccountHealth.account_id) == col(Account.id), isouter=True)
            .where(Account.owner_id == store.reps[other])
            .order_by(col(AccountHealth.revenue_at_risk).desc().nulls_last(), col(Account.id))
        ).all()
    assert rows, f"{other} owns no account in the demo store"
    account_id, name, _risk = rows[0]
    return Other(
        rep_name=store.rep_name(other),
        account_name=name,
        account_id=int(account_id or 0),
        book=book_of(store.engine, outside),
    )


def ask(
    store: DemoStore,
    asker: str,
    case: Case,
    other: Other,
    *,
    sender: str = "auth-matrix",
) -> Result:
    return run_action(
        case.action(),
        tracker_for(
            rep_id=store.reps[asker],
            text="a question about someone else's book",
            intent=case.intent,
            entities=case.entities(other),
            slots=case.slots(other),
            sender=sender,
        ),
    )


def assert_refused(result: Result, said: list[str]) -> None:
    """A refusal: domain responses only, each a refusal, carrying only what was said."""
    assert result.answers == [], [a.kind for a in result.answers]
    assert result.responses, result.messages
    assert set(result.responses) <= REFUSALS, result.responses
    for message in result.messages:
        shown = {str(v) for v in variables_of(message).values()}
        assert shown <= set(said), (message["response"], shown)
        assert not message.get("text") and not message.get("buttons"), message


# ---------------------------------------------------------------------------- matrix


def test_every_action_with_account_or_deal_data_is_in_the_matrix():
    """A new data action (for example ``action_review_call``) must join the matrix."""
    covered = {case.action.action_name for _, _, cases in PAIRS for case in cases.values()}
    data_actions = {
        name
        for name, cls in salesbot_actions().items()
        if cls.shares_account_data and name not in NON_DATA_ACTIONS
    }
    assert data_actions - covered == set(), "add these actions to the authorization matrix"
    assert {
        "action_slipping_accounts",
        "action_pitch",
        "action_account_overview",
        "action_pipeline",
        "action_stalled_deals",
        "action_forecast",
        "action_metric",
        "action_lead_priorities",
        "action_reorders_due",
        "action_digest",
        "action_review_call",
    } <= covered


@pytest.mark.parametrize(("asker", "other_key", "case"), MATRIX)
def test_asking_about_a_book_outside_ones_visibility(actions_env, asker, other_key, case):
    other = other_for(actions_env, asker, other_key)
    result = ask(actions_env, asker, case, other)
    said = case.said(other)
    if case.refused:
        assert_refused(result, said)
    assert leaks(result.messages, other.book, said=said) == []
    for risk in other.book.risk:
        assert f'"revenue_at_risk": {risk}' not in dump(result.messages)
    if case.action is ValidateAccountForm:
        assert result.slot("account_id") is None


OWN_CASES: dict[str, Case] = {
    "slipping": Case(ActionSlippingAccounts, "ask_slipping_accounts"),
    "pipeline": Case(ActionPipeline, "ask_pipeline"),
    "stalled": Case(ActionStalledDeals, "ask_stalled_deals"),
    "forecast": Case(ActionForecast, "ask_forecast"),
    **{
        f"metric-{m}": Case(
            ActionMetric, "ask_metric", entities=lambda o, m=m: [{"entity": "metric", "value": m}]
        )
        for m in METRICS
    },
    "leads": Case(ActionLeadPriorities, "ask_lead_priorities"),
    "reorders": Case(ActionReordersDue, "ask_reorders_due"),
    "digest": Case(ActionDigest, "request_digest"),
    "review-call": Case(ActionReviewCall, "review_call"),
    "growth": Case(ActionAskAccount, "ask_pitch"),
}


@pytest.mark.parametrize("asker", ["jordan", "priya"])
@pytest.mark.parametrize("case", list(OWN_CASES.values()), ids=list(OWN_CASES))
def test_own_answers_hold_the_own_book_or_team_and_nothing_else(actions_env, asker, case):
    store = actions_env
    visible = visible_to(store, asker)
    outside = book_of(store.engine, all_rep_ids(store.engine) - visible)
    result = run_action(
        case.action(),
        tracker_for(
            rep_id=store.reps[asker],
            text="about my own book",
            intent=case.intent,
            entities=case.entities(None),  # type: ignore[arg-type]
        ),
    )
    assert result.answers, result.responses
    assert not set(result.responses) & REFUSALS
    assert leaks(result.messages, outside) == []
    for answer in result.answers:
        scope = answer.data.get("scope") or {}
        if scope.get("rep_ids") is not None:
            assert set(scope["rep_ids"]) <= visible


def test_a_manager_sees_the_whole_team_and_every_member(actions_env):
    store = actions_env
    team = visible_to(store, "priya")
    pipeline = run_action(
        ActionPipeline(),
        tracker_for(rep_id=store.reps["priya"], text="team pipeline", intent="ask_pipeline"),
    ).answers[0]
    assert set(pipeline.data["scope"]["rep_ids"]) == team
    assert {row["rep_id"] for row in pipeline.data["by_rep"]} <= team
    member = run_action(
        ActionPipeline(),
        tracker_for(
            rep_id=store.reps["priya"],
            text="Jordan's pipeline",
            intent="ask_pipeline",
            entities=[{"entity": "rep", "value": store.rep_name("jordan")}],
        ),
    ).answers[0]
    assert member.data["scope"]["rep_ids"] == [store.reps["jordan"]]


def test_the_leak_check_sees_a_team_answer_from_a_reps_seat(actions_env):
    """The checks above can fail: Priya's team leads include her reps' leads, which are
    outside Jordan's book."""
    store = actions_env
    jordan_outside = book_of(store.engine, all_rep_ids(store.engine) - {store.reps["jordan"]})
    result = run_action(
        ActionLeadPriorities(),
        tracker_for(rep_id=store.reps["priya"], text="team leads", intent="ask_lead_priorities"),
    )
    found = leaks(result.messages, jordan_outside)
    assert any(f.startswith("lead_id=") for f in found), found
    assert any(f.startswith("owner_id=") for f in found), found
    assert any(" in text" in f for f in found), found


# -------------------------------------------------------------------------- identity


def tampered(token: str, **changes: Any) -> str:
    """``token`` with its claims changed and the original signature kept."""
    version, payload, mac = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    raw = json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()
    return f"{version}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}.{mac}"


def token(rep_id: int, *, sender: str, secret: str = SECRET, issued_at: float | None = None) -> str:
    identity = Identity(rep_id=rep_id, sender=sender, issued_at=issued_at or time.time())
    return sign_identity(identity, secret=secret)


IDENTITY_FAULTS: dict[str, Callable[[int, str], str | None]] = {
    "none": lambda rep, sender: None,
    "malformed": lambda rep, sender: "not-a-token",
    "forged": lambda rep, sender: token(rep, sender=sender, secret="guessed-secret"),
    "other-conversation": lambda rep, sender: token(rep, sender="slack:USOMEONEELSE"),
    "expired": lambda rep, sender: token(rep, sender=sender, issued_at=time.time() - 3600),
    "from-the-future": lambda rep, sender: token(rep, sender=sender, issued_at=time.time() + 3600),
    "tampered-rep": lambda rep, sender: tampered(token(rep, sender=sender), rep_id=rep + 1),
    "wrong-version": lambda rep, sender: "v0" + token(rep, sender=sender)[2:],
}


@pytest.mark.parametrize("fault", list(IDENTITY_FAULTS))
def test_identity_faults_are_refused_by_every_action(actions_env, fault):
    store = actions_env
    sender = "slack:UJORDAN"
    other = other_for(store, "priya", "hannah")
    cases = {**MANAGER_CASES, "subscribe": Case(ActionSubscribeDigest, "subscribe_digest")}
    for name, case in cases.items():
        tracker = tracker_for(
            rep_id=None,
            token=IDENTITY_FAULTS[fault](store.reps["priya"], sender),
            text="who am I?",
            intent=case.intent,
            entities=[*case.entities(other), {"entity": "schedule", "value": "every day at 8"}],
            slots=case.slots(other),
            sender=sender,
        )
        result = run_action(case.action(), tracker)
        assert result.responses == ["utter_identity_refused"], (name, result.messages)
        assert result.answers == [] and result.events == [], name
    with Session(store.engine) as session:
        assert session.exec(select(DigestSubscription)).all() == []


@pytest.mark.parametrize("who", ["unknown-rep", "inactive-rep"])
def test_a_signed_identity_of_a_rep_not_in_the_store_gets_nothing(actions_env, who):
    store = actions_env
    rep_id = 999_999 if who == "unknown-rep" else store.reps["jordan"]
    with Session(store.engine) as session:
        jordan = session.get(Rep, store.reps["jordan"])
        assert jordan is not None
        jordan.active = who != "inactive-rep"
        session.add(jordan)
        session.commit()
    try:
        for case in (
            Case(ActionSlippingAccounts, "ask_slipping_accounts"),
            Case(ActionPipeline, "ask_pipeline"),
            Case(ActionDigest, "request_digest"),
        ):
            result = run_action(
                case.action(), tracker_for(rep_id=rep_id, text="my book", intent=case.intent)
            )
            assert result.responses == ["utter_not_linked"]
            assert result.answers == []
    finally:
        with Session(store.engine) as session:
            jordan = session.get(Rep, store.reps["jordan"])
            assert jordan is not None
            jordan.active = True
            session.add(jordan)
            session.commit()


# ------------------------------------------------------------------ the real stack


def webhook_body(action: str, sender: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """What Rasa sends to the action server's ``/webhook`` for ``action``."""
    latest = {
        "text": "which of my accounts are slipping?",
        "intent": {"name": "ask_slipping_accounts", "confidence": 0.99},
        "entities": [],
        "metadata": metadata,
    }
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": {},
            "latest_message": latest,
            "events": [{"event": "user", "text": latest["text"], "parse_data": latest}],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def stack_rep(stack, email: str) -> int:
    with Session(stack.engine) as session:
        rep = session.exec(select(Rep).where(Rep.email == email)).one()
        return int(rep.id or 0)


@pytest.mark.rasa
@pytest.mark.xdist_group("stack")
def test_the_action_server_webhook_refuses_requests_without_a_valid_identity(stack):
    from tests.stack import SECRET as STACK_SECRET

    rep = stack_rep(stack, DEMO_REP_EMAIL)
    sender = f"slack:U{uuid.uuid4().hex[:8].upper()}"

    def signed(**kw: Any) -> dict[str, Any]:
        kw.setdefault("secret", STACK_SECRET)
        kw.setdefault("sender", sender)
        return {METADATA_KEY: token(rep, **kw)}

    faults = {
        "none": {},
        "forged": signed(secret="guessed-secret"),
        "replayed-for-another-sender": signed(sender="slack:UOTHER"),
        "expired": signed(issued_at=time.time() - 3600),
    }
    url = stack.action_server_url + "/webhook"
    rasa_only = {"token": TOKENS.action_endpoint}
    # without Rasa's token nobody gets past the door, however good the identity
    for params in ({}, {"token": "guessed"}):
        refused = httpx.post(
            url,
            params=params,
            json=webhook_body("action_slipping_accounts", sender, signed()),
            timeout=60,
        )
        assert refused.status_code == 401, params
        assert "custom" not in refused.text
    for name, metadata in faults.items():
        response = httpx.post(
            url,
            params=rasa_only,
            json=webhook_body("action_slipping_accounts", sender, metadata),
            timeout=60,
        )
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        assert [r.get("response") for r in body["responses"]] == ["utter_identity_refused"], name
        assert body["events"] == [], name
    valid = httpx.post(
        url,
        params=rasa_only,
        json=webhook_body("action_slipping_accounts", sender, signed()),
        timeout=60,
    )
    [answer] = [r for r in valid.json()["responses"] if r.get("custom")]
    assert answer["custom"]["kind"] == "slipping"
    assert answer["custom"]["data"]["scope"]["rep_ids"] == [rep]


@pytest.mark.rasa
@pytest.mark.xdist_group("stack")
def test_rasa_called_without_the_bot_gives_no_data(stack):
    response = httpx.post(
        stack.rasa_url + "/webhooks/rest/webhook",
        json={
            "sender": f"slack:U{uuid.uuid4().hex[:8].upper()}",
            "message": "which of my accounts are slipping?",
        },
        timeout=60,
    )
    assert response.status_code == 200
    replies = response.json()
    assert replies and not [r for r in replies if r.get("custom")]
    assert all("couldn't verify who is asking" in r.get("text", "") for r in replies), replies


@pytest.mark.rasa
@pytest.mark.xdist_group("stack")
def test_rasas_api_and_the_trackers_in_it_need_rasas_token(stack):
    """A conversation's tracker holds the signed identity of its last message: only our own
    processes, holding Rasa's API token, may read it."""
    sender = f"slack:U{uuid.uuid4().hex[:8].upper()}"
    httpx.post(
        stack.rasa_url + "/webhooks/rest/webhook",
        json={"sender": sender, "message": "hello"},
        timeout=60,
    ).raise_for_status()
    tracker = f"{stack.rasa_url}/conversations/{sender}/tracker"
    for params in ({}, {"token": "guessed"}):
        assert httpx.get(tracker, params=params, timeout=60).status_code == 401
        assert httpx.get(stack.rasa_url + "/status", params=params, timeout=60).status_code == 401
    assert httpx.get(tracker, params={"token": TOKENS.rasa_api}, timeout=60).status_code == 200


def salesbot_ask(stack, email: str, text: str) -> list[dict[str, Any]]:
    argv = [sys.executable, "-m", "bot.cli", "ask", "--as", email, text, "--json"]
    argv += ["--sender", f"auth-{uuid.uuid4().hex[:10]}"]
    result = subprocess.run(
        argv, env={**os.environ, **stack.env()}, capture_output=True, text=True, timeout=120
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


@pytest.mark.rasa
@pytest.mark.xdist_group("stack")
def test_across_teams_through_the_whole_stack(stack):
    """A rep and a manager ask about another team through ``salesbot ask``: refused, and
    their own answers hold only their own book or team."""
    from store import crud

    with Session(stack.engine) as session:
        manager = session.exec(select(Rep).where(Rep.email == DEMO_MANAGER_EMAIL)).one()
        team = crud.team_rep_ids(session, manager_id=int(manager.id or 0))
        other = session.exec(
            select(Rep).where(col(Rep.id).not_in(team), Rep.role == "rep").order_by(col(Rep.id))
        ).first()
        assert other is not None
    outside = book_of(stack.engine, all_rep_ids(stack.engine) - team)
    for email in (DEMO_REP_EMAIL, DEMO_MANAGER_EMAIL):
        for question in (f"what's {other.name}'s forecast?", f"show me {other.name}'s pipeline"):
            replies = salesbot_ask(stack, email, question)
            assert not [r for r in replies if r.get("kind") in ("forecast", "pipeline")], replies
            assert leaks(replies, outside, said=[other.name]) == []
    replies = salesbot_ask(stack, DEMO_MANAGER_EMAIL, "how does my team's pipeline look?")
    [pipeline] = [r for r in replies if r.get("kind") == "pipeline"]
    assert set(pipeline["data"]["scope"]["rep_ids"]) == team
    assert leaks(replies, outside) == []
