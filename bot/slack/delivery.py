"""Putting answers into Slack: where (a :class:`Place`), how (post, ephemeral, update),
and the "Working on it…" status for slow answers.

Used by the listeners and reusable by anything that posts on its own (digests,
coaching prompts): :func:`post_answers`, :func:`open_dm`, :func:`upload_png`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot import messages
from bot.conversation import Asker
from bot.digests import attach_charts
from bot.slack.edge import SlackEdge
from bot.slack.render import message_kwargs
from render import Answer
from render import blocks as bk

log = logging.getLogger(__name__)

NOTICE = "notice"
"""Kind of the bot's own short answers (not linked, store down)."""
BLOCK_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long"})
"""Slack errors after which the same message is sent again as plain text."""


@dataclass(frozen=True)
class Place:
    """Where a conversation happens in Slack."""

    channel_id: str
    user_id: str
    """The person asking: ephemeral answers are shown to them only."""
    thread_ts: str | None = None
    shared: bool = False
    """Others can read the channel: answers flagged ephemeral go to the asker only."""


async def send(
    method: Callable[..., Awaitable[AsyncSlackResponse]], **kwargs: Any
) -> AsyncSlackResponse:
    """Call a chat method; when Slack rejects the blocks, send the plain text instead."""
    try:
        return await method(**kwargs)
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error not in BLOCK_ERRORS or "blocks" not in kwargs:
            raise
        log.warning("Slack rejected blocks (%s); sending plain text instead", error)
        return await method(**{k: v for k, v in kwargs.items() if k != "blocks"})


def with_private_note(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Message arguments that also say why only the asker sees the message."""
    blocks = kwargs.get("blocks")
    note = messages.SLACK_PRIVATE_NOTE
    if blocks:
        return {**kwargs, "blocks": bk.fit_blocks([*blocks, bk.context(note)])}
    return {**kwargs, "text": f"{kwargs['text']}\n{note}"}


async def post_answer(
    client: AsyncWebClient, place: Place, answer: Answer, *, replace_ts: str | None = None
) -> str | None:
    """Post one answer at ``place`` (or replace the message ``replace_ts``); returns the
    message ts, or None for an ephemeral message (those cannot be edited later)."""
    kwargs = message_kwargs(answer)
    if place.thread_ts:
        kwargs["thread_ts"] = place.thread_ts
    if place.shared and answer.ephemeral:
        if answer.kind != NOTICE:
            kwargs = with_private_note(kwargs)
        await send(
            client.chat_postEphemeral, channel=place.channel_id, user=place.user_id, **kwargs
        )
        return None
    if replace_ts is not None:
        kwargs.pop("thread_ts", None)
        await send(client.chat_update, channel=place.channel_id, ts=replace_ts, **kwargs)
        return replace_ts
    response = await send(client.chat_postMessage, channel=place.channel_id, **kwargs)
    return str(response.get("ts") or "") or None


async def post_answers(
    client: AsyncWebClient,
    place: Place,
    answers: Sequence[Answer],
    *,
    placeholder_ts: str | None = None,
) -> None:
    """Post ``answers`` in order; the first one replaces the placeholder when there is one
    (placeholders exist only where nothing goes ephemeral: DMs)."""
    for i, answer in enumerate(answers):
        ts = await post_answer(client, place, answer, replace_ts=placeholder_ts if i == 0 else None)
        if ts is not None:  # a digest's charts follow it (ephemeral answers get none)
            await attach_charts(
                client, channel_id=place.channel_id, answer=answer, thread_ts=place.thread_ts
            )


async def post_status(client: AsyncWebClient, place: Place) -> str | None:
    """Show "Working on it…": a message that the answer will replace, or in a shared
    channel a note only the asker sees. Returns the ts of a message to replace."""
    kwargs: dict[str, Any] = {"text": messages.WORKING}
    if place.thread_ts:
        kwargs["thread_ts"] = place.thread_ts
    try:
        if place.shared:
            await client.chat_postEphemeral(channel=place.channel_id, user=place.user_id, **kwargs)
            return None
        response = await client.chat_postMessage(channel=place.channel_id, **kwargs)
    except SlackApiError as exc:
        log.warning("could not post the working status: %s", exc.response.get("error"))
        return None
    return str(response.get("ts") or "") or None


async def answers_with_status(
    edge: SlackEdge, asker: Asker, text: str, show_status: Callable[[], Awaitable[Any]]
) -> tuple[list[Answer], Any]:
    """Ask the assistant; if it has not answered within ``edge.working_after_seconds``,
    call ``show_status`` once (its result is returned beside the answers)."""
    task = asyncio.ensure_future(edge.assistant.ask(asker, text))
    done, _ = await asyncio.wait({task}, timeout=edge.working_after_seconds)
    status = None
    if not done:
        try:
            status = await show_status()
        except BaseException:
            task.cancel()
            raise
    return await task, status


async def answer_question(
    edge: SlackEdge, client: AsyncWebClient, place: Place, asker: Asker, text: str
) -> None:
    """The whole round trip for a question asked at ``place``."""

    async def show_status() -> str | None:
        return await post_status(client, place)

    answers, placeholder_ts = await answers_with_status(edge, asker, text, show_status)
    answers = answers or [Answer(kind="message", text=messages.NO_REPLY)]
    await post_answers(client, place, answers, placeholder_ts=placeholder_ts)


async def post_notice(client: AsyncWebClient, place: Place, text: str) -> None:
    """A short message from the bot itself (not linked, store down): ephemeral in a
    shared channel, a normal message in a DM."""
    await post_answer(client, place, Answer(kind=NOTICE, text=text, ephemeral=True))


async def open_dm(client: AsyncWebClient, user_id: str) -> str:
    """The id of the bot's DM channel with ``user_id``."""
    response = await client.conversations_open(users=user_id)
    return str(response["channel"]["id"])


async def upload_png(
    client: AsyncWebClient,
    *,
    channel_id: str,
    png: bytes,
    filename: str,
    title: str,
    thread_ts: str | None = None,
    comment: str | None = None,
) -> str:
    """Upload a chart with ``files_upload_v2``; returns the Slack file id."""
    kwargs: dict[str, Any] = {
        "channel": channel_id,
        "file": png,
        "filename": filename,
        "title": title,
    }
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    if comment:
        kwargs["initial_comment"] = comment
    response = await client.files_upload_v2(**kwargs)
    file = response.get("file") or {}
    return str(file.get("id") or "")
