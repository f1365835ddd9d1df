"""A question asked somewhere in Slack, answered there: identity first, then the assistant."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.assistant import RepRef
from bot.slack.delivery import Place, answer_question, post_notice
from bot.slack.edge import SlackEdge, channel_kind
from store.db import StoreUnavailableError


def place_for(channel_id: str, user_id: str, thread_ts: str | None = None) -> Place:
    return Place(
        channel_id=channel_id,
        user_id=user_id,
        thread_ts=thread_ts,
        shared=channel_kind(channel_id) == "channel",
    )


async def rep_or_notice(
    edge: SlackEdge, client: AsyncWebClient, place: Place, slack_user_id: str
) -> RepRef | None:
    """The asker's rep; when there is none (or the store is down) the user is told so at
    ``place`` and None is returned."""
    try:
        rep = await edge.resolve_rep(client, slack_user_id)
    except StoreUnavailableError:
        await post_notice(client, place, messages.STORE_DOWN)
        return None
    if rep is None:
        await post_notice(client, place, messages.NOT_LINKED)
    return rep


async def ask_at(
    edge: SlackEdge, client: AsyncWebClient, place: Place, slack_user_id: str, text: str
) -> None:
    """Answer ``text`` from ``slack_user_id`` at ``place`` (one reply per answer)."""
    rep = await rep_or_notice(edge, client, place, slack_user_id)
    if rep is None:
        return
    asker = edge.asker(rep, slack_user_id, place.channel_id)
    await answer_question(edge, client, place, asker, text)
