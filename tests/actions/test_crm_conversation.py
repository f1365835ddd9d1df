"""Questions a new user asks on a real CRM export, in-process against the actions:
deals without close dates, accounts shared by several agents, agents whose names look
like company names, a store without activities or contacts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from actions.accounts import (
    ActionAccountOverview,
    ActionPitch,
    ActionSlippingAccounts,
    ValidateAccountForm,
)
from actions.deals import ActionForecast, ActionMetric, ActionPipeline, ActionStalledDeals
from actions.settings import get_settings
from bot.cli.score import score_book
from tests.actions.crm import AS_OF, seed_crm
from tests.actions.harness import run_action, tracker_for
from tests.seed import AS_OF as SEED_AS_OF
from tests.seed import seed_book


@pytest.fixture
def crm(action_env, monkeypatch):
    ids = seed_crm(action_env)
    monkeypatch.setenv("SALESBOT_AS_OF", AS_OF.isoformat())
    get_settings.cache_clear()
    return ids


def test_overview_of_an_account_whose_open_deal_has_no_close_date(crm):
    result = run_action(
        ActionAccountOverview(),
        tracker_for(
            rep_id=crm.reps["aisha"],
            text="how is Globex Corporation doing?",
            intent="ask_account_overview",
            slots={
                "account": "Globex Corporation",
                "account_id": crm.accounts["Globex Corporation"],
            },
        ),
    )
    [answer] = result.answers
    assert "Globex renewal" in answer.text
    assert "no close date" in answer.text
    assert answer.data["open_deals"][0]["close_date"] is None


# ------------------------------------------------------------- slots of a fresh question


@pytest.fixture
def scored(action_env, monkeypatch):
    ids = seed_book(action_env)
    score_book(action_env, SEED_AS_OF)
    monkeypatch.setenv("SALESBOT_AS_OF", SEED_AS_OF.isoformat())
    get_settings.cache_clear()
    return ids


def test_a_fresh_slipping_question_drops_the_rep_and_category_of_the_last_one(scored):
    ids = scored
    max_id = ids.reps["max"]
    anns = run_action(
        ActionSlippingAccounts(),
        tracker_for(
            rep_id=max_id,
            text="which of Ann's accounts are slipping?",
            intent="ask_slipping_accounts",
            entities=[{"entity": "rep", "value": "Ann"}],
            slots={"rep": "Ann"},
        ),
    )
    assert anns.answers[0].data["scope"]["rep_ids"] == [ids.reps["ann"]]
    mine = run_action(
        ActionSlippingAccounts(),
        tracker_for(
            rep_id=max_id,
            text="which of my accounts are slipping?",
            intent="ask_slipping_accounts",
            slots={"rep": "Ann"},  # what the conversation still holds
        ),
    )
    [answer] = mine.answers
    assert set(answer.data["scope"]["rep_ids"]) == {max_id, ids.reps["ann"], ids.reps["bob"]}
    assert mine.slot("rep") is None and ("rep", None) in [
        (e.get("name"), e.get("value")) for e in mine.events if e.get("event") == "slot"
    ]
    by_category = run_action(
        ActionSlippingAccounts(),
        tracker_for(
            rep_id=ids.reps["ann"],
            text="who stopped buying cleaning supplies?",
            intent="ask_slipping_accounts",
            entities=[{"entity": "category", "value": "Cleaning Supplies"}],
            slots={"category": "Cleaning Supplies"},
        ),
    )
    assert by_category.answers[0].data["category"] == "Cleaning Supplies"
    after = run_action(
        ActionSlippingAccounts(),
        tracker_for(
            rep_id=ids.reps["ann"],
            text="which of my accounts are slipping?",
            intent="ask_slipping_accounts",
            slots={"category": "Cleaning Supplies"},
        ),
    )
    assert after.answers[0].data["category"] is None
    assert "Acme Foods" in {a["name"] for a in after.answers[0].data["accounts"]}
    assert ("category", None) in [
        (e.get("name"), e.get("value")) for e in after.events if e.get("event") == "slot"
    ]


def test_a_follow_up_keeps_what_the_last_slipping_answer_was_about(scored):
    ids = scored
    follow_up = run_action(
        ActionSlippingAccounts(),
        tracker_for(
            rep_id=ids.reps["max"],
            text="and for Ann?",
            intent="inform",
            entities=[{"entity": "rep", "value": "Ann"}],
            slots={"rep": "Ann", "category": "Cleaning Supplies"},
        ),
    )
    [answer] = follow_up.answers
    assert answer.data["scope"]["rep_ids"] == [ids.reps["ann"]]
    assert answer.data["category"] == "Cleaning Supplies"


# ------------------------------------------------------------------------- refusals


def _response_text(name: str) -> str:
    domain = yaml.safe_load(Path("nlu/domain.yml").read_text())
    [variant] = domain["responses"][name]
    return str(variant["text"])


def test_refusal_reads_the_same_for_an_account_outside_the_book_and_no_account(crm):
    replies = {}
    for said in ("Sterling Logistics", "Zenith Freight"):  # Omar's; nobody's
        result = run_action(
            ValidateAccountForm(),
            tracker_for(
                rep_id=crm.reps["aisha"],
                text=said,
                intent="inform",
                slots={"account": said},
            ),
        )
        assert result.answers == [] and result.slot("account_id") is None
        [message] = result.messages
        replies[said] = (
            message["response"],
            {k: v for k, v in message.items() if k not in ("response", "account")},
        )
    assert replies["Sterling Logistics"] == replies["Zenith Freight"]
    text = _response_text(replies["Zenith Freight"][0])
    assert not re.search(r"\d", text)


def test_a_refusal_ends_the_account_form_and_the_skill_adds_no_which_account(crm):
    form_turn = [
        {"event": "action", "name": "account_form"},
        {"event": "active_loop", "name": "account_form"},
    ]
    refused = run_action(
        ValidateAccountForm(),
        tracker_for(
            rep_id=crm.reps["aisha"],
            text="what should I pitch to Sterling Logistics?",
            intent="ask_pitch",
            entities=[{"entity": "account", "value": "Sterling Logistics"}],
            slots={"account": "Sterling Logistics", "requested_slot": "account"},
            active_loop={"name": "account_form"},
        ),
    )
    assert refused.responses == ["utter_account_not_visible"]
    events = [(e.get("event"), e.get("name"), e.get("value")) for e in refused.events]
    assert ("slot", "requested_slot", None) in events
    assert ("active_loop", None, None) in events  # the form stops asking "Which account?"
    assert refused.slot("account") is None and refused.slot("account_id") is None
    # the form's rule then runs the skill, in the same turn, with no account
    after = run_action(
        ActionPitch(),
        tracker_for(
            rep_id=crm.reps["aisha"],
            text="what should I pitch to Sterling Logistics?",
            intent="ask_pitch",
            slots={"account": None, "account_id": None},
            events=[],
        ),
    )
    assert after.responses == ["utter_ask_account"]  # without a refusal: it asks
    silent = run_action(
        ActionPitch(),
        _with_turn_events(
            tracker_for(
                rep_id=crm.reps["aisha"],
                text="what should I pitch to Sterling Logistics?",
                intent="ask_pitch",
                slots={"account": None, "account_id": None},
            ),
            [*form_turn, *refused.events],
        ),
    )
    assert silent.messages == [] and silent.answers == []


def _with_turn_events(tracker, events):
    """``tracker`` with ``events`` after its latest user message (as Rasa sends it)."""
    tracker.events = [*tracker.events, *events]
    return tracker


# ------------------------------------------------------------------------ visibility


def _overview(crm, rep: str, said: str):
    return run_action(
        ValidateAccountForm(),
        tracker_for(
            rep_id=crm.reps[rep],
            text=f"how is {said} doing?",
            intent="ask_account_overview",
            entities=[{"entity": "account", "value": said}],
            slots={"account": said, "requested_slot": "account"},
            active_loop={"name": "account_form"},
        ),
    )


@pytest.mark.parametrize(
    ("rep", "account"),
    [
        ("luis", "Heartland Mart"),  # nobody owns it; Luis owns a deal on it
        ("carson", "Northwind Traders"),  # on its account team
        ("dana", "Heartland Mart"),  # her team's (Luis's deal)
        ("dana", "Northwind Traders"),  # her team's (Carson's seat)
        ("aisha", "Globex Corporation"),  # owned
    ],
)
def test_an_agent_sees_accounts_owned_shared_through_a_deal_or_the_account_team(crm, rep, account):
    result = _overview(crm, rep, account)
    assert result.slot("account_id") == crm.accounts[account], result.messages
    overview = run_action(
        ActionAccountOverview(),
        tracker_for(
            rep_id=crm.reps[rep],
            text=f"how is {account} doing?",
            intent="ask_account_overview",
            slots={"account": account, "account_id": crm.accounts[account]},
        ),
    )
    [answer] = overview.answers
    assert answer.data["account"]["name"] == account


@pytest.mark.parametrize(
    ("rep", "account"),
    [("aisha", "Heartland Mart"), ("aisha", "Northwind Traders"), ("omar", "Heartland Mart")],
)
def test_accounts_shared_with_others_stay_refused_without_numbers(crm, rep, account):
    result = _overview(crm, rep, account)
    assert result.responses == ["utter_account_not_visible"]
    assert result.answers == [] and result.slot("account_id") is None
    forged = run_action(  # the id alone, as a stale or forged slot would carry it
        ActionAccountOverview(),
        tracker_for(
            rep_id=crm.reps[rep],
            text="how are they doing?",
            intent="ask_account_overview",
            slots={"account_id": crm.accounts[account]},
        ),
    )
    assert forged.responses == ["utter_account_not_visible"] and forged.answers == []


# ------------------------------------------------------------------ matching names


def test_a_generic_word_does_not_turn_another_companys_name_into_a_guess(crm):
    result = _overview(crm, "aisha", "Acme Corporation")
    assert result.responses == ["utter_account_not_visible"]
    assert result.answers == []  # no "Did you mean Globex Corporation?"
    assert "Globex" not in str(result.messages)


def test_a_partial_name_never_answers_for_a_different_account(crm):
    # "and for Heartland Mart?", split by the language model into rep=Heartland, account=Mart
    result = run_action(
        ValidateAccountForm(),
        tracker_for(
            rep_id=crm.reps["aisha"],
            text="and for Heartland Mart?",
            intent="inform",
            entities=[
                {"entity": "rep", "value": "Heartland"},
                {"entity": "account", "value": "Mart"},
            ],
            slots={"account": "Mart", "requested_slot": "account"},
            active_loop={"name": "account_form"},
        ),
    )
    assert result.slot("account_id") != crm.accounts["Dogwood Mart"]
    assert "Dogwood" not in str(result.messages)
    assert result.responses == ["utter_account_not_visible"]


# ------------------------------------------------------------- a person or an account


def _win_rate(crm, rep: str, name: str, *, heard_as: str = "account"):
    return run_action(
        ActionMetric(),
        tracker_for(
            rep_id=crm.reps[rep],
            text=f"what's {name}'s win rate?",
            intent="ask_metric",
            entities=[
                {"entity": heard_as, "value": name},  # how the language model heard it
                {"entity": "metric", "value": "win_rate"},
            ],
        ),
    )


def test_an_agents_name_taken_for_an_account_is_answered_for_that_agent(crm):
    result = _win_rate(crm, "dana", "Carson Sterling")
    [answer] = result.answers
    assert answer.data["scope"]["rep_ids"] == [crm.reps["carson"]]
    assert "Carson Sterling" in answer.text and "your team" not in answer.text


def test_a_name_that_matches_nothing_is_said_so_instead_of_answering_for_the_asker(crm):
    for name in ("Zed Quimby", "Omar Reyes"):  # nobody; a rep outside Dana's team
        result = _win_rate(crm, "dana", name)
        assert result.answers == [], name
        assert result.responses == ["utter_rep_not_visible"]
        assert result.messages[0]["rep"] == name


def test_an_account_name_in_a_rep_question_says_what_can_be_asked(crm):
    result = _win_rate(crm, "aisha", "Globex Corporation")
    assert result.answers == []
    assert result.responses == ["utter_not_per_account"]
    # an account outside the book reads like an unknown name
    hidden = _win_rate(crm, "aisha", "Sterling Logistics")
    assert hidden.responses == ["utter_rep_not_visible"] and hidden.answers == []


def test_a_name_heard_as_a_person_is_still_checked_against_the_store(crm):
    """The language model reads names in rep questions as people; an account's name heard so
    gets the same answer as when it was heard as a company, and a rep's is answered."""
    account = _win_rate(crm, "aisha", "Globex Corporation", heard_as="rep")
    assert account.answers == [] and account.responses == ["utter_not_per_account"]
    hidden = _win_rate(crm, "aisha", "Sterling Logistics", heard_as="rep")
    assert hidden.responses == ["utter_rep_not_visible"] and hidden.answers == []
    agent = _win_rate(crm, "dana", "Carson Sterling", heard_as="rep")
    [answer] = agent.answers
    assert answer.data["scope"]["rep_ids"] == [crm.reps["carson"]]


# -------------------------------------------------- answers the data cannot support


def _ask(action, crm, rep: str, text: str, intent: str):
    return run_action(action, tracker_for(rep_id=crm.reps[rep], text=text, intent=intent))


def test_pipeline_says_no_open_deal_has_a_close_date_instead_of_zero_closing(crm):
    result = _ask(ActionPipeline(), crm, "dana", "how does my pipeline look?", "ask_pipeline")
    [answer] = result.answers
    assert answer.data["undated_open_deals"] == 2
    assert "None of the 2 open deals has a close date" in answer.text
    assert ") expected to close in" not in answer.text  # no "0 deals ($0) expected to close"
    mine = _ask(ActionPipeline(), crm, "aisha", "how does my pipeline look?", "ask_pipeline")
    assert "The open deal has no close date" in mine.answers[0].text


def test_forecast_without_a_range_says_why(crm):
    result = _ask(ActionForecast(), crm, "dana", "what's my forecast?", "ask_forecast")
    [answer] = result.answers
    assert answer.data["p10"] == answer.data["p90"]
    assert "likely range" not in answer.text
    assert "There is no range: no open deal is expected to close in the period" in answer.text
    assert "2 open deals without a close date" in answer.text


def test_stalled_deals_on_a_store_without_activities_or_contacts(crm):
    result = _ask(
        ActionStalledDeals(), crm, "dana", "which of my deals are stuck?", "ask_stalled_deals"
    )
    [answer] = result.answers
    assert "no activity logged" not in answer.text
    assert "engaged" not in answer.text
    assert all(
        "no_activity" not in deal["stalled_by"] and deal.get("buying_group") is None
        for deal in answer.data["deals"]
    )
    assert "needs_analysis" not in answer.text


def test_stage_ids_and_counts_read_as_words():
    from analytics.leads import _touches_words
    from analytics.pipeline import _count, stage_label

    assert stage_label("needs_analysis") == "Needs analysis"
    assert stage_label("Closed Won") == "Closed Won"
    assert _touches_words(1) == "1 touch" and _touches_words(3) == "3 touches"
    assert _count(1, "day") == "1 day" and _count(1, "won deal") == "1 won deal"
    assert _count(29.0, "day") == "29 days"


def test_an_agents_name_asked_as_an_account_says_it_is_a_rep(crm):
    result = _overview(crm, "dana", "Carson Sterling")
    assert result.answers == [] and result.slot("account_id") is None
    assert result.responses == ["utter_name_is_a_rep"]
    assert result.messages[0]["rep"] == "Carson Sterling"
    # a rep outside the asker's team reads like any unknown name
    assert _overview(crm, "aisha", "Omar Reyes").responses == ["utter_account_not_visible"]


def test_the_shared_accounts_of_a_book_are_those_its_reps_do_not_own(crm, action_env):
    from sqlmodel import Session

    from store import crud

    with Session(action_env) as session:
        assert crud.shared_account_ids(session, rep_ids={crm.reps["aisha"]}) == set()
        assert crud.shared_account_ids(session, rep_ids={crm.reps["luis"]}) == {
            crm.accounts["Heartland Mart"]
        }
        assert crud.shared_account_ids(
            session, rep_ids={crm.reps["dana"], crm.reps["carson"], crm.reps["luis"]}
        ) == {crm.accounts["Heartland Mart"], crm.accounts["Northwind Traders"]}
