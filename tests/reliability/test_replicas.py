"""Beyond one machine: two replicas of everything behind one PostgreSQL store, Rasa's
tracker store on PostgreSQL and its lock store on Redis (the ``cluster`` fixture).

- A conversation whose turns alternate between the replicas keeps its context: a form
  started on one is finished on the other, follow-ups ("why?", "and for …?", "them")
  answer about what the other replica said, and both Rasa servers hold the same history.
- One user writing to both replicas at the same moment: the lock store serialises the
  turns, both are answered, neither interleaves with the other.
- One Slack event delivered to both replicas at once is answered once.
- A digest subscribed through one replica is sent once while both schedulers run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from bot import messages
from store import digests
from store.demo import DEMO_MANAGER_EMAIL
from store.models import DigestSubscription, ProcessedSlackEvent, Rep
from tests.reliability.cluster import TOKENS, Cluster, Reply, assert_answered

pytestmark = [
    pytest.mark.rasa,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.xdist_group("stack"),
    pytest.mark.usefixtures("digest_due"),
]

JORDAN, PRIYA = "UJORDAN", "UPRIYA"


@pytest.fixture(scope="module")
def digest_due(cluster: Cluster) -> int:
    """Priya subscribes to the team digest through replica B; the subscription is then
    given a daily slot a minute ago (and backdated a day), so both schedulers find it due.
    Returns the subscription id. (Module scope: the schedulers work while the other tests
    run; the digest test checks the outcome.)"""
    reply = cluster.driver.ask(
        cluster.b.bot_url, PRIYA, "send me the team digest every Monday at 8"
    )
    assert reply.acked == 200  # what she is told is checked in test_faults
    now = dt.datetime.now(dt.UTC)
    slot = now - dt.timedelta(minutes=1)
    with Session(cluster.engine) as s:
        manager = s.exec(select(Rep).where(Rep.email == DEMO_MANAGER_EMAIL)).one()
        [subscription] = s.exec(
            select(DigestSubscription).where(
                DigestSubscription.rep_id == manager.id,
                DigestSubscription.active == True,  # noqa: E712
            )
        ).all()
        assert subscription.channel_id == "DPRIYA"  # asked in her DM: delivered there
        subscription.cron = f"{slot.minute} {slot.hour} * * *"
        subscription.timezone = "UTC"
        subscription.created_at = now - dt.timedelta(days=1)
        s.add(subscription)
        s.commit()
        return int(subscription.id or 0)


def pitch_of(reply: Reply) -> str:
    assert_answered(reply)
    assert "pitch to " in reply.text, reply.texts
    return reply.text


def tracker_events(rasa_url: str, sender: str) -> list[dict[str, Any]]:
    """The conversation as a Rasa server reads it from the tracker store."""
    response = httpx.get(
        f"{rasa_url}/conversations/{sender}/tracker", params={"token": TOKENS.rasa_api}, timeout=30
    )
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def test_a_conversation_alternating_between_replicas_keeps_its_context(cluster):
    d, a, b = cluster.driver, cluster.a, cluster.b
    restart = httpx.post(
        f"{a.rasa_url}/conversations/slack:{JORDAN}/tracker/events",
        params={"token": TOKENS.rasa_api},
        json={"event": "restart"},
        timeout=30,
    )  # a fresh conversation: earlier tests left an account in context
    restart.raise_for_status()
    turns = [
        (a, "what should I pitch?"),
        (b, "Acme Food Service"),
        (a, "why?"),
        (b, "and for Acme Foods?"),
        (a, "how is Acme Food Service doing?"),
        (b, "what should I pitch to them?"),
    ]
    replies = [d.ask(replica.bot_url, JORDAN, text) for replica, text in turns]
    for reply in replies:
        assert_answered(reply)
    assert "which account" in replies[0].text.lower()
    assert "pitch to Acme Food Service" in pitch_of(replies[1])  # the form, finished on B
    assert "How I pick pitches" in replies[2].text  # A explains what B answered
    assert "pitch to Acme Foods" in pitch_of(replies[3])  # B re-runs the skill A explained
    assert "Acme Food Service" in replies[4].text
    assert "pitch to Acme Food Service" in pitch_of(replies[5])  # "them" = what A talked about
    said = [text for _, text in turns]
    for rasa_url in (a.rasa_url, b.rasa_url):
        events = tracker_events(rasa_url, f"slack:{JORDAN}")
        assert [e["text"] for e in events if e["event"] == "user"][-len(said) :] == said


def test_an_unlinked_slack_user_gets_nothing_from_either_replica(cluster):
    for replica in (cluster.a, cluster.b):
        reply = cluster.driver.ask(replica.bot_url, "UGHOST", "which accounts are slipping?")
        assert reply.texts == [messages.NOT_LINKED]
        assert all("blocks" not in m for m in reply.messages)


def test_one_user_on_both_replicas_at_the_same_moment(cluster):
    """The Redis lock store lets one Rasa at a time work on the conversation."""
    d, a, b = cluster.driver, cluster.a, cluster.b

    async def both() -> list[Reply]:
        async with httpx.AsyncClient(timeout=60) as http:
            return list(
                await asyncio.gather(
                    d.ask_async(http, a.bot_url, PRIYA, "which accounts on my team are slipping?"),
                    d.ask_async(http, b.bot_url, PRIYA, "how does my team's pipeline look?"),
                )
            )

    slipping, pipeline = asyncio.run(both())
    assert_answered(slipping)
    assert_answered(pipeline)
    assert "open in" in pipeline.text
    events = tracker_events(a.rasa_url, f"slack:{PRIYA}")
    last_two = [i for i, e in enumerate(events) if e["event"] == "user"][-2:]
    first_turn = events[last_two[0] : last_two[1]]
    assert first_turn[-1]["event"] == "action" and first_turn[-1]["name"] == "action_listen"
    assert [e for e in first_turn if e["event"] == "bot"], "the first turn was answered first"


def test_one_event_delivered_to_both_replicas_at_once_is_answered_once(cluster):
    d, a, b = cluster.driver, cluster.a, cluster.b
    thread_ts = d.next_ts()
    event_id = f"EvBOTH{thread_ts.replace('.', '')}"
    body = d.event_body(
        JORDAN, "which of my deals are stuck?", thread_ts=thread_ts, event_id=event_id
    )

    async def deliver() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as http:
            return list(
                await asyncio.gather(
                    d.post(http, a.bot_url, body),
                    d.post(http, b.bot_url, body),
                    d.post(http, b.bot_url, body, retry=1),
                    d.post(http, a.bot_url, body, retry=2),
                )
            )

    assert asyncio.run(deliver()) == [200, 200, 200, 200]
    reply = asyncio.run(d.reply_to(thread_ts, timeout=120, settle=3.0))
    assert_answered(reply)
    assert len(reply.texts) == len(set(reply.texts)) == 1, reply.texts
    with Session(cluster.engine) as s:
        claims = s.exec(
            select(ProcessedSlackEvent).where(col(ProcessedSlackEvent.event_id) == event_id)
        ).all()
    assert len(claims) == 1


def test_a_digest_subscribed_through_one_replica_goes_out_once(cluster, digest_due):
    """Both bots run the scheduler on the same store: the due slot is posted by one of
    them, the other finds it taken."""
    deadline = time.monotonic() + 150
    sent: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        sent = [r for r in digests.sent_log(cluster.engine) if r["subscription_id"] == digest_due]
        logs = cluster.a.log("bot") + cluster.b.log("bot")
        taken = f"digest subscription {digest_due} slot"
        if sent and sent[0]["sent_at"] is not None and logs.count(taken) >= 2:
            break
        time.sleep(1.0)
    [row] = sent
    assert row["sent_at"] is not None and row["error"] is None
    posts = [
        c
        for c in cluster.slack.calls_to("chat.postMessage")
        if c.args["channel"] == "DPRIYA" and str(c.args["text"]).startswith("Team digest")
    ]
    assert len(posts) == 1
    logs = cluster.a.log("bot") + cluster.b.log("bot")
    assert logs.count(f"digest subscription {digest_due} slot") >= 2
    assert "claimed by another sender" in logs
