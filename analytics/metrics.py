"""Sales metrics, each answered with its numerator, denominator and period.

Every metric returns a :class:`MetricResult`. When the denominator is zero (no closed
deals, no leads, no repeat customers, no quota...) ``value`` is ``None`` and ``reason``
says what is missing, never NaN. ``P`` is the period (both ends included); only what is
known on ``today`` counts, so a period reaching past ``today`` is read up to ``today``.
Scopes are owner rep ids (``rep_ids``; ``None`` = company); order-based metrics take
account ids instead (``account_ids``).

Definitions
-----------
win_rate
    Deals closed (won or lost) with a close date in ``P``: won / closed (``by="amount"``:
    won amount / closed amount).
conversion_rate, lead to opportunity (:func:`lead_conversion_rate`)
    Leads created in ``P``: converted / created, where a lead is converted when its status is
    "converted", it has a converted date on or before ``today``, or an opportunity points
    at it. Later conversions of those leads count (cohort view), so recent periods rise.
conversion_rate, opportunity to won (:func:`opportunity_win_rate`)
    Opportunities created in ``P``: won by ``today`` / created (still-open ones stay in
    the denominator; ``details["still_open"]`` says how many).
new_pipeline
    Opportunities created in ``P``: the sum of their amounts (``kind="sum"``: the value is
    the numerator; the denominator is the number of deals).
pipeline_value
    Deals open on ``today`` (and, with a period, expected to close in ``P``): the sum of
    their amounts, over the number of deals (``kind="sum"``).
acv (average contract value)
    Deals won with a close date in ``P``: won amount / won deals. The deal amount is taken
    as its annual value unless a contract-length column in months is named
    (``term_months_column``): then amount x 12 / months.
cycle_length
    Deals won with a close date in ``P``: total days from created date to close date / won
    deals.
clv (customer lifetime value, :func:`customer_lifetime_value`)
    For *repeat-order accounts* (orders on at least two distinct days on or before the end
    of ``P``): annual revenue per repeat account active in ``P`` (revenue in ``P`` / those
    accounts x 365 / days of ``P``) x gross ``margin`` x expected lifetime in years. The
    lifetime is ``1 / (1 - r)`` (capped at ``max_lifetime_years``), where ``r`` is the
    annual retention: of the repeat accounts that ordered in the 365 days before the last
    365 days of ``P``, the share that ordered again in those last 365 days. Numerator:
    revenue in ``P``; denominator: repeat accounts active in ``P``.
quota_attainment
    Won amount with a close date in ``P`` (``metric="revenue"``: order amounts in ``P`` of
    the accounts in scope) / the pro-rated quota of the reps in scope
    (:func:`analytics.forecast.quota_for`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError, UnknownMetricError, require_columns
from analytics.forecast import quota_for
from analytics.periods import Period, day_period, parse_period, quarter_period
from analytics.pipeline import deals_in_scope, int_ids, is_member, rows_with

__all__ = [
    "METRICS",
    "MetricFrames",
    "MetricResult",
    "acv",
    "compute_metric",
    "conversion_by_source",
    "converted_leads",
    "customer_lifetime_value",
    "cycle_length",
    "daily_order_totals",
    "default_period",
    "lead_conversion_rate",
    "new_pipeline",
    "new_pipeline_by_rep",
    "opportunity_win_rate",
    "pipeline_value",
    "quota_attainment",
    "win_rate",
]

METRICS = (
    "win_rate",
    "conversion_rate",
    "acv",
    "clv",
    "cycle_length",
    "pipeline_value",
    "quota_attainment",
    "new_pipeline",
)
LEAD_REQUIRED = ["lead_id", "source", "status", "created_date", "converted_date", "owner_id"]
ORDER_REQUIRED = ["account_id", "order_id", "order_date", "amount"]
YEAR_DAYS = 365


@dataclass(frozen=True)
class MetricResult:
    """One metric answer.

    ``kind`` says how ``value`` relates to the counts: "ratio" and "mean" are
    numerator / denominator; "sum" is the numerator (the denominator counts the items
    summed); "estimate" is derived from numerator / denominator with ``details``
    (the CLV). ``value`` is ``None`` exactly when ``reason`` is set.
    """

    metric: str
    label: str
    value: float | None
    numerator: float
    denominator: float
    numerator_label: str
    denominator_label: str
    period: Period
    unit: Literal["ratio", "currency", "days"]
    kind: Literal["ratio", "mean", "sum", "estimate"]
    reason: str | None = None
    details: Mapping[str, float | None] = field(default_factory=dict)


def _ts(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day).normalize()


def _known_end(period: Period, today: dt.date) -> pd.Timestamp:
    return _ts(min(period.end, today))


def _ratio(
    metric: str,
    label: str,
    numerator: float,
    denominator: float,
    numerator_label: str,
    denominator_label: str,
    period: Period,
    unit: Literal["ratio", "currency", "days"],
    kind: Literal["ratio", "mean"],
    empty_reason: str,
    details: Mapping[str, float | None] | None = None,
) -> MetricResult:
    if denominator == 0:
        return MetricResult(
            metric, label, None, float(numerator), 0.0, numerator_label, denominator_label,
            period, unit, kind, empty_reason, dict(details or {}),
        )  # fmt: skip
    return MetricResult(
        metric, label, float(numerator) / float(denominator), float(numerator),
        float(denominator), numerator_label, denominator_label, period, unit, kind, None,
        dict(details or {}),
    )  # fmt: skip


def _check_today(period: Period, today: dt.date) -> None:
    if period.start > today:
        raise InvalidParameterError(
            f"{period.label} starts after {today}; nothing in it has happened yet"
        )


def _closed_in(
    opportunities: pd.DataFrame, period: Period, today: dt.date, rep_ids: Collection[int] | None
) -> pd.DataFrame:
    require_columns(
        "opportunities",
        opportunities.columns,
        ["owner_id", "amount", "created_date", "close_date", "is_closed", "is_won"],
    )
    deals = deals_in_scope(opportunities, rep_ids)
    closed = deals["is_closed"].astype(bool) & deals["close_date"].between(
        _ts(period.start), _known_end(period, today)
    )
    return deals[closed.to_numpy()]


# ----------------------------------------------------------------------- deal metrics


def win_rate(
    opportunities: pd.DataFrame,
    *,
    period: Period,
    today: dt.date,
    rep_ids: Collection[int] | None = None,
    by: Literal["count", "amount"] = "count",
) -> MetricResult:
    """Won / closed among deals closed in ``period`` (by count or by amount)."""
    _check_today(period, today)
    closed = _closed_in(opportunities, period, today, rep_ids)
    won = closed["is_won"].astype(bool).to_numpy()
    if by == "amount":
        numerator = float(closed["amount"].to_numpy(dtype=float)[won].sum())
        denominator = float(closed["amount"].astype(float).sum())
        labels = ("won amount", "closed amount")
    else:
        numerator, denominator = float(won.sum()), float(len(closed))
        labels = ("won deals", "closed deals")
    return _ratio(
        "win_rate", "win rate", numerator, denominator, *labels, period, "ratio", "ratio",
        f"no deals closed in {period.label}, so there is no win rate yet",
    )  # fmt: skip


def opportunity_win_rate(
    opportunities: pd.DataFrame,
    *,
    period: Period,
    today: dt.date,
    rep_ids: Collection[int] | None = None,
) -> MetricResult:
    """Opportunity-to-won conversion of the deals created in ``period``."""
    _check_today(period, today)
    deals = deals_in_scope(opportunities, rep_ids)
    created = deals[deals["created_date"].between(_ts(period.start), _known_end(period, today))]
    won = created["is_won"].astype(bool) & (created["close_date"] <= _ts(today))
    closed = created["is_closed"].astype(bool) & (created["close_date"] <= _ts(today))
    return _ratio(
        "conversion_rate", "opportunity to won conversion", float(won.sum()), float(len(created)),
        "opportunities won", "opportunities created", period, "ratio", "ratio",
        f"no opportunities were created in {period.label}",
        {"still_open": float(len(created) - int(closed.sum()))},
    )  # fmt: skip


def converted_leads(
    leads: pd.DataFrame, opportunities: pd.DataFrame | None, today: dt.date
) -> pd.Series:
    """Whether each lead had converted by ``today`` (status, converted date or a linked deal)."""
    status = leads["status"].astype(str).str.lower() == "converted"
    dated = leads["converted_date"].notna() & (leads["converted_date"] <= _ts(today))
    converted = status | dated
    if opportunities is not None and "lead_id" in opportunities.columns:
        linked = int_ids(opportunities["lead_id"])
        linked = linked[(opportunities["created_date"] <= _ts(today)).to_numpy() & (linked >= 0)]
        converted |= is_member(int_ids(leads["lead_id"]), linked)
    return converted.fillna(False).astype(bool)


def _leads_created(
    leads: pd.DataFrame, period: Period, today: dt.date, rep_ids: Collection[int] | None
) -> pd.DataFrame:
    require_columns("leads", leads.columns, LEAD_REQUIRED)
    if rep_ids is not None:
        mask = leads["owner_id"].isin([int(r) for r in rep_ids]).fillna(False).astype(bool)
        leads = leads[mask.to_numpy()]
    return leads[leads["created_date"].between(_ts(period.start), _known_end(period, today))]


def lead_conversion_rate(
    leads: pd.DataFrame,
    *,
    period: Period,
    today: dt.date,
    opportunities: pd.DataFrame | None = None,
    rep_ids: Collection[int] | None = None,
    source: str | None = None,
) -> MetricResult:
    """Lead-to-opportunity conversion of the leads created in ``period`` (one ``source``
    only when given)."""
    _check_today(period, today)
    created = _leads_created(leads, period, today, rep_ids)
    if source is not None:
        created = created[created["source"].astype(str).str.lower() == source.lower()]
    converted = converted_leads(created, opportunities, today)
    still_open = (created["status"].astype(str).str.lower() == "open") & ~converted
    what = f"{source} leads" if source else "leads"
    return _ratio(
        "conversion_rate", f"{what} to opportunity conversion", float(converted.sum()),
        float(len(created)), f"{what} converted", f"{what} created", period, "ratio", "ratio",
        f"no {what} were created in {period.label}",
        {"still_open": float(still_open.sum())},
    )  # fmt: skip


CONVERSION_COLUMNS = [
    "funnel_step",
    "source",
    "numerator",
    "denominator",
    "value",
    "reason",
]


def conversion_by_source(
    leads: pd.DataFrame | None,
    opportunities: pd.DataFrame | None,
    *,
    period: Period,
    today: dt.date,
    rep_ids: Collection[int] | None = None,
) -> pd.DataFrame:
    """Lead-to-opportunity (by lead source) and opportunity-to-won (by opportunity source)
    conversion for ``period``. Columns ``CONVERSION_COLUMNS``; ``funnel_step`` is
    "lead_to_opportunity" or "opportunity_to_won"; ``value`` is NaN with a ``reason`` when
    the denominator is zero; a source that is empty shows as "(none)"."""
    _check_today(period, today)
    rows: list[dict[str, Any]] = []
    if leads is not None:
        created = _leads_created(leads, period, today, rep_ids)
        converted = converted_leads(created, opportunities, today)
        sources = created["source"].astype(object).fillna("(none)").astype(str)
        grouped = pd.DataFrame({"source": sources, "hit": converted}).groupby("source")["hit"]
        for name, hits in grouped:
            rows.append(_conversion_row("lead_to_opportunity", str(name), hits, period))
    if opportunities is not None:
        deals = deals_in_scope(opportunities, rep_ids)
        created = deals[deals["created_date"].between(_ts(period.start), _known_end(period, today))]
        won = created["is_won"].astype(bool) & (created["close_date"] <= _ts(today))
        sources = created["source"].astype(object).fillna("(none)").astype(str)
        grouped = pd.DataFrame({"source": sources, "hit": won}).groupby("source")["hit"]
        for name, hits in grouped:
            rows.append(_conversion_row("opportunity_to_won", str(name), hits, period))
    table = pd.DataFrame(rows, columns=CONVERSION_COLUMNS)
    return table.sort_values(["funnel_step", "source"], kind="stable", ignore_index=True)


def _conversion_row(step: str, source: str, hits: pd.Series, period: Period) -> dict[str, Any]:
    numerator, denominator = int(hits.sum()), len(hits)
    return {
        "funnel_step": step,
        "source": source,
        "numerator": numerator,
        "denominator": denominator,
        "value": numerator / denominator if denominator else np.nan,
        "reason": None if denominator else f"nothing from {source} in {period.label}",
    }


def new_pipeline(
    opportunities: pd.DataFrame,
    *,
    period: Period,
    today: dt.date,
    rep_ids: Collection[int] | None = None,
) -> MetricResult:
    """Sum of the amounts of deals created in ``period`` (value = numerator)."""
    _check_today(period, today)
    deals = deals_in_scope(opportunities, rep_ids)
    created = deals[deals["created_date"].between(_ts(period.start), _known_end(period, today))]
    total = float(created["amount"].astype(float).sum())
    return MetricResult(
        "new_pipeline", "new pipeline", total, total, float(len(created)),
        "amount created", "deals created", period, "currency", "sum",
    )  # fmt: skip


def new_pipeline_by_rep(
    opportunities: pd.DataFrame,
    *,
    periods: list[Period],
    today: dt.date,
    rep_ids: Collection[int],
) -> pd.DataFrame:
    """New pipeline per rep per period (e.g. quarters), zeros included. Columns: ``rep_id``,
    ``period``, ``period_start``, ``period_end``, ``deals``, ``amount``."""
    deals = deals_in_scope(opportunities, rep_ids)
    rows = []
    for period in periods:
        created = deals[deals["created_date"].between(_ts(period.start), _known_end(period, today))]
        grouped = created.groupby(created["owner_id"].astype("int64"))["amount"].agg(
            ["size", "sum"]
        )
        for rep_id in sorted(int(r) for r in rep_ids):
            has = rep_id in grouped.index
            rows.append(
                {
                    "rep_id": rep_id,
                    "period": period.label,
                    "period_start": period.start,
                    "period_end": period.end,
                    "deals": int(grouped.loc[rep_id, "size"]) if has else 0,
                    "amount": float(grouped.loc[rep_id, "sum"]) if has else 0.0,
                }
            )
    return pd.DataFrame(
        rows, columns=["rep_id", "period", "period_start", "period_end", "deals", "amount"]
    )


def pipeline_value(
    opportunities: pd.DataFrame,
    *,
    today: dt.date,
    rep_ids: Collection[int] | None = None,
    period: Period | None = None,
) -> MetricResult:
    """Open amount on ``today`` (expected to close in ``period`` when given)."""
    deals = deals_in_scope(opportunities, rep_ids)
    known = deals["created_date"] <= _ts(today)
    closed = deals["is_closed"].astype(bool) & (deals["close_date"] <= _ts(today))
    open_deals = deals[(known & ~closed).to_numpy()]
    if period is not None:
        open_deals = open_deals[
            open_deals["close_date"].between(_ts(period.start), _ts(period.end))
        ]
        label = f"open pipeline closing in {period.label}"
    else:
        period = day_period(today)
        label = "open pipeline"
    total = float(open_deals["amount"].astype(float).sum())
    return MetricResult(
        "pipeline_value", label, total, total, float(len(open_deals)), "open amount",
        "open deals", period, "currency", "sum",
    )  # fmt: skip


def acv(
    opportunities: pd.DataFrame,
    *,
    period: Period,
    today: dt.date,
    rep_ids: Collection[int] | None = None,
    term_months_column: str | None = None,
) -> MetricResult:
    """Average annual value of the deals won in ``period``."""
    _check_today(period, today)
    closed = _closed_in(opportunities, period, today, rep_ids)
    won = closed[closed["is_won"].astype(bool).to_numpy()]
    amounts = won["amount"].astype(float)
    if term_months_column is not None:
        require_columns("opportunities", won.columns, [term_months_column])
        months = won[term_months_column].astype(float)
        amounts = amounts * 12.0 / months.where(months > 0, 12.0).fillna(12.0)
    return _ratio(
        "acv", "average contract value", float(amounts.sum()), float(len(won)), "won amount",
        "won deals", period, "currency", "mean", f"no deals were won in {period.label}",
    )  # fmt: skip


def cycle_length(
    opportunities: pd.DataFrame,
    *,
    period: Period,
    today: dt.date,
    rep_ids: Collection[int] | None = None,
) -> MetricResult:
    """Average days from creation to close of the deals won in ``period``."""
    _check_today(period, today)
    closed = _closed_in(opportunities, period, today, rep_ids)
    won = closed[closed["is_won"].astype(bool).to_numpy()]
    days = (won["close_date"] - won["created_date"]).dt.days.astype(float)
    return _ratio(
        "cycle_length", "average sales cycle", float(days.sum()), float(len(won)),
        "days from created to won, summed", "won deals", period, "days", "mean",
        f"no deals were won in {period.label}",
    )  # fmt: skip


# ---------------------------------------------------------------------- order metrics


def customer_lifetime_value(
    order_lines: pd.DataFrame,
    *,
    period: Period,
    today: dt.date,
    account_ids: Collection[int] | None = None,
    margin: float = 1.0,
    max_lifetime_years: float = 10.0,
) -> MetricResult:
    """CLV of repeat-order accounts (definition in the module docstring)."""
    _check_today(period, today)
    if not 0 < margin <= 1:
        raise InvalidParameterError("margin must be in (0, 1]")
    end = _known_end(period, today)
    account, day, amount = _order_days(order_lines, account_ids, end)
    accounts_seen, day_counts = _runs_of(account)
    repeat_mask = np.repeat(day_counts >= 2, day_counts)
    account, day, amount = account[repeat_mask], day[repeat_mask], amount[repeat_mask]
    repeat = accounts_seen[day_counts >= 2]

    start_day = _day(_ts(period.start))
    end_day = _day(end)
    in_period = day >= start_day
    revenue = float(amount[in_period].sum())
    active = len(_runs_of(account[in_period])[0])
    period_days = end_day - start_day + 1

    year_start = end_day - (YEAR_DAYS - 1)
    prior_start = year_start - YEAR_DAYS
    prior = set(_runs_of(account[(day >= prior_start) & (day < year_start)])[0].tolist())
    current = set(_runs_of(account[day >= year_start])[0].tolist())
    retained = len(prior & current)
    details: dict[str, float | None] = {
        "repeat_accounts": float(len(repeat)),
        "prior_year_accounts": float(len(prior)),
        "retained_accounts": float(retained),
        "margin": margin,
    }
    label = "customer lifetime value"
    if active == 0:
        return MetricResult(
            "clv", label, None, revenue, 0.0, "revenue from repeat-order accounts",
            "repeat-order accounts active", period, "currency", "estimate",
            f"no repeat-order account bought in {period.label}", details,
        )  # fmt: skip
    if not prior:
        return MetricResult(
            "clv", label, None, revenue, float(active), "revenue from repeat-order accounts",
            "repeat-order accounts active", period, "currency", "estimate",
            "no repeat-order account bought in the year before the last twelve months, "
            "so retention (and with it the lifetime) cannot be measured yet", details,
        )  # fmt: skip
    retention = retained / len(prior)
    lifetime = (
        max_lifetime_years if retention >= 1 else min(1.0 / (1.0 - retention), max_lifetime_years)
    )
    annual_value = revenue / active * YEAR_DAYS / period_days
    details.update(
        {
            "retention_rate": retention,
            "expected_lifetime_years": lifetime,
            "annual_value_per_account": annual_value,
        }
    )
    return MetricResult(
        "clv", label, annual_value * margin * lifetime, revenue, float(active),
        "revenue from repeat-order accounts", "repeat-order accounts active", period,
        "currency", "estimate", None, details,
    )  # fmt: skip


_EPOCH = np.datetime64("1970-01-01", "D")


def _day(value: pd.Timestamp) -> int:
    return (value.date() - dt.date(1970, 1, 1)).days


def _order_days(
    order_lines: pd.DataFrame, account_ids: Collection[int] | None, end: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(account, day number, amount) per account and order day up to ``end``, sorted."""
    require_columns("order_lines", order_lines.columns, ORDER_REQUIRED)
    lines = (
        order_lines if account_ids is None else rows_with(order_lines, "account_id", account_ids)
    )
    account = int_ids(lines["account_id"])
    day = (lines["order_date"].to_numpy(dtype="datetime64[D]") - _EPOCH).astype(np.int64)
    amount = lines["amount"].to_numpy(dtype=float)
    known = day <= _day(end)
    account, day, amount = account[known], day[known], amount[known]
    if not len(account):
        return account, day, amount
    d_acc, d_day = np.diff(account), np.diff(day)
    if not bool(np.all((d_acc > 0) | ((d_acc == 0) & (d_day >= 0)))):
        order = np.lexsort((day, account))
        account, day, amount = account[order], day[order], amount[order]
    new_day = np.ones(len(account), dtype=bool)
    new_day[1:] = (account[1:] != account[:-1]) | (day[1:] != day[:-1])
    if not new_day.all():
        groups = np.cumsum(new_day) - 1
        amount = np.bincount(groups, weights=amount)
        account, day = account[new_day], day[new_day]
    return account, day, amount


def _runs_of(sorted_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how many times each occurs."""
    if not len(sorted_ids):
        return sorted_ids, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    return sorted_ids[starts], np.diff(np.r_[starts, len(sorted_ids)])


def daily_order_totals(order_lines: pd.DataFrame) -> pd.DataFrame:
    """One row per account and order day (``account_id``, ``order_date``, ``amount``),
    sorted. Order-based metrics give the same answers from it as from the lines, faster:
    compute it once and pass it as ``order_lines``."""
    end = pd.Timestamp(order_lines["order_date"].max()) if len(order_lines) else pd.Timestamp(0)
    account, day, amount = _order_days(order_lines, None, end)
    return pd.DataFrame(
        {
            "account_id": account,
            "order_id": np.arange(len(account), dtype=np.int64),
            "order_date": (_EPOCH + day.astype("timedelta64[D]")).astype("datetime64[ns]"),
            "amount": amount,
        }
    )


def quota_attainment(
    targets: pd.DataFrame | None,
    *,
    period: Period,
    today: dt.date,
    rep_ids: Collection[int] | None,
    opportunities: pd.DataFrame | None = None,
    order_lines: pd.DataFrame | None = None,
    account_ids: Collection[int] | None = None,
    metric: Literal["bookings", "revenue"] = "bookings",
) -> MetricResult:
    """Bookings (won amount) or revenue (order amount of ``account_ids``) in ``period`` over
    the pro-rated quota of ``rep_ids``."""
    _check_today(period, today)
    if metric == "bookings":
        if opportunities is None:
            raise InvalidParameterError("bookings attainment needs the opportunities")
        closed = _closed_in(opportunities, period, today, rep_ids)
        achieved = float(closed.loc[closed["is_won"].astype(bool).to_numpy(), "amount"].sum())
        what = "won amount"
    else:
        if order_lines is None:
            raise InvalidParameterError("revenue attainment needs the order lines")
        _, day, amount = _order_days(order_lines, account_ids, _known_end(period, today))
        achieved = float(amount[day >= _day(_ts(period.start))].sum())
        what = "order revenue"
    quota = quota_for(targets, period, rep_ids, metric=metric)
    return _ratio(
        "quota_attainment", f"quota attainment ({metric})", achieved, quota.amount or 0.0, what,
        f"{metric} quota", period, "ratio", "ratio",
        quota.reason or f"the {metric} quota for {period.label} is zero",
        {"targets": float(quota.targets)},
    )  # fmt: skip


# ------------------------------------------------------------------------ dispatcher


@dataclass(frozen=True, eq=False)
class MetricFrames:
    """The frames a metric may need (``None`` when not loaded)."""

    opportunities: pd.DataFrame | None = None
    leads: pd.DataFrame | None = None
    order_lines: pd.DataFrame | None = None
    accounts: pd.DataFrame | None = None
    targets: pd.DataFrame | None = None


def default_period(metric: str, today: dt.date, fiscal_year_start_month: int = 1) -> Period | None:
    """The period a metric is answered for when the user names none: the last 12 months
    for rates, values and cycles; this quarter for quota and new pipeline; ``None`` (all
    open deals) for pipeline value."""
    if metric not in METRICS:
        raise UnknownMetricError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    if metric == "pipeline_value":
        return None
    if metric in {"quota_attainment", "new_pipeline"}:
        return quarter_period(today, 0, fiscal_year_start_month)
    return parse_period("last 12 months", today, fiscal_year_start_month)


def _need(frame: pd.DataFrame | None, name: str, metric: str) -> pd.DataFrame:
    if frame is None:
        raise InvalidParameterError(f"the {metric} metric needs the {name} data")
    return frame


def compute_metric(
    metric: str,
    frames: MetricFrames,
    *,
    today: dt.date,
    period: Period | None = None,
    rep_ids: Collection[int] | None = None,
    conversion: Literal["lead_to_opportunity", "opportunity_to_won"] = "lead_to_opportunity",
) -> MetricResult:
    """Answer ``metric`` (one of ``METRICS``) for a scope; ``period`` defaults to
    :func:`default_period`. Order-based metrics use the accounts owned by ``rep_ids``."""
    if metric not in METRICS:
        raise UnknownMetricError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    chosen = period if period is not None else default_period(metric, today)
    if metric == "pipeline_value":
        return pipeline_value(
            _need(frames.opportunities, "opportunities", metric),
            today=today,
            rep_ids=rep_ids,
            period=chosen,
        )
    assert chosen is not None
    if metric == "win_rate":
        return win_rate(
            _need(frames.opportunities, "opportunities", metric),
            period=chosen,
            today=today,
            rep_ids=rep_ids,
        )
    if metric == "conversion_rate":
        if conversion == "opportunity_to_won":
            return opportunity_win_rate(
                _need(frames.opportunities, "opportunities", metric),
                period=chosen,
                today=today,
                rep_ids=rep_ids,
            )
        return lead_conversion_rate(
            _need(frames.leads, "leads", metric),
            period=chosen,
            today=today,
            opportunities=frames.opportunities,
            rep_ids=rep_ids,
        )
    if metric == "acv":
        return acv(
            _need(frames.opportunities, "opportunities", metric),
            period=chosen,
            today=today,
            rep_ids=rep_ids,
        )
    if metric == "cycle_length":
        return cycle_length(
            _need(frames.opportunities, "opportunities", metric),
            period=chosen,
            today=today,
            rep_ids=rep_ids,
        )
    if metric == "new_pipeline":
        return new_pipeline(
            _need(frames.opportunities, "opportunities", metric),
            period=chosen,
            today=today,
            rep_ids=rep_ids,
        )
    if metric == "clv":
        return customer_lifetime_value(
            _need(frames.order_lines, "order lines", metric),
            period=chosen,
            today=today,
            account_ids=_owned_accounts(frames.accounts, rep_ids, metric),
        )
    return quota_attainment(
        frames.targets,
        period=chosen,
        today=today,
        rep_ids=rep_ids,
        opportunities=_need(frames.opportunities, "opportunities", metric),
    )


def _owned_accounts(
    accounts: pd.DataFrame | None, rep_ids: Collection[int] | None, metric: str
) -> list[int] | None:
    if rep_ids is None:
        return None
    frame = _need(accounts, "accounts", metric)
    owned = frame["owner_id"].isin([int(r) for r in rep_ids]).fillna(False).astype(bool)
    return [int(a) for a in frame.loc[owned.to_numpy(), "account_id"]]
