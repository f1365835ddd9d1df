"""Calls, their utterances and coaching flags; managers' trackers and competitors.

Keyword-only functions taking a ``session``; the caller owns the transaction. The
records passed in are plain dataclasses (``UtteranceRecord``, ``FlagRecord``): the store
knows nothing of the coaching engine that produced them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from store.crud import match_accounts
from store.models import (
    Account,
    AccountHealth,
    Call,
    CategoryHealth,
    CoachingFlag,
    Competitor,
    CustomTracker,
    OrderLine,
    Rep,
    Utterance,
    utcnow,
)

__all__ = [
    "SIDES",
    "DuplicateTrackerError",
    "FlagRecord",
    "InvalidTrackerError",
    "UtteranceRecord",
    "account_context",
    "add_custom_tracker",
    "call_ids_without_flags",
    "call_records",
    "competitor_rows",
    "custom_tracker_rows",
    "find_account",
    "get_call",
    "latest_call_for",
    "latest_reviewed_call",
    "list_custom_trackers",
    "save_reviewed_call",
    "update_call_review",
    "upsert_competitor",
]

SIDES = ("rep", "customer", "any")


class DuplicateTrackerError(ValueError):
    """A custom tracker with that name exists already."""


class InvalidTrackerError(ValueError):
    """A custom tracker that cannot be stored (empty phrases, unknown side)."""


@dataclass(frozen=True)
class UtteranceRecord:
    seq: int
    speaker: str
    text: str
    is_rep: bool = False
    start_seconds: float | None = None


@dataclass(frozen=True)
class FlagRecord:
    utterance_seq: int
    category: str
    tracker: str
    phrase: str
    speaker: str
    prompt: str
    start_seconds: float | None = None


# ---------------------------------------------------------------------------- calls


def get_call(session: Session, *, external_id: str) -> Call | None:
    return session.exec(select(Call).where(Call.external_id == external_id)).first()


def save_reviewed_call(
    session: Session,
    *,
    external_id: str,
    utterances: Sequence[UtteranceRecord],
    flags: Sequence[FlagRecord],
    metrics: dict[str, Any] | None = None,
    title: str | None = None,
    account_id: int | None = None,
    rep_id: int | None = None,
    rep_speaker: str | None = None,
    started_at: dt.datetime | None = None,
    source: str = "upload",
) -> Call:
    """Store one reviewed call. Saving the same ``external_id`` again replaces its
    utterances and flags (re-reviewing a call never duplicates it)."""
    call = get_call(session, external_id=external_id)
    if call is None:
        call = Call(external_id=external_id)
    else:
        session.exec(delete(CoachingFlag).where(col(CoachingFlag.call_id) == call.id))  # type: ignore[call-overload]
        session.exec(delete(Utterance).where(col(Utterance.call_id) == call.id))  # type: ignore[call-overload]
    call.title = title
    call.account_id = account_id
    call.rep_id = rep_id
    call.rep_speaker = rep_speaker
    call.started_at = started_at or call.started_at or utcnow()
    call.source = source
    call.status = "reviewed"
    call.metrics = metrics
    session.add(call)
    session.flush()
    assert call.id is not None
    session.add_all(
        Utterance(
            call_id=call.id,
            seq=u.seq,
            speaker=u.speaker[:200],
            is_rep=u.is_rep,
            start_seconds=u.start_seconds,
            text=u.text,
        )
        for u in utterances
    )
    session.add_all(
        CoachingFlag(
            call_id=call.id,
            utterance_seq=f.utterance_seq,
            category=f.category,
            tracker=f.tracker[:128],
            phrase=f.phrase[:500],
            speaker=f.speaker[:200],
            start_seconds=f.start_seconds,
            prompt=f.prompt,
        )
        for f in flags
    )
    session.flush()
    return call


def latest_reviewed_call(
    session: Session, *, rep_ids: Collection[int] | None, account_id: int | None = None
) -> Call | None:
    """The most recent reviewed call by one of ``rep_ids`` (None: anyone's), on
    ``account_id`` when given; newest ``started_at`` first, then the newest id."""
    stmt = select(Call).where(Call.status == "reviewed")
    if rep_ids is not None:
        stmt = stmt.where(col(Call.rep_id).in_(list(rep_ids)))
    if account_id is not None:
        stmt = stmt.where(Call.account_id == account_id)
    stmt = stmt.order_by(col(Call.started_at).desc(), col(Call.id).desc())
    return session.exec(stmt).first()


def latest_call_for(
    session: Session,
    *,
    rep_id: int,
    visible_rep_ids: Collection[int] | None,
    account_id: int | None = None,
) -> Call | None:
    """The call "my last call" means: ``rep_id``'s latest reviewed call, else (for someone
    who sees other reps' books: a manager's team, an admin's company when
    ``visible_rep_ids`` is None) the latest reviewed call among those reps."""
    call = latest_reviewed_call(session, rep_ids=[rep_id], account_id=account_id)
    if call is None and (visible_rep_ids is None or set(visible_rep_ids) - {rep_id}):
        call = latest_reviewed_call(session, rep_ids=visible_rep_ids, account_id=account_id)
    return call


def call_records(session: Session, *, call_id: int) -> dict[str, Any]:
    """One stored call as plain data: ``call`` (id, external_id, title, account_id,
    account, account_owner_id, rep_id, rep, started_at, source, status), ``utterances``
    (seq, speaker, is_rep, start_seconds, text; in order), ``flags`` (utterance_seq,
    category, tracker, phrase, speaker, start_seconds, prompt; in order) and ``metrics``."""
    call = session.get(Call, call_id)
    if call is None:
        raise LookupError(f"no call with id {call_id}")
    account = session.get(Account, call.account_id) if call.account_id is not None else None
    rep = session.get(Rep, call.rep_id) if call.rep_id is not None else None
    utterances = session.exec(
        select(Utterance).where(Utterance.call_id == call_id).order_by(col(Utterance.seq))
    ).all()
    flags = session.exec(
        select(CoachingFlag)
        .where(CoachingFlag.call_id == call_id)
        .order_by(col(CoachingFlag.utterance_seq), col(CoachingFlag.id))
    ).all()
    return {
        "call": {
            "id": call.id,
            "external_id": call.external_id,
            "title": call.title,
            "account_id": call.account_id,
            "account": account.name if account else None,
            "account_owner_id": account.owner_id if account else None,
            "rep_id": call.rep_id,
            "rep": rep.name if rep else None,
            "started_at": call.started_at.isoformat() if call.started_at else None,
            "source": call.source,
            "status": call.status,
        },
        "utterances": [
            {
                "seq": u.seq,
                "speaker": u.speaker,
                "is_rep": u.is_rep,
                "start_seconds": u.start_seconds,
                "text": u.text,
            }
            for u in utterances
        ],
        "flags": [
            {
                "utterance_seq": f.utterance_seq,
                "category": f.category,
                "tracker": f.tracker,
                "phrase": f.phrase,
                "speaker": f.speaker,
                "start_seconds": f.start_seconds,
                "prompt": f.prompt,
            }
            for f in flags
        ],
        "metrics": call.metrics,
    }


def call_ids_without_flags(session: Session) -> list[int]:
    """Calls with utterances but no coaching flag yet (stored before any review), by id."""
    flagged = select(CoachingFlag.call_id).distinct()
    spoken = select(Utterance.call_id).distinct()
    stmt = (
        select(Call.id)
        .where(col(Call.id).in_(spoken), col(Call.id).not_in(flagged))
        .order_by(col(Call.id))
    )
    return [int(i) for i in session.exec(stmt).all() if i is not None]


def update_call_review(
    session: Session,
    *,
    call_id: int,
    flags: Sequence[FlagRecord],
    metrics: dict[str, Any] | None = None,
) -> int:
    """Replace a stored call's flags (and metrics, when given) with a new review's,
    keeping its utterances; the call becomes ``reviewed``. Returns the flags written."""
    call = session.get(Call, call_id)
    if call is None:
        raise LookupError(f"no call with id {call_id}")
    session.exec(delete(CoachingFlag).where(col(CoachingFlag.call_id) == call_id))  # type: ignore[call-overload]
    if metrics is not None:
        call.metrics = metrics
    call.status = "reviewed"
    session.add(call)
    session.add_all(
        CoachingFlag(
            call_id=call_id,
            utterance_seq=f.utterance_seq,
            category=f.category,
            tracker=f.tracker[:128],
            phrase=f.phrase[:500],
            speaker=f.speaker[:200],
            start_seconds=f.start_seconds,
            prompt=f.prompt,
        )
        for f in flags
    )
    session.flush()
    return len(flags)


# ------------------------------------------------------------------ custom trackers


def add_custom_tracker(
    session: Session,
    *,
    name: str,
    category: str,
    phrases: Sequence[str],
    prompt: str,
    side: str = "any",
    created_by_rep_id: int | None = None,
    replace: bool = False,
) -> CustomTracker:
    """Store a manager's tracker. The caller validates the phrases against the
    pipeline first; here only the shape is checked. ``replace`` updates an existing
    tracker of that name instead of raising ``DuplicateTrackerError``."""
    cleaned = [" ".join(p.split()) for p in phrases if p and p.strip()]
    if not cleaned:
        raise InvalidTrackerError(f"tracker {name!r} needs at least one phrase")
    if side not in SIDES:
        raise InvalidTrackerError(f"tracker {name!r}: side must be one of {', '.join(SIDES)}")
    existing = session.exec(select(CustomTracker).where(CustomTracker.name == name)).first()
    if existing is not None and not replace:
        raise DuplicateTrackerError(f"a tracker called {name!r} exists already")
    tracker = existing or CustomTracker(name=name, category=category, phrases=[], prompt=prompt)
    tracker.category = category
    tracker.phrases = cleaned
    tracker.side = side
    tracker.prompt = prompt
    tracker.created_by_rep_id = created_by_rep_id
    session.add(tracker)
    session.flush()
    return tracker


def list_custom_trackers(session: Session) -> list[CustomTracker]:
    return list(session.exec(select(CustomTracker).order_by(col(CustomTracker.name))))


def custom_tracker_rows(session: Session) -> list[dict[str, Any]]:
    """Custom trackers as plain dicts (name, category, phrases, side, prompt)."""
    return [
        {
            "name": t.name,
            "category": t.category,
            "phrases": list(t.phrases),
            "side": t.side,
            "prompt": t.prompt,
        }
        for t in list_custom_trackers(session)
    ]


# ------------------------------------------------------------------------ competitors


def upsert_competitor(
    session: Session, *, name: str, aliases: Sequence[str] = (), battlecard: str | None = None
) -> Competitor:
    """Add a competitor or merge new aliases (and a new battlecard) into it."""
    name = " ".join(name.split())
    existing = session.exec(
        select(Competitor).where(func.lower(Competitor.name) == name.lower())
    ).first()
    competitor = existing or Competitor(name=name, aliases=[])
    merged = list(dict.fromkeys([*competitor.aliases, *(a.strip() for a in aliases if a.strip())]))
    competitor.aliases = merged
    if battlecard:
        competitor.battlecard = battlecard
    session.add(competitor)
    session.flush()
    return competitor


def competitor_rows(session: Session) -> list[dict[str, Any]]:
    """Competitors as plain dicts (name, aliases, battlecard)."""
    rows = session.exec(select(Competitor).order_by(col(Competitor.name))).all()
    return [
        {"name": c.name, "aliases": list(c.aliases), "battlecard": c.battlecard or ""} for c in rows
    ]


# --------------------------------------------------------------------------- accounts


def find_account(session: Session, *, ref: str) -> Account | None:
    """An account by id, external id, exact name (any case) or a confident fuzzy match."""
    ref = ref.strip()
    if not ref:
        return None
    if ref.isdigit():
        account = session.get(Account, int(ref))
        if account is not None:
            return account
    account = session.exec(select(Account).where(Account.external_id == ref)).first()
    if account is not None:
        return account
    account = session.exec(select(Account).where(func.lower(Account.name) == ref.lower())).first()
    if account is not None:
        return account
    matches = match_accounts(session, query=ref, visible_owner_ids=None, limit=2, cutoff=90.0)
    if len(matches) == 1 or (len(matches) == 2 and matches[0].score - matches[1].score >= 5):
        return session.get(Account, matches[0].account_id)
    return None


def account_context(session: Session, *, account_id: int, as_of: dt.date) -> dict[str, Any]:
    """What a coaching prompt may say about the account, as plain data:
    name, pricing_tier, annual_spend (order lines in the 365 days up to ``as_of``),
    health_status and revenue_at_risk (latest scoring run, if any) and
    slipping_categories (categories scored slipping or lapsed)."""
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account with id {account_id}")
    since = as_of - dt.timedelta(days=365)
    spend = session.exec(
        select(func.sum(OrderLine.amount)).where(
            OrderLine.account_id == account_id,
            col(OrderLine.order_date) > since,
            col(OrderLine.order_date) <= as_of,
        )
    ).one()
    health = session.get(AccountHealth, account_id)
    slipping = session.exec(
        select(CategoryHealth.category).where(
            CategoryHealth.account_id == account_id,
            col(CategoryHealth.status).in_(["slipping", "lapsed"]),
        )
    ).all()
    return {
        "name": account.name,
        "pricing_tier": account.pricing_tier,
        "annual_spend": float(spend) if spend is not None else None,
        "health_status": health.status if health else None,
        "revenue_at_risk": health.revenue_at_risk if health else None,
        "slipping_categories": sorted(slipping),
    }
