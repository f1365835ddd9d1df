"""Digest subscriptions and the sent-log that makes every scheduled slot go out once.

Subscriptions
-------------
One row per rep and destination (``channel_id``): a Slack channel or DM id, or
:data:`DM` ("the rep's direct message", resolved when the digest is sent, for
subscriptions made outside Slack). Subscribing again to the same destination changes the
schedule of the existing row (and re-activates it); a Slack DM id (``D...``) and
:data:`DM` count as the same destination (a known DM id is kept over the marker). Unsubscribing deactivates rows, it never
deletes them, so the sent-log keeps its history.

Sent-log (``digest_sent``, unique on ``(subscription_id, slot)``)
---------------------------------------------------------------
A sender *claims* a slot by inserting its row before doing anything else
(:func:`claim_slot`). The unique key lets exactly one replica (or one run after a
restart) win; the others get ``None`` and send nothing. The row then moves through:

- claimed (``sent_at`` and ``error`` empty): the winner is building the digest;
- ``error`` starting with :data:`POSTING`: the message was handed to Slack and the answer
  is not recorded yet;
- ``sent_at`` set (with the Slack ``message_ts``): delivered;
- ``error`` starting with :data:`FAILED`: Slack refused it or building it failed; nothing
  was posted;
- ``error`` starting with :data:`SKIPPED`: there is nowhere to send it (a rep without a
  Slack id); final.

A claim that is still open after ``lease`` (its sender crashed or was restarted while
building, or it failed) is taken over by the first sender whose single
``UPDATE ... WHERE sent_at IS NULL AND claimed_at < now - lease`` changes the row, so again
only one sender retries it. Claims in the :data:`POSTING` state are never taken over.

Delivery guarantee: *at least once* until Slack has been asked to post (a crash while
building, or a refusal from Slack, is retried after the lease), *at most once* from then
on (a crash between Slack accepting the message and the store recording it leaves the
row in :data:`POSTING`; it is not sent again, and the row says the outcome is unknown).
So a slot is delivered exactly once unless the process dies inside that short window, in
which case it may be missing but is never duplicated: a duplicated digest is worse than a
late one only in the sense that it cannot be taken back, while the missed one is
visible in the sent-log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from store.models import DigestSent, DigestSubscription

DM = "dm"
"""``channel_id`` of a subscription delivered to the rep's DM, resolved at send time."""
POSTING = "posting:"
FAILED = "failed:"
SKIPPED = "skipped:"
MAX_ERROR_CHARS = 2000

SENT = DigestSent.__table__  # type: ignore[attr-defined]


def is_dm(channel_id: str) -> bool:
    """Whether ``channel_id`` is the rep's DM (:data:`DM` or a Slack DM id ``D...``)."""
    return channel_id == DM or channel_id.startswith("D")


# ------------------------------------------------------------------- subscriptions


def subscribe(
    session: Session,
    *,
    rep_id: int,
    channel_id: str,
    cron: str,
    timezone: str,
    now: dt.datetime,
) -> DigestSubscription:
    """Create the rep's subscription for ``channel_id``, or update the schedule of the one
    they have for that destination (re-activating it). Other destinations are kept."""
    rows = session.exec(
        select(DigestSubscription)
        .where(DigestSubscription.rep_id == rep_id)
        .order_by(col(DigestSubscription.id))
    ).all()
    same = [
        s for s in rows if s.channel_id == channel_id or (is_dm(s.channel_id) and is_dm(channel_id))
    ]
    if same:
        subscription = same[0]
        for duplicate in same[1:]:
            duplicate.active = False
            duplicate.updated_at = now
            session.add(duplicate)
        if not (channel_id == DM and is_dm(subscription.channel_id)):
            subscription.channel_id = channel_id  # a known DM id is kept over the marker
    else:
        subscription = DigestSubscription(
            rep_id=rep_id, channel_id=channel_id, cron=cron, timezone=timezone, created_at=now
        )
    subscription.cron = cron
    subscription.timezone = timezone
    subscription.active = True
    subscription.updated_at = now
    session.add(subscription)
    session.flush()
    return subscription


def unsubscribe(session: Session, *, rep_id: int, now: dt.datetime) -> list[DigestSubscription]:
    """Deactivate every active subscription of the rep; returns them."""
    rows = active_subscriptions(session, rep_id=rep_id)
    for subscription in rows:
        subscription.active = False
        subscription.updated_at = now
        session.add(subscription)
    session.flush()
    return rows


def active_subscriptions(
    session: Session, *, rep_id: int | None = None
) -> list[DigestSubscription]:
    """Active subscriptions (of one rep, or all), oldest first."""
    stmt = select(DigestSubscription).where(col(DigestSubscription.active).is_(True))
    if rep_id is not None:
        stmt = stmt.where(DigestSubscription.rep_id == rep_id)
    return list(session.exec(stmt.order_by(col(DigestSubscription.id))).all())


# ------------------------------------------------------------------------- sent-log


@dataclass(frozen=True)
class Claim:
    """A slot this sender owns: send it, then :func:`mark_sent` (or :func:`mark_failed`)."""

    id: int
    subscription_id: int
    slot: dt.datetime
    claimed_by: str
    retry: bool
    """True when an expired claim was taken over (a crash or a failure before)."""


def claim_slot(
    engine: Engine,
    *,
    subscription_id: int,
    slot: dt.datetime,
    claimed_by: str,
    now: dt.datetime,
    lease: dt.timedelta,
) -> Claim | None:
    """Claim ``slot`` of the subscription for ``claimed_by``; ``None`` when someone else has
    it (claimed within the lease, being posted, sent or skipped)."""
    try:
        with engine.begin() as conn:
            row_id = conn.execute(
                sa.insert(SENT)
                .values(
                    subscription_id=subscription_id,
                    slot=slot,
                    claimed_by=claimed_by,
                    claimed_at=now,
                )
                .returning(SENT.c.id)
            ).scalar_one()
        return Claim(int(row_id), subscription_id, slot, claimed_by, retry=False)
    except IntegrityError:
        pass
    with engine.begin() as conn:
        row_id = conn.execute(
            sa.select(SENT.c.id).where(
                SENT.c.subscription_id == subscription_id, SENT.c.slot == slot
            )
        ).scalar_one_or_none()
        if row_id is None:
            return None
        taken = conn.execute(
            sa.update(SENT)
            .where(
                SENT.c.id == row_id,
                SENT.c.sent_at.is_(None),
                SENT.c.claimed_at < now - lease,
                sa.or_(
                    SENT.c.error.is_(None),
                    sa.and_(
                        SENT.c.error.not_like(f"{POSTING}%"), SENT.c.error.not_like(f"{SKIPPED}%")
                    ),
                ),
            )
            .values(claimed_by=claimed_by, claimed_at=now, error=None)
        )
        if taken.rowcount != 1:
            return None
    return Claim(int(row_id), subscription_id, slot, claimed_by, retry=True)


def claimable(row: dict[str, Any], *, now: dt.datetime, lease: dt.timedelta) -> bool:
    """Whether a sent-log row may be taken over (the ``WHERE`` of :func:`claim_slot`'s
    ``UPDATE``, for callers that look before they claim)."""
    error = str(row["error"] or "")
    claimed_at = row["claimed_at"]
    assert isinstance(claimed_at, dt.datetime)
    return (
        row["sent_at"] is None
        and claimed_at < now - lease
        and not error.startswith((POSTING, SKIPPED))
    )


def slot_rows(
    engine: Engine, *, subscription_ids: list[int], since: dt.datetime
) -> dict[tuple[int, dt.datetime], dict[str, Any]]:
    """Sent-log rows of the subscriptions for slots at or after ``since``, by
    ``(subscription_id, slot)``."""
    if not subscription_ids:
        return {}
    query = sa.select(SENT).where(
        SENT.c.subscription_id.in_(subscription_ids), SENT.c.slot >= since
    )
    with engine.connect() as conn:
        rows: list[dict[str, Any]] = [dict(row) for row in conn.execute(query).mappings()]
    return {(int(r["subscription_id"]), r["slot"]): r for r in rows}


def _set(engine: Engine, claim: Claim, **values: object) -> bool:
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(SENT)
            .where(SENT.c.id == claim.id, SENT.c.claimed_by == claim.claimed_by)
            .values(**values)
        )
    return result.rowcount == 1


def mark_posting(engine: Engine, claim: Claim, *, now: dt.datetime) -> bool:
    """Record that the message is about to be handed to Slack (see the module docstring).
    False when the claim was taken over meanwhile: then do not post."""
    return _set(
        engine, claim, error=f"{POSTING} handed to Slack at {now.isoformat()}, outcome unknown"
    )


def mark_sent(
    engine: Engine,
    claim: Claim,
    *,
    sent_at: dt.datetime,
    message_ts: str | None,
    note: str | None = None,
) -> None:
    """Record the delivery (``note``: something that went wrong after it, e.g. charts)."""
    _set(
        engine,
        claim,
        sent_at=sent_at,
        message_ts=message_ts,
        error=note[:MAX_ERROR_CHARS] if note else None,
    )


def mark_failed(engine: Engine, claim: Claim, *, reason: str) -> None:
    """Nothing was posted: the slot may be retried after the lease."""
    _set(engine, claim, error=f"{FAILED} {reason}"[:MAX_ERROR_CHARS])


def mark_skipped(engine: Engine, claim: Claim, *, reason: str) -> None:
    """There is nowhere to send the slot; it is not retried."""
    _set(engine, claim, error=f"{SKIPPED} {reason}"[:MAX_ERROR_CHARS])


def sent_log(engine: Engine, *, subscription_id: int | None = None) -> list[dict[str, object]]:
    """Rows of the sent-log (of one subscription, or all), oldest slot first."""
    query = sa.select(SENT).order_by(SENT.c.slot, SENT.c.id)
    if subscription_id is not None:
        query = query.where(SENT.c.subscription_id == subscription_id)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def last_sent_at(
    engine: Engine, *, subscription_id: int | None = None, rep_id: int | None = None
) -> dt.datetime | None:
    """When the last digest of the subscription (or of any of the rep's subscriptions) went
    out, or ``None``."""
    query = sa.select(sa.func.max(SENT.c.sent_at)).where(SENT.c.sent_at.is_not(None))
    if subscription_id is not None:
        query = query.where(SENT.c.subscription_id == subscription_id)
    if rep_id is not None:
        subs = DigestSubscription.__table__  # type: ignore[attr-defined]
        query = query.where(
            SENT.c.subscription_id.in_(sa.select(subs.c.id).where(subs.c.rep_id == rep_id))
        )
    with engine.connect() as conn:
        value = conn.execute(query).scalar_one_or_none()
    if value is None:
        return None
    if isinstance(value, str):  # SQLite aggregates come back as text
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
