"""Digest skills: the team digest on demand, and subscribing to it on a schedule.

``action_digest`` ("send me the team digest", ``/sales digest``) builds the same digest the
scheduler sends (:mod:`analytics.digest` over the frames of :func:`store.team.team_frames`,
sliced from what the action server keeps in :mod:`actions.data`; rendered by
:mod:`render.digest`), for the asker's team or a team they may see ("digest for Sarah's
team"). The answer's ``data`` carries the chart data; the bot draws and uploads the
charts when it delivers the answer to Slack. A rep (not a manager or admin) gets their
own line of the digest, with a sentence saying team digests are for managers.

``action_subscribe_digest`` ("send me that every Monday at 8") stores a subscription in
the manager's time zone (``Rep.timezone``), delivered where they asked in a Slack DM,
else to their DM (asked in a shared channel, the digest's account data stays private;
asked in the terminal, the DM is found when it is sent). ``action_unsubscribe_digest``
stops every subscription of the asker.

Responses (wording in the Rasa domain): ``utter_digest_subscribed`` {schedule} {timezone}
{next_time} {destination}; ``utter_digest_unsubscribed`` {schedule} {count};
``utter_digest_managers_only``; ``utter_unknown_schedule`` {schedule} {problem};
``utter_ask_schedule``; ``utter_no_digest_subscription``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from rasa_sdk.types import DomainDict

from actions.base import Context, Outcome, Refusal, SalesAction
from actions.data import account_book, deal_book, insights, team_activities
from actions.deals import answered, said
from actions.scope import Scope, own_scope, rep_said, resolve_scope
from analytics.digest import COACHING_DAYS, build_digest
from analytics.schedules import ScheduleError, describe_cron, next_slot, parse_schedule, time_zone
from render import Answer
from render import digest as view
from store import crud, digests, frames
from store import insights as insights_store
from store.db import session_scope
from store.models import utcnow
from store.team import TeamFrames, team_calls

REP_INTRO = "Team digests are for managers, so here is your own line of it."
DESTINATION_WORDS = {
    "dm": "in a direct message",
    "here": "here",
}


def since_last_digest(ctx: Context) -> dt.date | None:
    """The day the asker's last digest went out, if before today (moves are counted from it)."""
    last = digests.last_sent_at(ctx.engine, rep_id=ctx.asker.rep_id)
    if last is None or last.date() >= ctx.today:
        return None
    return last.date()


def team_frames_kept(ctx: Context, scope: Scope) -> TeamFrames:
    """The frames :func:`store.team.team_frames` reads for ``scope``, sliced from what the
    action server keeps (:mod:`actions.data`: deals, accounts, activities, the stored
    insights) instead of read per question; reps, quotas and calls are read fresh."""
    engine, today, rep_ids = ctx.engine, ctx.today, scope.rep_ids
    book = deal_book(engine, today)
    team = frozenset(int(r) for r in rep_ids) if rep_ids is not None else None
    accounts = account_book(engine, today).owned_by(team).reset_index(drop=True)
    account_ids = None if team is None else accounts["account_id"].to_numpy(dtype="int64")
    health, pitches = insights(engine, today).of_accounts(account_ids)
    deal_ids = None
    if team is not None:
        deals, _history = book.scope(team)
        deal_ids = deals["opportunity_id"].to_numpy(dtype="int64")
    calls_since = dt.datetime.combine(
        today - dt.timedelta(days=2 * COACHING_DAYS), dt.time(), tzinfo=dt.UTC
    )
    calls, flags = team_calls(engine, team, since=calls_since)
    return TeamFrames(
        rep_ids=team,
        reps=frames.reps(engine),
        accounts=accounts,
        opportunities=book.opportunities,
        stage_history=book.stage_history,
        activities=team_activities(engine, today, team, account_ids=account_ids, deal_ids=deal_ids),
        targets=frames.targets(engine, rep_ids=None if team is None else sorted(team)),
        account_health=health.reset_index(drop=True),
        recommendations=pitches.reset_index(drop=True),
        calls=calls,
        coaching_flags=flags,
    )


def digest_data(ctx: Context, scope: Scope) -> dict[str, Any]:
    """The digest data of ``scope`` on ``ctx.today`` (contract in :mod:`render.digest`)."""
    book = deal_book(ctx.engine, ctx.today)
    team = team_frames_kept(ctx, scope)
    digest = build_digest(
        **team.frames(),
        rep_ids=scope.rep_ids,
        today=ctx.today,
        since=since_last_digest(ctx),
        manager_id=scope.rep_id,
        scope_label=_label(scope, ctx),
        model=book.model,
    )
    return digest.to_data()


def _label(scope: Scope, ctx: Context) -> str:
    if scope.label == "your team":
        return f"{ctx.asker.name}'s team"
    if scope.label == "your book":
        return f"{ctx.asker.name}'s book"
    return scope.label


class ActionDigest(SalesAction):
    """ "Send me the team digest." """

    action_name: ClassVar[str] = "action_digest"
    skill: ClassVar[str | None] = "digest"

    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        rep_text = rep_said(ctx, "request_digest")
        if not ctx.asker.is_manager:
            data = digest_data(ctx, own_scope(ctx.asker, team_default=False))
            answer: Answer = view.rep_line_answer(data, intro=REP_INTRO)
            return answered(answer, "digest", {"rep": None}, 0)
        scope = resolve_scope(ctx.engine, ctx.asker, rep_text)
        data = digest_data(ctx, scope)
        # how the last scoring run's own backtest turned out (the scheduled digest says it too)
        data["track_record"] = (insights_store.latest_run(ctx.engine) or {}).get("backtest")
        return answered(
            view.digest_answer(data), "digest", {"rep": rep_text}, 0, slots={"rep": rep_text}
        )


def destination(ctx: Context) -> tuple[str, str]:
    """Where scheduled digests go: the Slack DM the asker wrote from, else their DM (found
    when it is sent). Returns the stored ``channel_id`` and how the answer says it."""
    identity = ctx.asker.identity
    if identity.channel == "im" and identity.slack_channel_id:
        return identity.slack_channel_id, DESTINATION_WORDS["here"]
    return digests.DM, DESTINATION_WORDS["dm"]


def _when(slot: dt.datetime, zone_name: str) -> str:
    local = slot.astimezone(time_zone(zone_name))
    return f"{local:%A} {local:%b} {local.day} at {local:%H:%M}"


class ActionSubscribeDigest(SalesAction):
    """ "Send me that every Monday at 8." """

    action_name: ClassVar[str] = "action_subscribe_digest"
    shares_account_data: ClassVar[bool] = False

    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        if not ctx.asker.is_manager:
            raise Refusal("utter_digest_managers_only")
        text = said(ctx, "schedule", "subscribe_digest")
        if not text:
            return Outcome().respond("utter_ask_schedule")
        try:
            schedule = parse_schedule(text)
        except ScheduleError as exc:
            raise Refusal("utter_unknown_schedule", schedule=text, problem=str(exc)) from None
        channel_id, where = destination(ctx)
        now = utcnow()
        with session_scope(ctx.engine) as session:
            rep = crud.get_rep(session, rep_id=ctx.asker.rep_id)
            assert rep is not None
            zone = rep.timezone
            try:
                time_zone(zone)
            except ScheduleError:
                zone = "UTC"
            digests.subscribe(
                session,
                rep_id=ctx.asker.rep_id,
                channel_id=channel_id,
                cron=schedule.cron,
                timezone=zone,
                now=now,
            )
        first = next_slot(schedule.cron, zone, now)
        return (
            Outcome()
            .respond(
                "utter_digest_subscribed",
                schedule=schedule.description,
                timezone=zone,
                next_time=_when(first, zone),
                destination=where,
            )
            .set("schedule", text)
        )


class ActionUnsubscribeDigest(SalesAction):
    """ "Stop the digest." """

    action_name: ClassVar[str] = "action_unsubscribe_digest"
    shares_account_data: ClassVar[bool] = False

    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        with session_scope(ctx.engine) as session:
            stopped = digests.unsubscribe(session, rep_id=ctx.asker.rep_id, now=utcnow())
            schedules = [describe_cron(s.cron) for s in stopped]
        if not stopped:
            return Outcome().respond("utter_no_digest_subscription")
        return (
            Outcome()
            .respond(
                "utter_digest_unsubscribed", schedule=" and ".join(schedules), count=len(stopped)
            )
            .set("schedule", None)
        )
