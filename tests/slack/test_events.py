"""Signed Slack events into the real bolt app over HTTP; what reaches the fake Web API.

Rasa is not running in these tests (its port is closed): every question gets the
friendly "can't reach my language service" answer, which is exactly what a user
sees when Rasa is down.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import threading
import time

import pytest
from sqlmodel import Session, select

from bot import messages
from bot.slack import EDGES
from store.db import make_engine
from store.migrate import upgrade
from store.models import ProcessedSlackEvent
from tests.slack.conftest import seed_book, url_of
from tests.slack.harness import (
    bot_settings,
    dm_event,
    event_envelope,
    fixed_clock,
    listeners_done,
    mention_event,
    running_bot,
    signed_headers,
)


def test_bad_signature_is_rejected_and_nothing_reaches_slack(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            body = json.dumps(event_envelope(dm_event("UMARIA", "which accounts are slipping?")))
            forged = signed_headers(body, secret="not-the-signing-secret")
            status, _ = await bot.post(
                body, content_type="application/json", headers=forged, sign=False
            )
            assert status == 401
            unsigned, _ = await bot.post(body, content_type="application/json", sign=False)
            assert unsigned == 401

    asyncio.run(scenario())
    assert fake_slack.calls == []


def test_stale_timestamp_is_rejected(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            body = json.dumps(event_envelope(dm_event("UMARIA", "hello")))
            stale = signed_headers(body, timestamp=int(time.time()) - 10 * 60)
            status, _ = await bot.post(
                body, content_type="application/json", headers=stale, sign=False
            )
            assert status == 401

    asyncio.run(scenario())
    assert fake_slack.calls == []


def test_url_verification_challenge_is_answered(tmp_path, store_url, fake_slack):
    async def scenario() -> tuple[int, str]:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            body = json.dumps({"token": "t", "challenge": "c-8d1e", "type": "url_verification"})
            return await bot.post(body, content_type="application/json")

    status, text = asyncio.run(scenario())
    assert status == 200
    assert "c-8d1e" in text


def test_rasa_down_gets_a_friendly_reply_in_the_dm(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            assert await bot.event(dm_event("UMARIA", "which of my accounts are slipping?")) == 200
            await fake_slack.wait_for_async("chat.postMessage")

    asyncio.run(scenario())
    [reply] = fake_slack.calls_to("chat.postMessage")
    assert reply.args["channel"] == "DMARIA"
    assert reply.args["text"] == messages.RASA_DOWN
    assert "thread_ts" not in reply.args
    assert reply.token == "xoxb-test-bot-token"
    assert "Traceback" not in json.dumps(reply.args) and "Error" not in reply.args["text"]


def test_unlinked_user_gets_a_clear_answer_and_no_data(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.event(dm_event("UGUEST", "which of my accounts are slipping?"))
            await fake_slack.wait_for_async("chat.postMessage")
            await bot.event(mention_event("UGUEST", "how is Acme Corp doing?"))
            await fake_slack.wait_for_async("chat.postEphemeral")

    asyncio.run(scenario())
    [dm] = fake_slack.calls_to("chat.postMessage")
    assert dm.args["channel"] == "DGUEST"
    assert dm.args["text"] == messages.NOT_LINKED
    assert "blocks" not in dm.args
    [in_channel] = fake_slack.calls_to("chat.postEphemeral")
    assert in_channel.args["channel"] == "C0SALES"
    assert in_channel.args["user"] == "UGUEST"
    assert in_channel.args["thread_ts"] == "1772463700.000300"
    assert in_channel.args["text"] == messages.NOT_LINKED
    lookups = [c.args["user"] for c in fake_slack.calls_to("users.info")]
    assert lookups == ["UGUEST", "UGUEST"]


def test_user_known_by_email_is_linked_on_first_message(
    tmp_path, store_url, fake_slack, sqlite_engine
):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.event(dm_event("UTOM", "hello"))
            await fake_slack.wait_for_async("chat.postMessage")
            await bot.event(dm_event("UTOM", "hello again", ts="1772463601.000200"))
            await fake_slack.wait_for_async("chat.postMessage", count=2)

    asyncio.run(scenario())
    assert [c.args["text"] for c in fake_slack.calls_to("chat.postMessage")] == [
        messages.RASA_DOWN
    ] * 2
    assert [c.args["user"] for c in fake_slack.calls_to("users.info")] == ["UTOM"]
    with sqlite_engine.connect() as conn:
        linked = conn.exec_driver_sql(
            "SELECT slack_user_id FROM rep WHERE email = 'tom@example.com'"
        ).scalar()
    assert linked == "UTOM"


def test_mention_is_answered_in_a_thread(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.event(mention_event("UMARIA", "which of my accounts are slipping?"))
            await fake_slack.wait_for_async("chat.postMessage")

    asyncio.run(scenario())
    [reply] = fake_slack.calls_to("chat.postMessage")
    assert reply.args["channel"] == "C0SALES"
    assert reply.args["thread_ts"] == "1772463700.000300"
    assert reply.args["text"] == messages.RASA_DOWN


def test_slow_answer_shows_working_then_is_replaced(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        settings = bot_settings(tmp_path, store_url, fake_slack)
        async with running_bot(settings, fake_slack, working_after_seconds=0) as bot:
            await bot.event(dm_event("UMARIA", "which of my accounts are slipping?"))
            await fake_slack.wait_for_async("chat.update")

    asyncio.run(scenario())
    [status] = fake_slack.calls_to("chat.postMessage")
    assert status.args["text"] == messages.WORKING
    [update] = fake_slack.calls_to("chat.update")
    assert update.args["channel"] == "DMARIA"
    assert update.args["text"] == messages.RASA_DOWN
    assert fake_slack.methods().index("chat.postMessage") < fake_slack.methods().index(
        "chat.update"
    )


def test_slow_answer_in_a_shared_channel_shows_working_only_to_the_asker(
    tmp_path, store_url, fake_slack
):
    async def scenario() -> None:
        settings = bot_settings(tmp_path, store_url, fake_slack)
        async with running_bot(settings, fake_slack, working_after_seconds=0) as bot:
            await bot.event(mention_event("UMARIA", "which of my accounts are slipping?"))
            await fake_slack.wait_for_async("chat.postMessage")

    asyncio.run(scenario())
    [status] = fake_slack.calls_to("chat.postEphemeral")
    assert (status.args["user"], status.args["text"]) == ("UMARIA", messages.WORKING)
    [answer] = fake_slack.calls_to("chat.postMessage")
    assert answer.args["thread_ts"] == "1772463700.000300"
    assert fake_slack.calls_to("chat.update") == []


def test_rate_limited_reply_is_retried_after_retry_after(tmp_path, store_url, fake_slack):
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=0)

    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.event(dm_event("UMARIA", "which of my accounts are slipping?"))
            await fake_slack.wait_for_async("chat.postMessage", count=2)

    asyncio.run(scenario())
    first, second = fake_slack.calls_to("chat.postMessage")
    assert first.args == second.args
    assert second.args["text"] == messages.RASA_DOWN


def test_database_down_gets_a_friendly_reply(tmp_path, fake_slack):
    down = "postgresql://postgres@127.0.0.1:1/salesbot"

    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, down, fake_slack), fake_slack) as bot:
            await bot.event(dm_event("UMARIA", "which of my accounts are slipping?"))
            await fake_slack.wait_for_async("chat.postMessage")

    asyncio.run(scenario())
    [reply] = fake_slack.calls_to("chat.postMessage")
    assert reply.args["text"] == messages.STORE_DOWN


def test_bot_messages_and_edits_are_not_answered(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            edited = {**dm_event("UMARIA", "edited"), "subtype": "message_changed"}
            from_bot = {**dm_event("UMARIA", "I am a bot"), "bot_id": "BOTHER"}
            assert await bot.event(edited) == 200
            assert await bot.event(from_bot) == 200
            await listeners_done()

    asyncio.run(scenario())
    assert fake_slack.calls_to("chat.postMessage") == []
    assert fake_slack.calls_to("chat.postEphemeral") == []


@pytest.mark.parametrize("retry_header", [True, False], ids=["retry-header", "same-event-id"])
def test_retried_event_is_answered_once_even_by_another_replica(
    tmp_path, db_url, fake_slack, retry_header
):
    engine = make_engine(db_url)
    upgrade(engine)
    seed_book(engine)
    url = url_of(engine)

    async def scenario() -> None:
        settings = bot_settings(tmp_path, url, fake_slack)
        async with (
            running_bot(settings, fake_slack) as first,
            running_bot(settings, fake_slack) as second,
        ):
            event = dm_event("UMARIA", "which of my accounts are slipping?")
            assert await first.event(event, event_id="Ev0RETRY01") == 200
            await fake_slack.wait_for_async("chat.postMessage")
            retry = 1 if retry_header else None
            assert await first.event(event, event_id="Ev0RETRY01", retry_num=retry) == 200
            assert await second.event(event, event_id="Ev0RETRY01", retry_num=retry) == 200
            await listeners_done()

    try:
        asyncio.run(scenario())
        [reply] = fake_slack.calls_to("chat.postMessage")
        assert reply.args["channel"] == "DMARIA"
        assert claimed_event_ids(engine) == ["Ev0RETRY01"]
    finally:
        engine.dispose()


def claimed_event_ids(engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(ProcessedSlackEvent.event_id)).all())


def test_event_is_acked_and_answered_once_while_the_sqlite_store_is_write_locked(
    tmp_path, store_url, fake_slack
):
    """Another process holds the SQLite write lock (well past Slack's 3 s resend): the ack
    must not wait on it, and the retry that follows must not be answered a second time."""
    path = store_url.removeprefix("sqlite:///")
    locked = threading.Event()
    release = threading.Event()

    def hold_write_lock() -> None:
        conn = sqlite3.connect(path, timeout=60, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(60)
        conn.rollback()
        conn.close()

    holder = threading.Thread(target=hold_write_lock)
    holder.start()
    assert locked.wait(30)
    acked_while_locked: list[bool] = []

    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            event = dm_event("UMARIA", "which of my accounts are slipping?")
            # the lock outlasts SQLite's busy timeout unless the ack is independent of it
            threading.Timer(25.0, release.set).start()
            assert await bot.event(event, event_id="Ev0LOCKED1") == 200
            acked_while_locked.append(not release.is_set())
            assert await bot.event(event, event_id="Ev0LOCKED1", retry_num=1) == 200
            assert await bot.event(event, event_id="Ev0LOCKED1", retry_num=2) == 200
            acked_while_locked.append(not release.is_set())
            release.set()
            await fake_slack.wait_for_async("chat.postMessage")
            await listeners_done()

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        holder.join()
    assert acked_while_locked == [True, True]
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    # the claim finished in the background once the lock was gone (asyncio.run waits for
    # its worker threads), so another replica would refuse a later retry
    engine = make_engine(store_url)
    try:
        assert claimed_event_ids(engine) == ["Ev0LOCKED1"]
    finally:
        engine.dispose()


def test_a_question_acked_by_a_bot_that_died_is_answered_once_after_the_restart(
    tmp_path, db_url, fake_slack
):
    """The first bot claimed and acked the question, then died before answering: its claim
    still holds the question. The next bot to start answers it; a second pass (or replica)
    does not answer it again, and an answered question is never picked up."""
    engine = make_engine(db_url)
    upgrade(engine)
    seed_book(engine)
    url = url_of(engine)
    asked = event_envelope(
        dm_event("UMARIA", "which of my accounts are slipping?"), event_id="Ev0ORPHAN1"
    )
    answered = event_envelope(dm_event("UMARIA", "hi"), event_id="Ev0DONE001")
    with Session(engine) as session:
        for body, done in ((asked, None), (answered, fixed_clock())):
            session.add(
                ProcessedSlackEvent(
                    event_id=body["event_id"],
                    claimed_by="a-bot-that-died",
                    received_at=fixed_clock() - dt.timedelta(minutes=10),
                    payload=None if done else json.dumps(body),
                    answered_at=done,
                )
            )
        session.commit()

    async def scenario() -> None:
        settings = bot_settings(tmp_path, url, fake_slack)
        async with running_bot(settings, fake_slack) as bot:
            await fake_slack.wait_for_async("chat.postMessage")
            await listeners_done()
            edge = EDGES[bot.slack_app]
            assert await edge.recover_unanswered(bot.slack_app) == 0  # nothing left
        async with running_bot(settings, fake_slack):  # another replica starting later
            await asyncio.sleep(0.5)
            await listeners_done()

    try:
        asyncio.run(scenario())
        [reply] = fake_slack.calls_to("chat.postMessage")
        assert reply.args["channel"] == "DMARIA"
        with Session(engine) as session:
            row = session.get(ProcessedSlackEvent, "Ev0ORPHAN1")
            assert row is not None
            assert row.answered_at is not None and row.payload is None and row.attempts == 1
    finally:
        engine.dispose()


def test_an_answered_question_no_longer_keeps_its_text(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            event = dm_event("UMARIA", "which of my accounts are slipping?")
            assert await bot.event(event, event_id="Ev0ANSWER1") == 200
            await fake_slack.wait_for_async("chat.postMessage")
            await listeners_done()

    asyncio.run(scenario())
    engine = make_engine(store_url)
    try:
        with Session(engine) as session:
            row = session.get(ProcessedSlackEvent, "Ev0ANSWER1")
            assert row is not None and row.answered_at is not None and row.payload is None
    finally:
        engine.dispose()


def test_unexpected_slack_error_is_logged_and_the_user_told_in_words(
    tmp_path, store_url, fake_slack, caplog
):
    fake_slack.fail("chat.postMessage", "channel_not_found")

    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.event(dm_event("UMARIA", "which of my accounts are slipping?"))
            await fake_slack.wait_for_async("chat.postEphemeral")

    with caplog.at_level("ERROR", logger="bot.slack.errors"):
        asyncio.run(scenario())
    [told] = fake_slack.calls_to("chat.postEphemeral")
    assert (told.args["channel"], told.args["user"]) == ("DMARIA", "UMARIA")
    assert told.args["text"] == messages.SLACK_UNEXPECTED
    assert "thread_ts" not in told.args
    [record] = [r for r in caplog.records if r.name == "bot.slack.errors"]
    assert record.getMessage() == "SlackApiError while handling a Slack event_callback/message"
    assert record.exc_info is not None
