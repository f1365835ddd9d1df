"""Which speaker is the rep, decided without --rep-speaker and explained: participants
headers, side labels, the store's reps and the conversation itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analytics.coaching import (
    TrackerSet,
    identify_rep_speakers,
    load_tracker_config,
    parse_transcript,
    review_call,
)
from analytics.coaching.transcripts import RoleCueError, role_cues_from_dict
from bot.cli import build_app

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "transcripts"
SAMPLE_REPS = {
    "tribeai_closing-call-01.md": {"Maria"},
    "tribeai_cold-call-success-01.md": {"Sarah"},
    "tribeai_cold-call-unsuccessful-01.md": {"Brian"},
    "tribeai_demo-call-success-01.md": {"Alex", "Lisa"},
    "tribeai_discovery-call-01.md": {"Marcus"},
    "tribeai_follow-up-success-01.md": {"Rachel"},
    "tribeai_objection-pricing-01.md": {"Nicole"},
}

TIMESTAMPED_WITH_HEADER = """Call: Globex discovery
Participants: Dana Lee (Account Executive, Acme), Sam Ortiz (VP Operations, Globex)

[00:01] Sam Ortiz: Thanks for making the time.
[00:05] Dana Lee: Of course. What made you take this call now? What's broken today?
[00:12] Sam Ortiz: Our pick rates are slipping and nobody can tell me why, it's been months now.
[00:30] Dana Lee: How do you track them today?
"""


def test_participants_line_above_timestamped_dialogue_names_the_rep_and_says_why():
    transcript = parse_transcript(TIMESTAMPED_WITH_HEADER)
    assert [u.speaker for u in transcript.utterances] == ["Sam Ortiz", "Dana Lee"] * 2
    side = identify_rep_speakers(transcript)
    assert side.speakers == {"Dana Lee"} and side.source == "participants"
    assert "Dana Lee is Account Executive, Acme" in side.note


def test_call_metrics_use_the_inferred_rep():
    review = review_call(
        parse_transcript(TIMESTAMPED_WITH_HEADER), TrackerSet(load_tracker_config())
    )
    assert review.metrics.questions_asked == 3  # "?" in the rep's turns
    assert review.metrics.longest_monologue_speaker == "Dana Lee"
    assert review.metrics.rep_words > 0


def test_rep_and_prospect_header_lines_are_participants_not_speech():
    transcript = parse_transcript(
        "Demo call, Harbor Dental\n"
        "Rep: Luis Moreno (Brightline)\n"
        "Prospect: Karen Hall (Office Manager, Harbor Dental)\n\n"
        "Luis: Karen, thanks for having me.\n"
        "Karen: Great, I have a hard stop at eleven.\n"
    )
    assert [u.speaker for u in transcript.utterances] == ["Luis", "Karen"]
    side = identify_rep_speakers(transcript)
    assert side.speakers == {"Luis"} and "Luis Moreno is listed as the rep" in side.note


def test_rep_label_lines_that_are_speech_stay_dialogue():
    transcript = parse_transcript("Rep: Hi, thanks for joining.\nCustomer: The price is high.")
    assert [u.speaker for u in transcript.utterances] == ["Rep", "Customer"]
    assert identify_rep_speakers(transcript).speakers == {"Rep"}


def test_markdown_attendees_block_with_a_company_colleague():
    transcript = parse_transcript(
        "# Renewal check-in\n**Attendees:**\n- Priya (Customer Success Manager, Fieldline)\n"
        "- Omar (Solutions, Fieldline)\n- Tom Becker (Director of Fleet, Northwind)\n\n---\n\n"
        "**Priya:** Thanks for joining.\n\n**Omar:** Hi all.\n\n**Tom:** Mixed year.\n"
    )
    side = identify_rep_speakers(transcript)
    assert side.speakers == {"Priya", "Omar"} and side.is_rep("Tom") is False


def test_the_conversation_decides_when_nothing_else_does_and_the_review_says_how():
    transcript = parse_transcript(
        "[00:00] Maria: Yes, speaking. What's this about?\n"
        "[00:04] Jordan: Hi Maria, this is Jordan from Ledgerly. How long does your close take?\n"
        "[00:10] Maria: About eight days.\n"
        "[00:15] Jordan: Our product automates the bank reconciliation. Could we book "
        "fifteen minutes on Friday?\n"
    )
    side = identify_rep_speakers(transcript)
    assert side.speakers == {"Jordan"} and side.source == "conversation"
    assert "introduced themselves with their company" in side.note
    assert "proposed the next step" in side.note


def test_no_clear_cue_leaves_the_side_unknown_rather_than_guessing():
    side = identify_rep_speakers(parse_transcript("A: hi\nB: hello\nA: ok"))
    assert not side.known and "pass --rep-speaker" in side.note


def test_a_full_name_of_a_stored_rep_decides_and_a_bare_first_name_does_not():
    transcript = parse_transcript("Dana Seller: Hi Sam.\nSam Ortiz: Hello.\nDana Seller: Ok.")
    side = identify_rep_speakers(transcript, known_reps=["Dana Seller", "Mona Manager"])
    assert side.speakers == {"Dana Seller"} and side.source == "store"
    first_names = parse_transcript("Dana: Hi Sam.\nSam: Hello.")
    assert identify_rep_speakers(first_names, known_reps=["Dana Seller"]).source != "store"


def test_rep_speaker_flag_still_overrides_the_header():
    side = identify_rep_speakers(parse_transcript(TIMESTAMPED_WITH_HEADER), rep_names=["Sam Ortiz"])
    assert side.speakers == {"Sam Ortiz"} and side.source == "given"


@pytest.mark.parametrize("name", sorted(SAMPLE_REPS))
def test_every_sample_transcript_gets_its_rep(name):
    review = CliRunner().invoke(build_app(), ["coach", str(SAMPLES / name), "--no-store", "--json"])
    assert review.exit_code == 0, review.output
    payload = json.loads(review.stdout)
    assert set(payload["rep_speakers"]) == SAMPLE_REPS[name]
    assert payload["rep_side_note"].startswith("rep: ")


def test_text_review_names_the_rep_and_the_reason(tmp_path):
    path = tmp_path / "call.txt"
    path.write_text(TIMESTAMPED_WITH_HEADER)
    result = CliRunner().invoke(build_app(), ["coach", str(path), "--no-store"])
    assert result.exit_code == 0, result.output
    assert "rep: Dana Lee (participants header: Dana Lee is Account Executive, Acme)" in (
        result.stdout
    )


def test_invalid_cue_files_are_refused_with_the_reason():
    with pytest.raises(RoleCueError, match=r"cue 1 .*invalid pattern"):
        role_cues_from_dict({"cues": [{"name": "x", "reason": "r", "weight": 1, "pattern": "("}]})
    with pytest.raises(RoleCueError, match="missing weight"):
        role_cues_from_dict({"cues": [{"name": "x", "reason": "r", "pattern": "a"}]})


def test_coach_takes_the_rep_from_the_stores_reps_when_nothing_else_says(
    sqlite_url, sqlite_engine, monkeypatch, tmp_path
):
    from sqlmodel import Session

    from bot.settings import get_settings
    from store.models import Rep

    with Session(sqlite_engine) as session:
        session.add(Rep(external_id="R9", name="Dana Seller", email="dana@x.com"))
        session.commit()
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    path = tmp_path / "call.txt"
    path.write_text("Sam Ortiz: Hello.\nDana Seller: Hi Sam.\nSam Ortiz: Go ahead.\n")
    try:
        result = CliRunner().invoke(build_app(), ["coach", str(path), "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["rep_speakers"] == ["Dana Seller"]
    assert payload["rep_side_source"] == "store"
    assert "a rep of this team in the store" in payload["rep_side_note"]


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).resolve().parents[1] / "fixtures" / "transcripts").iterdir()),
    ids=lambda p: p.name,
)
def test_every_format_fixture_gets_its_rep_without_a_flag(path):
    from analytics.coaching import read_transcript

    side = identify_rep_speakers(read_transcript(path))
    assert side.speakers == {"Dana"}
    assert side.source in ("participants", "conversation")
