"""Scheduled manager digests: the scheduler in the bot process, and sending one digest.

The digest itself is the one the ``request_digest`` action answers with
(:func:`compose_digest`: :func:`store.team.team_frames` -> :func:`analytics.digest.build_digest`
-> :func:`render.digest.digest_answer`); ``salesbot digest`` renders it without sending.

Scheduler
---------
:class:`DigestScheduler` runs as an asyncio task in the bot (started by
:func:`setup_digest_scheduler` when Slack is served) and calls :meth:`DigestScheduler.tick`
every :data:`TICK_SECONDS`. A tick reads the active subscriptions and, for each, the latest
slot of its schedule at or before now (on the subscriber's local clock, see
:mod:`analytics.schedules`). A slot is *due* when it is not older than the grace period
(:data:`GRACE`: a bot that was down at 08:00 and is back by 10:00 still sends the 08:00
digest; older slots are dropped) and not before the subscription was made. A due slot is
claimed in the sent-log before anything else happens (:func:`store.digests.claim_slot`):
a slot already claimed, sent or skipped is left alone, so two bot replicas ticking at the
same moment, or a bot restarted right after sending, send it once. Only the winner builds
the digest (in a worker thread), posts it with ``chat.postMessage`` and uploads the charts
with ``files_upload_v2``. The at-least-once / at-most-once boundary is described in
:mod:`store.digests`: a claim whose sender died before posting is retried after
:data:`LEASE` by whichever scheduler takes it over first; one that was handed to Slack is
never posted twice.

Destinations: a subscription's ``channel_id`` is a Slack channel or DM id, or
:data:`store.digests.DM` (the subscriber's DM, opened with ``conversations.open`` on their
stored Slack user id at send time; a subscriber without one is skipped, and the sent-log
row says why).

The scheduler's clock is injectable (``clock``) so tests fake time; "today" for the
digest's numbers is the slot's day on the subscriber's clock, or ``SALESBOT_AS_OF``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from analytics.digest import COACHING_DAYS, build_digest
from analytics.errors import AnalyticsError
from analytics.schedules import ScheduleError, last_slot, time_zone
from render import Answer
from render.charts import Chart, digest_charts
from render.digest import KIND, digest_answer
from store import digests, insights
from store.crud import UnknownRecordError
from store.db import StoreUnavailableError
from store.models import DigestSubscription, Rep, RepRole
from store.team import team_frames, team_of

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.runtime import Runtime

log = logging.getLogger(__name__)

TICK_SECONDS = 30.0
GRACE = dt.timedelta(hours=3)
"""A slot missed while the bot was down is still sent if it is at most this old."""
LEASE = dt.timedelta(minutes=10)
"""A claim not finished after this long is taken to be dead and may be taken over."""
CHARTS_COMMENT = "Charts for the digest above"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ------------------------------------------------------------------------ composing


def scope_label(rep: Rep) -> str:
    if rep.role == RepRole.admin:
        return "the company"
    if rep.role == RepRole.manager:
        return f"{rep.name}'s team"
    return f"{rep.name}'s book"


def compose_digest(
    engine: Engine, rep_id: int, *, as_of: dt.date, since: dt.date | None = None
) -> Answer:
    """The digest for ``rep_id`` (a manager's team, the company for an admin, a rep's own
    book) on ``as_of``, moves counted from ``since`` (default: seven days before)."""
    with Session(engine) as session:
        rep = session.get(Rep, rep_id)
        if rep is None:
            raise UnknownRecordError(f"rep {rep_id} is not in the store")
        label = scope_label(rep)
    rep_ids = team_of(engine, rep_id)
    calls_since = dt.datetime.combine(
        as_of - dt.timedelta(days=2 * COACHING_DAYS), dt.time(), tzinfo=dt.UTC
    )
    frames = team_frames(engine, rep_ids, calls_since=calls_since)
    digest = build_digest(
        **frames.frames(),
        rep_ids=rep_ids,
        today=as_of,
        since=since,
        manager_id=rep_id,
        scope_label=label,
    )
    data = digest.to_data()
    data["track_record"] = (insights.latest_run(engine) or {}).get("backtest")
    return digest_answer(data)


def chart_alt_text(answer: Answer, chart: Chart) -> str:
    """A sentence that says what the chart shows (screen readers, clients without images)."""
    data = answer.data
    if chart.name == "pipeline_by_stage":
        stages = ", ".join(
            f"{s['stage']} {round(s['value'] or 0):,} USD ({s['deals']} deals)"
            for s in data["pipeline"]["stages"]
            if s["deals"]
        )
        return f"Open pipeline by stage on {data['as_of']}: {stages or 'no open deals'}"
    if chart.name == "revenue_at_risk_by_rep":
        reps = ", ".join(
            f"{r['name']} {round(r['revenue_at_risk']):,} USD" for r in data["slipping"]["by_rep"]
        )
        return f"Revenue at risk a year by rep: {reps or 'none'}"
    f = data["forecast"]
    return (
        f"Forecast for {f['period']['label']}: closed won {round(f['closed_won'] or 0):,} USD, "
        f"commit {round(f['commit'] or 0):,} USD, quota "
        + (f"{round(f['quota']):,} USD" if f["quota"] else "not set")
    )


async def upload_charts(
    client: AsyncWebClient,
    *,
    channel_id: str,
    answer: Answer,
    thread_ts: str | None = None,
) -> list[str]:
    """Draw the digest's charts and upload them in one ``files_upload_v2`` call; returns the
    Slack file ids (none for an answer that is not a digest)."""
    if answer.kind != KIND or "charts" not in answer.data:
        return []
    charts = await asyncio.to_thread(digest_charts, answer.data)
    kwargs: dict[str, Any] = {
        "channel": channel_id,
        "initial_comment": CHARTS_COMMENT,
        "file_uploads": [
            {
                "file": chart.png,
                "filename": chart.filename,
                "title": chart.title,
                "alt_txt": chart_alt_text(answer, chart)[:1000],
            }
            for chart in charts
        ],
    }
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    response = await client.files_upload_v2(**kwargs)
    return [str(f.get("id")) for f in response.get("files") or []]


async def attach_charts(
    client: AsyncWebClient, *, channel_id: str, answer: Answer, thread_ts: str | None = None
) -> None:
    """:func:`upload_charts` for an answer already posted: a failed upload is logged, the
    message stays as it is."""
    from slack_sdk.errors import SlackApiError, SlackRequestError

    try:
        await upload_charts(client, channel_id=channel_id, answer=answer, thread_ts=thread_ts)
    except (SlackApiError, SlackRequestError, aiohttp.ClientError) as exc:
        log.warning("could not upload the digest charts to %s: %s", channel_id, exc)


# ------------------------------------------------------------------------ scheduler


@dataclass(frozen=True)
class Delivery:
    """What a tick did with one due slot."""

    subscription_id: int
    slot: dt.datetime
    outcome: str
    """``sent``, ``failed`` (retried after the lease), ``skipped``, or ``unknown`` (handed
    to Slack, no answer: never retried)."""
    channel_id: str | None = None
    message_ts: str | None = None
    detail: str | None = None


class DigestScheduler:
    """Sends due digests once per slot (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        client: AsyncWebClient,
        *,
        instance_id: str,
        clock: Callable[[], dt.datetime] = utc_now,
        tick_seconds: float = TICK_SECONDS,
        grace: dt.timedelta = GRACE,
        lease: dt.timedelta = LEASE,
        as_of: dt.date | None = None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.instance_id = instance_id
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.grace = grace
        self.lease = lease
        self.as_of = as_of
        self._reported: set[tuple[int, dt.datetime]] = set()

    def due(self, now: dt.datetime) -> list[tuple[DigestSubscription, dt.datetime]]:
        """Active subscriptions whose latest slot at or before ``now`` is due and not
        already sent, skipped, being posted or claimed within the lease. (Looking first
        saves a failing insert per subscription and tick; the claim still decides.)"""
        with Session(self.engine) as session:
            subscriptions = digests.active_subscriptions(session)
        candidates = []
        for subscription in subscriptions:
            try:
                slot = last_slot(subscription.cron, subscription.timezone, now)
            except ScheduleError as exc:
                log.warning("digest subscription %s: %s", subscription.id, exc)
                continue
            if now - slot <= self.grace and slot >= subscription.created_at:
                candidates.append((subscription, slot))
        rows = digests.slot_rows(
            self.engine,
            subscription_ids=[int(s.id or 0) for s, _ in candidates],
            since=now - self.grace,
        )
        found = []
        for subscription, slot in candidates:
            row = rows.get((int(subscription.id or 0), slot))
            if row is None or digests.claimable(row, now=now, lease=self.lease):
                found.append((subscription, slot))
            else:
                self._taken(int(subscription.id or 0), slot, now)
        return found

    def _taken(self, subscription_id: int, slot: dt.datetime, now: dt.datetime) -> None:
        """Log once per slot that another sender has it (the set only quiets the log)."""
        self._reported = {key for key in self._reported if now - key[1] <= self.grace}
        if (subscription_id, slot) not in self._reported:
            self._reported.add((subscription_id, slot))
            log.info(
                "digest subscription %s slot %s: claimed by another sender",
                subscription_id,
                slot.isoformat(),
            )

    async def tick(self) -> list[Delivery]:
        """One pass: claim and send every due slot nobody else has."""
        now = self.clock()
        deliveries = []
        for subscription, slot in await asyncio.to_thread(self.due, now):
            assert subscription.id is not None
            claim = await asyncio.to_thread(
                digests.claim_slot,
                self.engine,
                subscription_id=subscription.id,
                slot=slot,
                claimed_by=self.instance_id,
                now=now,
                lease=self.lease,
            )
            if claim is None:
                self._taken(subscription.id, slot, now)
                continue
            deliveries.append(await self._deliver(subscription, claim))
        return deliveries

    async def run(self) -> None:
        """Tick forever (the task is cancelled when the bot stops)."""
        log.info("digest scheduler %s started (every %.0f s)", self.instance_id, self.tick_seconds)
        while True:
            try:
                for delivery in await self.tick():
                    log.info(
                        "digest subscription %s slot %s: %s %s",
                        delivery.subscription_id,
                        delivery.slot.isoformat(),
                        delivery.outcome,
                        delivery.detail or "",
                    )
            except (StoreUnavailableError, SQLAlchemyError) as exc:
                log.warning("digest scheduler: the store is not reachable (%s); retrying", exc)
            except Exception:  # the loop must outlive one bad tick; the traceback is logged
                log.exception("digest scheduler tick failed; retrying at the next tick")
            await asyncio.sleep(self.tick_seconds)

    def _dates(
        self, subscription: DigestSubscription, slot: dt.datetime
    ) -> tuple[dt.date, dt.date | None]:
        """The digest's day (the slot's local day, or ``as_of``) and the day moves count from
        (the last delivery of this subscription, else the previous slot)."""
        zone = time_zone(subscription.timezone)
        as_of = self.as_of or slot.astimezone(zone).date()
        assert subscription.id is not None
        last = digests.last_sent_at(self.engine, subscription_id=subscription.id)
        if last is None:
            last = last_slot(
                subscription.cron, subscription.timezone, slot - dt.timedelta(minutes=1)
            )
        since = last.astimezone(zone).date()
        return as_of, since if since < as_of else None

    async def _channel(self, subscription: DigestSubscription) -> str | None:
        if subscription.channel_id != digests.DM:
            return subscription.channel_id
        with Session(self.engine) as session:
            rep = session.get(Rep, subscription.rep_id)
            slack_user_id = rep.slack_user_id if rep is not None else None
        if not slack_user_id:
            return None
        response = await self.client.conversations_open(users=slack_user_id)
        return str(response["channel"]["id"])

    async def _deliver(self, subscription: DigestSubscription, claim: digests.Claim) -> Delivery:
        from slack_sdk.errors import SlackApiError, SlackRequestError

        from bot.slack.delivery import send
        from bot.slack.render import message_kwargs

        def done(outcome: str, **kwargs: Any) -> Delivery:
            return Delivery(claim.subscription_id, claim.slot, outcome, **kwargs)

        try:
            channel_id = await self._channel(subscription)
        except SlackApiError as exc:
            reason = f"conversations.open failed: {exc.response.get('error')}"
            await asyncio.to_thread(digests.mark_failed, self.engine, claim, reason=reason)
            return done("failed", detail=reason)
        if channel_id is None:
            reason = f"rep {subscription.rep_id} has no Slack user id to send the digest to"
            log.warning("digest subscription %s skipped: %s", subscription.id, reason)
            await asyncio.to_thread(digests.mark_skipped, self.engine, claim, reason=reason)
            return done("skipped", detail=reason)
        try:
            as_of, since = await asyncio.to_thread(self._dates, subscription, claim.slot)
            answer = await asyncio.to_thread(
                compose_digest, self.engine, subscription.rep_id, as_of=as_of, since=since
            )
        except (AnalyticsError, UnknownRecordError, SQLAlchemyError, StoreUnavailableError) as exc:
            log.error(
                "digest subscription %s: building the digest failed: %s", subscription.id, exc
            )
            await asyncio.to_thread(
                digests.mark_failed, self.engine, claim, reason=f"building the digest failed: {exc}"
            )
            return done("failed", channel_id=channel_id, detail=str(exc))
        if not await asyncio.to_thread(digests.mark_posting, self.engine, claim, now=self.clock()):
            return done("failed", channel_id=channel_id, detail="the claim was taken over")
        try:
            response = await send(
                self.client.chat_postMessage, channel=channel_id, **message_kwargs(answer)
            )
        except SlackApiError as exc:
            reason = f"chat.postMessage failed: {exc.response.get('error')}"
            await asyncio.to_thread(digests.mark_failed, self.engine, claim, reason=reason)
            return done("failed", channel_id=channel_id, detail=reason)
        except (SlackRequestError, aiohttp.ClientError, TimeoutError) as exc:
            log.error(
                "digest subscription %s: posting to %s ended without an answer (%s); "
                "not retried, so it is never sent twice",
                subscription.id,
                channel_id,
                exc,
            )
            return done("unknown", channel_id=channel_id, detail=str(exc))
        message_ts = str(response.get("ts") or "") or None
        note = None
        try:
            await upload_charts(self.client, channel_id=channel_id, answer=answer)
        except (SlackApiError, SlackRequestError, aiohttp.ClientError) as exc:
            note = f"sent without charts: {exc}"
            log.warning("digest subscription %s: %s", subscription.id, note)
        await asyncio.to_thread(
            digests.mark_sent,
            self.engine,
            claim,
            sent_at=self.clock(),
            message_ts=message_ts,
            note=note,
        )
        return done("sent", channel_id=channel_id, message_ts=message_ts, detail=note)


# ----------------------------------------------------------------------- bot hook

SCHEDULER: web.AppKey[DigestScheduler] = web.AppKey("digest_scheduler", DigestScheduler)


def setup_digest_scheduler(
    web_app: web.Application, runtime: Runtime, client: AsyncWebClient
) -> DigestScheduler:
    """Run a :class:`DigestScheduler` while the bot's web app runs."""
    scheduler = DigestScheduler(
        runtime.engine,
        client,
        instance_id=runtime.instance_id,
        as_of=runtime.settings.as_of,
    )
    web_app[SCHEDULER] = scheduler

    async def run_scheduler(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(scheduler.run(), name="digest-scheduler")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    web_app.cleanup_ctx.append(run_scheduler)
    return scheduler
