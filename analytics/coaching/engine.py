"""The coaching engine: batch call review and live prompts.

Batch (``review_call``): every utterance of a transcript goes through the tracker
pipeline in one stream (``TrackerSet.pipe``); the review lists every flag by category
with its quote, speaker and timestamp, the call metrics, and what to do next.

Live (``LiveCoach``): one utterance at a time, as a transcription service delivers
them. ``feed`` tokenises and matches just that utterance and returns the prompts to
show the rep now. A per-call, per-category :class:`Cooldown` keeps the rep from being
flooded: after a category fires it stays quiet until both ``utterances`` more
utterances and (when timestamps are known) ``seconds`` of call time have passed.
Flags held back by the cooldown are still recorded for the call's review.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from analytics.coaching.metrics import CallMetrics, call_metrics
from analytics.coaching.prompts import AccountContext, Flag, Prompt, money, render_prompt
from analytics.coaching.trackers import (
    FIXED_CATEGORIES,
    TrackerHit,
    TrackerSet,
)
from analytics.coaching.transcripts import (
    RepSide,
    Transcript,
    Utterance,
    identify_rep_speakers,
)
from analytics.errors import InvalidParameterError

__all__ = [
    "MAX_UTTERANCE_CHARS",
    "CallReview",
    "Cooldown",
    "LiveCoach",
    "ReviewThresholds",
    "flag_utterances",
    "review_call",
]

#: Longer utterances are cut to this many characters before matching (a runaway
#: transcription segment must not stall the live path).
MAX_UTTERANCE_CHARS = 5_000


@dataclass(frozen=True)
class Cooldown:
    """Per call and category: quiet for ``utterances`` utterances and ``seconds`` of
    call time after a prompt (either may be 0 to switch that rule off)."""

    seconds: float = 60.0
    utterances: int = 3

    def __post_init__(self) -> None:
        if self.seconds < 0 or self.utterances < 0:
            raise InvalidParameterError("cooldown seconds and utterances must be 0 or more")

    def allows(
        self, *, last_seq: int | None, last_start: float | None, seq: int, start: float | None
    ) -> bool:
        if last_seq is None:
            return True
        if seq - last_seq < self.utterances:
            return False
        return not (
            self.seconds
            and start is not None
            and last_start is not None
            and start - last_start < self.seconds
        )


@dataclass(frozen=True)
class ReviewThresholds:
    """When the review suggests talking less, asking more, or breaking up monologues."""

    max_talk_ratio: float = 0.65
    min_questions: int = 3
    max_monologue_words: int = 250
    max_monologue_seconds: float = 150.0
    min_utterances_for_style: int = 8


@dataclass(frozen=True)
class CallReview:
    title: str | None
    call_id: str | None
    format: str
    rep_side: RepSide
    flags: tuple[Flag, ...]
    metrics: CallMetrics
    next_actions: tuple[str, ...]
    speakers: tuple[str, ...]
    account: AccountContext | None = None

    def by_category(self) -> dict[str, list[Flag]]:
        grouped: dict[str, list[Flag]] = {}
        for flag in self.flags:
            grouped.setdefault(flag.category, []).append(flag)
        order = {c: i for i, c in enumerate(FIXED_CATEGORIES)}
        return dict(sorted(grouped.items(), key=lambda kv: (order.get(kv[0], 99), kv[0])))

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "call_id": self.call_id,
            "format": self.format,
            "speakers": list(self.speakers),
            "rep_speakers": sorted(self.rep_side.speakers),
            "rep_side_source": self.rep_side.source,
            "rep_side_note": self.rep_side.note,
            "account": None if self.account is None else self.account.name,
            "flags": [f.to_dict() for f in self.flags],
            "metrics": self.metrics.to_dict(),
            "review": {
                "categories": {c: len(fs) for c, fs in self.by_category().items()},
                "next_actions": list(self.next_actions),
            },
        }


def _flag(
    trackers: TrackerSet,
    hit: TrackerHit,
    utterance: Utterance,
    is_rep: bool | None,
    account: AccountContext | None,
) -> Flag:
    spec = hit.tracker
    prompt, content, note = render_prompt(
        spec,
        trackers.config.categories.get(spec.category),
        phrase=hit.phrase,
        speaker=utterance.speaker,
        account=account,
    )
    return Flag(
        seq=utterance.seq,
        category=spec.category,
        tracker=spec.name,
        phrase=hit.phrase,
        speaker=utterance.speaker,
        is_rep=is_rep,
        start=utterance.start,
        quote=utterance.text,
        prompt=prompt,
        content=content,
        account_note=note,
        competitor=spec.competitor,
    )


def flag_utterances(
    trackers: TrackerSet,
    utterances: Sequence[Utterance],
    is_rep: Sequence[bool | None],
    *,
    account: AccountContext | None = None,
) -> list[Flag]:
    """Every flag in ``utterances`` (one per utterance, category and tracker), in order."""
    if len(utterances) != len(is_rep):
        raise ValueError("utterances and is_rep must have the same length")
    flags: list[Flag] = []
    match = trackers.match
    texts = (u.text[:MAX_UTTERANCE_CHARS] for u in utterances)
    analysed = trackers.analyse_many(texts)
    for utterance, rep, (doc, words) in zip(utterances, is_rep, analysed, strict=True):
        hits = match(doc, rep, words)
        if hits:
            flags.extend(_flag(trackers, hit, utterance, rep, account) for hit in hits)
    return flags


def review_call(
    transcript: Transcript,
    trackers: TrackerSet,
    *,
    rep_side: RepSide | None = None,
    account: AccountContext | None = None,
    thresholds: ReviewThresholds | None = None,
) -> CallReview:
    """Review one call: flags, metrics and what to do next.

    ``rep_side`` defaults to :func:`identify_rep_speakers` on the transcript (participants
    header, then a self-introduction); pass one built from ``--rep-speaker`` or the store.
    """
    side = rep_side or identify_rep_speakers(transcript)
    utterances = transcript.utterances
    is_rep = [side.is_rep(u.speaker) for u in utterances]
    flags = flag_utterances(trackers, utterances, is_rep, account=account)
    metrics = call_metrics(
        utterances,
        is_rep,
        next_step_seqs={f.seq for f in flags if f.category == "next_steps"},
    )
    review = CallReview(
        title=transcript.title,
        call_id=transcript.call_id,
        format=transcript.format,
        rep_side=side,
        flags=tuple(flags),
        metrics=metrics,
        next_actions=(),
        speakers=tuple(transcript.speakers),
        account=account,
    )
    actions = next_actions(review, trackers, thresholds or ReviewThresholds())
    return CallReview(**{**review.__dict__, "next_actions": tuple(actions)})


def next_actions(
    review: CallReview, trackers: TrackerSet, thresholds: ReviewThresholds
) -> list[str]:
    """What the rep should do after this call, most pressing first."""
    actions: list[str] = []
    grouped = review.by_category()
    metrics = review.metrics
    if "churn_risk" in grouped:
        actions.append(_category_action(trackers, "churn_risk", grouped, review.account))
    if not metrics.next_steps_agreed:
        actions.append(
            "No next step was agreed: send a recap today that proposes one concrete, dated "
            "follow-up (a meeting with a time, or a document with a reply-by date)."
        )
    for category in grouped:
        if category in ("churn_risk", "next_steps"):
            continue
        action = _category_action(trackers, category, grouped, review.account)
        if action:
            actions.append(action)
    if metrics.next_steps_agreed and "next_steps" in grouped:
        actions.append(_category_action(trackers, "next_steps", grouped, review.account))
    if review.rep_side.known and metrics.utterances >= thresholds.min_utterances_for_style:
        if metrics.talk_ratio is not None and metrics.talk_ratio > thresholds.max_talk_ratio:
            actions.append(
                f"You talked {metrics.talk_ratio:.0%} of the time (aim for under "
                f"{thresholds.max_talk_ratio:.0%}): ask open questions and let the customer "
                f"describe the problem in their words."
            )
        if metrics.questions_asked < thresholds.min_questions:
            actions.append(
                f"You asked {metrics.questions_asked} question(s): next call, prepare three "
                f"discovery questions about their goals, process and timing."
            )
        too_long_words = metrics.longest_monologue_words > thresholds.max_monologue_words
        too_long_secs = (
            metrics.longest_monologue_seconds is not None
            and metrics.longest_monologue_seconds > thresholds.max_monologue_seconds
        )
        if too_long_words or too_long_secs:
            length = (
                f"{metrics.longest_monologue_seconds:.0f} s"
                if metrics.longest_monologue_seconds is not None
                else f"{metrics.longest_monologue_words} words"
            )
            actions.append(
                f"Your longest monologue ran {length}: break long explanations with a "
                f"check-in question."
            )
    return [a for a in actions if a]


def _category_action(
    trackers: TrackerSet,
    category: str,
    grouped: dict[str, list[Flag]],
    account: AccountContext | None,
) -> str:
    spec = trackers.config.categories.get(category)
    title = spec.title if spec else category.replace("_", " ").title()
    text = spec.next_action if spec and spec.next_action else f"Follow up on {title.lower()}."
    flags = grouped[category]
    if category == "competitor":
        names = sorted({f.competitor for f in flags if f.competitor})
        if names:
            text = f"{text} Named: {', '.join(names)}."
    if category == "churn_risk" and account is not None and account.revenue_at_risk:
        text = f"{text} {money(account.revenue_at_risk, account.currency)} is at risk."
    return f"{title}: {text}"


# ------------------------------------------------------------------------------- live


@dataclass
class _CallState:
    rep_speakers: frozenset[str]
    account: AccountContext | None
    next_seq: int = 0
    last_fired: dict[str, tuple[int, float | None]] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)


class LiveCoach:
    """Prompts during a call, one utterance at a time.

    >>> coach = LiveCoach(trackers, cooldown=Cooldown(seconds=60, utterances=3))
    >>> coach.start_call("call-1", rep_speakers=["Maria"])
    >>> coach.feed("call-1", "Susan", "Honestly the price is too high.", start=62.0)
    [Prompt(call_id='call-1', flag=Flag(category='pricing', ...))]

    ``feed`` is cheap (one tokenisation and four matcher passes) and keeps only a few
    numbers per call; ``end_call`` returns the call's flags (including those the
    cooldown held back) and forgets the call. At most ``max_calls`` calls are kept:
    the least recently fed is dropped when a new one starts.
    """

    def __init__(
        self,
        trackers: TrackerSet,
        *,
        cooldown: Cooldown | None = None,
        max_calls: int = 1_000,
        max_flags_per_call: int = 5_000,
    ) -> None:
        self.trackers = trackers
        self.cooldown = cooldown or Cooldown()
        self.max_calls = max_calls
        self.max_flags_per_call = max_flags_per_call
        self._calls: OrderedDict[str, _CallState] = OrderedDict()

    def start_call(
        self,
        call_id: str,
        *,
        rep_speakers: Iterable[str] = (),
        account: AccountContext | None = None,
    ) -> None:
        """Register a call with the rep's speaker name(s) and the account, if known."""
        self._calls[call_id] = _CallState(
            rep_speakers=frozenset(s.casefold() for s in rep_speakers if s), account=account
        )
        self._calls.move_to_end(call_id)
        while len(self._calls) > self.max_calls:
            self._calls.popitem(last=False)

    def feed(
        self,
        call_id: str,
        speaker: str,
        text: str,
        start: float | None = None,
        *,
        is_rep: bool | None = None,
    ) -> list[Prompt]:
        """Match one utterance; return the prompts to show the rep now (maybe none)."""
        state = self._calls.get(call_id)
        if state is None:
            self.start_call(call_id)
            state = self._calls[call_id]
        else:
            self._calls.move_to_end(call_id)
        seq = state.next_seq
        state.next_seq += 1
        if is_rep is None and state.rep_speakers:
            is_rep = speaker.casefold() in state.rep_speakers
        trackers = self.trackers
        doc, words = trackers.analyse(text[:MAX_UTTERANCE_CHARS])
        hits = trackers.match(doc, is_rep, words)
        if not hits:
            return []
        utterance = Utterance(seq=seq, speaker=speaker, text=text, start=start)
        prompts: list[Prompt] = []
        cooldown = self.cooldown
        for hit in hits:
            flag = _flag(trackers, hit, utterance, is_rep, state.account)
            if len(state.flags) < self.max_flags_per_call:
                state.flags.append(flag)
            last_seq, last_start = state.last_fired.get(flag.category, (None, None))
            if flag.category in {p.category for p in prompts}:
                continue  # one prompt per category per utterance
            if cooldown.allows(last_seq=last_seq, last_start=last_start, seq=seq, start=start):
                state.last_fired[flag.category] = (seq, start)
                prompts.append(Prompt(call_id=call_id, flag=flag))
        return prompts

    def flags(self, call_id: str) -> tuple[Flag, ...]:
        """Flags recorded so far on ``call_id`` (empty for an unknown call)."""
        state = self._calls.get(call_id)
        return tuple(state.flags) if state else ()

    def end_call(self, call_id: str) -> tuple[Flag, ...]:
        """Forget ``call_id`` and return its flags."""
        state = self._calls.pop(call_id, None)
        return tuple(state.flags) if state else ()

    @property
    def active_calls(self) -> int:
        return len(self._calls)
