"""Transcript parsing: every supported format, skipped non-dialogue, rep side, limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analytics.coaching.transcripts import (
    BinaryTranscriptError,
    NoDialogueError,
    RepSpeakerNotFoundError,
    TranscriptFormatError,
    TranscriptTooLargeError,
    detect_format,
    identify_rep_speakers,
    parse_timestamp,
    parse_transcript,
    read_transcript,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "transcripts"

DIALOGUE = [
    ("Dana", "Thanks for making time, Omar. How is the rollout going?"),
    ("Omar", "Honestly, the price is too high for what we use."),
    ("Dana", "I hear you. What would you compare it with?"),
    ("Omar", "We're also talking to CloudScale."),
    ("Omar", "Price isn't the only thing, though."),
    ("Dana", "Understood. Can we get thirty minutes on the calendar next Tuesday?"),
    ("Omar", "Sounds good, send me the invite."),
]
STARTS = [5.0, 12.0, 20.0, 62.0, 70.0, 90.0, 105.0]


@pytest.mark.parametrize(
    ("name", "fmt", "starts"),
    [
        ("plain.txt", "plain", [None] * 7),
        ("timestamped.txt", "timestamped", [5.0, 12.0, 20.0, 62.0, 70.0, 90.0, 3705.0]),
        ("markdown.md", "markdown", [None] * 7),
        ("voice.vtt", "webvtt", STARTS),
        ("prefixed.vtt", "webvtt", STARTS),
        ("call.srt", "srt", STARTS),
        ("call.json", "json", STARTS),
    ],
)
def test_every_format_yields_the_same_dialogue(name, fmt, starts):
    transcript = read_transcript(FIXTURES / name)
    assert transcript.format == fmt
    assert [(u.speaker, u.text) for u in transcript.utterances] == DIALOGUE
    assert [u.start for u in transcript.utterances] == starts
    assert [u.seq for u in transcript.utterances] == list(range(7))


def test_markdown_headers_participants_and_notes_are_not_dialogue():
    transcript = read_transcript(FIXTURES / "markdown.md")
    assert transcript.title == "Renewal call: Acme Logistics"
    assert transcript.call_id == "ACME-2024-007"
    assert transcript.metadata["outcome"] == "Follow-up booked"
    assert [(p.name, p.role) for p in transcript.participants] == [
        ("Dana", "Northwind Account Executive"),
        ("Omar", "Ops Director, Acme Logistics"),
    ]
    texts = " ".join(u.text for u in transcript.utterances)
    assert "Call Notes" not in texts and "in the running" not in texts
    assert "sighs" not in transcript.utterances[1].text  # stage direction dropped


def test_plain_summary_section_and_header_lines_are_skipped():
    transcript = read_transcript(FIXTURES / "plain.txt")
    assert len(transcript.utterances) == 7
    assert all("mentioned" not in u.text for u in transcript.utterances)
    assert transcript.metadata["date"] == "2024-03-04"
    assert [p.name for p in transcript.participants] == ["Dana", "Omar"]


def test_shared_transcripts_skip_bullets_inside_a_turn():
    path = (
        Path(__file__).resolve().parents[2]
        / "samples"
        / "transcripts"
        / "tribeai_demo-call-success-01.md"
    )
    transcript = read_transcript(path)
    breakdown = [u for u in transcript.utterances if u.text.startswith("Here's the breakdown")]
    assert len(breakdown) == 1 and breakdown[0].text == "Here's the breakdown:"
    assert not any("no competitor signals" in u.text for u in transcript.utterances)


def test_wrapped_line_continues_the_utterance_above():
    transcript = parse_transcript("Ann: we need this\nby March at the latest.\n\nBob: ok")
    assert [u.text for u in transcript.utterances] == [
        "we need this by March at the latest.",
        "ok",
    ]


def test_detect_format_and_errors():
    assert detect_format("WEBVTT\n\n00:01.000 --> 00:02.000\nhi") == "webvtt"
    assert detect_format('[{"speaker": "A", "text": "hi"}]') == "json"
    assert detect_format("**A:** hi\n**B:** yo") == "markdown"
    assert detect_format("[00:01] A: hi\n[00:03] B: yo") == "timestamped"
    assert detect_format("A: hi\nB: yo") == "plain"
    with pytest.raises(NoDialogueError, match="no dialogue"):
        parse_transcript("# Just a title\n\nSome notes without speakers.")
    with pytest.raises(TranscriptFormatError, match="item 1 has no 'speaker'"):
        parse_transcript('[{"speaker": "A", "text": "hi"}, {"text": "x"}]')
    with pytest.raises(TranscriptFormatError, match="unknown transcript format"):
        parse_transcript("A: hi", format="docx")


def test_parse_timestamp():
    assert parse_timestamp("01:02") == 62.0
    assert parse_timestamp("1:02:03.5") == 3723.5
    assert parse_timestamp("00:00:01,250") == 1.25
    assert parse_timestamp(7) == 7.0
    assert parse_timestamp(None) is None
    with pytest.raises(TranscriptFormatError):
        parse_timestamp("soon")


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "call.md"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(BinaryTranscriptError, match="not a text file"):
        read_transcript(path)


def test_ten_megabyte_transcript_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.txt"
    line = b"Omar: the price is too high for what we use, honestly.\n"
    with path.open("wb") as handle:
        for _ in range(10 * 1024 * 1024 // len(line) + 1):
            handle.write(line)
    assert path.stat().st_size > 10 * 1024 * 1024
    with pytest.raises(TranscriptTooLargeError, match=r"10\.0 MB.*limited to 5\.0 MB"):
        read_transcript(path)


def test_size_limit_is_a_parameter(tmp_path):
    path = tmp_path / "call.json"
    path.write_text(json.dumps([{"speaker": "A", "text": "x" * 100}]))
    with pytest.raises(TranscriptTooLargeError):
        read_transcript(path, max_bytes=50)
    assert len(read_transcript(path).utterances) == 1


def test_rep_side_from_participants_names_every_seller_of_the_company():
    text = (
        "**Participants:**\n- Alex (Acme Sales Engineer)\n- Lisa (Acme Account Executive)\n"
        "- Rob (CRO, Buyer Inc)\n\n---\n\n**Lisa:** hi\n\n**Alex:** hello\n\n**Rob:** hey\n"
    )
    side = identify_rep_speakers(parse_transcript(text))
    assert side.speakers == {"Alex", "Lisa"} and side.source == "participants"
    assert side.is_rep("Rob") is False


def test_rep_side_from_self_introduction_and_unknown():
    transcript = parse_transcript("Sarah: Hi Michael, this is Sarah from TribeAI.\nMichael: Hi.")
    side = identify_rep_speakers(transcript)
    assert side.speakers == {"Sarah"} and side.source == "conversation"
    unknown = identify_rep_speakers(parse_transcript("A: hi\nB: hello"))
    assert not unknown.known and unknown.is_rep("A") is None


def test_rep_side_given_by_name_matches_first_name_and_rejects_unknown_names():
    transcript = parse_transcript("Maria: hi\nSusan Park: hello")
    side = identify_rep_speakers(transcript, rep_names=["maria lopez"])
    assert side.speakers == {"Maria"} and side.source == "given"
    with pytest.raises(RepSpeakerNotFoundError, match="Maria, Susan Park"):
        identify_rep_speakers(transcript, rep_names=["Bob"])
    fallback = identify_rep_speakers(transcript, rep_names=["Bob"], strict=False)
    assert fallback.source == "unknown"


def test_role_labels_decide_the_rep_side_and_are_dialogue():
    transcript = parse_transcript(
        "Rep: Hi, thanks for joining.\nCustomer: The price is too high.\nRep: Understood."
    )
    assert [u.speaker for u in transcript.utterances] == ["Rep", "Customer", "Rep"]
    side = identify_rep_speakers(transcript)
    assert side.speakers == {"Rep"} and side.source == "labels"
