"""Stored calls read back as reviews, and the compiled-trackers cache."""

from __future__ import annotations

import pytest

from analytics.coaching.records import (
    StoredCallError,
    compiled_trackers,
    review_from_records,
    stored_review_data,
)

UTTERANCES = [
    {"seq": 0, "speaker": "Ann", "text": "Thanks for the time today.", "is_rep": True},
    {"seq": 1, "speaker": "Pat", "text": "Honestly, the price is too high.", "is_rep": False,
     "start_seconds": 62.0},
    {"seq": 2, "speaker": "Ann", "text": "What are you comparing it with?", "is_rep": True},
]  # fmt: skip
STORED_FLAG = {
    "utterance_seq": 1,
    "category": "pricing",
    "tracker": "price_talk",
    "phrase": "price is too high",
    "speaker": "Pat",
    "start_seconds": 62.0,
    "prompt": "Price came up (price is too high).",
}


@pytest.fixture(scope="module")
def trackers():
    return compiled_trackers([], [])


def test_stored_flags_come_back_with_quotes_content_and_next_steps(trackers):
    review = review_from_records(UTTERANCES, trackers, flags=[STORED_FLAG], title="Call 1")
    [flag] = review.flags
    assert (flag.quote, flag.is_rep, flag.start) == (
        "Honestly, the price is too high.",
        False,
        62.0,
    )
    assert flag.prompt == "Price came up (price is too high)."  # as stored, not re-rendered
    assert flag.content.startswith("Objection playbook:")  # the tracker's playbook content
    assert review.rep_side.speakers == frozenset({"Ann"})
    # metrics computed from the utterances (none stored): 1 question, 11 of 17 words the rep's (5 + 6 of 5 + 6 + 6)
    assert (review.metrics.questions_asked, review.metrics.rep_words, review.metrics.words) == (
        1,
        11,
        17,
    )
    assert review.next_actions[0].startswith("No next step was agreed")
    assert review.next_actions[1].startswith("Pricing: Follow up on price with value")


def test_without_stored_flags_the_utterances_are_reviewed_afresh(trackers):
    review = review_from_records(UTTERANCES, trackers, call_id="CALL-1")
    assert [(f.category, f.seq) for f in review.flags] == [("pricing", 1)]
    assert review.call_id == "CALL-1"


def test_the_account_stays_unnamed_without_its_context(trackers):
    records = {
        "call": {"id": 7, "external_id": "CALL-7", "title": "Call 7", "account_id": 3,
                 "account": "Acme Foods", "account_owner_id": 2},
        "utterances": UTTERANCES,
        "flags": [STORED_FLAG],
        "metrics": None,
    }  # fmt: skip
    hidden = stored_review_data(records, trackers)
    assert (hidden["call"]["account"], hidden["call"]["account_id"]) == (None, None)
    assert "account_owner_id" not in hidden["call"]
    assert hidden["flags"][0]["account_note"] is None
    shown = stored_review_data(
        records, trackers, account={"name": "Acme Foods", "health_status": "slipping"}
    )
    assert shown["call"]["account"] == "Acme Foods"
    assert shown["flags"][0]["account_note"] == "Acme Foods: status slipping"
    assert shown["categories"] == [{"category": "pricing", "title": "Pricing", "flags": 1}]


def test_a_call_without_utterances_is_a_clear_error(trackers):
    with pytest.raises(StoredCallError, match="no stored utterances"):
        review_from_records([], trackers)


def test_trackers_compile_once_per_set_of_stored_rows(trackers):
    assert compiled_trackers([], []) is trackers
    row = {"name": "pricing-pricey", "category": "pricing", "phrases": ["pricey"],
           "side": "customer", "prompt": "Ask what they compare it with."}  # fmt: skip
    with_row = compiled_trackers([row], [])
    assert with_row is not trackers and "pricing-pricey" in with_row.trackers
    assert compiled_trackers([dict(row)], []) is with_row
    competitor = compiled_trackers([], [{"name": "Zentrix", "aliases": [], "battlecard": ""}])
    assert "competitor:zentrix" in competitor.trackers
