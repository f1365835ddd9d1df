"""What every Slack listener shares: the runtime, the clock, and who a Slack user is.

The :class:`SlackEdge` travels to listeners in bolt's ``context`` (see
:mod:`bot.slack.middleware`), so listener modules stay plain ``register(app)`` packages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.assistant import Assistant, RepRef
from bot.conversation import Asker
from bot.runtime import Runtime
from store import crud
from store.db import StoreUnavailableError, session_scope

log = logging.getLogger(__name__)

CONTEXT_KEY = "salesbot_edge"
WORKING_AFTER_SECONDS = 1.5
"""Answers slower than this get a "Working on it…" status first."""
EVENT_CLAIM_TTL = dt.timedelta(hours=2)
"""Slack retries an event for about an hour; claims older than this are pruned."""
PRUNE_EVERY_SECONDS = 3600.0
CLAIM_WAIT_SECONDS = 2.0
"""The ack never waits longer than this on the store: Slack resends after 3 s."""
MAX_LOCAL_CLAIMS = 50_000


RECOVER_AFTER = dt.timedelta(minutes=3)
"""A question claimed this long ago and not answered was acked by a bot that died: no answer
takes this long (Rasa, the action server and the store all have shorter time limits)."""
MAX_RECOVERIES = 1
RECOVERED_KEY = "salesbot_recovered_event"
"""Bolt context key of a question dispatched again by :meth:`SlackEdge.recover_unanswered`
(already claimed: the middleware lets it through)."""
EVENT_ID_KEY = "salesbot_event_id"
"""Bolt context key of the event id a listener answers (to mark it answered)."""


class ClaimUndecidedError(RuntimeError):
    """The store did not say in time whether another replica already claimed the event
    (locked or hung); the claim goes on in the background and is remembered here."""


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
    claim_wait_seconds: float = CLAIM_WAIT_SECONDS
    _last_prune: float = field(default=0.0, repr=False)
    # event ids this process has taken on (first seen, monotonic seconds), whatever the
    # store said: a retry of one of them is never answered again by this process, even
    # while the store is locked or down
    _local_claims: OrderedDict[str, float] = field(default_factory=OrderedDict, repr=False)
    _pending: set[asyncio.Future[bool]] = field(default_factory=set, repr=False)

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
    def _claim_sync(self, event_id: str, payload: str | None) -> bool:
        now = time.monotonic()
        with session_scope(self.runtime.engine) as session:
            if now - self._last_prune > PRUNE_EVERY_SECONDS:
                self._last_prune = now
                crud.forget_slack_events(session, older_than=self.clock() - EVENT_CLAIM_TTL)
            return crud.claim_slack_event(
                session,
                event_id=event_id,
                claimed_by=self.runtime.instance_id,
                payload=payload,
                received_at=self.clock(),
            )

    def _remember(self, event_id: str) -> bool:
        """Record ``event_id`` as taken on here; False if it already was (within the TTL)."""
        now = time.monotonic()
        ttl = EVENT_CLAIM_TTL.total_seconds()
        while self._local_claims:
            seen = next(iter(self._local_claims.values()))
            if now - seen <= ttl and len(self._local_claims) < MAX_LOCAL_CLAIMS:
                break
            self._local_claims.popitem(last=False)
        if event_id in self._local_claims:
            return False
        self._local_claims[event_id] = now
        return True

    async def claim_event(self, event_id: str, payload: str | None = None) -> bool:
        """True if this process is the first to answer ``event_id`` (in any replica, ever).

        A retry this process already took on is refused without asking the store. The
        store is given ``claim_wait_seconds``: when it has not answered by then (a locked
        SQLite file, a hung PostgreSQL) :class:`ClaimUndecidedError` is raised and the claim
        still completes in the background, so other replicas see it once the store is back.
        Raises :class:`store.db.StoreUnavailableError` when the store is down.
        """
        if not self._remember(event_id):
            return False
        claim = asyncio.ensure_future(asyncio.to_thread(self._claim_sync, event_id, payload))
        self._pending.add(claim)
        claim.add_done_callback(self._claim_finished)
        try:
            return await asyncio.wait_for(asyncio.shield(claim), self.claim_wait_seconds)
        except TimeoutError as exc:
            raise ClaimUndecidedError(event_id) from exc

    async def mark_answered(self, event_id: str | None) -> None:
        """The question of ``event_id`` got its answer (or the user was told why not), so it
        is never picked up again; best effort when the store is down."""
        if not event_id:
            return

        def mark() -> None:
            with session_scope(self.runtime.engine) as session:
                crud.mark_slack_event_answered(session, event_id=event_id, at=self.clock())

        try:
            await asyncio.to_thread(mark)
        except StoreUnavailableError as exc:
            log.warning("could not record that Slack event %s was answered: %s", event_id, exc)

    def _take_unanswered(self) -> list[tuple[str, str]]:
        now = self.clock()
        taken = []
        with session_scope(self.runtime.engine) as session:
            rows = crud.unanswered_slack_events(
                session,
                claimed_before=now - RECOVER_AFTER,
                claimed_after=now - EVENT_CLAIM_TTL,
                attempts=MAX_RECOVERIES,
            )
            for row in rows:
                if row.payload and crud.reclaim_slack_event(
                    session,
                    event_id=row.event_id,
                    claimed_by=self.runtime.instance_id,
                    seen_attempts=row.attempts,
                ):
                    taken.append((row.event_id, row.payload))
        return taken

    async def recover_unanswered(self, app: AsyncApp) -> int:
        """Answer the questions a bot acked and then died on (claimed over ``RECOVER_AFTER``
        ago, still unanswered): each is taken over atomically, so with several replicas one
        answers it, and it is dispatched through the app as it first arrived. Returns how
        many were taken."""
        try:
            taken = await asyncio.to_thread(self._take_unanswered)
        except StoreUnavailableError as exc:
            log.warning("cannot look for unanswered Slack events: %s", exc)
            return 0
        for event_id, payload in taken:
            log.warning("answering Slack event %s, acked before a restart", event_id)
            try:
                body = json.loads(payload)
            except ValueError:
                await self.mark_answered(event_id)
                continue
            request = AsyncBoltRequest(
                body=body, mode="socket_mode", context={RECOVERED_KEY: event_id}
            )
            await app.async_dispatch(request)
        return len(taken)

    def _claim_finished(self, claim: asyncio.Future[bool]) -> None:
        self._pending.discard(claim)
        if not claim.cancelled() and claim.exception() is not None:
            log.warning("late claim of a Slack event failed: %s", claim.exception())


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
