"""Events: direct messages, @mentions in channels, the App Home tab being opened.

Events are acknowledged by bolt before these run; each event id is answered once
(see :mod:`bot.slack.middleware`).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot import home, messages
from bot.slack.edge import EVENT_ID_KEY, edge_of
from bot.slack.questions import ask_at, place_for
from bot.slack.render import home_view, unescape_mrkdwn
from store.crud import UnknownRecordError
from store.db import StoreUnavailableError

ANSWERED_SUBTYPES = (None, "thread_broadcast")
"""Message subtypes that are someone typing to the bot (edits, joins, files are not)."""
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def question_text(text: str, bot_user_id: str | None) -> str:
    """``text`` without the mentions of the bot itself, as the user typed it (Slack sends
    ``&``, ``<`` and ``>`` as entities)."""

    def strip(match: re.Match[str]) -> str:
        return "" if match.group(1) == bot_user_id else match.group(0)

    return unescape_mrkdwn(" ".join(MENTION.sub(strip, text or "").split()))


async def is_direct_message(event: dict[str, Any]) -> bool:
    return (
        event.get("channel_type") == "im"
        and event.get("subtype") in ANSWERED_SUBTYPES
        and not event.get("bot_id")
        and bool(event.get("user"))
    )


async def answer_direct_message(
    event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """A DM to the bot: answered in the DM (in the thread when asked in one)."""
    place = place_for(event["channel"], event["user"], event.get("thread_ts"))
    text = question_text(event.get("text") or "", context.bot_user_id)
    try:
        await ask_at(edge_of(context), client, place, event["user"], text)
    finally:
        await edge_of(context).mark_answered(context.get(EVENT_ID_KEY))


async def answer_mention(
    event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """@salesbot in a channel: answered in a thread under the question; answers with
    account data are shown to the asker only."""
    channel = str(event.get("channel") or "")
    if channel.startswith("D") or not event.get("user") or event.get("bot_id"):
        return  # a DM is answered by answer_direct_message
    place = place_for(channel, event["user"], event.get("thread_ts") or event.get("ts"))
    text = question_text(event.get("text") or "", context.bot_user_id)
    try:
        await ask_at(edge_of(context), client, place, event["user"], text)
    finally:
        await edge_of(context).mark_answered(context.get(EVENT_ID_KEY))


async def publish_home(user_id: str, client: AsyncWebClient, context: AsyncBoltContext) -> None:
    """Render and publish the Home tab for ``user_id``."""
    edge = edge_of(context)
    try:
        rep = await edge.resolve_rep(client, user_id)
        if rep is None:
            blocks = home.notice_blocks(messages.HOME_NOT_LINKED)
        else:
            data = await asyncio.to_thread(
                home.load_home, edge.runtime.engine, rep_id=rep.rep_id, today=edge.today_for(rep)
            )
            blocks = home.home_blocks(data)
    except StoreUnavailableError:
        blocks = home.notice_blocks(messages.HOME_STORE_DOWN)
    except UnknownRecordError:
        blocks = home.notice_blocks(messages.HOME_NOT_LINKED)
    await client.views_publish(user_id=user_id, view=home_view(blocks))


async def home_opened(
    event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    if event.get("tab", "home") != "home":
        return
    await publish_home(str(event["user"]), client, context)


def register(app: AsyncApp) -> None:
    app.event("message", matchers=[is_direct_message])(answer_direct_message)
    app.event("app_mention")(answer_mention)
    app.event("app_home_opened")(home_opened)
