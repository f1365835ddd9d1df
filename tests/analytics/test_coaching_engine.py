"""Call review (flags, metrics, next actions) and the live coach with its cooldown."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analytics.coaching import (
    AccountContext,
    Cooldown,
    LiveCoach,
    TrackerSet,
    Utterance,
    call_metrics,
    identify_rep_speakers,
    load_tracker_config,
    read_transcript,
    review_call,
    speaker_stats,
)
from analytics.errors import InvalidParameterError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "transcripts"


@pytest.fixture(scope="module")
def trackers() -> TrackerSet:
    return TrackerSet(load_tracker_config())


def test_review_of_a_webvtt_call(trackers):
    transcript = read_transcript(FIXTURES / "voice.vtt")
    side = identify_rep_speakers(transcript, rep_names=["Dana"])
    review = review_call(transcript, trackers, rep_side=side)
    assert [(f.seq, f.category, f.speaker, f.start) for f in review.flags] == [
        (1, "pricing", "Omar", 12.0),
        (3, "competitor", "Omar", 62.0),
        (4, "pricing", "Omar", 70.0),
        (5, "next_steps", "Dana", 90.0),
        (6, "next_steps", "Omar", 105.0),
    ]
    first = review.flags[0]
    assert first.phrase == "price is too high"
    assert first.quote == "Honestly, the price is too high for what we use."
    assert first.prompt.startswith("Price came up (price is too high).")
    competitor = review.flags[1]
    assert competitor.tracker == "competitor:cloudscale" and competitor.competitor == "CloudScale"
    assert "two-week rollout" in competitor.content  # the battlecard from competitors.yml

    metrics = review.metrics
    # words: Dana 10 + 9 + 11 = 30 of 57; longest rep run is one 11-word turn, 90 s -> 105 s
    assert (metrics.words, metrics.rep_words) == (57, 30)
    assert metrics.talk_ratio == pytest.approx(30 / 57)
    assert (metrics.longest_monologue_words, metrics.longest_monologue_seconds) == (11, 15.0)
    assert (metrics.questions_asked, metrics.customer_questions) == (3, 0)
    assert metrics.next_steps_agreed is True
    assert metrics.duration_seconds == 103.0
    assert [a.split(":")[0] for a in review.next_actions] == [
        "Pricing",
        "Competitors",
        "Next steps",
    ]
    assert review.next_actions[1].endswith("Named: CloudScale.")

    data = review.to_dict()
    assert set(data["flags"][0]) >= {
        "category",
        "tracker",
        "phrase",
        "speaker",
        "timestamp",
        "prompt",
    }
    assert data["flags"][1]["timestamp"] == "01:02"
    assert data["review"]["categories"] == {"pricing": 2, "competitor": 1, "next_steps": 2}
    assert data["rep_speakers"] == ["Dana"]


def test_rep_side_decides_which_flags_count(trackers):
    transcript = read_transcript(FIXTURES / "plain.txt")
    as_customer = review_call(
        transcript, trackers, rep_side=identify_rep_speakers(transcript, rep_names=["Omar"])
    )
    # with Omar as the rep, his price and competitor lines are rep-side: not flagged
    assert {f.category for f in as_customer.flags} == {"next_steps"}


def test_account_context_goes_into_account_prompts(trackers):
    transcript = read_transcript(FIXTURES / "call.json")
    account = AccountContext(
        name="Acme Logistics",
        pricing_tier="Gold",
        annual_spend=1_234_000,
        health_status="slipping",
        revenue_at_risk=240_000,
        slipping_categories=("Packaging",),
    )
    review = review_call(
        transcript,
        trackers,
        rep_side=identify_rep_speakers(transcript, rep_names=["Dana"]),
        account=account,
    )
    notes = {f.category: f.account_note for f in review.flags}
    assert notes["pricing"] == (
        "Acme Logistics: pricing tier Gold, $1.2M spent in the last 12 months, "
        "status slipping ($240k at risk), slipping in Packaging"
    )
    assert notes["next_steps"] is None  # next steps are not an account-context category


def test_no_next_step_and_style_actions():
    utterances = [
        Utterance(seq=i, speaker="Rep" if i % 2 == 0 else "Buyer", text=text, start=None)
        for i, text in enumerate(
            [
                "word " * 300,
                "ok",
                "We are the best platform.",
                "Not interested.",
                "Our platform does everything.",
                "No thank you.",
                "Let me tell you more.",
                "Please take me off your list.",
            ]
        )
    ]
    is_rep = [u.speaker == "Rep" for u in utterances]
    metrics = call_metrics(utterances, is_rep)
    assert metrics.next_steps_agreed is False
    assert metrics.longest_monologue_words == 300
    assert metrics.longest_monologue_seconds is None
    assert metrics.questions_asked == 0


def test_next_step_agreed_by_customer_reply_or_refused():
    def run(reply: str) -> bool:
        utterances = [
            Utterance(0, "Rep", "Could I send you some information?"),
            Utterance(1, "Buyer", reply),
        ]
        return call_metrics(utterances, [True, False], next_step_seqs={0}).next_steps_agreed

    assert run("Sure, that works.") is True
    assert run("No thank you, that works for nobody.") is False
    assert run("Who are you again?") is False


def test_speaker_stats_frame():
    frame = pd.DataFrame(
        {
            "speaker": ["A", "B", "A"],
            "text": ["one two three?", "four", "five six"],
            "is_rep": [True, False, True],
        }
    )
    stats = speaker_stats(frame)
    expected = pd.DataFrame(
        {
            "speaker": ["A", "B"],
            "is_rep": [True, False],
            "utterances": [2, 1],
            "words": [5, 1],
            "talk_share": [5 / 6, 1 / 6],
            "questions": [1, 0],
        }
    )
    pd.testing.assert_frame_equal(stats, expected, check_dtype=False)


# ------------------------------------------------------------------------------ live


def test_live_coach_prompts_with_time_and_utterance_cooldown(trackers):
    coach = LiveCoach(trackers, cooldown=Cooldown(seconds=60, utterances=2))
    coach.start_call("c1", rep_speakers=["Dana"])
    first = coach.feed("c1", "Omar", "The price is too high for us.", start=10.0)
    assert [(p.call_id, p.category, p.flag.seq) for p in first] == [("c1", "pricing", 0)]
    assert first[0].message().startswith("Price came up (price is too high).")
    assert coach.feed("c1", "Dana", "Let me explain the value.", start=20.0) == []
    # two utterances later but only 20 s of call time: still cooling down
    assert coach.feed("c1", "Omar", "Honestly it's too expensive.", start=30.0) == []
    # another category is not held back
    competitor = coach.feed("c1", "Omar", "We're also talking to CloudScale.", start=40.0)
    assert [p.category for p in competitor] == ["competitor"]
    # 60 s after the first pricing prompt, pricing may fire again
    again = coach.feed("c1", "Omar", "The price is a real sticking point.", start=75.0)
    assert [p.category for p in again] == ["pricing"]
    # the rep's own words never raise customer-side prompts
    assert coach.feed("c1", "Dana", "It's too expensive to wait.", start=200.0) == []
    flags = coach.end_call("c1")
    assert [f.category for f in flags] == ["pricing", "pricing", "competitor", "pricing"]
    assert coach.active_calls == 0 and coach.flags("c1") == ()


def test_live_coach_utterance_cooldown_without_timestamps_and_separate_calls(trackers):
    coach = LiveCoach(trackers, cooldown=Cooldown(seconds=60, utterances=3))
    assert len(coach.feed("a", "Buyer", "Too expensive.")) == 1
    assert coach.feed("a", "Buyer", "Way too expensive.") == []
    assert len(coach.feed("b", "Buyer", "Too expensive.")) == 1  # another call
    assert coach.feed("a", "Buyer", "Still too expensive.") == []
    assert len(coach.feed("a", "Buyer", "Really too expensive.")) == 1  # 3 utterances later


def test_live_coach_forgets_the_oldest_calls(trackers):
    coach = LiveCoach(trackers, max_calls=2)
    for call in ("a", "b", "c"):
        coach.feed(call, "Buyer", "Hello there.")
    assert coach.active_calls == 2 and coach.flags("a") == ()


def test_cooldown_rejects_negative_values():
    with pytest.raises(InvalidParameterError):
        Cooldown(seconds=-1)
