"""The digest scheduler against a real store (SQLite and PostgreSQL), a fake clock and the
local fake Slack Web API: digests fire at the subscriber's local time and every slot is
posted once, through restarts, crashes and two replicas."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging

import pytest
from PIL import Image
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.digests import DigestScheduler
from render.blocks import validate_blocks
from store import digests
from store.db import make_engine
from tests.digests.seed import seed_team

MONDAY_8 = "0 8 * * 1"
CREATED = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
WINTER_SLOT = dt.datetime(2026, 1, 5, 7, 0, tzinfo=dt.UTC)  # Monday 08:00 in Berlin (CET)
SUMMER_SLOT = dt.datetime(2026, 6, 1, 6, 0, tzinfo=dt.UTC)  # Monday 08:00 in Berlin (CEST)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, now: dt.datetime) -> Clock:
        self.now = now
        return self


@pytest.fixture
def seeded(engine):
    return seed_team(engine)


def subscribe(engine, rep_id: int, channel_id: str = digests.DM) -> int:
    with Session(engine) as s:
        sub = digests.subscribe(
            s, rep_id=rep_id, channel_id=channel_id, cron=MONDAY_8, timezone="Europe/Berlin",
            now=CREATED,
        )  # fmt: skip
        s.commit()
        return int(sub.id or 0)


def scheduler(engine, slack, clock, name="bot-a") -> DigestScheduler:
    client = AsyncWebClient(token="xoxb-digest-test", base_url=slack.api_url)
    return DigestScheduler(engine, client, instance_id=name, clock=clock)


def tick(*schedulers: DigestScheduler) -> list:
    async def run() -> list:
        return await asyncio.gather(*(s.tick() for s in schedulers))

    return [d for deliveries in asyncio.run(run()) for d in deliveries]


def posts(slack) -> list:
    return slack.calls_to("chat.postMessage")


def test_monday_eight_berlin_fires_at_seven_utc_in_winter_with_charts(engine, seeded, fake_slack):
    sub_id = subscribe(engine, seeded.reps["vera"])
    clock = Clock(WINTER_SLOT - dt.timedelta(seconds=30))
    bot = scheduler(engine, fake_slack, clock)
    assert tick(bot) == []
    assert posts(fake_slack) == []

    clock.at(WINTER_SLOT + dt.timedelta(seconds=10))
    [delivery] = tick(bot)
    assert (delivery.outcome, delivery.slot, delivery.channel_id) == ("sent", WINTER_SLOT, "DVERA")
    [opened] = fake_slack.calls_to("conversations.open")
    assert opened.args["users"] == "UVERA"
    [post] = posts(fake_slack)
    assert post.args["channel"] == "DVERA"
    assert validate_blocks(post.args["blocks"]) == []
    assert post.args["text"].startswith("Team digest: Vera Lind's team\nAs of Jan 5, 2026")
    [complete] = fake_slack.calls_to("files.completeUploadExternal")
    assert complete.args["channel_id"] == "DVERA"
    assert [f["title"] for f in complete.args["files"]] == [
        "Open pipeline by stage", "Revenue at risk by rep", "Forecast vs quota",
    ]  # fmt: skip
    for file in complete.args["files"]:
        image = Image.open(io.BytesIO(fake_slack.uploads[file["id"]]))
        assert (image.format, image.size) == ("PNG", (1200, 700))
    [row] = digests.sent_log(engine, subscription_id=sub_id)
    assert row["message_ts"] == delivery.message_ts and row["sent_at"] is not None
    assert row["error"] is None

    clock.at(WINTER_SLOT + dt.timedelta(seconds=40))
    assert tick(bot) == []
    assert len(posts(fake_slack)) == 1


def test_summer_time_fires_at_six_utc(engine, seeded, fake_slack):
    subscribe(engine, seeded.reps["vera"], channel_id="C0SALESMGR")
    clock = Clock(SUMMER_SLOT - dt.timedelta(minutes=1))
    bot = scheduler(engine, fake_slack, clock)
    assert tick(bot) == []
    clock.at(SUMMER_SLOT + dt.timedelta(seconds=5))
    [delivery] = tick(bot)
    assert delivery.slot == SUMMER_SLOT
    assert [p.args["channel"] for p in posts(fake_slack)] == ["C0SALESMGR"]
    assert fake_slack.calls_to("conversations.open") == []


def test_two_replicas_at_the_same_moment_post_once(engine, db_url, seeded, fake_slack):
    subscribe(engine, seeded.reps["vera"])
    clock = Clock(WINTER_SLOT + dt.timedelta(seconds=3))
    other_engine = make_engine(db_url)
    try:
        a = scheduler(engine, fake_slack, clock, "bot-a")
        b = scheduler(other_engine, fake_slack, clock, "bot-b")
        deliveries = tick(a, b)
        assert [d.outcome for d in deliveries] == ["sent"]
        assert len(posts(fake_slack)) == 1
        clock.at(WINTER_SLOT + dt.timedelta(seconds=33))
        assert tick(a, b) == []
    finally:
        other_engine.dispose()
    assert len(posts(fake_slack)) == 1


def test_restart_after_sending_does_not_send_again(engine, seeded, fake_slack):
    subscribe(engine, seeded.reps["vera"])
    clock = Clock(WINTER_SLOT + dt.timedelta(seconds=20))
    assert [d.outcome for d in tick(scheduler(engine, fake_slack, clock, "bot-before"))] == ["sent"]
    restarted = scheduler(
        engine, fake_slack, clock.at(WINTER_SLOT + dt.timedelta(minutes=2)), "bot-after"
    )
    assert tick(restarted) == []
    assert len(posts(fake_slack)) == 1


def test_a_slot_missed_while_down_is_caught_up_within_the_grace_period(engine, seeded, fake_slack):
    subscribe(engine, seeded.reps["vera"])
    clock = Clock(WINTER_SLOT + dt.timedelta(hours=2, minutes=30))  # back at 10:30 local
    [delivery] = tick(scheduler(engine, fake_slack, clock))
    assert (delivery.outcome, delivery.slot) == ("sent", WINTER_SLOT)
    # a week later the bot was down for longer than the grace period: that slot is dropped
    clock.at(WINTER_SLOT + dt.timedelta(days=7, hours=3, minutes=1))
    assert tick(scheduler(engine, fake_slack, clock, "bot-c")) == []
    assert len(posts(fake_slack)) == 1


def test_a_claim_left_by_a_crash_is_retried_once_after_the_lease(
    engine, db_url, seeded, fake_slack
):
    sub_id = subscribe(engine, seeded.reps["vera"])
    claimed_at = WINTER_SLOT + dt.timedelta(seconds=5)
    digests.claim_slot(  # the state a bot leaves when it dies while building the digest
        engine, subscription_id=sub_id, slot=WINTER_SLOT, claimed_by="bot-dead",
        now=claimed_at, lease=dt.timedelta(minutes=10),
    )  # fmt: skip
    clock = Clock(claimed_at + dt.timedelta(minutes=5))
    other_engine = make_engine(db_url)
    try:
        a = scheduler(engine, fake_slack, clock, "bot-a")
        b = scheduler(other_engine, fake_slack, clock, "bot-b")
        assert tick(a, b) == []  # within the lease: the claim may still be alive
        clock.at(claimed_at + dt.timedelta(minutes=10, seconds=30))
        deliveries = tick(a, b)
    finally:
        other_engine.dispose()
    assert [d.outcome for d in deliveries] == ["sent"]
    assert len(posts(fake_slack)) == 1
    [row] = digests.sent_log(engine, subscription_id=sub_id)
    assert row["claimed_by"] in {"bot-a", "bot-b"} and row["sent_at"] is not None


def test_a_crash_while_posting_is_never_posted_again(engine, seeded, fake_slack):
    sub_id = subscribe(engine, seeded.reps["vera"])
    lease = dt.timedelta(minutes=10)
    claim = digests.claim_slot(
        engine, subscription_id=sub_id, slot=WINTER_SLOT, claimed_by="bot-dead",
        now=WINTER_SLOT, lease=lease,
    )  # fmt: skip
    assert claim is not None and digests.mark_posting(engine, claim, now=WINTER_SLOT)
    clock = Clock(WINTER_SLOT + dt.timedelta(hours=1))
    assert tick(scheduler(engine, fake_slack, clock)) == []
    assert posts(fake_slack) == []
    [row] = digests.sent_log(engine, subscription_id=sub_id)
    assert row["error"].startswith(digests.POSTING) and row["sent_at"] is None


def test_slack_refusing_the_post_is_retried_after_the_lease(engine, seeded, fake_slack):
    sub_id = subscribe(engine, seeded.reps["vera"])
    fake_slack.fail("chat.postMessage", "channel_not_found")
    clock = Clock(WINTER_SLOT + dt.timedelta(seconds=5))
    bot = scheduler(engine, fake_slack, clock)
    [failed] = tick(bot)
    assert failed.outcome == "failed" and "channel_not_found" in (failed.detail or "")
    clock.at(WINTER_SLOT + dt.timedelta(minutes=11))
    [sent] = tick(bot)
    assert sent.outcome == "sent"
    assert [c.args["channel"] for c in posts(fake_slack)] == ["DVERA", "DVERA"]
    [row] = digests.sent_log(engine, subscription_id=sub_id)
    assert row["sent_at"] is not None and row["error"] is None


def test_a_subscriber_without_a_slack_id_is_skipped_with_a_reason(
    engine, seeded, fake_slack, caplog
):
    sub_id = subscribe(engine, seeded.reps["max"])
    clock = Clock(WINTER_SLOT + dt.timedelta(seconds=5))
    with caplog.at_level(logging.WARNING, logger="bot.digests"):
        [delivery] = tick(scheduler(engine, fake_slack, clock))
    assert delivery.outcome == "skipped"
    assert f"rep {seeded.reps['max']} has no Slack user id" in caplog.text
    clock.at(WINTER_SLOT + dt.timedelta(hours=1))
    assert tick(scheduler(engine, fake_slack, clock, "bot-b")) == []
    assert posts(fake_slack) == []
    [row] = digests.sent_log(engine, subscription_id=sub_id)
    assert row["error"].startswith(digests.SKIPPED)


def test_a_slot_another_sender_has_is_logged_once_and_not_claimed_again(
    engine, seeded, fake_slack, caplog
):
    sub_id = subscribe(engine, seeded.reps["vera"])
    clock = Clock(WINTER_SLOT + dt.timedelta(seconds=5))
    assert [d.outcome for d in tick(scheduler(engine, fake_slack, clock, "bot-a"))] == ["sent"]
    other = scheduler(engine, fake_slack, clock, "bot-b")
    with caplog.at_level(logging.INFO, logger="bot.digests"):
        for seconds in (35, 65, 95):
            clock.at(WINTER_SLOT + dt.timedelta(seconds=seconds))
            assert tick(other) == []
    assert caplog.text.count("claimed by another sender") == 1
    [row] = digests.sent_log(engine, subscription_id=sub_id)
    assert row["claimed_by"] == "bot-a"
    assert len(posts(fake_slack)) == 1
