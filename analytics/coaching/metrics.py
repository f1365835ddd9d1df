"""Call metrics: talk ratio, longest monologue, questions asked, next steps agreed.

Definitions (all on the utterances of one call):

``talk_ratio``
    the rep side's share of the words spoken (0..1); None when the rep side is unknown.
``longest_monologue_words`` / ``_seconds``
    the longest run of consecutive rep utterances, in words and (when timestamps are
    known) in seconds from the run's first start to the next speaker's start (or the
    run's last ``end``).
``questions_asked``
    question marks in the rep's utterances (runs like "??" count once);
    ``customer_questions`` the same for everyone else.
``next_steps_agreed``
    True when a ``next_steps`` flag is on the customer side, or a rep's ``next_steps``
    flag is answered by the customer within the next two turns with an agreement
    ("sounds good", "works", "perfect", ...) that does not start with a refusal;
    with the rep side unknown, any ``next_steps`` flag counts.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from analytics.coaching.transcripts import Utterance

__all__ = ["AGREEMENT_CUES", "REFUSAL_STARTS", "CallMetrics", "call_metrics", "speaker_stats"]

AGREEMENT_CUES = (
    "sounds good",
    "sounds great",
    "works",
    "perfect",
    "great",
    "yes",
    "yeah",
    "yep",
    "sure",
    "ok",
    "okay",
    "let's do it",
    "deal",
    "will do",
    "please do",
    "looking forward",
    "send it",
    "send that",
    "agreed",
)
REFUSAL_STARTS = ("no", "nope", "not", "don't", "we don't", "i don't", "can't", "please take")
_QUESTION = re.compile(r"\?+")
_WORD_RE = re.compile(r"[\w']+")


@dataclass(frozen=True)
class CallMetrics:
    utterances: int
    rep_utterances: int
    words: int
    rep_words: int
    talk_ratio: float | None
    longest_monologue_words: int
    longest_monologue_seconds: float | None
    longest_monologue_speaker: str | None
    questions_asked: int
    customer_questions: int
    next_steps_agreed: bool
    duration_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _words(text: str) -> int:
    return len(text.split())


def call_metrics(
    utterances: Sequence[Utterance],
    is_rep: Sequence[bool | None],
    *,
    next_step_seqs: Collection[int] = (),
) -> CallMetrics:
    """Metrics of one call; ``is_rep[i]`` is the side of ``utterances[i]`` and
    ``next_step_seqs`` the ``seq`` of utterances with a ``next_steps`` flag."""
    if len(utterances) != len(is_rep):
        raise ValueError("utterances and is_rep must have the same length")
    side_known = any(r is not None for r in is_rep)
    words = [_words(u.text) for u in utterances]
    rep_words = sum(w for w, r in zip(words, is_rep, strict=True) if r)
    total_words = sum(words)
    questions = [len(_QUESTION.findall(u.text)) for u in utterances]

    best_words, best_seconds, best_speaker = 0, None, None
    run_words, run_first = 0, -1
    for index, rep in enumerate([*is_rep, None]):
        if rep and index < len(utterances):
            if run_words == 0:
                run_first = index
            run_words += words[index]
            continue
        if run_words > best_words:
            best_words = run_words
            best_speaker = utterances[run_first].speaker
            best_seconds = _run_seconds(utterances, run_first, index)
        run_words = 0

    starts = [u.start for u in utterances if u.start is not None]
    ends = [u.end for u in utterances if u.end is not None]
    duration = None
    if starts:
        duration = max(ends + starts) - min(starts)
    return CallMetrics(
        utterances=len(utterances),
        rep_utterances=sum(1 for r in is_rep if r),
        words=total_words,
        rep_words=rep_words,
        talk_ratio=(rep_words / total_words) if side_known and total_words else None,
        longest_monologue_words=best_words,
        longest_monologue_seconds=best_seconds,
        longest_monologue_speaker=best_speaker,
        questions_asked=sum(q for q, r in zip(questions, is_rep, strict=True) if r),
        customer_questions=sum(q for q, r in zip(questions, is_rep, strict=True) if not r),
        next_steps_agreed=_next_steps_agreed(utterances, is_rep, set(next_step_seqs), side_known),
        duration_seconds=duration,
    )


def _run_seconds(utterances: Sequence[Utterance], first: int, after: int) -> float | None:
    start = utterances[first].start
    if start is None:
        return None
    if after < len(utterances) and utterances[after].start is not None:
        return max(0.0, float(utterances[after].start) - start)  # type: ignore[arg-type]
    last_end = utterances[after - 1].end
    return max(0.0, last_end - start) if last_end is not None else None


def _agrees(text: str) -> bool:
    lowered = " ".join(_WORD_RE.findall(text.lower().replace("’", "'")))
    if any(lowered.startswith(r) for r in REFUSAL_STARTS):
        return False
    padded = f" {lowered} "
    return any(f" {cue} " in padded for cue in AGREEMENT_CUES)


def _next_steps_agreed(
    utterances: Sequence[Utterance],
    is_rep: Sequence[bool | None],
    flagged: set[int],
    side_known: bool,
) -> bool:
    if not flagged:
        return False
    if not side_known:
        return True
    for index, utterance in enumerate(utterances):
        if utterance.seq not in flagged:
            continue
        if not is_rep[index]:
            return True
        replies = [j for j in range(index + 1, min(index + 4, len(utterances))) if not is_rep[j]][
            :2
        ]
        if any(_agrees(utterances[j].text) for j in replies):
            return True
    return False


def speaker_stats(
    frame: pd.DataFrame,
    *,
    speaker_col: str = "speaker",
    text_col: str = "text",
    is_rep_col: str = "is_rep",
) -> pd.DataFrame:
    """Per-speaker talk statistics of one call.

    Input: one row per utterance in call order with ``speaker_col``, ``text_col`` and
    ``is_rep_col``. Output: one row per speaker (order of first appearance) with columns
    speaker, is_rep, utterances, words, talk_share (share of all words), questions.
    """
    if frame.empty:
        return pd.DataFrame(
            columns=["speaker", "is_rep", "utterances", "words", "talk_share", "questions"]
        )
    work = pd.DataFrame(
        {
            "speaker": frame[speaker_col].astype(str),
            "is_rep": frame[is_rep_col],
            "words": frame[text_col].astype(str).str.split().str.len(),
            "questions": frame[text_col].astype(str).str.count(r"\?+"),
        }
    )
    grouped = work.groupby("speaker", sort=False).agg(
        is_rep=("is_rep", "first"),
        utterances=("words", "size"),
        words=("words", "sum"),
        questions=("questions", "sum"),
    )
    total = grouped["words"].sum()
    grouped["talk_share"] = grouped["words"] / total if total else 0.0
    return grouped.reset_index()[
        ["speaker", "is_rep", "utterances", "words", "talk_share", "questions"]
    ]
