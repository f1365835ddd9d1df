"""What every Slack listener shares: the runtime, the clock, and who a Slack user is.

The :class:`SlackEdge` travels to listeners in bolt's ``context`` (see
:mod:`bot.slack.middleware`), so listener modules stay plain ``register(app)`` packages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.assistant import Assistant, RepRef
from bot.conversation import Asker
from bot.runtime import Runtime
from store import crud
from store.db import session_scope

log = logging.getLogger(__name__)

CONTEXT_KEY = "salesbot_edge"
WORKING_AFTER_SECONDS = 1.5
"""Answers slower than this get a "Working on it…" status first."""
EVENT_CLAIM_TTL = dt.timedelta(hours=2)
"""Slack retries an event for about an hour; claims older than this are pruned."""
PRUNE_EVERY_SECONDS = 3600.0


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def sender_for(slack_user_id: str) -> str:
    """Rasa conversation id of a Slack user (one conversation per user, all surfaces)."""
    return f"slack:{slack_user_id}"


def channel_kind(channel_id: str | None) -> str:
    """``im`` for a DM with the bot (ids start with D), ``channel`` for anything shared."""
    return "im" if channel_id and channel_id.startswith("D") else "channel"


@dataclass
class SlackEdge:
    runtime: Runtime
    clock: Callable[[], dt.datetime] = utc_now
    working_after_seconds: float = WORKING_AFTER_SECONDS
    _last_prune: float = field(default=0.0, repr=False)

    @property
    def assistant(self) -> Assistant:
        return self.runtime.assistant

    # ---------------------------------------------------------------- identity
    async def resolve_rep(self, client: AsyncWebClient, slack_user_id: str) -> RepRef | None:
        """The rep behind a Slack user: stored Slack id first, else the e-mail from
        ``users.info`` (and the link is remembered). ``None`` means not linked.

        Raises :class:`store.db.StoreUnavailableError` when the store is down.
        """
        rep = await self.assistant.rep_by_slack_user(slack_user_id)
        if rep is not None:
            return rep
        email = await email_of(client, slack_user_id)
        if email is None:
            return None
        return await self.assistant.rep_by_slack_user(slack_user_id, email)

    def asker(self, rep: RepRef, slack_user_id: str, channel_id: str | None) -> Asker:
        return Asker(
            rep_id=rep.rep_id,
            sender=sender_for(slack_user_id),
            channel=channel_kind(channel_id),
            slack_user_id=slack_user_id,
            slack_channel_id=channel_id,
        )

    def today_for(self, rep: RepRef) -> dt.date:
        """Today's date where the rep works (their time zone; UTC when unknown), or
        ``SALESBOT_AS_OF`` when set, so Slack agrees with the answers."""
        if self.runtime.settings.as_of is not None:
            return self.runtime.settings.as_of
        now = self.clock()
        try:
            return now.astimezone(ZoneInfo(rep.timezone)).date()
        except (ZoneInfoNotFoundError, ValueError):
            return now.astimezone(dt.UTC).date()

    # ------------------------------------------------------------ event claims
    def _claim_sync(self, event_id: str) -> bool:
        now = time.monotonic()
        with session_scope(self.runtime.engine) as session:
            if now - self._last_prune > PRUNE_EVERY_SECONDS:
                self._last_prune = now
                crud.forget_slack_events(session, older_than=self.clock() - EVENT_CLAIM_TTL)
            return crud.claim_slack_event(
                session, event_id=event_id, claimed_by=self.runtime.instance_id
            )

    async def claim_event(self, event_id: str) -> bool:
        """True if this process is the first to answer ``event_id`` (in any replica, ever).

        Raises :class:`store.db.StoreUnavailableError` when the store is down.
        """
        return await asyncio.to_thread(self._claim_sync, event_id)


async def email_of(client: AsyncWebClient, slack_user_id: str) -> str | None:
    """The e-mail on a Slack user's profile (needs ``users:read.email``); None for bots,
    deactivated users or when Slack will not say."""
    try:
        response = await client.users_info(user=slack_user_id)
    except SlackApiError as exc:
        log.warning("users.info failed for %s: %s", slack_user_id, exc.response.get("error"))
        return None
    user: dict[str, Any] = response.get("user") or {}
    if user.get("is_bot") or user.get("deleted"):
        return None
    email = (user.get("profile") or {}).get("email")
    return str(email).strip().lower() if email else None


def edge_of(context: dict[str, Any]) -> SlackEdge:
    """The :class:`SlackEdge` a listener runs with (put there by the middleware)."""
    edge = context.get(CONTEXT_KEY)
    if not isinstance(edge, SlackEdge):
        raise LookupError(
            "the salesbot middleware did not run: create the app with create_slack_app"
        )
    return edge
