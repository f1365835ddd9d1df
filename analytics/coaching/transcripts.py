"""Call transcripts: parsing the usual formats into utterances and finding the rep's side.

Supported formats (``detect_format`` picks one when none is given):

``plain``
    ``Speaker: text`` per line.
``timestamped``
    ``[mm:ss] Speaker: text`` or ``[hh:mm:ss] Speaker: text`` (brackets optional,
    round brackets accepted, fractions of a second allowed).
``markdown``
    ``**Speaker:** text`` (also ``**Speaker**: text``), as exported by note takers.
``webvtt``
    WebVTT cues; the speaker comes from a ``<v Speaker>`` voice tag or a ``Speaker:``
    prefix; a cue without either continues the previous speaker.
``srt``
    SubRip cues; the speaker comes from a ``Speaker:`` or ``[Speaker]`` prefix, or
    continues the previous cue's speaker.
``json``
    A list of ``{"speaker", "start", "text"}`` objects (``start`` in seconds or
    ``"mm:ss"``; ``end`` optional), or an object with that list under ``"utterances"``.

Text that is not dialogue is skipped, never returned as an utterance: titles
(``# Sales call``), metadata lines (``**Call ID:** ...``, ``Date: ...``, ``Outcome: ...``),
participant lists, bullet lists, horizontal rules (``---``), stage directions
(``*laughs*``) and whole notes/summary sections (``Call Notes:``, ``## Summary``,
``Action items:``) up to the next ``---`` or heading.

Which speakers are the rep (``identify_rep_speakers``), first match wins:

1. names given by the caller (``--rep-speaker``; or the rep's name from the store),
   matched against speaker labels by full name or first name, case-insensitively; then a
   speaker whose full name is one of the store's reps (``known_reps``);
2. speaker labels that are selling roles ("Rep:", "Sales Rep:", "AE:", "Agent:") when the
   other speakers have other labels ("Customer:", "Prospect:", a name);
3. the participants header ("Participants:", "Attendees:", a bullet list, "Rep: Name",
   "Prospect: Name", or roles in the labels, "Jordan (Acme CSM)"): a participant
   whose role names a selling title
   ("Account Executive", "Sales Rep", "Sales Engineer", "SDR", "Customer Success
   Manager", ...) is the rep, and so is every participant of the same company
   ("Alex (TribeAI Sales Engineer)" makes every "(TribeAI ...)" participant a rep);
4. the conversation (``data/rep_cues.yml``): who introduces themselves with their company
   ("this is Sarah from TribeAI"), asks the discovery questions, proposes the next step and
   speaks of "our product / our pricing", against who speaks of "your price" or their own
   budget and approvers; the cues must point clearly at one speaker;
5. otherwise the side is unknown; the engine then applies customer-side trackers to
   every speaker and says so in the review.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from analytics.errors import AnalyticsError

__all__ = [
    "FORMATS",
    "MAX_TRANSCRIPT_BYTES",
    "BinaryTranscriptError",
    "NoDialogueError",
    "Participant",
    "RepSide",
    "RepSpeakerNotFoundError",
    "RoleCueError",
    "RoleCues",
    "Transcript",
    "TranscriptError",
    "TranscriptFormatError",
    "TranscriptTooLargeError",
    "Utterance",
    "detect_format",
    "identify_rep_speakers",
    "load_role_cues",
    "parse_timestamp",
    "parse_transcript",
    "read_transcript",
    "role_cues_from_dict",
]

#: Largest transcript accepted, in bytes. A two-hour call is about 150 kB of text, so
#: 5 MB (tens of hours of speech) is far above any real call and keeps memory and time
#: bounded: larger inputs are refused before they are read.
MAX_TRANSCRIPT_BYTES = 5 * 1024 * 1024

FORMATS = ("plain", "timestamped", "markdown", "webvtt", "srt", "json")


class TranscriptError(AnalyticsError):
    """A transcript that cannot be read; the message says why and what to do."""


class TranscriptTooLargeError(TranscriptError):
    def __init__(self, size: int, limit: int, name: str = "the transcript") -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"{name} is {size / 1_048_576:.1f} MB; transcripts are limited to "
            f"{limit / 1_048_576:.1f} MB (about {limit // 150_000} hours of speech): "
            f"split it into one file per call"
        )


class BinaryTranscriptError(TranscriptError):
    def __init__(self, name: str = "the transcript") -> None:
        super().__init__(
            f"{name} is not a text file (it looks binary); export the transcript as text, "
            f"Markdown, WebVTT, SRT or JSON"
        )


class TranscriptFormatError(TranscriptError):
    """The input claims a format (or looks like one) but breaks its rules."""


class NoDialogueError(TranscriptError):
    def __init__(self, name: str = "the transcript") -> None:
        super().__init__(
            f"no dialogue found in {name}; expected lines like 'Speaker: text', "
            f"'[mm:ss] Speaker: text', '**Speaker:** text', WebVTT, SRT or a JSON list of "
            f"{{speaker, start, text}}"
        )


class RepSpeakerNotFoundError(TranscriptError):
    def __init__(self, names: Sequence[str], speakers: Iterable[str]) -> None:
        self.names = list(names)
        self.speakers = sorted(set(speakers))
        super().__init__(
            f"no speaker called {', '.join(repr(n) for n in self.names)} in the transcript; "
            f"its speakers are {', '.join(self.speakers) or 'none'}"
        )


@dataclass(frozen=True, slots=True)
class Utterance:
    """One turn of speech. ``start``/``end`` are seconds from the start of the call."""

    seq: int
    speaker: str
    text: str
    start: float | None = None
    end: float | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Participant:
    """Someone listed in the header. ``side`` is "rep" or "customer" when the header says so
    ("Rep: Luis Moreno", "Prospect: Karen Hall"), else None (decided from ``role``)."""

    name: str
    role: str
    side: str | None = None


@dataclass(frozen=True)
class Transcript:
    utterances: tuple[Utterance, ...]
    format: str
    title: str | None = None
    participants: tuple[Participant, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def speakers(self) -> list[str]:
        """Speaker labels in order of first appearance."""
        return list(dict.fromkeys(u.speaker for u in self.utterances))

    @property
    def call_id(self) -> str | None:
        return self.metadata.get("call id")


@dataclass(frozen=True)
class RepSide:
    """Which speakers are the rep, and how that was decided."""

    speakers: frozenset[str]
    source: str  # "given", "store", "labels", "participants", "conversation" or "unknown"
    note: str

    @property
    def known(self) -> bool:
        return bool(self.speakers)

    def is_rep(self, speaker: str) -> bool | None:
        """True/False when the side is known, None when it is not."""
        if not self.speakers:
            return None
        return speaker in self.speakers


# ----------------------------------------------------------------------------- reading


def read_transcript(
    path: str | Path, *, format: str | None = None, max_bytes: int = MAX_TRANSCRIPT_BYTES
) -> Transcript:
    """Read and parse one transcript file.

    The size is checked before reading (``TranscriptTooLargeError``); files with NUL
    bytes or that are not UTF-8/UTF-16 text raise ``BinaryTranscriptError``.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise TranscriptTooLargeError(size, max_bytes, name=path.name)
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while we looked
        raise TranscriptTooLargeError(len(data), max_bytes, name=path.name)
    text = decode_transcript(data, name=path.name)
    if format is None and path.suffix.lower() in (".vtt", ".srt", ".json"):
        format = {".vtt": "webvtt", ".srt": "srt", ".json": "json"}[path.suffix.lower()]
    return parse_transcript(text, format=format, name=path.name)


def decode_transcript(data: bytes, *, name: str = "the transcript") -> str:
    """Bytes to text: UTF-8 (with or without BOM) or UTF-16 with a BOM; else binary."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise BinaryTranscriptError(name) from exc
    if b"\x00" in data[:65536]:
        raise BinaryTranscriptError(name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BinaryTranscriptError(name) from exc
    controls = sum(1 for ch in text[:65536] if ord(ch) < 32 and ch not in "\t\n\r\f")
    if controls > 8:
        raise BinaryTranscriptError(name)
    return text


# --------------------------------------------------------------------------- detection

_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_SPEAKER = r"[^\W\d_][\w .'’&()/-]{0,60}?"
_MARKDOWN_LINE = re.compile(
    r"^\s*(?:[-*>]\s+)?\*\*(?P<speaker>[^*\n]{1,80}?)(?::\*\*|\*\*\s*:)\s*(?P<text>.*)$"
)
_TIMESTAMPED_LINE = re.compile(
    rf"^\s*(?:\[(?P<t1>{_TIME})\]|\((?P<t2>{_TIME})\)|(?P<t3>{_TIME}))\s*[-–]?\s*"
    rf"(?P<speaker>{_SPEAKER})\s*:\s*(?P<text>.*)$"
)
_SPEAKER_TIME_LINE = re.compile(
    rf"^\s*(?P<speaker>{_SPEAKER})\s*[\[(](?P<t1>{_TIME})[\])]\s*:\s*(?P<text>.*)$"
)
_PLAIN_LINE = re.compile(rf"^\s*(?P<speaker>{_SPEAKER})\s*:\s+(?P<text>\S.*)$")
_VTT_TIMING = re.compile(rf"^\s*(?P<start>{_TIME})\s+-->\s+(?P<end>{_TIME})")
_SRT_TIMING = re.compile(
    r"^\s*(?P<start>\d{1,2}:\d{2}:\d{2}[,.]\d{1,3})\s+-->\s+(?P<end>\d{1,2}:\d{2}:\d{2}[,.]\d{1,3})"
)
_BARE_LABEL = re.compile(r"^\s*\**\s*(?P<label>[A-Za-z][\w /&-]{0,40}?)\s*\**\s*:\s*\**\s*$")
_HEADING = re.compile(r"^\s*#{1,6}\s+(?P<text>.*)$")
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,}|={3,})\s*$")
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)])\s+")
_STAGE_DIRECTION = re.compile(r"(?<![*\w])\*(?!\*)[^*\n]{1,80}\*(?!\*)|\[(?:[a-z][a-z ]{1,40})\]")
_TAG = re.compile(r"<[^>\n]{0,200}>")

#: Labels that introduce metadata or notes rather than a speaker's words.
NON_SPEAKER_LABELS = frozenset(
    {
        "account",
        "action items",
        "agenda",
        "attendees",
        "call id",
        "call notes",
        "call summary",
        "call type",
        "company",
        "date",
        "duration",
        "email",
        "follow up",
        "follow-up",
        "key takeaways",
        "language",
        "location",
        "meeting",
        "meeting id",
        "next steps",
        "note",
        "notes",
        "opportunity",
        "outcome",
        "participants",
        "phone",
        "recap",
        "recording",
        "result",
        "source",
        "speakers",
        "stage",
        "status",
        "subject",
        "summary",
        "takeaways",
        "time",
        "title",
        "topic",
        "transcript",
    }
)
#: Headings that open a section of notes, not dialogue (skipped up to the next rule/heading).
NOTES_HEADINGS = frozenset(
    {
        "notes",
        "call notes",
        "summary",
        "call summary",
        "action items",
        "next steps",
        "key takeaways",
        "takeaways",
        "recap",
        "analysis",
        "coaching notes",
        "what went wrong",
        "what went well",
    }
)


#: Header labels that name a participant and their side ("Rep: Luis Moreno (Brightline)").
SIDE_LABELS = {
    "rep": "rep",
    "sales rep": "rep",
    "seller": "rep",
    "salesperson": "rep",
    "host": "rep",
    "vendor": "rep",
    "prospect": "customer",
    "customer": "customer",
    "client": "customer",
    "buyer": "customer",
    "guest": "customer",
}
_HEADER_LINE = re.compile(
    r"^\s*\**\s*(?P<label>[A-Za-z][\w /&-]{0,30}?)\s*\**\s*:\s*\**\s*(?P<body>.*?)\s*$"
)
#: A header value that reads as a person: up to five capitalised words, then maybe "(role)"
#: or ", role". "Hi, thanks for joining." is speech, not a participant.
_PERSON = re.compile(
    r"^(?P<name>[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,4})\s*(?:\((?P<paren>[^)]{0,160})\)|,\s*(?P<rest>[^.?!]{1,160}))?$"
)


def _side_participant(label: str, body: str) -> Participant | None:
    """``Rep: Luis Moreno (Brightline)`` -> a participant on the rep side; None when the
    label is not a side or the value does not read as a person."""
    side = SIDE_LABELS.get(_label_key(label))
    match = _PERSON.match(clean_text(body)) if side else None
    if side is None or match is None:
        return None
    role = match.group("paren") or match.group("rest") or ""
    return Participant(name=match.group("name"), role=role.strip(), side=side)


def _label_key(label: str) -> str:
    return re.sub(r"\s+", " ", label.strip().strip("*:#").strip()).lower()


def _is_notes_heading(label: str) -> bool:
    key = _label_key(label)
    return key in NOTES_HEADINGS or any(key.startswith(h + " ") for h in NOTES_HEADINGS)


def _is_metadata_label(label: str) -> bool:
    key = _label_key(label)
    return key in NON_SPEAKER_LABELS or _is_notes_heading(key)


def detect_format(text: str) -> str:
    """Guess the format of ``text`` (one of ``FORMATS``); raises ``NoDialogueError``."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("WEBVTT"):
        return "webvtt"
    if stripped[:1] in "[{":
        try:
            json.loads(stripped)
        except json.JSONDecodeError:
            pass
        else:
            return "json"
    lines = stripped.splitlines()[:400]
    for index, line in enumerate(lines[:-1]):
        if line.strip().isdigit() and _SRT_TIMING.match(lines[index + 1]):
            return "srt"
    counts = {"markdown": 0, "timestamped": 0, "plain": 0}
    for line in lines:
        if _MARKDOWN_LINE.match(line):
            counts["markdown"] += 1
        elif _TIMESTAMPED_LINE.match(line) or _SPEAKER_TIME_LINE.match(line):
            counts["timestamped"] += 1
        elif _PLAIN_LINE.match(line):
            counts["plain"] += 1
    if any(_VTT_TIMING.match(line) for line in lines) and counts["timestamped"] == 0:
        return "webvtt"
    best = max(counts, key=lambda k: (counts[k], k != "plain"))
    if counts[best] == 0:
        raise NoDialogueError()
    if best == "plain" and counts["markdown"] >= 2:
        return "markdown"
    return best


def parse_timestamp(value: str | float | int | None) -> float | None:
    """``"01:02"`` -> 62.0, ``"1:02:03.5"`` -> 3723.5, numbers pass through (seconds)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        if value < 0:
            raise TranscriptFormatError(f"negative timestamp {value}")
        return float(value)
    parts = str(value).strip().replace(",", ".").split(":")
    try:
        numbers = [float(p) for p in parts]
    except ValueError as exc:
        raise TranscriptFormatError(f"not a timestamp: {value!r} (expected mm:ss)") from exc
    if not 1 <= len(numbers) <= 3 or any(n < 0 for n in numbers):
        raise TranscriptFormatError(f"not a timestamp: {value!r} (expected mm:ss)")
    seconds = 0.0
    for number in numbers:
        seconds = seconds * 60 + number
    return seconds


# ----------------------------------------------------------------------------- parsing


def parse_transcript(
    text: str, *, format: str | None = None, name: str = "the transcript"
) -> Transcript:
    """Parse ``text`` in ``format`` (detected when None) into a :class:`Transcript`."""
    if format is not None and format not in FORMATS:
        raise TranscriptFormatError(
            f"unknown transcript format {format!r}; use one of {', '.join(FORMATS)}"
        )
    try:
        fmt = format or detect_format(text)
    except NoDialogueError:
        raise NoDialogueError(name) from None
    if fmt == "json":
        transcript = _parse_json(text, name)
    elif fmt == "webvtt":
        transcript = _parse_cues(text, fmt="webvtt")
    elif fmt == "srt":
        transcript = _parse_cues(text, fmt="srt")
    else:
        transcript = _parse_lines(text, fmt)
    if not transcript.utterances:
        raise NoDialogueError(name)
    return transcript


def clean_text(text: str) -> str:
    """Utterance text without stage directions, markup and extra spaces."""
    text = _STAGE_DIRECTION.sub(" ", text)
    text = text.replace("**", "").replace("__", "")
    return " ".join(text.split())


def _parse_lines(text: str, fmt: str) -> Transcript:
    """Line formats (plain, timestamped, markdown) with their headers and notes."""
    utterances: list[Utterance] = []
    participants: list[Participant] = []
    metadata: dict[str, str] = {}
    title: str | None = None
    in_notes = False
    in_participants = False
    previous_blank = True
    current: dict[str, Any] | None = None

    def flush() -> None:
        nonlocal current
        if current is not None:
            body = clean_text(" ".join(current["parts"]))
            if body:
                utterances.append(
                    Utterance(
                        seq=len(utterances),
                        speaker=current["speaker"],
                        text=body,
                        start=current["start"],
                        line=current["line"],
                    )
                )
        current = None

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip():
            previous_blank = True
            in_participants = False if participants else in_participants
            continue
        was_blank, previous_blank = previous_blank, False
        if _RULE.match(line):
            flush()
            in_notes = in_participants = False
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            in_participants = False
            in_notes = _is_notes_heading(heading.group("text"))
            if title is None and not in_notes:
                title = clean_text(heading.group("text")) or None
            continue
        if in_notes:
            continue
        bare = _BARE_LABEL.match(line)
        if bare and _is_notes_heading(bare.group("label")):
            flush()
            in_notes = True
            continue
        if _BULLET.match(line):
            flush()
            if in_participants:
                participant = _participant(_BULLET.sub("", line, count=1))
                if participant is not None:
                    participants.append(participant)
            continue
        parsed = _dialogue_line(line, fmt)
        if not utterances and current is None:
            header = _HEADER_LINE.match(line) if parsed is None or not parsed[2] else None
            if header and _header_participants(header, participants):
                in_participants = _label_key(header.group("label")) in PARTICIPANT_LABELS
                continue
        if parsed is None:
            # a wrapped line continues the utterance right above it; anything else is prose
            if current is not None and not was_blank:
                current["parts"].append(line.strip())
            continue
        speaker, body, start = parsed
        if _is_metadata_label(speaker) or not _plausible_speaker(speaker):
            flush()
            key = _label_key(speaker)
            if _is_notes_heading(key) and not body.strip():
                in_notes = True
            elif key in PARTICIPANT_LABELS:
                in_participants = True
                participants.extend(_participant_list(body))
            elif body.strip():
                metadata[key] = clean_text(body)
            continue
        flush()
        in_participants = False
        current = {"speaker": speaker, "parts": [body], "start": start, "line": number}
    flush()
    return Transcript(
        utterances=tuple(utterances),
        format=fmt,
        title=title,
        participants=tuple(participants),
        metadata=metadata,
    )


PARTICIPANT_LABELS = frozenset({"participants", "attendees", "speakers", "on the call"})


def _participant_list(body: str) -> list[Participant]:
    found = (_participant(item) for item in re.split(r";|,(?![^()]*\))", body))
    return [p for p in found if p is not None]


def _header_participants(header: re.Match[str], participants: list[Participant]) -> bool:
    """A header line before the dialogue that lists participants ("Participants: ...",
    "Attendees: ...") or names one with their side ("Rep: ...", "Prospect: ..."): add them
    and say True. Any other line: False (it is read as usual)."""
    key = _label_key(header.group("label"))
    body = header.group("body")
    if key in PARTICIPANT_LABELS:
        participants.extend(_participant_list(body))
        return True
    participant = _side_participant(header.group("label"), body)
    if participant is not None:
        participants.append(participant)
        return True
    return False


def _dialogue_line(line: str, fmt: str) -> tuple[str, str, float | None] | None:
    if fmt == "markdown":
        match = _MARKDOWN_LINE.match(line)
        if match:
            return match.group("speaker").strip(), match.group("text"), None
        match = _TIMESTAMPED_LINE.match(line)
        if match and "**" in line:
            speaker = match.group("speaker").strip("* ")
            return speaker, match.group("text").lstrip("* "), _time_of(match)
        return None
    if fmt == "timestamped":
        match = _TIMESTAMPED_LINE.match(line) or _SPEAKER_TIME_LINE.match(line)
        if match:
            return match.group("speaker").strip(), match.group("text"), _time_of(match)
        return None
    match = _PLAIN_LINE.match(line)
    if match:
        return match.group("speaker").strip(), match.group("text"), None
    return None


def _time_of(match: re.Match[str]) -> float | None:
    groups = match.groupdict()
    value = groups.get("t1") or groups.get("t2") or groups.get("t3")
    return parse_timestamp(value)


def _plausible_speaker(label: str) -> bool:
    """A speaker label is a short name, not the start of a sentence that has a colon."""
    words = label.split()
    if not 1 <= len(words) <= 5 or len(label) > 60:
        return False
    # "Here's the thing: ..." or "So what we do: ..." read as sentences, not names
    lowered = [w.lower().strip("'’") for w in words]
    sentence_words = {"the", "is", "are", "was", "here's", "so", "and", "but", "we", "i", "it"}
    return not (len(words) > 1 and any(w in sentence_words for w in lowered))


_PARTICIPANT = re.compile(r"^\s*(?P<name>[^()\n]{1,80}?)\s*(?:\((?P<role>[^)\n]{0,160})\))?\s*$")


def _participant(text: str) -> Participant | None:
    text = clean_text(text)
    match = _PARTICIPANT.match(text)
    if not match or not match.group("name").strip():
        return None
    name = match.group("name").strip(" -–—,")
    role = (match.group("role") or "").strip()
    if not role and " - " in name:
        name, role = (part.strip() for part in name.split(" - ", 1))
    return Participant(name=name, role=role)


# -------------------------------------------------------------------------------- cues

_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+(?P<speaker>[^>]+)>(?P<text>.*?)(?:</v>|(?=<v[\s.])|$)")
_BRACKET_SPEAKER = re.compile(r"^\s*\[(?P<speaker>[^\]]{1,60})\]\s*(?P<text>.*)$")


def _parse_cues(text: str, *, fmt: str) -> Transcript:
    """WebVTT and SRT: blocks separated by blank lines, each with a timing line."""
    utterances: list[Utterance] = []
    speaker: str | None = None
    timing_re = _VTT_TIMING if fmt == "webvtt" else _SRT_TIMING
    blocks = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    line_number = 1
    for block in blocks:
        lines = block.split("\n")
        block_line = line_number
        line_number += len(lines) + 1
        timing_index = next((i for i, ln in enumerate(lines) if timing_re.match(ln)), None)
        if timing_index is None:
            continue  # WEBVTT header, NOTE, STYLE, REGION or stray text
        if fmt == "webvtt" and lines[0].strip().startswith(("NOTE", "STYLE", "REGION")):
            continue
        timing = timing_re.match(lines[timing_index])
        assert timing is not None
        start = parse_timestamp(timing.group("start"))
        end = parse_timestamp(timing.group("end"))
        body = "\n".join(lines[timing_index + 1 :]).strip()
        if not body:
            continue
        for cue_speaker, cue_text in _cue_segments(body, fmt):
            if cue_speaker is not None:
                speaker = cue_speaker
            cleaned = clean_text(html.unescape(_TAG.sub("", cue_text)))
            if not cleaned:
                continue
            utterances.append(
                Utterance(
                    seq=len(utterances),
                    speaker=speaker or "Unknown speaker",
                    text=cleaned,
                    start=start,
                    end=end,
                    line=block_line + timing_index + 1,
                )
            )
    return Transcript(utterances=tuple(utterances), format=fmt)


def _cue_segments(body: str, fmt: str) -> list[tuple[str | None, str]]:
    if fmt == "webvtt" and "<v" in body:
        segments = [
            (m.group("speaker").strip(), m.group("text"))
            for m in _VOICE.finditer(body.replace("\n", " "))
        ]
        if segments:
            return segments
    segments_out: list[tuple[str | None, str]] = []
    for line in body.split("\n"):
        line = _TAG.sub("", line).strip()
        line = re.sub(r"^[-–]\s+", "", line)
        if not line:
            continue
        bracket = _BRACKET_SPEAKER.match(line)
        plain = _PLAIN_LINE.match(line)
        if bracket and _plausible_speaker(bracket.group("speaker")):
            segments_out.append((bracket.group("speaker").strip(), bracket.group("text")))
        elif plain and _plausible_speaker(plain.group("speaker")):
            segments_out.append((plain.group("speaker").strip(), plain.group("text")))
        elif segments_out:
            speaker_before, text_before = segments_out[-1]
            segments_out[-1] = (speaker_before, f"{text_before} {line}")
        else:
            segments_out.append((None, line))
    return segments_out


# -------------------------------------------------------------------------------- json


def _parse_json(text: str, name: str) -> Transcript:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptFormatError(
            f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    if isinstance(data, dict):
        items = data.get("utterances")
        if not isinstance(items, list):
            raise TranscriptFormatError(
                f"{name}: a JSON transcript is a list of {{speaker, start, text}} objects "
                f"(or an object with that list under 'utterances')"
            )
    elif isinstance(data, list):
        items = data
    else:
        raise TranscriptFormatError(f"{name}: expected a JSON list of {{speaker, start, text}}")
    utterances: list[Utterance] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise TranscriptFormatError(f"{name}: item {index} is not an object")
        speaker = item.get("speaker")
        body = item.get("text")
        if not isinstance(speaker, str) or not speaker.strip():
            raise TranscriptFormatError(f"{name}: item {index} has no 'speaker'")
        if not isinstance(body, str):
            raise TranscriptFormatError(f"{name}: item {index} has no 'text'")
        try:
            start = parse_timestamp(item.get("start"))
            end = parse_timestamp(item.get("end"))
        except TranscriptFormatError as exc:
            raise TranscriptFormatError(f"{name}: item {index}: {exc}") from exc
        cleaned = clean_text(body)
        if cleaned:
            utterances.append(
                Utterance(
                    seq=len(utterances), speaker=speaker.strip(), text=cleaned, start=start, end=end
                )
            )
    return Transcript(utterances=tuple(utterances), format="json")


# ----------------------------------------------------------------------------- rep side

#: Titles that sell (matched as whole words in a participant's role, case-insensitively).
SELLER_TITLES = (
    "account executive",
    "account manager",
    "sales rep",
    "sales representative",
    "sales engineer",
    "solutions engineer",
    "solution engineer",
    "solutions consultant",
    "sales development",
    "business development",
    "customer success manager",
    "customer success",
    "sdr",
    "bdr",
    "ae",
    "csm",
    "inside sales",
    "sales executive",
    "sales consultant",
)
_SELLER_TITLE = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in SELLER_TITLES) + r")\b", re.I)
_ROLE_LABEL = re.compile(
    r"^(?:sales ?rep|rep|representative|seller|salesperson|sales|agent|ae|sdr|bdr|csm|"
    r"account executive|account manager|sales engineer|se)(?:\s*\d+)?$",
    re.I,
)


def identify_rep_speakers(
    transcript: Transcript,
    *,
    rep_names: Sequence[str] = (),
    strict: bool = True,
    known_reps: Sequence[str] = (),
    cues: RoleCues | None = None,
) -> RepSide:
    """Decide which speakers are the rep, and say why (see the module docstring for the
    order).

    ``rep_names`` that match no speaker raise ``RepSpeakerNotFoundError`` when ``strict``
    (a name typed by the user); otherwise (a name from the store) the other sources run.
    ``known_reps`` are the names of every rep in the store: a speaker with one of those full
    names is the rep. ``cues`` default to ``data/rep_cues.yml``.
    """
    speakers = transcript.speakers
    names = [n.strip() for n in rep_names if n and n.strip()]
    if names:
        matched = _match_speakers(names, speakers)
        if matched:
            return RepSide(frozenset(matched), "given", f"rep: {', '.join(sorted(matched))}")
        if strict:
            raise RepSpeakerNotFoundError(names, speakers)
    stored = _full_name_matches(known_reps, speakers)
    if stored and len(stored) < len(speakers):
        return RepSide(
            frozenset(stored),
            "store",
            f"rep: {', '.join(sorted(stored))} (a rep of this team in the store)",
        )
    by_label = {s for s in speakers if _ROLE_LABEL.match(s)}
    if by_label and len(by_label) < len(speakers):
        return RepSide(
            frozenset(by_label),
            "labels",
            f"rep: {', '.join(sorted(by_label))} (from the speaker labels)",
        )
    labelled = [p for p in map(_participant, speakers) if p is not None and p.role]
    from_header, why = _reps_from_participants([*transcript.participants, *labelled], speakers)
    if from_header and len(from_header) < len(speakers):
        return RepSide(
            frozenset(from_header),
            "participants",
            f"rep: {', '.join(sorted(from_header))} (participants header: {why})",
        )
    by_cues = (cues or load_role_cues()).decide(transcript)
    if by_cues is not None:
        return by_cues
    return RepSide(
        frozenset(),
        "unknown",
        "rep speaker unknown (pass --rep-speaker): customer-side trackers ran on every speaker",
    )


def _full_name_matches(names: Sequence[str], speakers: Sequence[str]) -> set[str]:
    """Speakers whose label is one of ``names`` in full (a first name alone is too weak
    to tie a speaker to one of many stored reps)."""
    wanted = {" ".join(n.split()).casefold() for n in names if len(n.split()) > 1}
    return {s for s in speakers if " ".join(s.split()).casefold() in wanted}


# ------------------------------------------------------------------ conversational cues


class RoleCueError(TranscriptError):
    """A rep-cue file that cannot be used; the message names the cue and the problem."""


@dataclass(frozen=True)
class RoleCue:
    name: str
    reason: str
    weight: float
    max: int
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class RoleCues:
    """What sellers and buyers say, scored per speaker (``data/rep_cues.yml``)."""

    cues: tuple[RoleCue, ...]
    min_score: float
    min_margin: float

    def scores(self, transcript: Transcript) -> dict[str, dict[str, int]]:
        """Per speaker, how many utterances hit each cue (capped by the cue's ``max``)."""
        hits: dict[str, dict[str, int]] = {s: {} for s in transcript.speakers}
        for utterance in transcript.utterances:
            mine = hits[utterance.speaker]
            for cue in self.cues:
                if mine.get(cue.name, 0) < cue.max and cue.pattern.search(utterance.text):
                    mine[cue.name] = mine.get(cue.name, 0) + 1
        return hits

    def decide(self, transcript: Transcript) -> RepSide | None:
        """The speaker the cues point to, when they point clearly; else None."""
        hits = self.scores(transcript)
        if len(hits) < 2:
            return None
        weights = {c.name: c for c in self.cues}
        totals = {
            speaker: sum(weights[name].weight * n for name, n in counts.items())
            for speaker, counts in hits.items()
        }
        ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
        (best, top), (_, second) = ranked[0], ranked[1]
        if top < self.min_score or top - second < self.min_margin:
            return None
        reasons = [
            f"{weights[name].reason} ({n}x)" if n > 1 else weights[name].reason
            for name, n in sorted(hits[best].items(), key=lambda kv: -weights[kv[0]].weight * kv[1])
            if weights[name].weight > 0
        ]
        return RepSide(
            frozenset({best}),
            "conversation",
            f"rep: {best} (from the conversation: {'; '.join(reasons)})",
        )


def role_cues_from_dict(data: dict[str, Any], *, source: str = "rep cues") -> RoleCues:
    """Build ``RoleCues`` from parsed YAML; raises ``RoleCueError`` naming the culprit."""
    if not isinstance(data, dict) or not isinstance(data.get("cues"), list):
        raise RoleCueError(f"{source}: expected a mapping with a list under 'cues'")
    cues = []
    for number, item in enumerate(data["cues"], start=1):
        cues.append(_role_cue(item, f"{source}, cue {number}"))
    try:
        min_score = float(data.get("min_score", 3))
        min_margin = float(data.get("min_margin", 2))
    except (TypeError, ValueError) as exc:
        raise RoleCueError(f"{source}: min_score and min_margin must be numbers") from exc
    return RoleCues(tuple(cues), min_score, min_margin)


def _role_cue(item: Any, where: str) -> RoleCue:
    if not isinstance(item, dict):
        raise RoleCueError(f"{where}: expected a mapping with name, reason, weight and pattern")
    missing = [k for k in ("name", "reason", "weight", "pattern") if k not in item]
    if missing:
        raise RoleCueError(f"{where}: missing {', '.join(missing)}")
    try:
        pattern = re.compile(str(item["pattern"]), re.I)
    except re.error as exc:
        raise RoleCueError(f"{where} ({item['name']}): invalid pattern: {exc}") from exc
    weight, cap = item["weight"], item.get("max", 1)
    if not isinstance(weight, int | float) or isinstance(weight, bool):
        raise RoleCueError(f"{where} ({item['name']}): weight must be a number, not {weight!r}")
    if not isinstance(cap, int) or cap < 1:
        raise RoleCueError(f"{where} ({item['name']}): max must be a whole number >= 1")
    return RoleCue(str(item["name"]), str(item["reason"]), float(weight), cap, pattern)


@cache
def load_role_cues() -> RoleCues:
    """The shipped cues (``analytics/coaching/data/rep_cues.yml``), read once."""
    text = resources.files("analytics.coaching").joinpath("data", "rep_cues.yml").read_text("utf-8")
    return role_cues_from_dict(yaml.safe_load(text), source="rep_cues.yml")


def _match_speakers(names: Sequence[str], speakers: Sequence[str]) -> set[str]:
    matched: set[str] = set()
    for name in names:
        key = name.casefold()
        first = key.split()[0]
        for speaker in speakers:
            label = speaker.casefold()
            if label in (key, first) or label.split()[0] == key:
                matched.add(speaker)
    return matched


def _reps_from_participants(
    participants: Sequence[Participant], speakers: Sequence[str]
) -> tuple[set[str], str]:
    """The speakers the header puts on the rep side, and why (a selling title, a side
    label, or the seller's company)."""
    sellers = [
        p
        for p in participants
        if p.side == "rep" or (p.side is None and _SELLER_TITLE.search(p.role))
    ]
    if not sellers:
        return set(), ""
    companies: set[str] = set()
    for seller in sellers:
        rest = _SELLER_TITLE.sub(" ", seller.role)
        for word in re.findall(r"[A-Z][\w.&'-]+", rest):
            companies.add(word.casefold())
    reps = list(sellers)
    for participant in participants:
        if participant in reps or participant.side == "customer":
            continue
        role_words = {w.casefold() for w in re.findall(r"[\w.&'-]+", participant.role)}
        if companies & role_words:
            reps.append(participant)
    matched = _match_speakers([p.name for p in reps], speakers)
    why = "; ".join(
        f"{p.name} is {'listed as the rep' if p.side == 'rep' else p.role}"
        + (f", {p.role}" if p.side == "rep" and p.role else "")
        for p in reps
        if _match_speakers([p.name], speakers)
    )
    return matched, why
