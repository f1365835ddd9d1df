"""``action_review_call`` in-process, on SQLite and PostgreSQL: the review of the asker's
latest stored call (optionally with an account), visibility, and the answer when there
is no call yet. The calls are reviewed by the real trackers and stored as the bot
stores them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session

from actions.calls import ActionReviewCall
from actions.settings import get_settings
from analytics.coaching import (
    TrackerSet,
    identify_rep_speakers,
    load_tracker_config,
    parse_transcript,
    review_call,
)
from bot.coaching import flag_records
from render.blocks import validate_blocks
from render.coaching import UPLOAD_HINT
from store import calls
from tests.actions.harness import run_action, tracker_for
from tests.seed import AS_OF, seed_book

GLOBEX_CALL = """Ann Kowalski: Thanks for the time today, Pat.
Pat Moreno: Honestly, the price is too high for us.
Ann Kowalski: What are you comparing it with?
Pat Moreno: We are also looking at CloudScale.
Ann Kowalski: I'll send the comparison Thursday and we review it Friday at 10. Does that work?
Pat Moreno: Sounds good."""
ACME_CALL = """Ann Kowalski: How is the new menu going?
Lee Park: Fine, but our budget is frozen until next quarter.
Ann Kowalski: Understood, I'll check back then."""


def store_call(engine, *, external_id, rep_id, rep_name, account_id, day, text) -> int:
    transcript = parse_transcript(text)
    side = identify_rep_speakers(transcript, rep_names=[rep_name])
    review = review_call(transcript, TrackerSet(load_tracker_config()), rep_side=side)
    with Session(engine) as session:
        call = calls.save_reviewed_call(
            session,
            external_id=external_id,
            title=f"Call {external_id}",
            account_id=account_id,
            rep_id=rep_id,
            started_at=dt.datetime.combine(day, dt.time(15), tzinfo=dt.UTC),
            metrics=review.metrics.to_dict(),
            utterances=[
                calls.UtteranceRecord(
                    seq=u.seq,
                    speaker=u.speaker,
                    text=u.text,
                    is_rep=bool(side.is_rep(u.speaker)),
                    start_seconds=u.start,
                )
                for u in transcript.utterances
            ],
            flags=flag_records(review.flags),
        )
        session.commit()
        assert call.id is not None
        return call.id


@pytest.fixture
def book(action_env, monkeypatch):
    ids = seed_book(action_env, filler_accounts=0)
    ann = ids.reps["ann"]
    call_ids = {
        "globex": store_call(
            action_env,
            external_id="CALL-GLOBEX",
            rep_id=ann,
            rep_name="Ann Kowalski",
            account_id=ids.accounts["Globex Hotels"],
            day=AS_OF - dt.timedelta(days=20),
            text=GLOBEX_CALL,
        ),
        "acme": store_call(
            action_env,
            external_id="CALL-ACME",
            rep_id=ann,
            rep_name="Ann Kowalski",
            account_id=ids.accounts["Acme Foods"],
            day=AS_OF - dt.timedelta(days=10),
            text=ACME_CALL,
        ),
    }
    monkeypatch.setenv("SALESBOT_AS_OF", AS_OF.isoformat())
    get_settings.cache_clear()
    return ids, call_ids


def ask(rep_id, text="review my last call", **slots):
    return run_action(
        ActionReviewCall(),
        tracker_for(rep_id=rep_id, text=text, intent="review_call", slots=slots),
    )


def test_last_call_is_reviewed_with_flags_quotes_metrics_and_next_steps(book):
    ids, call_ids = book
    [answer] = ask(ids.reps["ann"]).answers
    assert answer.kind == "call_review"
    data = answer.data
    assert (data["call"]["id"], data["call"]["external_id"]) == (call_ids["acme"], "CALL-ACME")
    assert (data["call"]["account"], data["call"]["rep"]) == ("Acme Foods", "Ann Kowalski")
    assert [(f["category"], f["seq"], f["speaker"], f["phrase"]) for f in data["flags"]] == [
        ("budget", 1, "Lee Park", "budget is frozen"),
        ("timeline", 1, "Lee Park", "until next quarter"),
    ]
    assert data["flags"][0]["quote"] == "Fine, but our budget is frozen until next quarter."
    assert data["flags"][0]["is_rep"] is False
    assert [c["title"] for c in data["categories"]] == ["Budget", "Timeline"]
    assert data["metrics"]["questions_asked"] == 1 and data["metrics"]["next_steps_agreed"] is False
    assert data["next_steps"][0].startswith("No next step was agreed")
    assert data["next_steps"][1].startswith("Budget: Pin down the budget")
    # Acme is in Ann's book: the budget prompt carries its context from the store
    assert data["flags"][0]["account_note"].startswith("Acme Foods:")
    assert "*Budget* (1)" in str(answer.blocks) and validate_blocks(answer.blocks) == []
    assert "Call review: Call CALL-ACME" in answer.text


def test_last_call_with_a_named_account(book):
    ids, call_ids = book
    result = ask(
        ids.reps["ann"],
        "review my last call with globex",
        account="Globex Hotels",
        account_id=ids.accounts["Globex Hotels"],
    )
    [answer] = result.answers
    assert answer.data["call"]["id"] == call_ids["globex"]
    assert [f["category"] for f in answer.data["flags"]] == ["pricing", "competitor", "next_steps"]
    assert answer.data["flags"][1]["competitor"] == "CloudScale"
    assert answer.data["metrics"]["next_steps_agreed"] is True
    assert "Competitors: Ask what they like" in answer.data["next_steps"][1]
    assert "Named: CloudScale." in answer.data["next_steps"][1]
    assert result.slot("account_id") == ids.accounts["Globex Hotels"]
    assert result.slot("last_answer")["skill"] == "review_call"


def test_an_account_outside_the_book_is_refused_without_its_calls(book):
    ids, _ = book
    result = ask(
        ids.reps["cy"], "review my last call with acme foods", account="Acme Foods", account_id=None
    )
    assert result.responses == ["utter_account_not_visible"]
    assert result.answers == []
    forged = ask(ids.reps["cy"], account="Acme Foods", account_id=ids.accounts["Acme Foods"])
    assert forged.responses == ["utter_account_not_visible"] and forged.answers == []


def test_no_reviewed_call_says_how_to_get_one(book):
    ids, _ = book
    [answer] = ask(ids.reps["bob"]).answers
    assert answer.kind == "no_call_review"
    assert answer.text == f"I have no reviewed call of yours yet. {UPLOAD_HINT}"
    with_account = ask(
        ids.reps["bob"],
        account="Acme Food Service",
        account_id=ids.accounts["Acme Food Service"],
    ).answers[0]
    assert with_account.text.startswith("I have no reviewed call of yours with Acme Food Service")


def test_a_manager_without_calls_gets_the_teams_latest_and_cy_sees_none_of_anns(book):
    ids, call_ids = book
    [answer] = ask(ids.reps["max"]).answers
    assert answer.data["call"]["id"] == call_ids["acme"]
    assert answer.data["call"]["rep"] == "Ann Kowalski"
    [other] = ask(ids.reps["cy"]).answers  # Cy is a rep in another team
    assert other.kind == "no_call_review" and "CALL-ACME" not in str(other.data)
