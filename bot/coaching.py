"""Coaching at the bot's edges: the trackers in force, reviewing and storing calls.

The trackers are the shipped YAML plus the store's custom trackers and competitors.
The store's rows are read again (two small queries) whenever a review or a live call
starts, and the spaCy pipeline is recompiled only when they changed
(:func:`analytics.coaching.records.compiled_trackers`), so a tracker a manager adds with
``/sales tracker add`` applies to the next review and the next live call in every bot
process, with nothing on the per-utterance path.

Everything here is synchronous (store and spaCy work): the async edges call it with
``asyncio.to_thread``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dateutil import parser as date_parser
from sqlalchemy.engine import Engine

from analytics.coaching import (
    AccountContext,
    CallReview,
    Flag,
    RepSide,
    TrackerConfig,
    TrackerSet,
    Transcript,
    competitor_from_dict,
    custom_tracker,
    identify_rep_speakers,
    load_tracker_config,
    review_call,
)
from analytics.coaching.metrics import call_metrics
from analytics.coaching.records import (
    account_context,
    compiled_trackers,
    review_data,
    review_from_records,
    stored_review_data,
)
from analytics.coaching.trackers import TrackerSpec
from analytics.coaching.transcripts import Utterance
from store import calls, crud
from store.db import session_scope

log = logging.getLogger(__name__)

CLEAR_MATCH = 90.0
"""Fuzzy score at which an account name is taken without asking (when clearly ahead)."""


@dataclass(frozen=True)
class CallOwner:
    """Who a reviewed call belongs to (plain facts, no ORM object)."""

    rep_id: int
    name: str


@dataclass(frozen=True)
class ReviewedCall:
    """A review that was stored: its database id and the data it is rendered from."""

    call_id: int
    external_id: str
    review: CallReview
    data: dict[str, Any]


def call_started_at(transcript: Transcript) -> dt.datetime | None:
    """The call's date from the transcript header (``Date: February 15, 2024``), as UTC."""
    raw = transcript.metadata.get("date")
    if not raw:
        return None
    try:
        parsed = date_parser.parse(raw)
    except (ValueError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def utterance_records(transcript: Transcript, side: RepSide) -> list[calls.UtteranceRecord]:
    """The transcript's utterances as stored, each marked as the rep's side or not."""
    return [
        calls.UtteranceRecord(
            seq=u.seq,
            speaker=u.speaker,
            text=u.text,
            is_rep=bool(side.is_rep(u.speaker)),
            start_seconds=u.start,
        )
        for u in transcript.utterances
    ]


def flag_records(flags: Sequence[Flag]) -> list[calls.FlagRecord]:
    return [
        calls.FlagRecord(
            utterance_seq=f.seq,
            category=f.category,
            tracker=f.tracker,
            phrase=f.phrase,
            speaker=f.speaker,
            prompt=f.prompt,
            start_seconds=f.start,
        )
        for f in flags
    ]


class Coaching:
    """The trackers in force and the reviews the bot stores (thread-safe)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._base: TrackerConfig | None = None

    # ------------------------------------------------------------------ trackers
    def _stored_rows(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        with session_scope(self.engine) as session:
            return calls.custom_tracker_rows(session), calls.competitor_rows(session)

    def base_config(self) -> TrackerConfig:
        """The shipped trackers and competitors (read once)."""
        if self._base is None:
            self._base = load_tracker_config()
        return self._base

    def config_with(
        self, trackers: Sequence[dict[str, Any]], competitors: Sequence[dict[str, Any]]
    ) -> TrackerConfig:
        config = self.base_config().with_trackers(
            custom_tracker(**row, source="store") for row in trackers
        )
        return config.with_competitors(
            competitor_from_dict(row, source="store") for row in competitors
        )

    def trackers(self) -> TrackerSet:
        """The compiled trackers as the store has them now (recompiled only when a
        manager's trackers or competitors changed). Raises :class:`StoreUnavailableError`
        when the store is down, ``TrackerConfigError`` for a stored tracker that cannot
        be compiled."""
        stored, competitors = self._stored_rows()
        return compiled_trackers(stored, competitors)

    def check_tracker(self, spec: TrackerSpec) -> None:
        """Compile the current trackers plus ``spec``: raises ``TrackerConfigError`` (naming
        the phrase or prompt at fault) before anything is stored."""
        stored, competitors = self._stored_rows()
        TrackerSet(self.config_with(stored, competitors).with_trackers([spec]))

    # ----------------------------------------------------------------- accounts
    def account_for(self, *, account_id: int, today: dt.date) -> tuple[AccountContext, int | None]:
        """The account's context for prompts, and its owner's rep id."""
        with session_scope(self.engine) as session:
            account = crud.get_account(session, account_id=account_id)
            if account is None:
                raise LookupError(f"no account with id {account_id}")
            context = calls.account_context(session, account_id=account_id, as_of=today)
            return account_context(context), account.owner_id

    def account_named_in(
        self, transcript: Transcript, *, extra_text: str, visible_owner_ids: set[int] | None
    ) -> int | None:
        """The visible account the transcript names (title, participants, header, file name)."""
        parts = [transcript.title or "", extra_text]
        parts += [f"{p.name} {p.role}" for p in transcript.participants]
        parts += [str(v) for v in transcript.metadata.values()]
        text = " ; ".join(p for p in parts if p)
        if not text.strip():
            return None
        with session_scope(self.engine) as session:
            shared = (
                crud.shared_account_ids(session, rep_ids=visible_owner_ids)
                if visible_owner_ids
                else set()
            )
            named = crud.accounts_named_in(
                session,
                text=text,
                visible_owner_ids=visible_owner_ids,
                visible_account_ids=shared,
            )
            return named[0].id if named else None

    def visible_account(self, *, rep_id: int, said: str) -> tuple[int, str] | None:
        """(id, name) of the one account in ``rep_id``'s book that ``said`` names (exact
        name, or a clear fuzzy match); None when there is none or it is ambiguous."""
        with session_scope(self.engine) as session:
            rep = crud.get_rep(session, rep_id=rep_id)
            if rep is None:
                return None
            visible = crud.visible_rep_ids(session, rep=rep)
            shared = crud.shared_account_ids(session, rep_ids=visible) if visible else set()
            matches = crud.match_accounts(
                session, query=said, visible_owner_ids=visible, visible_account_ids=shared, limit=3
            )
        seen = [m for m in matches if m.visible]
        exact = [m for m in seen if m.name.casefold() == said.strip().casefold()]
        if len(exact) == 1:
            return exact[0].account_id, exact[0].name
        if not seen or seen[0].score < CLEAR_MATCH:
            return None
        if len(seen) > 1 and seen[0].score - seen[1].score < 5:
            return None
        return seen[0].account_id, seen[0].name

    # ------------------------------------------------------------------ reviews
    def latest_review(self, *, rep_id: int, today: dt.date) -> dict[str, Any] | None:
        """The render data of "my last call" for ``rep_id`` (their latest reviewed call,
        else their team's for a manager), or None when there is none. The account is
        named and described only when the rep may see it."""
        with session_scope(self.engine) as session:
            rep = crud.get_rep(session, rep_id=rep_id)
            if rep is None:
                return None
            visible = crud.visible_rep_ids(session, rep=rep)
            call = calls.latest_call_for(session, rep_id=rep_id, visible_rep_ids=visible)
            if call is None or call.id is None:
                return None
            records = calls.call_records(session, call_id=call.id)
            account_id = records["call"]["account_id"]
            owner_id = records["call"]["account_owner_id"]
            context = None
            if account_id is not None and (
                visible is None
                or owner_id in visible
                or account_id in crud.shared_account_ids(session, rep_ids=visible)
            ):
                context = calls.account_context(session, account_id=account_id, as_of=today)
        return stored_review_data(records, self.trackers(), account=context)

    def review_and_store(
        self,
        transcript: Transcript,
        *,
        owner: CallOwner,
        external_id: str,
        source: str,
        today: dt.date,
        file_name: str = "",
        with_account_context: bool = True,
    ) -> ReviewedCall:
        """Review an uploaded transcript as ``owner``'s call and store it with its flags.

        The rep side comes from the owner's name (else the transcript's own clues); the
        account is the owner's visible account the transcript names. With
        ``with_account_context`` False (a review posted where others read it) the prompts
        carry no account numbers. Raises :class:`StoreUnavailableError`.
        """
        trackers = self.trackers()
        side = identify_rep_speakers(transcript, rep_names=[owner.name], strict=False)
        with session_scope(self.engine) as session:
            rep = crud.get_rep(session, rep_id=owner.rep_id)
            visible = crud.visible_rep_ids(session, rep=rep) if rep is not None else set()
        account_id = self.account_named_in(
            transcript, extra_text=file_name, visible_owner_ids=visible
        )
        context = None
        if account_id is not None and with_account_context:
            context, _ = self.account_for(account_id=account_id, today=today)
        review = review_call(transcript, trackers, rep_side=side, account=context)
        started = call_started_at(transcript)
        with session_scope(self.engine) as session:
            call = calls.save_reviewed_call(
                session,
                external_id=external_id[:128],
                title=(review.title or file_name or None),
                account_id=account_id,
                rep_id=owner.rep_id,
                rep_speaker=", ".join(sorted(side.speakers))[:200] or None,
                started_at=started,
                source=source,
                metrics=review.metrics.to_dict(),
                utterances=utterance_records(transcript, side),
                flags=flag_records(review.flags),
            )
            assert call.id is not None
            call_id = call.id
            account = crud.get_account(session, account_id=account_id) if account_id else None
            info = {
                "id": call_id,
                "external_id": call.external_id,
                "title": call.title,
                "account_id": account_id,
                "account": account.name if account else None,
                "rep_id": owner.rep_id,
                "rep": owner.name,
                "started_at": call.started_at.isoformat(),
                "source": source,
                "file": file_name or None,
            }
        return ReviewedCall(
            call_id=call_id,
            external_id=external_id,
            review=review,
            data=review_data(review, trackers, call=info),
        )

    def save_live_call(
        self,
        *,
        external_id: str,
        owner: CallOwner,
        account_id: int | None,
        account_name: str | None,
        utterances: Sequence[Utterance],
        is_rep: Sequence[bool | None],
        flags: Sequence[Flag],
        started_at: dt.datetime,
    ) -> int:
        """Store a finished live call with its utterances, flags (including those the
        cooldown held back) and metrics. Raises :class:`StoreUnavailableError`."""
        metrics = call_metrics(
            utterances,
            is_rep,
            next_step_seqs={f.seq for f in flags if f.category == "next_steps"},
        )
        rep_speakers = sorted({u.speaker for u, r in zip(utterances, is_rep, strict=True) if r})
        title = f"Live call with {account_name}" if account_name else "Live call"
        with session_scope(self.engine) as session:
            call = calls.save_reviewed_call(
                session,
                external_id=external_id[:128],
                title=title,
                account_id=account_id,
                rep_id=owner.rep_id,
                rep_speaker=", ".join(rep_speakers)[:200] or None,
                started_at=started_at,
                source="live",
                metrics=metrics.to_dict(),
                utterances=[
                    calls.UtteranceRecord(
                        seq=u.seq,
                        speaker=u.speaker,
                        text=u.text,
                        is_rep=bool(r),
                        start_seconds=u.start,
                    )
                    for u, r in zip(utterances, is_rep, strict=True)
                ],
                flags=flag_records(flags),
            )
            assert call.id is not None
            return call.id

    def call_exists(self, external_id: str) -> bool:
        """Whether a call with ``external_id`` is stored (a live call id cannot be reused)."""
        with session_scope(self.engine) as session:
            return calls.get_call(session, external_id=external_id[:128]) is not None

    def review_stored_calls(self, call_ids: Sequence[int]) -> Counter[str]:
        """Review stored calls that have utterances but were never reviewed (generated
        demo calls) and store their flags and metrics. Returns the flags per category."""
        trackers = self.trackers()
        flags: Counter[str] = Counter()
        for call_id in call_ids:
            with session_scope(self.engine) as session:
                records = calls.call_records(session, call_id=call_id)
                review = review_from_records(
                    records["utterances"],
                    trackers,
                    title=records["call"]["title"],
                    call_id=records["call"]["external_id"],
                )
                calls.update_call_review(
                    session,
                    call_id=call_id,
                    flags=flag_records(review.flags),
                    metrics=review.metrics.to_dict(),
                )
            flags.update(f.category for f in review.flags)
        return flags
