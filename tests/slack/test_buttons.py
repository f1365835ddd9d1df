"""Clicks on answer and Home buttons: activities in the store, messages settled."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot import messages
from render import accounts as render_accounts
from render import blocks as bk
from store.db import make_engine
from store.migrate import upgrade
from store.models import Activity
from tests.slack.conftest import Book, seed_book, url_of
from tests.slack.harness import block_actions, bot_settings, listeners_done, running_bot

THREAD_TS = "1772463700.000300"


def alert_message(account_id: int, name: str) -> dict:
    """A threaded slipping answer for one account, as the actions render it."""
    answer = render_accounts.slipping(
        accounts=[
            {
                "account_id": account_id,
                "name": name,
                "status": "slipping",
                "revenue_at_risk": 12_000.0,
                "reason": "orders every 30 days; none for 75 days",
            }
        ],
        categories=[],
        total_flagged=1,
        total_revenue_at_risk=12_000.0,
        accounts_in_book=2,
        scope_label="your book",
        scope_rep_ids=None,
        as_of=dt.date(2026, 3, 1),
    )
    return {
        "type": "message",
        "ts": "1772463750.000400",
        "thread_ts": THREAD_TS,
        "text": answer.text,
        "blocks": answer.blocks,
    }


def element(message: dict, prefix: str) -> dict:
    for block in message["blocks"]:
        for e in block.get("elements", []):
            if e["action_id"].startswith(prefix):
                return {**e, "block_id": block["block_id"]}
    raise LookupError(prefix)


def activities(engine: Engine) -> list[Activity]:
    with Session(engine) as s:
        return list(s.exec(select(Activity).order_by(Activity.id)).all())


def test_mark_contacted_writes_one_activity_per_click_and_settles_the_message(
    tmp_path, db_url, fake_slack
):
    engine = make_engine(db_url)
    upgrade(engine)
    book = seed_book(engine)
    message = alert_message(book.acme_id, "Acme Corp")
    click = block_actions(user="UMARIA", action=element(message, "sb_contacted"), message=message)

    async def scenario() -> None:
        async with running_bot(
            bot_settings(tmp_path, url_of(engine), fake_slack), fake_slack
        ) as bot:
            status, _ = await bot.interaction(click)
            assert status == 200
            await fake_slack.wait_for_async("chat.update")
            await bot.interaction(click)  # the same click delivered again
            await fake_slack.wait_for_async("chat.update", count=2)

    try:
        asyncio.run(scenario())
        [activity] = activities(engine)
        assert activity.kind == "contacted"
        assert (activity.rep_id, activity.account_id) == (book.maria_id, book.acme_id)
        assert activity.external_id == "slack:contacted:UMARIA:1772463800.123456"
        assert activity.origin == "slack"
    finally:
        engine.dispose()
    update = fake_slack.calls_to("chat.update")[0]
    assert (update.args["channel"], update.args["ts"]) == ("C0SALES", "1772463750.000400")
    kept = [
        e["action_id"]
        for b in update.args["blocks"]
        for e in b.get("elements", [])
        if "action_id" in e
    ]
    assert kept == ["sb_send:0", "sb_send:901"]  # "What to pitch" and "Why these?" stay
    blocks = update.args["blocks"]
    account_row = next(
        i for i, b in enumerate(blocks) if b.get("block_id") == f"account:{book.acme_id}"
    )
    note = blocks[account_row + 1]["elements"][0]["text"]  # the note sits under the account
    assert note == messages.SLACK_CONTACTED_NOTE.format(
        user="<@UMARIA>", account="Acme Corp", date="Mar 2, 2026"
    )
    assert update.args["text"] == message["text"]


def test_snooze_from_home_writes_until_date_and_hides_the_alert(
    tmp_path, store_url, fake_slack, sqlite_engine, book: Book
):
    home_button = {**bk.snooze_button(book.acme_id, 3), "block_id": f"home_alert_{book.acme_id}"}
    click = block_actions(user="UMARIA", action=home_button, in_home=True, channel=None)

    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.interaction(click)
            await fake_slack.wait_for_async("views.publish")

    asyncio.run(scenario())
    [activity] = activities(sqlite_engine)
    assert activity.kind == "snooze"
    assert activity.until_date == dt.date(2026, 3, 16)  # clock: Mar 2, 2026 + 14 days
    [publish] = fake_slack.calls_to("views.publish")
    shown = json.dumps(publish.args["view"]["blocks"], ensure_ascii=False)
    assert "Acme Corp" not in shown.split(messages.HOME_PITCH_TITLE)[0]
    assert messages.HOME_SLIPPING_NONE in shown


def test_button_for_an_account_outside_the_book_records_nothing(
    tmp_path, store_url, fake_slack, sqlite_engine, book: Book
):
    message = alert_message(book.initech_id, "Initech")
    click = block_actions(
        user="UMARIA",
        action=element(message, "sb_contacted"),
        message=message,
        response_url=fake_slack.response_url("click"),
    )

    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.interaction(click)
            await fake_slack.wait_for_async("response_url")

    asyncio.run(scenario())
    assert activities(sqlite_engine) == []
    [reply] = fake_slack.calls_to("response_url")
    assert reply.args["text"] == messages.SLACK_ACCOUNT_NOT_IN_BOOK
    assert reply.args["response_type"] == "ephemeral"
    assert fake_slack.calls_to("chat.update") == []


def test_unlinked_user_clicking_records_nothing(
    tmp_path, store_url, fake_slack, sqlite_engine, book: Book
):
    message = alert_message(book.acme_id, "Acme Corp")
    click = block_actions(
        user="UGUEST",
        action=element(message, "sb_snooze"),
        message=message,
        response_url=fake_slack.response_url("guest"),
    )

    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.interaction(click)
            await fake_slack.wait_for_async("response_url")

    asyncio.run(scenario())
    assert activities(sqlite_engine) == []
    assert fake_slack.calls_to("response_url")[0].args["text"] == messages.NOT_LINKED


def test_click_on_an_ephemeral_answer_is_acknowledged_to_the_clicker(
    tmp_path, store_url, fake_slack, sqlite_engine, book: Book
):
    message = alert_message(book.acme_id, "Acme Corp")
    click = block_actions(
        user="UMARIA",
        action=element(message, "sb_contacted"),
        message=message,
        ephemeral=True,
        response_url=fake_slack.response_url("ephemeral"),
    )

    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.interaction(click)
            await fake_slack.wait_for_async("response_url")

    asyncio.run(scenario())
    assert [a.kind for a in activities(sqlite_engine)] == ["contacted"]
    [reply] = fake_slack.calls_to("response_url")
    assert reply.args["response_type"] == "ephemeral"
    assert "marked *Acme Corp* as contacted" in reply.args["text"]
    assert fake_slack.calls_to("chat.update") == []


def test_send_button_asks_as_the_user_in_the_same_thread(
    tmp_path, store_url, fake_slack, book: Book
):
    message = alert_message(book.acme_id, "Acme Corp")
    click = block_actions(user="UMARIA", action=element(message, "sb_send"), message=message)

    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.interaction(click)
            await fake_slack.wait_for_async("chat.postMessage")

    asyncio.run(scenario())
    [reply] = fake_slack.calls_to("chat.postMessage")
    assert (reply.args["channel"], reply.args["thread_ts"]) == ("C0SALES", THREAD_TS)
    assert reply.args["text"] == messages.RASA_DOWN


def test_send_button_on_home_answers_in_the_dm(tmp_path, store_url, fake_slack, book: Book):
    button = {
        **bk.send_button("What to pitch", "what should I pitch to Acme Corp?", 0),
        "block_id": "h",
    }
    click = block_actions(user="UMARIA", action=button, in_home=True, channel=None)

    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.interaction(click)
            await fake_slack.wait_for_async("chat.postMessage")
            await listeners_done()

    asyncio.run(scenario())
    assert fake_slack.calls_to("conversations.open")[0].args["users"] == "UMARIA"
    [reply] = fake_slack.calls_to("chat.postMessage")
    assert reply.args["channel"] == "DMARIA"
    assert "thread_ts" not in reply.args
