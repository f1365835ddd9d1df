"""``/sales`` and the App Home tab, through signed requests into the real bolt app."""

from __future__ import annotations

import asyncio
import json

from bot import messages
from tests.slack.conftest import Book
from tests.slack.harness import bot_settings, listeners_done, running_bot


def texts(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def buttons(blocks: list[dict]) -> list[tuple[str, dict]]:
    """(action_id prefix, value) of every button in ``blocks``."""
    found = []
    for block in blocks:
        elements = block.get("elements", []) if block["type"] == "actions" else []
        if block.get("accessory"):
            elements = [*elements, block["accessory"]]
        for element in elements:
            found.append((element["action_id"].split(":")[0], json.loads(element["value"])))
    return found


def test_sales_help_is_acknowledged_and_answered_only_to_the_user(tmp_path, store_url, fake_slack):
    response_url = fake_slack.response_url("help")

    async def scenario() -> tuple[int, str]:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            ack = await bot.command("help", user="UMARIA", response_url=response_url)
            await fake_slack.wait_for_async("response_url")
            return ack

    status, body = asyncio.run(scenario())
    assert (status, body) == (200, "")
    [reply] = fake_slack.calls_to("response_url")
    assert reply.path == "/response/help"
    assert reply.args["text"] == messages.SLACK_HELP
    assert reply.args["response_type"] == "ephemeral"
    assert fake_slack.calls_to("chat.postMessage") == []


def test_sales_without_words_shows_help_and_pitch_without_account_asks_which(
    tmp_path, store_url, fake_slack
):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.command("", user="UMARIA")
            await fake_slack.wait_for_async("response_url")
            await bot.command("pitch", user="UMARIA")
            await fake_slack.wait_for_async("response_url", count=2)

    asyncio.run(scenario())
    first, second = fake_slack.calls_to("response_url")
    assert first.args["text"] == messages.SLACK_HELP
    assert second.args["text"] == messages.SLACK_PITCH_NEEDS_ACCOUNT


def test_sales_slipping_with_rasa_down_is_a_friendly_ephemeral_reply(
    tmp_path, store_url, fake_slack
):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            status, _ = await bot.command("slipping", user="UMARIA")
            assert status == 200
            await fake_slack.wait_for_async("response_url")

    asyncio.run(scenario())
    [reply] = fake_slack.calls_to("response_url")
    assert reply.args["text"] == messages.RASA_DOWN
    assert reply.args["response_type"] == "ephemeral"


def test_sales_by_an_unlinked_user_says_so(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.command("pitch Acme Corp", user="UGUEST")
            await fake_slack.wait_for_async("response_url")

    asyncio.run(scenario())
    [reply] = fake_slack.calls_to("response_url")
    assert reply.args["text"] == messages.NOT_LINKED
    assert "blocks" not in reply.args or not reply.args["blocks"]


def test_sales_slow_answer_says_working_first(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        settings = bot_settings(tmp_path, store_url, fake_slack)
        async with running_bot(settings, fake_slack, working_after_seconds=0) as bot:
            await bot.command("slipping", user="UMARIA")
            await fake_slack.wait_for_async("response_url", count=2)

    asyncio.run(scenario())
    assert [c.args["text"] for c in fake_slack.calls_to("response_url")] == [
        messages.WORKING,
        messages.RASA_DOWN,
    ]


def test_app_home_shows_the_reps_own_book(tmp_path, store_url, fake_slack, book: Book):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            event = {
                "type": "app_home_opened",
                "user": "UMARIA",
                "channel": "DMARIA",
                "tab": "home",
            }
            assert await bot.event(event) == 200
            await fake_slack.wait_for_async("views.publish")

    asyncio.run(scenario())
    [publish] = fake_slack.calls_to("views.publish")
    assert publish.args["user_id"] == "UMARIA"
    view = publish.args["view"]
    assert view["type"] == "home"
    shown = texts(view["blocks"])
    # Maria's slipping account with its revenue at risk and reason, and her buttons for it.
    assert "*Acme Corp* · slipping · $12k a year at risk · last order 75 days ago" in shown
    assert "orders every 30 days; none for 75 days" in shown
    assert ("sb_contacted", {"account_id": book.acme_id}) in buttons(view["blocks"])
    assert ("sb_snooze", {"account_id": book.acme_id, "days": 14}) in buttons(view["blocks"])
    # Her best pitch (Globex, Dairy / Gorgonzola Telino, $5.4k).
    assert "*Globex*: Dairy (Gorgonzola Telino) · $5.4k expected" in shown
    # Her pipeline: 2 open deals worth $30k; 1 closes in Q1 2026 ($10k); none past due.
    assert "*Open*\\n2 deals · $30k" in shown
    assert "*Closing in Q1 2026*\\n1 deal · $10k" in shown
    assert "By stage: Negotiation: 1 ($20k) · Prospecting: 1 ($10k)" in shown
    assert "*Past their close date*\\n0 deals · $0" in shown
    # Nothing of Tom's book.
    assert "Initech" not in shown and "Beverages" not in shown and "$50k" not in shown
    assert "Scores as of Mar 1, 2026" in shown


def test_app_home_for_an_unlinked_user_shows_no_data(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.event(
                {"type": "app_home_opened", "user": "UGUEST", "channel": "DGUEST", "tab": "home"}
            )
            await fake_slack.wait_for_async("views.publish")

    asyncio.run(scenario())
    [publish] = fake_slack.calls_to("views.publish")
    shown = texts(publish.args["view"]["blocks"])
    assert messages.HOME_NOT_LINKED in shown
    assert "Acme" not in shown and "Initech" not in shown


def test_opening_the_messages_tab_publishes_nothing(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.event(
                {
                    "type": "app_home_opened",
                    "user": "UMARIA",
                    "channel": "DMARIA",
                    "tab": "messages",
                }
            )
            await listeners_done()

    asyncio.run(scenario())
    assert fake_slack.calls_to("views.publish") == []
