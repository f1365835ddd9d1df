"""``/sales``: acknowledged at once, answered through ``respond`` (only the user sees it)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.slack.delivery import answers_with_status
from bot.slack.edge import edge_of
from bot.slack.render import message_kwargs, unescape_mrkdwn
from bot.slack.slash import SLASH_COMMAND, parse_sales_command
from store.db import StoreUnavailableError

EPHEMERAL = "ephemeral"


async def sales_command(
    ack: AsyncAck,
    command: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    await ack()
    request = parse_sales_command(unescape_mrkdwn(str(command.get("text") or "")))
    if request.reply is not None or request.question is None:
        await respond(text=request.reply or messages.SLACK_HELP, response_type=EPHEMERAL)
        return
    user_id = str(command.get("user_id") or "").strip()
    if not user_id:
        # Slack always names the user; a request without one cannot be answered for anyone
        await respond(text=messages.SLACK_NO_USER, response_type=EPHEMERAL)
        return
    edge = edge_of(context)
    try:
        rep = await edge.resolve_rep(client, user_id)
    except StoreUnavailableError:
        await respond(text=messages.STORE_DOWN, response_type=EPHEMERAL)
        return
    if rep is None:
        await respond(text=messages.NOT_LINKED, response_type=EPHEMERAL)
        return
    asker = edge.asker(rep, user_id, command.get("channel_id"))

    async def show_status() -> None:
        await respond(text=messages.WORKING, response_type=EPHEMERAL)

    answers, _ = await answers_with_status(edge, asker, request.question, show_status)
    for answer in answers:
        await respond(**message_kwargs(answer), response_type=EPHEMERAL)


def register(app: AsyncApp) -> None:
    app.command(SLASH_COMMAND)(sales_command)
