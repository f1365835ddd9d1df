"""Account skills in-process: slipping, pitch, overview, the account form, follow-ups,
visibility and identity, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from actions.accounts import (
    ActionAccountOverview,
    ActionAskAccount,
    ActionExplain,
    ActionPitch,
    ActionShowMore,
    ActionSlippingAccounts,
    ValidateAccountForm,
)
from actions.settings import get_settings
from bot.cli.score import score_book
from render.blocks import validate_blocks
from store import insights
from store.identity import Identity, sign_identity
from tests.actions.harness import run_action, tracker_for
from tests.seed import AS_OF, seed_book


@pytest.fixture
def book(action_env, monkeypatch):
    ids = seed_book(action_env)
    outcome = score_book(action_env, AS_OF)
    monkeypatch.setenv("SALESBOT_AS_OF", AS_OF.isoformat())
    monkeypatch.setenv("SALESBOT_LIST_SIZE", "3")
    get_settings.cache_clear()
    return ids, outcome


def _flagged_for(outcome, accounts_by_name, owner_names):
    health = outcome.health.accounts
    owners = outcome.accounts.set_index("account_id")["owner_id"]
    flagged = health[health["status"].isin(["slipping", "lapsed"])].copy()
    flagged["owner_id"] = flagged["account_id"].map(owners)
    return flagged[flagged["owner_id"].isin(owner_names)].sort_values(
        ["revenue_at_risk", "account_id"], ascending=[False, True]
    )


def test_slipping_lists_the_reps_own_flagged_accounts_with_numbers(book):
    ids, outcome = book
    result = run_action(
        ActionSlippingAccounts(),
        tracker_for(
            rep_id=ids.reps["ann"],
            text="which of my accounts are slipping?",
            intent="ask_slipping_accounts",
        ),
    )
    [answer] = result.answers
    expected = _flagged_for(outcome, ids.accounts, [ids.reps["ann"]])
    assert [a["account_id"] for a in answer.data["accounts"]] == expected["account_id"].tolist()
    assert ids.accounts["Acme Foods"] in [a["account_id"] for a in answer.data["accounts"]]
    first = answer.data["accounts"][0]
    row = expected.iloc[0]
    assert first["revenue_at_risk"] == pytest.approx(row["revenue_at_risk"])
    assert first["reason"] == row["reason"]
    assert answer.data["total_revenue_at_risk"] == pytest.approx(expected["revenue_at_risk"].sum())
    assert answer.data["scope"]["rep_ids"] == [ids.reps["ann"]]
    # Globex still buys Disposables but stopped Cleaning Supplies: a category flag, not an account flag
    assert ("Globex Hotels", "Cleaning Supplies") in [
        (c["name"], c["category"]) for c in answer.data["categories"]
    ]
    assert "Umbrella Clinic" not in result.text  # Cy's account, not Ann's
    assert validate_blocks(answer.blocks) == []
    assert result.slot("last_answer")["skill"] == "slipping_accounts"


def test_manager_sees_the_team_and_vp_sees_everyone_below(book):
    ids, outcome = book
    max_answer = run_action(
        ActionSlippingAccounts(),
        tracker_for(
            rep_id=ids.reps["max"],
            text="slipping accounts on my team",
            intent="ask_slipping_accounts",
        ),
    ).answers[0]
    names = {a["name"] for a in max_answer.data["accounts"]}
    assert "Acme Foods" in names and "Umbrella Clinic" not in names
    vera = run_action(
        ActionSlippingAccounts(),
        tracker_for(
            rep_id=ids.reps["vera"], text="slipping accounts", intent="ask_slipping_accounts"
        ),
    ).answers[0]
    assert {"Acme Foods", "Umbrella Clinic"} <= {a["name"] for a in vera.data["accounts"]}
    assert vera.data["total_flagged"] == len(
        _flagged_for(outcome, ids.accounts, list(ids.reps.values()))
    )


def test_rep_asking_for_someone_elses_book_is_refused_without_figures(book):
    ids, _ = book
    result = run_action(
        ActionSlippingAccounts(),
        tracker_for(
            rep_id=ids.reps["ann"],
            text="which of Cy's accounts are slipping?",
            intent="ask_slipping_accounts",
            entities=[{"entity": "rep", "value": "Cy"}],
            slots={"rep": "Cy"},
        ),
    )
    assert result.responses == ["utter_rep_not_visible"]
    assert result.answers == []


def test_category_filter(book):
    ids, _ = book
    answer = run_action(
        ActionSlippingAccounts(),
        tracker_for(
            rep_id=ids.reps["ann"],
            text="who stopped buying cleaning supplies?",
            intent="ask_slipping_accounts",
            entities=[{"entity": "category", "value": "cleaning supplies"}],
            slots={"category": "cleaning supplies"},
        ),
    ).answers[0]
    assert answer.data["category"] == "Cleaning Supplies"
    assert "Globex Hotels" in [a["name"] for a in answer.data["accounts"]]


def test_pitch_returns_the_stored_recommendations_for_a_visible_account(book):
    ids, outcome = book
    account_id = ids.accounts["Acme Food Service"]
    result = run_action(
        ActionPitch(),
        tracker_for(
            rep_id=ids.reps["bob"],
            text="what should I pitch to acme food service",
            intent="ask_pitch",
            slots={"account": "Acme Food Service", "account_id": account_id},
        ),
    )
    [answer] = result.answers
    expected = outcome.recommendations[
        outcome.recommendations["account_id"] == account_id
    ].sort_values("rank")
    got = answer.data["recommendations"]
    assert [r["category"] for r in got] == expected["category"].tolist()[: len(got)]
    assert got[0]["expected_value"] == pytest.approx(expected["expected_value"].iloc[0])
    assert "Disposables" not in [r["category"] for r in got]  # bought steadily: never pitched
    assert result.slot("account_id") == account_id


def test_a_pitch_question_without_an_account_gets_the_books_biggest_opportunities(book):
    """ "What should I pitch?" / "where are my biggest growth opportunities?": before asking
    which account, the rep's own accounts' best ideas, largest expected value first, and
    their total; other account questions are only asked which account."""
    ids, outcome = book
    bob = ids.reps["bob"]
    result = run_action(
        ActionAskAccount(),
        tracker_for(
            rep_id=bob,
            text="where are my biggest growth opportunities?",
            intent="ask_pitch",
            slots={"last_skill": "pitch", "requested_slot": "account"},
            active_loop={"name": "account_form"},
        ),
    )
    [answer] = result.answers
    assert result.responses == ["utter_ask_account"]
    owners = outcome.accounts.set_index("account_id")["owner_id"]
    best = outcome.recommendations[outcome.recommendations["rank"] == 1].copy()
    best = best[best["account_id"].map(owners) == bob]
    expected = best.sort_values(["expected_value", "account_id"], ascending=[False, True])
    got = answer.data["opportunities"]
    assert [r["account_id"] for r in got] == expected["account_id"].tolist()[:5]
    assert answer.data["accounts_with_ideas"] == len(best)
    assert answer.data["total_expected_value"] == pytest.approx(best["expected_value"].sum())
    assert answer.text.startswith("Biggest growth opportunities in your book")
    validate_blocks(answer.blocks)
    overview = run_action(
        ActionAskAccount(),
        tracker_for(
            rep_id=bob,
            text="give me an overview",
            intent="ask_account_overview",
            slots={"last_skill": "account_overview", "requested_slot": "account"},
            active_loop={"name": "account_form"},
        ),
    )
    assert overview.answers == [] and overview.responses == ["utter_ask_account"]
    unclear = run_action(
        ActionAskAccount(),
        tracker_for(
            rep_id=bob,
            text="what should I pitch to acme?",
            intent="ask_pitch",
            entities=[{"entity": "account", "value": "acme"}],
            slots={"last_skill": "pitch", "requested_slot": "account"},
            active_loop={"name": "account_form"},
        ),
    )
    assert unclear.answers == [] and unclear.responses == ["utter_ask_account"]


def test_pitch_for_an_account_outside_the_book_is_refused(book):
    ids, _ = book
    result = run_action(
        ActionPitch(),
        tracker_for(
            rep_id=ids.reps["ann"],
            text="what should I pitch to umbrella clinic",
            intent="ask_pitch",
            slots={"account": "Umbrella Clinic", "account_id": ids.accounts["Umbrella Clinic"]},
        ),
    )
    assert result.responses == ["utter_account_not_visible"]
    assert result.answers == []


def test_overview_shows_health_deals_and_best_pitch(book):
    ids, outcome = book
    account_id = ids.accounts["Acme Foods"]
    answer = run_action(
        ActionAccountOverview(),
        tracker_for(
            rep_id=ids.reps["ann"],
            text="how is acme foods doing",
            intent="ask_account_overview",
            slots={"account": "Acme Foods", "account_id": account_id},
        ),
    ).answers[0]
    health = outcome.health.accounts.set_index("account_id").loc[account_id]
    assert answer.data["health"]["status"] == health["status"]
    assert answer.data["health"]["reason"] == health["reason"]
    assert [d["name"] for d in answer.data["open_deals"]] == ["Acme Foods renewal"]
    assert answer.data["open_pipeline"] == 24000.0
    assert validate_blocks(answer.blocks) == []


def test_form_resolves_a_unique_visible_match_and_asks_when_ambiguous(book):
    ids, _ = book
    ann = run_action(
        ValidateAccountForm(),
        tracker_for(
            rep_id=ids.reps["ann"],
            text="pitch for acme",
            intent="ask_pitch",
            slots={"account": "acme"},
        ),
    )
    assert (
        ann.slot("account_id") == ids.accounts["Acme Foods"]
    )  # Acme Food Service is Bob's: not a candidate
    max_ = run_action(
        ValidateAccountForm(),
        tracker_for(
            rep_id=ids.reps["max"],
            text="pitch for acme",
            intent="ask_pitch",
            slots={"account": "acme"},
        ),
    )
    [question] = max_.answers
    assert question.kind == "clarify"
    assert {c["name"] for c in question.data["candidates"]} == {"Acme Foods", "Acme Food Service"}
    assert all(b["payload"].startswith("/inform{") for b in question.data["buttons"])
    assert max_.slot("account_id") is None


def test_form_scans_the_message_when_nlu_found_no_account(book):
    ids, _ = book
    result = run_action(
        ValidateAccountForm(),
        tracker_for(
            rep_id=ids.reps["ann"], text="what should i pitch to globex hotels", intent="ask_pitch"
        ),
    )
    assert result.slot("account_id") == ids.accounts["Globex Hotels"]


def test_form_refuses_accounts_outside_the_book_and_unknown_names(book):
    ids, _ = book
    hidden = run_action(
        ValidateAccountForm(),
        tracker_for(
            rep_id=ids.reps["ann"],
            text="umbrella clinic",
            intent="inform",
            slots={"account": "Umbrella Clinic"},
        ),
    )
    assert hidden.responses == ["utter_account_not_visible"] and hidden.answers == []
    assert hidden.slot("account_id") is None
    unknown = run_action(
        ValidateAccountForm(),
        tracker_for(
            rep_id=ids.reps["ann"],
            text="zyx corp",
            intent="inform",
            slots={"account": "Zyxwv Qrst"},
        ),
    )
    assert unknown.responses == ["utter_account_not_visible"]


def test_show_more_pages_and_why_explains(book, monkeypatch):
    ids, _ = book
    monkeypatch.setenv("SALESBOT_LIST_SIZE", "1")
    get_settings.cache_clear()
    first = run_action(
        ActionSlippingAccounts(),
        tracker_for(rep_id=ids.reps["vera"], text="slipping", intent="ask_slipping_accounts"),
    )
    page1 = first.answers[0].data
    assert page1["total_flagged"] == 2 and page1["shown"] == 1
    last = first.slot("last_answer")
    more = run_action(
        ActionShowMore(),
        tracker_for(
            rep_id=ids.reps["vera"],
            text="show more",
            intent="show_more",
            slots={"last_answer": last},
        ),
    )
    page2 = more.answers[0].data
    assert page2["offset"] == 1
    assert {page1["accounts"][0]["name"], page2["accounts"][0]["name"]} == {
        "Acme Foods",
        "Umbrella Clinic",
    }
    done = run_action(
        ActionShowMore(),
        tracker_for(
            rep_id=ids.reps["vera"],
            text="show more",
            intent="show_more",
            slots={"last_answer": more.slot("last_answer")},
        ),
    )
    assert done.responses == ["utter_nothing_more"] and done.answers == []
    why = run_action(
        ActionExplain(),
        tracker_for(
            rep_id=ids.reps["vera"], text="why?", intent="ask_why", slots={"last_answer": last}
        ),
    )
    assert why.answers[0].kind == "explain"
    assert why.answers[0].data["accounts"][0]["name"] == page1["accounts"][0]["name"]
    nothing = run_action(
        ActionShowMore(), tracker_for(rep_id=ids.reps["ann"], text="show more", intent="show_more")
    )
    assert nothing.responses == ["utter_nothing_more"]


@pytest.mark.parametrize(
    "token_kind", ["missing", "forged", "other_conversation", "expired", "unknown_rep"]
)
def test_actions_refuse_without_a_valid_signed_identity(book, token_kind):
    ids, _ = book
    identity = Identity(rep_id=ids.reps["ada"], sender="test-conversation", issued_at=time.time())
    token = {
        "missing": None,
        "forged": sign_identity(identity, secret="not-the-secret"),
        "other_conversation": sign_identity(
            Identity(rep_id=ids.reps["ada"], sender="someone-else", issued_at=time.time()),
            secret="action-test-secret",
        ),
        "expired": sign_identity(
            Identity(
                rep_id=ids.reps["ada"], sender="test-conversation", issued_at=time.time() - 3600
            ),
            secret="action-test-secret",
        ),
        "unknown_rep": sign_identity(
            Identity(rep_id=999_999, sender="test-conversation", issued_at=time.time()),
            secret="action-test-secret",
        ),
    }[token_kind]
    tracker = tracker_for(
        rep_id=None,
        text="which accounts are slipping?",
        intent="ask_slipping_accounts",
        token=token,
    )
    result = run_action(ActionSlippingAccounts(), tracker)
    assert result.answers == []
    expected = "utter_not_linked" if token_kind == "unknown_rep" else "utter_identity_refused"
    assert result.responses == [expected]


def test_not_scored_yet_is_said(action_env, monkeypatch):
    ids = seed_book(action_env, filler_accounts=0)
    assert insights.latest_run(action_env) is None
    result = run_action(
        ActionSlippingAccounts(),
        tracker_for(rep_id=ids.reps["ann"], text="slipping?", intent="ask_slipping_accounts"),
    )
    assert result.responses == ["utter_not_scored_yet"]


def test_overview_and_pitch_judge_the_newest_orders_with_the_fitted_models(
    action_env, monkeypatch, tmp_path
):
    """After the nightly run, a new order changes the account's answer at once."""
    from sqlmodel import Session

    from store import book as stored
    from store.models import Order, OrderLine

    ids = seed_book(action_env)
    outcome = score_book(action_env, AS_OF, models_dir=tmp_path / "models")
    monkeypatch.setenv("SALESBOT_HOME", str(tmp_path))
    monkeypatch.setenv("SALESBOT_AS_OF", AS_OF.isoformat())
    get_settings.cache_clear()
    acme = ids.accounts["Acme Foods"]
    assert stored.account_health(action_env, acme)["status"] in ("slipping", "lapsed")
    with Session(action_env) as session:
        order = Order(
            external_id="SO-NEW", account_id=acme, rep_id=ids.reps["ann"], order_date=AS_OF
        )
        session.add(order)
        session.flush()
        session.add(
            OrderLine(
                order_id=order.id,
                line_key="DIS-0",
                account_id=acme,
                product_id=1,
                order_date=AS_OF,
                quantity=10,
                unit_price=10.0,
                discount=0.0,
                amount=100.0,
            )
        )
        session.commit()
    overview = run_action(
        ActionAccountOverview(),
        tracker_for(
            rep_id=ids.reps["ann"],
            text="how is acme foods doing",
            intent="ask_account_overview",
            slots={"account": "Acme Foods", "account_id": acme},
        ),
    ).answers[0]
    assert overview.data["computed"] == "on_demand"
    assert overview.data["health"]["days_since_last_order"] == 0
    nightly = stored.account_health(action_env, acme)
    assert nightly["days_since_last_order"] >= 120  # the nightly row is unchanged
    assert "since the last order" in overview.data["health"]["reason"]
    assert overview.data["health"]["reason"] != nightly["reason"]
    other = ids.accounts["Acme Food Service"]
    pitch = run_action(
        ActionPitch(),
        tracker_for(
            rep_id=ids.reps["bob"],
            text="pitch to acme food service",
            intent="ask_pitch",
            slots={"account": "Acme Food Service", "account_id": other},
        ),
    ).answers[0]
    assert pitch.data["computed"] == "on_demand"
    expected = outcome.recommendations[outcome.recommendations["account_id"] == other].sort_values(
        "rank"
    )
    assert [r["category"] for r in pitch.data["recommendations"]] == expected["category"].tolist()[
        :5
    ]


def test_form_prefers_the_full_name_written_in_the_message(book):
    ids, _ = book
    result = run_action(
        ValidateAccountForm(),
        tracker_for(
            rep_id=ids.reps["max"],
            text="how is acme food service doing?",
            intent="ask_account_overview",
            slots={"account": "acme food"},
        ),
    )
    assert result.slot("account_id") == ids.accounts["Acme Food Service"]
    assert result.answers == []
