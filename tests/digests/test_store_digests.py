"""Subscriptions and the sent-log on SQLite and PostgreSQL: one subscription per destination,
and a slot claimed by exactly one sender, taken over only after the lease."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, select

from store import digests
from store.db import make_engine
from store.models import DigestSubscription, Rep, RepRole

NOW = dt.datetime(2026, 3, 2, 7, 0, 5, tzinfo=dt.UTC)
SLOT = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=10)


@pytest.fixture
def rep_id(engine) -> int:
    with Session(engine) as s:
        rep = Rep(external_id="R1", name="Vera", email="vera@example.com", role=RepRole.manager)
        s.add(rep)
        s.commit()
        return int(rep.id or 0)


def _subscribe(engine, rep_id, channel_id="dm", cron="0 8 * * 1"):
    with Session(engine, expire_on_commit=False) as s:
        sub = digests.subscribe(
            s, rep_id=rep_id, channel_id=channel_id, cron=cron, timezone="Europe/Berlin", now=NOW
        )
        s.commit()
        return sub


def test_subscribing_again_changes_the_schedule_of_the_same_destination(engine, rep_id):
    first = _subscribe(engine, rep_id, "dm")
    again = _subscribe(engine, rep_id, "D0VERA", cron="0 9 * * 2")  # the DM, now known by id
    other = _subscribe(engine, rep_id, "C0TEAM")
    with Session(engine) as s:
        active = digests.active_subscriptions(s, rep_id=rep_id)
    assert again.id == first.id
    assert [(a.id, a.channel_id, a.cron) for a in active] == [
        (first.id, "D0VERA", "0 9 * * 2"),
        (other.id, "C0TEAM", "0 8 * * 1"),
    ]
    with Session(engine) as s:
        stopped = digests.unsubscribe(s, rep_id=rep_id, now=NOW)
        s.commit()
    assert len(stopped) == 2
    with Session(engine) as s:
        assert digests.active_subscriptions(s) == []
        assert len(s.exec(select(DigestSubscription)).all()) == 2


def test_a_slot_is_claimed_once_and_retaken_only_after_the_lease(engine, rep_id):
    sub_id = int(_subscribe(engine, rep_id).id or 0)
    claim = digests.claim_slot(
        engine, subscription_id=sub_id, slot=SLOT, claimed_by="bot-a", now=NOW, lease=LEASE
    )
    assert claim is not None and not claim.retry
    kwargs = {"subscription_id": sub_id, "slot": SLOT, "claimed_by": "bot-b", "lease": LEASE}
    assert digests.claim_slot(engine, now=NOW + dt.timedelta(minutes=9), **kwargs) is None
    retaken = digests.claim_slot(engine, now=NOW + dt.timedelta(minutes=11), **kwargs)
    assert retaken is not None and retaken.retry and retaken.id == claim.id
    # the first sender's late writes no longer count: the claim is bot-b's
    assert not digests.mark_posting(engine, claim, now=NOW)
    assert digests.mark_posting(engine, retaken, now=NOW + dt.timedelta(minutes=11))
    # handed to Slack: never taken over again, however old
    assert digests.claim_slot(engine, now=NOW + dt.timedelta(days=1), **kwargs) is None
    [row] = digests.sent_log(engine, subscription_id=sub_id)
    assert row["claimed_by"] == "bot-b" and row["error"].startswith(digests.POSTING)


def test_sent_failed_and_skipped_slots(engine, rep_id):
    sub_id = int(_subscribe(engine, rep_id).id or 0)
    later = dt.timedelta(hours=1)

    def claim(slot, by="bot-a", now=NOW):
        return digests.claim_slot(
            engine, subscription_id=sub_id, slot=slot, claimed_by=by, now=now, lease=LEASE
        )

    sent = claim(SLOT)
    digests.mark_sent(engine, sent, sent_at=NOW, message_ts="1.2")
    assert claim(SLOT, "bot-b", NOW + later) is None
    failed = claim(SLOT + dt.timedelta(days=1))
    digests.mark_failed(engine, failed, reason="channel_not_found")
    assert claim(SLOT + dt.timedelta(days=1), "bot-b", NOW + later) is not None
    skipped = claim(SLOT + dt.timedelta(days=2))
    digests.mark_skipped(engine, skipped, reason="no Slack id")
    assert claim(SLOT + dt.timedelta(days=2), "bot-b", NOW + later) is None
    assert digests.last_sent_at(engine, subscription_id=sub_id) == NOW
    assert digests.last_sent_at(engine, rep_id=rep_id) == NOW
    assert digests.last_sent_at(engine, rep_id=rep_id + 1) is None


def test_concurrent_claims_from_two_engines_have_one_winner(engine, db_url, rep_id):
    sub_id = int(_subscribe(engine, rep_id).id or 0)
    engines = [make_engine(db_url) for _ in range(2)]

    def claim(index: int, slot: dt.datetime) -> digests.Claim | None:
        return digests.claim_slot(
            engines[index], subscription_id=sub_id, slot=slot, claimed_by=f"bot-{index}",
            now=NOW, lease=LEASE,
        )  # fmt: skip

    try:
        for round_ in range(5):
            slot = SLOT + dt.timedelta(days=round_)
            with ThreadPoolExecutor(2) as pool:
                claims = list(pool.map(claim, [0, 1], [slot, slot]))
            assert sum(c is not None for c in claims) == 1
    finally:
        for eng in engines:
            eng.dispose()
    assert len(digests.sent_log(engine, subscription_id=sub_id)) == 5
