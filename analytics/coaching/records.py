"""Reviews as plain records: rebuilt from a stored call, and shaped for rendering.

A reviewed call is stored as rows (utterances with their side, flags with category,
tracker, phrase, speaker, timestamp and prompt, and the metrics as a mapping). The edges
read those rows back; :func:`review_from_records` turns them into a :class:`CallReview`
again (quotes from the utterances, the tracker's content and competitor, the metrics,
and what to do next under the current playbook), and :func:`review_data` shapes any
review into the JSON-safe mapping ``render.coaching`` draws from.

Record keys
-----------
utterances: ``seq``, ``speaker``, ``text``, ``is_rep`` and optionally ``start_seconds``.
flags: ``utterance_seq``, ``category``, ``tracker``, ``phrase``, ``speaker``, ``prompt``
and optionally ``start_seconds``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from analytics.coaching.engine import CallReview, ReviewThresholds, next_actions, review_call
from analytics.coaching.metrics import CallMetrics, call_metrics
from analytics.coaching.prompts import AccountContext, Flag, render_prompt
from analytics.coaching.trackers import (
    TrackerSet,
    competitor_from_dict,
    custom_tracker,
    load_tracker_config,
)
from analytics.coaching.transcripts import RepSide, Transcript, Utterance
from analytics.errors import AnalyticsError

__all__ = [
    "StoredCallError",
    "account_context",
    "category_titles",
    "compiled_trackers",
    "review_data",
    "review_from_records",
    "stored_rep_side",
    "stored_review_data",
]

STORED_FORMAT = "stored"
_METRIC_FIELDS = frozenset(f.name for f in dataclasses.fields(CallMetrics))


class StoredCallError(AnalyticsError):
    """A stored call whose records cannot be read back (no utterances, missing keys)."""


def _utterances(rows: Sequence[Mapping[str, Any]]) -> tuple[list[Utterance], list[bool]]:
    if not rows:
        raise StoredCallError("the call has no stored utterances, so there is nothing to review")
    try:
        ordered = sorted(rows, key=lambda r: int(r["seq"]))
        utterances = [
            Utterance(
                seq=int(r["seq"]),
                speaker=str(r["speaker"]),
                text=str(r["text"]),
                start=None if r.get("start_seconds") is None else float(r["start_seconds"]),
            )
            for r in ordered
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise StoredCallError(f"a stored utterance is incomplete ({exc})") from exc
    return utterances, [bool(r.get("is_rep")) for r in ordered]


def stored_rep_side(utterances: Sequence[Utterance], is_rep: Sequence[bool]) -> RepSide:
    """The rep side as stored with the utterances (unknown when no utterance is the rep's)."""
    speakers = frozenset(u.speaker for u, rep in zip(utterances, is_rep, strict=True) if rep)
    if not speakers:
        return RepSide(
            frozenset(), "unknown", "rep side unknown (no utterance stored as the rep's)"
        )
    return RepSide(speakers, "stored", f"rep: {', '.join(sorted(speakers))}")


def _metrics(
    stored: Mapping[str, Any] | None,
    utterances: Sequence[Utterance],
    is_rep: Sequence[bool | None],
    flags: Sequence[Flag],
) -> CallMetrics:
    if stored and set(stored) >= _METRIC_FIELDS:
        return CallMetrics(**{k: stored[k] for k in _METRIC_FIELDS})
    return call_metrics(
        utterances, is_rep, next_step_seqs={f.seq for f in flags if f.category == "next_steps"}
    )


def review_from_records(
    utterances: Sequence[Mapping[str, Any]],
    trackers: TrackerSet,
    *,
    flags: Sequence[Mapping[str, Any]] | None = None,
    metrics: Mapping[str, Any] | None = None,
    title: str | None = None,
    call_id: str | None = None,
    account: AccountContext | None = None,
    thresholds: ReviewThresholds | None = None,
) -> CallReview:
    """The review of a stored call.

    With ``flags`` (the stored flags) the review shows exactly those flags, with their
    quotes taken from the utterances; ``metrics`` are used when complete, else computed.
    Without ``flags`` the utterances are reviewed afresh with ``trackers`` (a call
    stored before it was reviewed, such as generated demo calls).
    """
    said, sides = _utterances(utterances)
    side = stored_rep_side(said, sides)
    if flags is None:
        transcript = Transcript(utterances=tuple(said), format=STORED_FORMAT, title=title)
        review = review_call(
            transcript, trackers, rep_side=side, account=account, thresholds=thresholds
        )
        return dataclasses.replace(review, call_id=call_id)
    by_seq = {u.seq: (u, rep) for u, rep in zip(said, sides, strict=True)}
    rebuilt: list[Flag] = []
    for row in flags:
        try:
            seq = int(row["utterance_seq"])
            tracker_name = str(row["tracker"])
            category = str(row["category"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StoredCallError(f"a stored flag is incomplete ({exc})") from exc
        utterance, rep = by_seq.get(seq, (None, None))
        phrase = str(row.get("phrase") or "")
        speaker = str(row.get("speaker") or (utterance.speaker if utterance else ""))
        spec = trackers.trackers.get(tracker_name)
        content, note = "", None
        if spec is not None:
            _, content, note = render_prompt(
                spec,
                trackers.config.categories.get(spec.category),
                phrase=phrase,
                speaker=speaker,
                account=account,
            )
        start = row.get("start_seconds")
        rebuilt.append(
            Flag(
                seq=seq,
                category=category,
                tracker=tracker_name,
                phrase=phrase,
                speaker=speaker,
                is_rep=rep if side.known else None,
                start=float(start)
                if start is not None
                else (utterance.start if utterance else None),
                quote=utterance.text if utterance else phrase,
                prompt=str(row.get("prompt") or ""),
                content=content,
                account_note=note,
                competitor=spec.competitor if spec is not None else None,
            )
        )
    rebuilt.sort(key=lambda f: (f.seq, f.category))
    is_rep: list[bool | None] = [rep if side.known else None for rep in sides]
    review = CallReview(
        title=title,
        call_id=call_id,
        format=STORED_FORMAT,
        rep_side=side,
        flags=tuple(rebuilt),
        metrics=_metrics(metrics, said, is_rep, rebuilt),
        next_actions=(),
        speakers=tuple(dict.fromkeys(u.speaker for u in said)),
        account=account,
    )
    actions = next_actions(review, trackers, thresholds or ReviewThresholds())
    return dataclasses.replace(review, next_actions=tuple(actions))


def compiled_trackers(
    custom_trackers: Sequence[Mapping[str, Any]], competitors: Sequence[Mapping[str, Any]]
) -> TrackerSet:
    """The shipped trackers plus stored custom trackers (``name``, ``category``,
    ``phrases``, ``side``, ``prompt``) and competitors (``name``, ``aliases``,
    ``battlecard``), compiled once per distinct set of rows (the last few are kept), so a
    process can ask for "the trackers as the store has them now" on every review and only
    pays for a compile when a manager changed something. Raises ``TrackerConfigError``."""
    key = json.dumps(
        [list(map(dict, custom_trackers)), list(map(dict, competitors))],
        sort_keys=True,
        default=str,
    )
    return _compile(key)


@lru_cache(maxsize=4)
def _compile(key: str) -> TrackerSet:
    custom_rows, competitor_rows = json.loads(key)
    config = load_tracker_config().with_trackers(
        custom_tracker(**row, source="store") for row in custom_rows
    )
    config = config.with_competitors(
        competitor_from_dict(row, source="store") for row in competitor_rows
    )
    return TrackerSet(config)


def category_titles(trackers: TrackerSet) -> dict[str, str]:
    """Category name -> the title the playbook gives it ("decision_process" -> "Decision process")."""
    return {name: spec.title for name, spec in trackers.config.categories.items()}


def review_data(
    review: CallReview, trackers: TrackerSet, *, call: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON-safe mapping a review is rendered from (``render.coaching.call_review``):

    ``call`` (``call`` merged with the review's title, call id, format, speakers, rep side
    and account name), ``categories`` (``category``, ``title``, ``flags``; playbook order),
    ``flags`` (:meth:`Flag.to_dict` each), ``metrics`` and ``next_steps``.
    """
    titles = category_titles(trackers)
    grouped = review.by_category()
    info: dict[str, Any] = {
        "title": review.title,
        "external_id": review.call_id,
        "format": review.format,
        "speakers": list(review.speakers),
        "rep_speakers": sorted(review.rep_side.speakers),
        "rep_side": review.rep_side.note,
        "account": review.account.name if review.account is not None else None,
        "account_summary": review.account.summary() if review.account is not None else None,
    }
    for key, value in (call or {}).items():
        if value is not None or key not in info:
            info[key] = value
    return {
        "call": info,
        "categories": [
            {
                "category": category,
                "title": titles.get(category, category.replace("_", " ").capitalize()),
                "flags": len(flags),
            }
            for category, flags in grouped.items()
        ],
        "flags": [f.to_dict() for f in review.flags],
        "metrics": review.metrics.to_dict(),
        "next_steps": list(review.next_actions),
    }


def account_context(row: Mapping[str, Any]) -> AccountContext:
    """An :class:`AccountContext` from a mapping with ``name`` and optionally
    ``pricing_tier``, ``annual_spend``, ``health_status``, ``revenue_at_risk`` and
    ``slipping_categories`` (what ``store.calls.account_context`` returns)."""
    return AccountContext(
        name=str(row["name"]),
        pricing_tier=row.get("pricing_tier"),
        annual_spend=row.get("annual_spend"),
        health_status=row.get("health_status"),
        revenue_at_risk=row.get("revenue_at_risk"),
        slipping_categories=tuple(row.get("slipping_categories") or ()),
    )


def stored_review_data(
    records: Mapping[str, Any],
    trackers: TrackerSet,
    *,
    account: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The render data (:func:`review_data`) of a stored call.

    ``records``: ``call`` (a mapping: ``title``, ``external_id``, ``account_id``,
    ``account`` and whatever else should show), ``utterances``, ``flags`` and ``metrics``
    (see the module docstring). ``account``: the account's context (see
    :func:`account_context`) when the viewer may see the account; without it the call's
    account is neither named nor described.
    """
    info = {k: v for k, v in dict(records["call"]).items() if k != "account_owner_id"}
    context = account_context(account) if account is not None else None
    if context is None:
        info["account"] = info["account_id"] = None
    review = review_from_records(
        records["utterances"],
        trackers,
        flags=records["flags"],
        metrics=records.get("metrics"),
        title=info.get("title"),
        call_id=info.get("external_id"),
        account=context,
    )
    return review_data(review, trackers, call=info)
