"""The App Home tab: a rep's own dashboard.

Top slipping accounts (from the ``account_health`` insight table, snoozed ones left
out), the best pitches (``recommendation``, one per account) and the open pipeline
(``analytics.pipeline`` over the opportunities), for the book the rep may see: their
own, their team's for a manager, everything for an admin. :func:`load_home` reads
(synchronously, run it in a worker thread); :func:`home_blocks` renders. The company's
deals and the stage model fitted on them are kept between opens (:func:`company_deals`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from analytics import pipeline
from analytics.errors import AnalyticsError
from analytics.periods import quarter_period
from bot import messages
from render import blocks as bk
from render import fmt
from store import crud, frames, insights
from store.db import StoreUnavailableError, session_scope
from store.models import HealthStatus

HOME_ROWS = 5
ALERT_STATUSES = (HealthStatus.slipping.value, HealthStatus.lapsed.value)
SNOOZE_DAYS = 14


@dataclass(frozen=True)
class SlippingAccount:
    account_id: int
    name: str
    status: str
    revenue_at_risk: float
    days_since_last_order: int | None
    reason: str


@dataclass(frozen=True)
class Pitch:
    account_id: int
    account_name: str
    category: str
    product_name: str | None
    expected_value: float
    reason: str


@dataclass(frozen=True)
class StageLine:
    stage: str
    deals: int
    amount: float


@dataclass(frozen=True)
class PipelineGlance:
    open_deals: int
    open_amount: float
    weighted_amount: float | None
    quarter_label: str
    closing_deals: int
    closing_amount: float
    past_due_deals: int
    past_due_amount: float
    stages: list[StageLine]
    unavailable_reason: str | None = None


@dataclass(frozen=True)
class HomeData:
    rep_name: str
    today: dt.date
    scored_as_of: dt.date | None
    slipping: list[SlippingAccount]
    pitches: list[Pitch]
    pipeline: PipelineGlance


def _as_date(value: object) -> dt.date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    return pd.Timestamp(value).date()  # type: ignore[arg-type]


def _optional_int(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)  # type: ignore[call-overload]


def _slipping(
    engine: Engine, names: dict[int, str], account_ids: list[int] | None, snoozed: set[int]
) -> tuple[list[SlippingAccount], dt.date | None]:
    health = insights.read_account_health(
        engine, account_ids=account_ids, statuses=list(ALERT_STATUSES)
    )
    scored_as_of = _as_date(health["as_of"].max()) if len(health) else None
    rows = []
    for row in health.itertuples(index=False):
        account_id = int(row.account_id)
        if account_id in snoozed or account_id not in names:
            continue
        rows.append(
            SlippingAccount(
                account_id=account_id,
                name=names[account_id],
                status=str(row.status),
                revenue_at_risk=float(row.revenue_at_risk),
                days_since_last_order=_optional_int(row.days_since_last_order),
                reason=str(row.reason),
            )
        )
        if len(rows) == HOME_ROWS:
            break
    return rows, scored_as_of


def _pitches(
    engine: Engine, names: dict[int, str], account_ids: list[int] | None
) -> tuple[list[Pitch], dt.date | None]:
    recommendations = insights.read_recommendations(engine, account_ids=account_ids)
    if recommendations.empty:
        return [], None
    scored_as_of = _as_date(recommendations["as_of"].max())
    best = (
        recommendations.sort_values(["account_id", "rank"])
        .drop_duplicates("account_id")
        .sort_values(["expected_value", "account_id"], ascending=[False, True])
    )
    best = best[best["account_id"].isin(list(names))].head(HOME_ROWS)
    products = frames.products(engine).set_index("product_id")["name"].to_dict()
    pitches = [
        Pitch(
            account_id=int(row.account_id),
            account_name=names[int(row.account_id)],
            category=str(row.category),
            product_name=(
                products.get(int(row.product_id)) if not pd.isna(row.product_id) else None
            ),
            expected_value=float(row.expected_value),
            reason=str(row.reason),
        )
        for row in best.itertuples(index=False)
    ]
    return pitches, scored_as_of


@dataclass(frozen=True, eq=False)
class CompanyDeals:
    """The company's deals and stage history with the stage model fitted on them as of
    ``today``: the same for every rep who opens Home that day."""

    opportunities: pd.DataFrame
    stage_history: pd.DataFrame
    model: pipeline.StageModel
    today: dt.date
    fingerprint: tuple[Any, ...]
    built_at: float


DEALS_TTL_SECONDS = 600.0
"""Kept deals older than this are read again even if no deal was added (edits in place)."""
_DEALS: dict[str, CompanyDeals] = {}
_DEALS_LOCK = threading.Lock()


def _deal_fingerprint(engine: Engine) -> tuple[Any, ...]:
    sql = (
        "SELECT (SELECT max(id) FROM opportunity), (SELECT count(*) FROM opportunity), "
        "(SELECT max(id) FROM opportunity_stage_history)"
    )
    with engine.connect() as conn:
        return tuple(conn.execute(text(sql)).one())


def company_deals(engine: Engine, today: dt.date) -> CompanyDeals:
    """The kept :class:`CompanyDeals` of this store, read and fitted again when a deal or a
    stage entry was added or removed, the day changed, or it is older than
    :data:`DEALS_TTL_SECONDS` (instead of reading every deal and fitting the model on each
    Home open). Raises :class:`AnalyticsError` when the model cannot be fitted."""
    store = engine.url.render_as_string(hide_password=True)
    fingerprint = _deal_fingerprint(engine)
    with _DEALS_LOCK:
        kept = _DEALS.get(store)
    if (
        kept is not None
        and kept.today == today
        and kept.fingerprint == fingerprint
        and time.monotonic() - kept.built_at <= DEALS_TTL_SECONDS
    ):
        return kept
    opportunities = frames.opportunities(engine)
    history = frames.stage_history(engine)
    model = pipeline.StageModel().fit(opportunities, history, as_of=today)
    kept = CompanyDeals(opportunities, history, model, today, fingerprint, time.monotonic())
    with _DEALS_LOCK:
        _DEALS[store] = kept
    return kept


def _pipeline(engine: Engine, rep_ids: set[int] | None, today: dt.date) -> PipelineGlance:
    quarter = quarter_period(today)
    try:
        deals = company_deals(engine, today)
        summary = pipeline.pipeline_summary(
            deals.opportunities,
            deals.stage_history,
            today=today,
            model=deals.model,
            rep_ids=rep_ids,
            period=quarter,
        )
    except AnalyticsError as exc:
        return PipelineGlance(0, 0.0, None, quarter.label, 0, 0.0, 0, 0.0, [], str(exc))
    stages = [
        StageLine(str(row.stage), int(row.deals), float(row.amount))
        for row in summary.by_stage.itertuples(index=False)
        if int(row.deals) > 0
    ]
    return PipelineGlance(
        open_deals=summary.open_deals,
        open_amount=summary.open_amount,
        weighted_amount=summary.weighted_amount,
        quarter_label=quarter.label,
        closing_deals=summary.closing_deals,
        closing_amount=summary.closing_amount,
        past_due_deals=summary.past_due_deals,
        past_due_amount=summary.past_due_amount,
        stages=stages,
    )


def load_home(engine: Engine, *, rep_id: int, today: dt.date) -> HomeData:
    """Everything the Home tab shows for ``rep_id`` on ``today``.

    Raises :class:`StoreUnavailableError` when the store does not answer and
    :class:`store.crud.UnknownRecordError` when the rep is gone.
    """
    try:
        with session_scope(engine) as session:
            rep = crud.get_rep(session, rep_id=rep_id)
            if rep is None:
                raise crud.UnknownRecordError(f"rep {rep_id} is not in the store")
            rep_name = rep.name
            visible = crud.visible_rep_ids(session, rep=rep)
            shared = crud.shared_account_ids(session, rep_ids=visible) if visible else set()
            snoozed = crud.snoozed_account_ids(session, rep_ids=[rep_id], today=today)
        accounts = frames.accounts(engine, owner_ids=visible)
        if shared:  # the book also holds accounts with the reps' deals or account-team seats
            accounts = pd.concat(
                [accounts, frames.accounts(engine, account_ids=sorted(shared))], ignore_index=True
            ).drop_duplicates("account_id")
        names = dict(
            zip(accounts["account_id"].astype(int), accounts["name"].astype(str), strict=True)
        )
        account_ids = None if visible is None else list(names)
        slipping, health_as_of = _slipping(engine, names, account_ids, snoozed)
        pitches, pitch_as_of = _pitches(engine, names, account_ids)
        glance = _pipeline(engine, visible, today)
    except OperationalError as exc:
        raise StoreUnavailableError(str(exc.orig) if exc.orig else str(exc)) from exc
    return HomeData(
        rep_name=rep_name,
        today=today,
        scored_as_of=health_as_of or pitch_as_of,
        slipping=slipping,
        pitches=pitches,
        pipeline=glance,
    )


# ------------------------------------------------------------------- rendering


def _slipping_blocks(rows: list[SlippingAccount], first_n: int) -> list[bk.Block]:
    blocks: list[bk.Block] = [bk.section(f"*{messages.HOME_SLIPPING_TITLE}*")]
    if not rows:
        blocks.append(bk.context(messages.HOME_SLIPPING_NONE))
        return blocks
    n = first_n
    for row in rows:
        last_order = (
            f" · last order {fmt.days(row.days_since_last_order)} ago"
            if row.days_since_last_order is not None
            else ""
        )
        blocks.append(
            bk.section(
                f"*{row.name}* · {row.status} · {fmt.money(row.revenue_at_risk)} a year at risk"
                f"{last_order}\n{row.reason}"
            )
        )
        blocks.append(
            bk.actions(
                bk.send_button("What to pitch", f"what should I pitch to {row.name}?", n),
                bk.send_button("Account overview", f"how is {row.name} doing?", n + 1),
                bk.contacted_button(row.account_id, n + 2),
                bk.snooze_button(row.account_id, n + 3, days=SNOOZE_DAYS),
                block_id=f"home_alert_{row.account_id}",
            )
        )
        n += 4
    return blocks


def _pitch_blocks(rows: list[Pitch], first_n: int) -> list[bk.Block]:
    blocks: list[bk.Block] = [bk.section(f"*{messages.HOME_PITCH_TITLE}*")]
    if not rows:
        blocks.append(bk.context(messages.HOME_PITCH_NONE))
        return blocks
    for i, row in enumerate(rows):
        what = f"{row.category} ({row.product_name})" if row.product_name else row.category
        blocks.append(
            bk.section(
                f"*{row.account_name}*: {what} · {fmt.money(row.expected_value)} expected\n"
                f"{row.reason}",
                accessory=bk.send_button(
                    "Details", f"what should I pitch to {row.account_name}?", first_n + i
                ),
            )
        )
    return blocks


def _pipeline_blocks(glance: PipelineGlance) -> list[bk.Block]:
    blocks: list[bk.Block] = [bk.section(f"*{messages.HOME_PIPELINE_TITLE}*")]
    if glance.unavailable_reason:
        blocks.append(bk.context(glance.unavailable_reason))
        return blocks
    if glance.open_deals == 0:
        blocks.append(bk.context(messages.HOME_PIPELINE_NONE))
        return blocks
    weighted = (
        f"{fmt.money(glance.weighted_amount)} weighted by stage win rates"
        if glance.weighted_amount is not None
        else "no closed deals yet to weight by"
    )
    fields = [
        f"*Open*\n{fmt.plural(glance.open_deals, 'deal')} · {fmt.money(glance.open_amount)}",
        f"*Weighted*\n{weighted}",
        f"*Closing in {glance.quarter_label}*\n{fmt.plural(glance.closing_deals, 'deal')} · "
        f"{fmt.money(glance.closing_amount)}",
        f"*Past their close date*\n{fmt.plural(glance.past_due_deals, 'deal')} · "
        f"{fmt.money(glance.past_due_amount)}",
    ]
    blocks.append({"type": "section", "fields": [bk.mrkdwn(f) for f in fields]})
    if glance.stages:
        by_stage = " · ".join(
            f"{s.stage}: {s.deals} ({fmt.money(s.amount)})" for s in glance.stages
        )
        blocks.append(bk.context(f"By stage: {by_stage}"))
    return blocks


def home_blocks(data: HomeData) -> list[bk.Block]:
    """The Home tab for ``data``."""
    first = data.rep_name.split()[0] if data.rep_name.strip() else data.rep_name
    blocks: list[bk.Block] = [bk.header(messages.HOME_TITLE), bk.context(f"Hi {first}!")]
    if data.scored_as_of is None:
        blocks.append(bk.section(messages.HOME_NO_SCORES))
    else:
        blocks.extend(_slipping_blocks(data.slipping, first_n=0))
        blocks.append(bk.divider())
        blocks.extend(_pitch_blocks(data.pitches, first_n=4 * len(data.slipping)))
    blocks.append(bk.divider())
    blocks.extend(_pipeline_blocks(data.pipeline))
    scored = fmt.date(data.scored_as_of) if data.scored_as_of else "never"
    blocks.append(
        bk.context(messages.HOME_SCORED_AS_OF.format(date=scored, today=fmt.date(data.today)))
    )
    return blocks


def notice_blocks(text: str) -> list[bk.Block]:
    """A Home tab that only says ``text`` (not linked, store down)."""
    return [bk.header(messages.HOME_TITLE), bk.section(text)]
