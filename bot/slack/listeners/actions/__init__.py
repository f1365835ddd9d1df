"""Buttons on answers and on the Home tab (conventions in :mod:`render.blocks`).

- ``sb_send:<n>``: ask the assistant ``value.payload`` as the clicking user; the answer
  goes to the same thread (from the Home tab: to the DM with the bot).
- ``sb_contacted:<n>``: an activity ``contacted`` on ``value.account_id``.
- ``sb_snooze:<n>``: an activity ``snooze`` until ``value.days`` days from today.

Each click is acknowledged at once; the work happens after the ack. Activities are
keyed by the click (``action_ts``), so a click delivered twice writes one row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.assistant import RepRef
from bot.slack.activities import AccountNotInBookError, record_alert_click
from bot.slack.delivery import open_dm
from bot.slack.edge import SlackEdge, channel_kind, edge_of
from bot.slack.listeners.events import publish_home
from bot.slack.questions import ask_at, place_for
from bot.slack.render import button_value, escape_mrkdwn, settle_alert
from render import blocks as bk
from render import fmt
from store.db import StoreUnavailableError
from store.models import ActivityKind

log = logging.getLogger(__name__)

EPHEMERAL = "ephemeral"
MAX_SNOOZE_DAYS = 365


class ButtonValueError(ValueError):
    """A button's value is not what its action_id promises."""


def action_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}:\d+$")


@dataclass(frozen=True)
class Click:
    """Where a button was clicked, from an interaction payload."""

    user_id: str
    channel_id: str | None
    message_ts: str | None
    thread_ts: str | None
    in_home: bool
    ephemeral: bool
    message: dict[str, Any] | None

    @classmethod
    def of(cls, body: dict[str, Any]) -> Click:
        container = body.get("container") or {}
        message = body.get("message")
        channel_id = (body.get("channel") or {}).get("id") or container.get("channel_id")
        return cls(
            user_id=str((body.get("user") or {}).get("id")),
            channel_id=str(channel_id) if channel_id else None,
            message_ts=(message or {}).get("ts") or container.get("message_ts"),
            thread_ts=(message or {}).get("thread_ts") or container.get("thread_ts"),
            in_home=container.get("type") == "view",
            ephemeral=bool(container.get("is_ephemeral")),
            message=message if isinstance(message, dict) else None,
        )


async def _say_to_clicker(
    click: Click,
    client: AsyncWebClient,
    respond: AsyncRespond,
    context: AsyncBoltContext,
    text: str,
) -> None:
    """A short note only the clicking user sees."""
    if context.response_url:
        await respond(text=text, response_type=EPHEMERAL, replace_original=False)
        return
    channel = await open_dm(client, click.user_id)
    await client.chat_postMessage(channel=channel, text=text)


# --------------------------------------------------------------------- sb_send


async def send_as_user(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    await ack()
    click = Click.of(body)
    payload = str(button_value(action).get("payload") or "").strip()
    if not payload:
        await _say_to_clicker(click, client, respond, context, messages.SLACK_BUTTON_EXPIRED)
        return
    if click.in_home or click.channel_id is None:
        place = place_for(await open_dm(client, click.user_id), click.user_id)
    else:
        shared = channel_kind(click.channel_id) == "channel"
        thread_ts = click.thread_ts or (click.message_ts if shared else None)
        place = place_for(click.channel_id, click.user_id, thread_ts)
    await ask_at(edge_of(context), client, place, click.user_id, payload)


# ------------------------------------------------------------ contacted / snooze


def _account_id(action: dict[str, Any]) -> int:
    value = button_value(action).get("account_id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ButtonValueError(f"{action.get('action_id')} carries no account id")
    return value


def _snooze_days(action: dict[str, Any]) -> int:
    days = button_value(action).get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_SNOOZE_DAYS:
        raise ButtonValueError(f"{action.get('action_id')} carries no valid number of days")
    return days


async def _record(
    edge: SlackEdge,
    rep: RepRef,
    click: Click,
    action: dict[str, Any],
    kind: ActivityKind,
    account_id: int,
    until_date: dt.date | None,
    subject: str,
) -> str:
    """Write the activity; returns the account's name."""
    external_id = f"slack:{kind.value}:{click.user_id}:{action.get('action_ts')}"
    recorded = await asyncio.to_thread(
        record_alert_click,
        edge.runtime.engine,
        rep_id=rep.rep_id,
        account_id=account_id,
        kind=kind,
        external_id=external_id,
        subject=subject,
        until_date=until_date,
    )
    return recorded.account_name


async def _settle(
    click: Click,
    account_id: int,
    note: str,
    client: AsyncWebClient,
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    """Show the click's effect where the button was: the Home tab is republished, a
    message loses the account's alert buttons and gains ``note``."""
    if click.in_home:
        await publish_home(click.user_id, client, context)
        return
    message = click.message
    if not message or not message.get("blocks") or not click.channel_id or not click.message_ts:
        await _say_to_clicker(click, client, respond, context, note)
        return
    blocks = settle_alert(list(message["blocks"]), account_id=account_id, note=note)
    text = str(message.get("text") or note)
    if click.ephemeral:
        if context.response_url:
            await respond(text=text, blocks=blocks, response_type=EPHEMERAL, replace_original=True)
        else:
            await _say_to_clicker(click, client, respond, context, note)
        return
    await client.chat_update(
        channel=click.channel_id, ts=click.message_ts, text=text, blocks=blocks
    )


async def _alert_click(
    kind: ActivityKind,
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    await ack()
    edge = edge_of(context)
    click = Click.of(body)
    try:
        account_id = _account_id(action)
        days = _snooze_days(action) if kind is ActivityKind.snooze else None
    except ButtonValueError as exc:
        log.warning("ignoring a click: %s", exc)
        await _say_to_clicker(click, client, respond, context, messages.SLACK_BUTTON_EXPIRED)
        return
    try:
        rep = await edge.resolve_rep(client, click.user_id)
        if rep is None:
            await _say_to_clicker(click, client, respond, context, messages.NOT_LINKED)
            return
        today = edge.today_for(rep)
        if days is not None:
            until = today + dt.timedelta(days=days)
            subject = f"Alerts snoozed in Slack for {fmt.plural(days, 'day')}"
        else:
            until = None
            subject = "Marked contacted in Slack"
        name = await _record(edge, rep, click, action, kind, account_id, until, subject)
    except StoreUnavailableError:
        await _say_to_clicker(click, client, respond, context, messages.STORE_DOWN)
        return
    except AccountNotInBookError:
        await _say_to_clicker(click, client, respond, context, messages.SLACK_ACCOUNT_NOT_IN_BOOK)
        return
    user = f"<@{click.user_id}>"
    name = escape_mrkdwn(name)  # the note is mrkdwn beside the mention: the name stays words
    if until is not None:
        note = messages.SLACK_SNOOZED_NOTE.format(user=user, account=name, until=fmt.date(until))
    else:
        note = messages.SLACK_CONTACTED_NOTE.format(user=user, account=name, date=fmt.date(today))
    await _settle(click, account_id, note, client, respond, context)


async def mark_contacted(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    await _alert_click(ActivityKind.contacted, ack, body, action, client, respond, context)


async def snooze_alerts(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    await _alert_click(ActivityKind.snooze, ack, body, action, client, respond, context)


def register(app: AsyncApp) -> None:
    app.action(action_pattern(bk.ACTION_SEND))(send_as_user)
    app.action(action_pattern(bk.ACTION_CONTACTED))(mark_contacted)
    app.action(action_pattern(bk.ACTION_SNOOZE))(snooze_alerts)
