"""What a match means: objection trackers listen to the customer, and rules that are data
(meaning_rules in trackers.yml) read polarity, tense and the seller's own words."""

from __future__ import annotations

import pytest

from analytics.coaching import (
    TrackerSet,
    load_tracker_config,
    parse_transcript,
    review_call,
)
from analytics.coaching.trackers import (
    TrackerConfigError,
    meaning_rule_from_dict,
    tracker_from_dict,
)


@pytest.fixture(scope="module")
def trackers() -> TrackerSet:
    return TrackerSet(load_tracker_config())


def categories(trackers: TrackerSet, text: str, *, is_rep: bool | None = False) -> set[str]:
    return {hit.tracker.category for hit in trackers.match(trackers.make_doc(text), is_rep)}


@pytest.mark.parametrize(
    "text",
    [
        "Honestly it's much better than our old solution.",
        "We used to use Clari, but we dropped it.",
        "We left Gong last year because nobody trusted the forecast.",
        "Compared to what we had, this is way easier to set up.",
    ],
)
def test_praise_and_vendors_they_left_are_not_a_competitor_threat(trackers, text):
    assert "competitor" not in categories(trackers, text)


@pytest.mark.parametrize(
    "text",
    [
        "We're also looking at Clari right now.",
        "We're comparing you with two other vendors.",
        "We might go back to our old vendor if this doesn't work.",
        "Honestly, Salesloft looked better than what you showed us.",
    ],
)
def test_vendors_being_evaluated_now_are_flagged(trackers, text):
    assert "competitor" in categories(trackers, text)


def test_a_price_complaint_about_a_former_vendor_is_not_a_price_objection(trackers):
    assert "pricing" not in categories(trackers, "Pricing was a problem with our last vendor.")
    assert "pricing" in categories(trackers, "Your price is a problem for us.")


def test_leaving_another_vendor_in_the_past_is_not_churn(trackers):
    assert "churn_risk" not in categories(trackers, "We switched away from Outreach in 2022.")
    assert "churn_risk" in categories(trackers, "We're thinking about switching away next year.")


def test_the_reps_offer_to_walk_through_pricing_is_never_a_price_objection(trackers):
    offer = "Our enterprise team can walk you through the options and pricing."
    assert "pricing" not in categories(trackers, offer, is_rep=True)
    assert "pricing" not in categories(trackers, offer, is_rep=None)  # side unknown
    assert "pricing" in categories(trackers, "That pricing is more than we can justify.")


@pytest.mark.parametrize(
    "text", ["We need this live by end of Q2.", "We'd like to start in March."]
)
def test_a_timeline_the_customer_states_is_flagged_and_the_reps_is_not(trackers, text):
    assert "timeline" in categories(trackers, text)
    assert "timeline" not in categories(trackers, text, is_rep=True)


def test_trackers_without_a_side_listen_to_their_categorys_side():
    config = load_tracker_config().with_trackers(
        [
            tracker_from_dict(
                {"name": "budget_cap", "category": "budget", "phrases": ["spend cap"],
                 "prompt": "Cap."}
            ),
            tracker_from_dict(
                {"name": "recap_mail", "category": "next_steps", "phrases": ["recap mail"],
                 "prompt": "Recap."}
            ),
        ]
    )  # fmt: skip
    sides = {t.name: t.side for t in config.trackers}
    assert sides["budget_cap"] == "customer" and sides["recap_mail"] == "any"
    trackers = TrackerSet(config)
    assert "budget" not in categories(trackers, "There is a spend cap.", is_rep=True)
    assert "budget" in categories(trackers, "There is a spend cap.", is_rep=False)
    assert "next_steps" in categories(trackers, "I'll send a recap mail.", is_rep=True)


def test_the_issue_call_gets_the_right_flags_end_to_end(trackers):
    transcript = parse_transcript(
        "Participants: Dana Lee (Account Executive, Acme), Sam Ortiz (VP Operations, Globex)\n\n"
        "[00:01] Dana Lee: Is there a date you're working towards?\n"
        "[00:09] Sam Ortiz: We need this live by end of Q2.\n"
        "[00:20] Dana Lee: Our enterprise team can walk you through the options and pricing.\n"
        "[00:31] Sam Ortiz: Honestly it's much better than our old solution.\n"
    )
    review = review_call(transcript, trackers)
    assert review.rep_side.speakers == {"Dana Lee"}
    assert [(f.category, f.speaker) for f in review.flags] == [("timeline", "Sam Ortiz")]


def test_meaning_rules_are_validated_with_a_clear_message():
    good = {"name": "r", "kind": "tense", "categories": ["competitor"],
            "patterns": [[{"LOWER": "old"}]]}  # fmt: skip
    assert meaning_rule_from_dict(good).kind == "tense"
    with pytest.raises(TrackerConfigError, match="kind 'mood' must be one of"):
        meaning_rule_from_dict({**good, "kind": "mood"})
    with pytest.raises(TrackerConfigError, match="name the categories"):
        meaning_rule_from_dict({**good, "categories": []})
    with pytest.raises(TrackerConfigError, match="unknown key"):
        meaning_rule_from_dict({**good, "when": "always"})
    with pytest.raises(TrackerConfigError, match=r"meaning rule 'r' .*not a valid spaCy pattern"):
        meaning_rule_from_dict({**good, "patterns": [[{"LOWER": {"BAD": 1}}]]})
