"""Global middleware: hand listeners the :class:`SlackEdge`, and answer each event once.

Slack resends an event (``X-Slack-Retry-Num``; in Socket Mode ``retry_attempt``) when
it did not see an ack in time, and with two replicas either may receive it. Every
event id is claimed in the store (:func:`store.crud.claim_slack_event`) before any
listener runs; an event someone already claimed is acknowledged and dropped. The ack
never waits on the store for more than a moment (see :meth:`SlackEdge.claim_event`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.slack.edge import (
    CONTEXT_KEY,
    EVENT_ID_KEY,
    RECOVERED_KEY,
    ClaimUndecidedError,
    SlackEdge,
)
from store.db import StoreUnavailableError

log = logging.getLogger(__name__)

Next = Callable[[], Awaitable[None]]
QUESTIONS = frozenset({"message", "app_mention"})
"""Event types that may be a question: their payload is kept until the answer is sent."""


def retry_number(request: AsyncBoltRequest) -> int:
    """0 for a first delivery, else which retry this is."""
    values = request.headers.get("x-slack-retry-num") or ["0"]
    try:
        return int(values[0])
    except (TypeError, ValueError):
        return 0


def register(app: AsyncApp, edge: SlackEdge) -> None:
    @app.middleware
    async def provide_edge(context: dict[str, Any], next: Next) -> None:
        context[CONTEXT_KEY] = edge
        await next()

    @app.middleware
    async def answer_each_event_once(
        body: dict[str, Any], request: AsyncBoltRequest, next: Next
    ) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if not event_id:
            await next()
            return None
        request.context[EVENT_ID_KEY] = str(event_id)
        if request.context.get(RECOVERED_KEY) == event_id:
            await next()  # taken over from a bot that died after the ack
            return None
        retry = retry_number(request)
        # a question is kept until answered, so a bot that dies after the ack loses nothing
        kept = json.dumps(body) if (body.get("event") or {}).get("type") in QUESTIONS else None
        try:
            first = await edge.claim_event(str(event_id), kept)
        except (StoreUnavailableError, ClaimUndecidedError) as exc:
            # Without the store nobody can tell whether another replica answered a retry:
            # answer a first delivery (the listener will say if the store is down), drop
            # retries. This process never answers one event twice either way.
            log.warning("cannot claim Slack event %s in time (store: %s)", event_id, exc)
            first = retry == 0
        if not first:
            log.info(
                "Slack event %s (retry %d) was already claimed; not answering again",
                event_id,
                retry,
            )
            return BoltResponse(status=200, body="")
        await next()
        return None
