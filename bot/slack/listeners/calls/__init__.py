"""Call coaching in Slack.

* A transcript file shared in a DM with the bot, or in the call-review channel
  (``SALESBOT_CALL_REVIEW_CHANNEL``), gets a review in the file message's thread:
  flags by category with quotes and timestamps, the call's metrics and what to do next.
  The call is stored with its flags (the digests' coaching themes). In the shared
  channel the review carries no account numbers (spend, revenue at risk).
* ``/sales coach`` answers (only to the user) with the review of their last stored call,
  or, when there is none, how to get one; ``/sales coach live [account]`` with a
  live-coaching URL and token for one call (see :mod:`bot.live`); ``/sales coach help``
  explains coaching.
* ``/sales tracker add <category> "<phrase>" [prompt]`` (managers and admins) stores a
  tracker that the next reviews and live calls use; ``/sales tracker list`` lists them.

``/sales coach <account>`` stays a question for the assistant (``review_call``: the
account is resolved in the rep's book, with a clarifying question when ambiguous).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from analytics.coaching import MAX_TRANSCRIPT_BYTES, TrackerConfigError, custom_tracker
from analytics.coaching.transcripts import TranscriptError, decode_transcript, parse_transcript
from bot import messages
from bot.assistant import RepRef
from bot.coaching import CallOwner
from bot.live import (
    LiveGrant,
    live_url,
    mint_live_token,
    new_call_id,
    token_lifetime,
)
from bot.runtime import identity_secret
from bot.slack.delivery import NOTICE, post_answer
from bot.slack.edge import SlackEdge, channel_kind, edge_of
from bot.slack.files import (
    FileDownloadError,
    FileTooLargeError,
    RecordingFileError,
    download_shared_file,
)
from bot.slack.questions import place_for, rep_or_notice
from bot.slack.render import message_kwargs
from bot.slack.slash import SLASH_COMMAND
from render import Answer
from render.coaching import call_review
from store import calls
from store.db import StoreUnavailableError, session_scope

log = logging.getLogger(__name__)

EPHEMERAL = "ephemeral"
MAX_FILES_PER_MESSAGE = 5
COACH_TOOLS = ("live", "help")
MANAGER_ROLES = ("manager", "admin")
SIDES = ("rep", "customer", "any")
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"'})
_TRACKER_ADD = re.compile(r'^add\s+(\S+)\s+(?:"([^"]*)"|(\S+))\s*(.*)$', re.IGNORECASE | re.DOTALL)
_SIDE = re.compile(r"(?:^|\s)--side[=\s]+(\w+)", re.IGNORECASE)
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


# ------------------------------------------------------------------ shared files


async def is_transcript_share(event: dict[str, Any], context: AsyncBoltContext) -> bool:
    """A person shared files in a DM with the bot or in the call-review channel."""
    if event.get("bot_id") or not event.get("user"):
        return False
    if not event.get("files") or event.get("subtype") not in ("file_share", None):
        return False
    if event.get("channel_type") == "im":
        return True
    review_channel = edge_of(context).runtime.settings.call_review_channel
    return bool(review_channel) and event.get("channel") == review_channel


def _notice(text: str) -> Answer:
    return Answer(kind=NOTICE, text=text, ephemeral=True)


async def review_file(
    edge: SlackEdge, client: AsyncWebClient, rep: RepRef, file_id: str, *, shared: bool
) -> Answer:
    """The review of one shared file, or a notice saying why there is none."""
    name = file_id
    try:
        shared_file = await download_shared_file(client, file_id, max_bytes=MAX_TRANSCRIPT_BYTES)
        name = shared_file.name
        text = decode_transcript(shared_file.content, name=name)
        transcript = parse_transcript(text, name=name)
        reviewed = await asyncio.to_thread(
            edge.runtime.coaching.review_and_store,
            transcript,
            owner=CallOwner(rep_id=rep.rep_id, name=rep.name),
            external_id=transcript.call_id or f"slack-{file_id}",
            source="slack",
            today=edge.today_for(rep),
            file_name=name,
            with_account_context=not shared,
        )
    except RecordingFileError as exc:
        return _notice(messages.COACH_FILE_RECORDING.format(name=exc.name))
    except FileTooLargeError as exc:
        return _notice(
            messages.COACH_FILE_TOO_LARGE.format(
                name=exc.name, size=exc.size / 1_048_576, limit=exc.limit / 1_048_576
            )
        )
    except FileDownloadError as exc:
        log.warning("could not download Slack file %s: %s", file_id, exc)
        return _notice(messages.COACH_FILE_DOWNLOAD_FAILED.format(name=exc.name))
    except TranscriptError as exc:
        return _notice(messages.COACH_FILE_UNREADABLE.format(name=name, problem=str(exc)))
    except StoreUnavailableError:
        return _notice(messages.STORE_DOWN)
    log.info(
        "reviewed %s for rep %s: call %s, %d flags",
        name,
        rep.rep_id,
        reviewed.call_id,
        len(reviewed.review.flags),
    )
    return call_review(reviewed.data)


async def review_shared_files(
    event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Each transcript in the message gets its review in the message's thread."""
    edge = edge_of(context)
    user = str(event["user"])
    place = place_for(str(event["channel"]), user, event.get("thread_ts") or event.get("ts"))
    rep = await rep_or_notice(edge, client, place, user)
    if rep is None:
        return
    for shared in [f for f in event.get("files") or [] if f.get("id")][:MAX_FILES_PER_MESSAGE]:
        answer = await review_file(edge, client, rep, str(shared["id"]), shared=place.shared)
        await post_answer(client, place, answer)


# ------------------------------------------------------------------ /sales tools


async def is_coaching_tool(command: dict[str, Any]) -> bool:
    """``/sales tracker ...``, ``/sales coach``, ``/sales coach live ...``, ``/sales coach help``."""
    words = str(command.get("text") or "").lower().split()
    if not words:
        return False
    if words[0] == "tracker":
        return True
    return words[0] == "coach" and (len(words) == 1 or words[1] in COACH_TOOLS)


@dataclass(frozen=True)
class TrackerRequest:
    category: str
    phrase: str
    prompt: str
    side: str


def parse_tracker_add(text: str) -> TrackerRequest | str:
    """``add <category> "<phrase>" [prompt] [--side rep|customer|any]`` -> the request,
    or a sentence saying what is wrong."""
    match = _TRACKER_ADD.match(" ".join(text.translate(_QUOTES).split()))
    if match is None:
        return messages.TRACKER_USAGE
    category = match.group(1).lower()
    phrase = " ".join((match.group(2) if match.group(2) is not None else match.group(3)).split())
    rest = match.group(4)
    side = "customer"
    side_match = _SIDE.search(rest)
    if side_match is not None:
        side = side_match.group(1).lower()
        rest = (rest[: side_match.start()] + " " + rest[side_match.end() :]).strip()
    if not _CATEGORY.match(category):
        return messages.TRACKER_INVALID.format(
            problem=f"the category {category!r} must be a word in snake_case, like pricing"
        )
    if side not in SIDES:
        return messages.TRACKER_INVALID.format(problem="--side must be rep, customer or any")
    if not phrase:
        return messages.TRACKER_INVALID.format(problem="the phrase is empty")
    prompt = " ".join(rest.split()) or messages.TRACKER_DEFAULT_PROMPT
    return TrackerRequest(category=category, phrase=phrase, prompt=prompt, side=side)


def tracker_name(category: str, phrase: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", phrase.casefold()).strip("-")[:80] or "phrase"
    return f"{category}-{slug}"


def _add_tracker_sync(edge: SlackEdge, rep: RepRef, request: TrackerRequest) -> tuple[str, str]:
    """Validate (compile with the current trackers) and store; returns (verb, prompt)."""
    spec = custom_tracker(
        name=tracker_name(request.category, request.phrase),
        category=request.category,
        phrases=[request.phrase],
        side=request.side,
        prompt=request.prompt,
    )
    coaching = edge.runtime.coaching
    coaching.check_tracker(spec)
    with session_scope(edge.runtime.engine) as session:
        existed = any(row["name"] == spec.name for row in calls.custom_tracker_rows(session))
        calls.add_custom_tracker(
            session,
            name=spec.name,
            category=spec.category,
            phrases=list(spec.phrases),
            side=spec.side,
            prompt=spec.prompt,
            created_by_rep_id=rep.rep_id,
            replace=True,
        )
    return ("updated" if existed else "added"), spec.prompt


async def tracker_command(edge: SlackEdge, rep: RepRef, text: str) -> str:
    """The reply to ``/sales tracker <text>``."""
    words = text.split()
    action = words[0].lower() if words else ""
    if action == "list":
        with session_scope(edge.runtime.engine) as session:
            rows = calls.custom_tracker_rows(session)
        if not rows:
            return messages.TRACKER_LIST_EMPTY
        lines = [messages.TRACKER_LIST_HEADER]
        lines += [
            f"• *{r['category']}* “{'”, “'.join(r['phrases'])}” ({r['side']} side): {r['prompt']}"
            for r in rows
        ]
        return "\n".join(lines)
    if action != "add":
        return messages.TRACKER_USAGE
    if rep.role not in MANAGER_ROLES:
        return messages.TRACKER_MANAGERS_ONLY
    request = parse_tracker_add(text)
    if isinstance(request, str):
        return request
    try:
        verb, prompt = await asyncio.to_thread(_add_tracker_sync, edge, rep, request)
    except TrackerConfigError as exc:
        return messages.TRACKER_INVALID.format(problem=str(exc))
    except (calls.InvalidTrackerError, calls.DuplicateTrackerError) as exc:
        return messages.TRACKER_INVALID.format(problem=str(exc))
    log.info(
        "rep %s %s tracker %s", rep.rep_id, verb, tracker_name(request.category, request.phrase)
    )
    return messages.TRACKER_ADDED.format(
        verb=verb,
        category=request.category,
        phrase=request.phrase,
        side=request.side,
        prompt=prompt.replace("{phrase}", request.phrase),
    )


async def live_link(
    edge: SlackEdge, rep: RepRef, account_said: str, *, user_id: str, channel_id: str | None
) -> str:
    """The reply to ``/sales coach live [account]``: URL and token for a new call."""
    settings = edge.runtime.settings
    account_id = account_name = None
    if account_said:
        found = await asyncio.to_thread(
            edge.runtime.coaching.visible_account, rep_id=rep.rep_id, said=account_said
        )
        if found is None:
            return messages.COACH_LIVE_ACCOUNT_NOT_FOUND.format(account=account_said)
        account_id, account_name = found
    shared = channel_id is not None and channel_kind(channel_id) == "channel"
    expires = time.time() + token_lifetime(settings)
    grant = LiveGrant(
        call_id=new_call_id(),
        rep_id=rep.rep_id,
        expires_at=expires,
        account_id=account_id,
        slack_user_id=user_id,
        slack_channel_id=channel_id if shared else None,
    )
    token = mint_live_token(grant, secret=identity_secret(settings))
    return messages.COACH_LIVE_READY.format(
        account_part=f" for your call with {account_name}" if account_name else "",
        url=live_url(settings, grant.call_id),
        token=token,
        where=messages.COACH_LIVE_HERE if shared else messages.COACH_LIVE_IN_DM,
        expires=dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%d %H:%M"),
    )


async def coaching_command(
    ack: AsyncAck,
    command: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    await ack()
    words = str(command.get("text") or "").split()
    first, second = words[0].lower(), (words[1].lower() if len(words) > 1 else "")
    if first == "coach" and second == "help":
        await respond(text=messages.COACH_HELP, response_type=EPHEMERAL)
        return
    edge = edge_of(context)
    user_id = str(command["user_id"])
    try:
        rep = await edge.resolve_rep(client, user_id)
    except StoreUnavailableError:
        await respond(text=messages.STORE_DOWN, response_type=EPHEMERAL)
        return
    if rep is None:
        await respond(text=messages.NOT_LINKED, response_type=EPHEMERAL)
        return
    try:
        if first == "coach" and not second:
            data = await asyncio.to_thread(
                edge.runtime.coaching.latest_review, rep_id=rep.rep_id, today=edge.today_for(rep)
            )
            if data is None:
                await respond(text=messages.COACH_NO_CALL, response_type=EPHEMERAL)
            else:
                await respond(**message_kwargs(call_review(data)), response_type=EPHEMERAL)
            return
        if first == "tracker":
            reply = await tracker_command(edge, rep, " ".join(words[1:]))
        else:
            reply = await live_link(
                edge,
                rep,
                " ".join(words[2:]),
                user_id=user_id,
                channel_id=command.get("channel_id"),
            )
    except StoreUnavailableError:
        reply = messages.STORE_DOWN
    await respond(text=reply, response_type=EPHEMERAL)


def register(app: AsyncApp) -> None:
    app.event("message", matchers=[is_transcript_share])(review_shared_files)
    app.command(SLASH_COMMAND, matchers=[is_coaching_tool])(coaching_command)
