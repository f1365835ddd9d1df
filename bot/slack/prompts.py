"""Live coaching prompts in Slack: ephemeral in the channel the call was started from,
else in the rep's DM with the bot (opened once per rep)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.live import PromptTarget
from bot.slack.delivery import open_dm, send
from bot.slack.edge import channel_kind
from bot.slack.render import message_kwargs
from render.coaching import live_prompt

log = logging.getLogger(__name__)

CHANNEL_GONE = frozenset(
    {"user_not_in_channel", "channel_not_found", "not_in_channel", "is_archived"}
)
"""Ephemeral posting errors after which the prompt goes to the rep's DM instead."""


class SlackPromptSender:
    """A :class:`bot.live.PromptSink` that posts with the bot's Web API client."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._dm_channels: dict[str, str] = {}

    async def _dm(self, user_id: str) -> str:
        channel = self._dm_channels.get(user_id)
        if channel is None:
            channel = await open_dm(self.client, user_id)
            self._dm_channels[user_id] = channel
        return channel

    async def send(self, target: PromptTarget, prompt: dict[str, Any]) -> None:
        kwargs = message_kwargs(live_prompt(prompt))
        channel = target.slack_channel_id
        try:
            if channel and channel_kind(channel) == "channel":
                try:
                    await send(
                        self.client.chat_postEphemeral,
                        channel=channel,
                        user=target.slack_user_id,
                        **kwargs,
                    )
                    return
                except SlackApiError as exc:
                    if exc.response.get("error") not in CHANNEL_GONE:
                        raise
                    channel = None  # the rep left the channel (or it is gone): DM instead
            dm = channel or await self._dm(target.slack_user_id)
            await send(self.client.chat_postMessage, channel=dm, **kwargs)
        except SlackApiError as exc:
            log.warning(
                "live prompt for call %s not posted: %s",
                prompt.get("call_id"),
                exc.response.get("error"),
            )
        except (TimeoutError, SlackRequestError, ClientError) as exc:
            log.warning(
                "live prompt for call %s not posted: %s", prompt.get("call_id"), type(exc).__name__
            )
