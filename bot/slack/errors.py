"""The one error handler: log the failure in full, tell the user in plain words."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import ClientError
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages

log = logging.getLogger(__name__)


def describe(body: dict[str, Any]) -> str:
    """What Slack sent, in a few words for the log (no tokens, no message text)."""
    kind = str(body.get("type") or ("slash command" if body.get("command") else "request"))
    event = body.get("event") or {}
    if event:
        kind += f"/{event.get('type')}"
    if body.get("command"):
        kind += f" {body['command']}"
    actions = body.get("actions") or []
    if actions:
        kind += f" {actions[0].get('action_id')}"
    return kind


def register(app: AsyncApp) -> None:
    @app.error
    async def report_error(
        error: Exception, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        log.error(
            "%s while handling a Slack %s", type(error).__name__, describe(body), exc_info=error
        )
        event = body.get("event") or {}
        channel = str(event.get("channel") or "")
        try:
            respond = context.respond if context.response_url else None
            if respond is not None:
                await respond(
                    text=messages.SLACK_UNEXPECTED,
                    response_type="ephemeral",
                    replace_original=False,
                )
            elif event.get("user") and channel:
                in_dm = channel.startswith("D")
                await client.chat_postEphemeral(
                    channel=channel,
                    user=event["user"],
                    text=messages.SLACK_UNEXPECTED,
                    thread_ts=event.get("thread_ts") or (None if in_dm else event.get("ts")),
                )
        except (SlackApiError, SlackRequestError, ClientError) as exc:
            log.warning("could not tell the user about the error: %s", type(exc).__name__)
