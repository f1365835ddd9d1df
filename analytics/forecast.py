"""Forecast for a period: closed, commit, best case and learned-weighted, with the spread.

Inputs: ``opportunities`` and ``stage_history`` frames (see :mod:`analytics.pipeline`),
``targets`` (rep_id, period_start, period_end, metric, amount) and optionally ``reps``.

Definitions (``P`` = the period, both ends included; ``today`` = the day the forecast is
made; deal states and stages as of ``today`` as in :func:`analytics.pipeline.deal_states`)
-----------
Closed won
    Deals won by ``today`` whose close date lies in ``P``: their amount.
In-period deals
    Deals open on ``today`` whose expected close date lies in ``P`` and whose forecast
    category is not "omitted". Deals without a close date are not in any period.
Forecast category
    The CRM's ``forecast_category`` read leniently ("Commit", "Best Case"/"upside",
    "Pipeline", "Omitted"). A deal without one is *commit* when its learned win probability
    is at least ``commit_probability`` (default 0.6), *best case* when at least
    ``best_case_probability`` (default 0.3), else *pipeline*.
Commit
    Closed won + in-period deals in the commit category.
Best case
    Commit + in-period deals in the best-case category.
Pipeline (upper bound)
    Closed won + every in-period deal.
Weighted
    Closed won + sum over in-period deals of amount x stage-to-win probability learned from
    the team's own history (:class:`analytics.pipeline.StageModel`), not vendor defaults.
Spread
    Each in-period deal is an independent Bernoulli(p) draw of its amount: ``std`` is
    ``sqrt(sum(amount^2 p (1 - p)))``; ``p10``/``p50``/``p90`` are quantiles of closed won
    + the simulated sum over ``n_simulations`` seeded draws; ``chance_of_quota`` is the
    share of draws reaching the quota.
Timed (``timing`` given: :class:`CloseTimingModel`)
    Closed won + sum over *every* deal open on ``today`` (not omitted; close dates not
    used) of amount x P(it is won inside ``P``), where P(won within h days | stage) is
    learned from snapshots of the past pipeline: on snapshot days every ``step_days``
    days back to ``lookback_days``, the deals open in each stage and whether they were won
    within each horizon (only outcomes known by the fit day count); with
    ``weight="amount"`` the share is of the open amount rather than of the deals. Per horizon the share
    is shrunk towards all stages' share (``prior_strength``), made non-decreasing along the
    stage order and over longer horizons, and interpolated linearly between horizons
    (0 at 0 days). P(won inside ``[S, E]``) = P(within E - today) - P(within S - 1 -
    today). ``timed_std`` is the Bernoulli spread of that sum. CRM close dates are often
    wishful; this number does not depend on them.
Quota
    Sum of the targets (``metric`` == ``quota_metric``, default "bookings") of the reps in
    scope, each pro-rated by the days its own period shares with ``P``. ``attainment`` is
    closed won / quota; ``projected_attainment`` is weighted / quota.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from analytics.errors import InvalidParameterError, ModelNotFittedError, require_columns
from analytics.periods import Period
from analytics.pipeline import (
    StageModel,
    deal_states,
    deals_in_scope,
    ensure_model,
    states_in_scope,
)

__all__ = [
    "FORECAST_DEAL_COLUMNS",
    "CloseTimingModel",
    "Forecast",
    "Quota",
    "forecast",
    "forecast_by_rep",
    "normalise_forecast_category",
    "quota_for",
]

TARGET_REQUIRED = ["rep_id", "period_start", "period_end", "metric", "amount"]
FORECAST_DEAL_COLUMNS = [
    "opportunity_id",
    "name",
    "owner_id",
    "stage",
    "amount",
    "close_date",
    "win_probability",
    "weighted_amount",
    "category",
]


def _ts(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day).normalize()


def normalise_forecast_category(value: object) -> str | None:
    """ "Best Case" / "best_case" / "Upside" -> "best_case"; unknown or empty -> ``None``."""
    if not isinstance(value, str):
        return None
    key = re.sub(r"[^a-z]", "", value.lower())
    if key in {"commit", "committed", "forecast"}:
        return "commit"
    if key in {"bestcase", "best", "upside", "probable"}:
        return "best_case"
    if key in {"pipeline", "pipe"}:
        return "pipeline"
    if key in {"omitted", "omit", "excluded"}:
        return "omitted"
    if key in {"closed", "closedwon", "won"}:
        return "closed"
    return None


# ---------------------------------------------------------------------------- quota


@dataclass(frozen=True)
class Quota:
    """A quota for a period: ``amount`` (``None`` when no target overlaps) from ``targets``
    target rows; ``reason`` says why it is missing."""

    amount: float | None
    targets: int
    reason: str | None


def quota_for(
    targets: pd.DataFrame | None,
    period: Period,
    rep_ids: Collection[int] | None,
    *,
    metric: str = "bookings",
) -> Quota:
    """Pro-rated quota of the reps in scope for ``period`` (see the module docstring)."""
    if targets is None or not len(targets):
        return Quota(None, 0, "no quotas are loaded")
    require_columns("targets", targets.columns, TARGET_REQUIRED)
    rows = targets[targets["metric"].astype(str).str.lower() == metric.lower()]
    if rep_ids is not None:
        rows = rows[rows["rep_id"].isin([int(r) for r in rep_ids])]
    start, end = _ts(period.start), _ts(period.end)
    rows = rows[(rows["period_start"] <= end) & (rows["period_end"] >= start)]
    if not len(rows):
        return Quota(None, 0, f"no {metric} quota overlaps {period.label}")
    first = rows["period_start"].where(rows["period_start"] > start, start)
    last = rows["period_end"].where(rows["period_end"] < end, end)
    shared = (last - first).dt.days + 1
    length = (rows["period_end"] - rows["period_start"]).dt.days + 1
    amount = float((rows["amount"].astype(float) * shared / length.clip(lower=1)).sum())
    return Quota(amount, len(rows), None)


# ------------------------------------------------------------------------- forecast


@dataclass(frozen=True, eq=False)
class Forecast:
    """A forecast for ``period`` made on ``as_of`` (definitions in the module docstring).

    Learned values (``weighted``, ``std``, ``p10``, ``p50``, ``p90``, ``chance_of_quota``,
    ``projected_attainment``) are ``None`` with ``reason`` set when no deal had closed to
    learn from; quota values are ``None`` with ``quota_reason`` when no quota is set.
    ``deals`` lists the in-period deals (``FORECAST_DEAL_COLUMNS``).
    """

    period: Period
    as_of: dt.date
    closed_won: float
    closed_won_deals: int
    commit: float
    best_case: float
    pipeline: float
    open_deals: int
    weighted: float | None
    std: float | None
    p10: float | None
    p50: float | None
    p90: float | None
    quota: float | None
    attainment: float | None
    projected_attainment: float | None
    chance_of_quota: float | None
    reason: str | None
    quota_reason: str | None
    deals: pd.DataFrame
    timed: float | None = None
    timed_std: float | None = None


def _simulate(
    base: float,
    amounts: np.ndarray,
    probabilities: np.ndarray,
    n_simulations: int,
    seed: int,
    chunk_cells: int = 4_000_000,
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    totals = np.full(n_simulations, base, dtype=float)
    if not len(amounts):
        return totals
    rows_per_chunk = max(chunk_cells // len(amounts), 1)
    for first in range(0, n_simulations, rows_per_chunk):
        last = min(first + rows_per_chunk, n_simulations)
        draws = rng.random((last - first, len(amounts))) < probabilities
        totals[first:last] += draws @ amounts
    return totals


def forecast(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    *,
    period: Period,
    today: dt.date,
    model: StageModel | None = None,
    rep_ids: Collection[int] | None = None,
    targets: pd.DataFrame | None = None,
    quota_rep_ids: Collection[int] | None = None,
    quota_metric: str = "bookings",
    stage_probabilities: Mapping[str, float] | None = None,
    commit_probability: float = 0.6,
    best_case_probability: float = 0.3,
    n_simulations: int = 5000,
    seed: int = 0,
    timing: CloseTimingModel | None = None,
    states: pd.DataFrame | None = None,
) -> Forecast:
    """Forecast ``period`` on ``today`` for the deals owned by ``rep_ids`` (``None``: all).

    ``stage_probabilities`` replaces the learned probabilities (used by the backtest to
    score fixed vendor percentages the same way). ``quota_rep_ids`` (default ``rep_ids``)
    names whose targets make the quota, e.g. only the manager when they carry the team's.
    With a fitted ``timing`` model the result also carries ``timed`` / ``timed_std``.
    ``states``: see :func:`analytics.pipeline.states_in_scope` (on ``today``).
    """
    if not 0 <= best_case_probability <= commit_probability <= 1:
        raise InvalidParameterError(
            "probability thresholds need 0 <= best_case_probability <= commit_probability <= 1"
        )
    if n_simulations < 1:
        raise InvalidParameterError("n_simulations must be at least 1")
    model = ensure_model(model, opportunities, stage_history, today)
    states = states_in_scope(
        opportunities, stage_history, as_of=today, model=model, rep_ids=rep_ids, states=states
    )
    start, end = _ts(period.start), _ts(period.end)
    in_period = states["close_date"].between(start, end).to_numpy()
    won = states[(states["state"] == "won").to_numpy() & in_period]
    closed_won = float(won["amount"].sum())

    timed = timed_std = None
    if timing is not None:
        timed, timed_std = _timed(timing, states, period, today, closed_won)
    deals = states[(states["state"] == "open").to_numpy() & in_period]
    if "forecast_category" in deals.columns:
        category = deals["forecast_category"].map(normalise_forecast_category)
    else:
        category = pd.Series(None, index=deals.index, dtype=object)
    deals = deals[(category != "omitted").to_numpy()]
    category = category[(category != "omitted").to_numpy()]

    reason: str | None = None
    probability: pd.Series | None
    if stage_probabilities is not None:
        probability = deals["stage"].map(dict(stage_probabilities)).astype(float)
        if probability.isna().any():
            missing = sorted(set(deals.loc[probability.isna(), "stage"].astype(str)))
            raise InvalidParameterError(
                f"no probability given for the stage(s) {', '.join(missing)}"
            )
    elif model.has_probabilities:
        probability = model.win_probability(deals["stage"])
    else:
        probability = None
        reason = (
            f"no deal had closed by {model.as_of_}, so win probabilities cannot be learned; "
            "commit and best case use the CRM forecast categories only"
        )

    if probability is not None:
        guessed = np.where(
            probability >= commit_probability,
            "commit",
            np.where(probability >= best_case_probability, "best_case", "pipeline"),
        )
        category = category.where(category.notna(), pd.Series(guessed, index=deals.index))
    category = category.fillna("pipeline").replace({"closed": "commit"})
    amounts = deals["amount"].astype(float).to_numpy()
    commit = closed_won + float(amounts[(category == "commit").to_numpy()].sum())
    best_case = commit + float(amounts[(category == "best_case").to_numpy()].sum())
    pipeline_total = closed_won + float(amounts.sum())

    quota = quota_for(
        targets,
        period,
        quota_rep_ids if quota_rep_ids is not None else rep_ids,
        metric=quota_metric,
    )
    table = pd.DataFrame(
        {
            "opportunity_id": deals["opportunity_id"].to_numpy(),
            "name": deals["name"].to_numpy() if "name" in deals.columns else None,
            "owner_id": deals["owner_id"].to_numpy(),
            "stage": deals["stage"].to_numpy(),
            "amount": amounts,
            "close_date": deals["close_date"].to_numpy(),
            "win_probability": (
                probability.to_numpy(dtype=float) if probability is not None else np.nan
            ),
            "category": category.to_numpy(),
        }
    )
    table["weighted_amount"] = table["amount"] * table["win_probability"]
    table = table[FORECAST_DEAL_COLUMNS].sort_values(
        ["close_date", "amount"], ascending=[True, False], kind="stable", ignore_index=True
    )

    weighted = std = p10 = p50 = p90 = chance = projected = None
    if probability is not None:
        p = probability.to_numpy(dtype=float)
        weighted = closed_won + float((amounts * p).sum())
        std = float(np.sqrt((amounts**2 * p * (1 - p)).sum()))
        totals = _simulate(closed_won, amounts, p, n_simulations, seed)
        p10, p50, p90 = (float(v) for v in np.quantile(totals, [0.1, 0.5, 0.9]))
        if quota.amount:
            chance = float((totals >= quota.amount).mean())
            projected = weighted / quota.amount
    attainment = closed_won / quota.amount if quota.amount else None
    quota_reason = quota.reason
    if quota.amount == 0:
        quota_reason = f"the quota for {period.label} is zero"
    return Forecast(
        period=period,
        as_of=today,
        closed_won=closed_won,
        closed_won_deals=len(won),
        commit=commit,
        best_case=best_case,
        pipeline=pipeline_total,
        open_deals=len(deals),
        weighted=weighted,
        std=std,
        p10=p10,
        p50=p50,
        p90=p90,
        quota=quota.amount,
        attainment=attainment,
        projected_attainment=projected,
        chance_of_quota=chance,
        reason=reason,
        quota_reason=quota_reason,
        deals=table,
        timed=timed,
        timed_std=timed_std,
    )


def _timed(
    timing: CloseTimingModel,
    states: pd.DataFrame,
    period: Period,
    today: dt.date,
    closed_won: float,
) -> tuple[float, float]:
    live = states[(states["state"] == "open").to_numpy()]
    if "forecast_category" in live.columns:
        omitted = live["forecast_category"].map(normalise_forecast_category) == "omitted"
        live = live[~omitted.to_numpy()]
    until_end = (period.end - today).days
    before_start = max((period.start - today).days - 1, 0)
    stages = live["stage"]
    p = timing.win_within(stages, until_end) - timing.win_within(stages, before_start)
    p = np.clip(p, 0.0, 1.0)
    amounts = live["amount"].to_numpy(dtype=float)
    return (
        closed_won + float((amounts * p).sum()),
        float(np.sqrt((amounts**2 * p * (1 - p)).sum())),
    )


class CloseTimingModel:
    """P(a deal open in a stage is won within h days), from snapshots of the past pipeline.

    ``__init__`` stores parameters; :meth:`fit` learns ``horizons_`` (days) and
    ``table_`` (DataFrame: stage, horizon_days, open_deals, won_within, probability) from
    data known on ``as_of`` (definition under "Timed" in the module docstring).
    """

    def __init__(
        self,
        *,
        horizons: tuple[int, ...] = (30, 61, 91, 182, 273, 365),
        step_days: int = 14,
        lookback_days: int = 730,
        prior_strength: float = 2.0,
        weight: Literal["count", "amount"] = "count",
    ) -> None:
        if weight not in ("count", "amount"):
            raise InvalidParameterError("weight is 'count' or 'amount'")
        self.weight = weight
        self.horizons = horizons
        self.step_days = step_days
        self.lookback_days = lookback_days
        self.prior_strength = prior_strength

    def fit(
        self,
        opportunities: pd.DataFrame,
        stage_history: pd.DataFrame,
        *,
        as_of: dt.date,
        model: StageModel | None = None,
    ) -> CloseTimingModel:
        if not self.horizons or min(self.horizons) < 1:
            raise InvalidParameterError("horizons must be whole days of at least 1")
        if self.step_days < 1:
            raise InvalidParameterError("step_days must be at least 1")
        model = ensure_model(model, opportunities, stage_history, as_of)
        horizons = np.array(sorted(set(int(h) for h in self.horizons)), dtype=np.int64)
        cutoff = _ts(as_of)
        known = opportunities[~(opportunities["created_date"] > cutoff).to_numpy()]
        won_day = known["close_date"].where(
            known["is_won"].astype(bool) & known["is_closed"].astype(bool)
        )
        won_day = won_day.where(won_day <= cutoff)
        win_lookup = pd.Series(won_day.to_numpy(), index=known["opportunity_id"].to_numpy())
        stages = list(model.stage_order_)
        opened = np.zeros((len(stages), len(horizons)))
        won = np.zeros((len(stages), len(horizons)))
        opened_amount = np.zeros((len(stages), len(horizons)))
        won_amount = np.zeros((len(stages), len(horizons)))
        first = as_of - dt.timedelta(days=self.lookback_days)
        day = as_of - dt.timedelta(days=int(horizons.min()))
        while day >= first:
            states = deal_states(
                known, stage_history, as_of=day, closed_stages=model.closed_stages_
            )
            live = states[(states["state"] == "open").to_numpy()]
            position = model.position(live["stage"]).to_numpy()
            keep = ~np.isnan(position)
            position = position[keep].astype(np.int64)
            amount = live["amount"].to_numpy(dtype=float)[keep]
            wins = win_lookup.reindex(live["opportunity_id"].to_numpy()[keep]).to_numpy(
                dtype="datetime64[ns]"
            )
            never = np.isnat(wins)
            waited = np.where(
                never, np.inf, (wins - np.datetime64(_ts(day), "ns")) / np.timedelta64(1, "D")
            )
            for j, horizon in enumerate(horizons):
                if day + dt.timedelta(days=int(horizon)) > as_of:
                    continue
                hit = waited <= horizon
                np.add.at(opened[:, j], position, 1.0)
                np.add.at(won[:, j], position, hit.astype(float))
                np.add.at(opened_amount[:, j], position, amount)
                np.add.at(won_amount[:, j], position, np.where(hit, amount, 0.0))
            day -= dt.timedelta(days=self.step_days)
        self.horizons_ = horizons
        if self.weight == "amount" and opened_amount.sum() > 0:
            unit = opened_amount.sum() / max(opened.sum(), 1.0)
            self._probability = self._smooth(opened_amount / unit, won_amount / unit)
        else:
            self._probability = self._smooth(opened, won)
        self._stage_index = {stage: i for i, stage in enumerate(stages)}
        rows = [
            {
                "stage": stage,
                "horizon_days": int(h),
                "open_deals": int(opened[i, j]),
                "won_within": int(won[i, j]),
                "probability": float(self._probability[i, j]),
            }
            for i, stage in enumerate(stages)
            for j, h in enumerate(horizons)
        ]
        self.table_ = pd.DataFrame(
            rows, columns=["stage", "horizon_days", "open_deals", "won_within", "probability"]
        )
        self.as_of_ = as_of
        return self

    def _smooth(self, opened: np.ndarray, won: np.ndarray) -> np.ndarray:
        k = float(self.prior_strength)
        totals = opened.sum(axis=0)
        overall = np.divide(won.sum(axis=0), totals, out=np.zeros(len(totals)), where=totals > 0)
        weight = opened + k
        p = (won + k * overall[None, :]) / np.maximum(weight, 1e-12)
        if len(p) > 1:
            for j in range(p.shape[1]):
                p[:, j] = IsotonicRegression(y_min=0.0, y_max=1.0).fit_transform(
                    np.arange(len(p), dtype=float), p[:, j], sample_weight=weight[:, j]
                )
        return np.maximum.accumulate(p, axis=1)

    def win_within(self, stages: pd.Series, days: int) -> np.ndarray:
        """P(won within ``days`` days) per stage (a stage outside the order gets the mean
        over the stages)."""
        if not hasattr(self, "table_"):
            raise ModelNotFittedError("CloseTimingModel")
        if days <= 0:
            return np.zeros(len(stages))
        grid = np.r_[0, self.horizons_]
        per_stage = np.array([np.interp(days, grid, np.r_[0.0, row]) for row in self._probability])
        fallback = float(per_stage.mean()) if len(per_stage) else 0.0
        index = stages.map(self._stage_index).to_numpy(dtype=float)
        known = ~np.isnan(index)
        out = np.full(len(stages), fallback)
        out[known] = per_stage[index[known].astype(np.int64)]
        return out


FORECAST_BY_REP_COLUMNS = [
    "rep_id",
    "name",
    "closed_won",
    "commit",
    "best_case",
    "weighted",
    "quota",
    "attainment",
    "projected_attainment",
]


def _rows_by(frame: pd.DataFrame, column: str) -> dict[int, pd.DataFrame]:
    """The rows of ``frame`` per id in ``column`` (ids as int; rows without one are left out)."""
    ids = frame[column].to_numpy(dtype="int64", na_value=-1)
    groups = pd.Series(np.arange(len(ids))).groupby(ids, sort=False).indices
    return {int(k): frame.iloc[v] for k, v in groups.items() if k >= 0}


def forecast_by_rep(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    reps: pd.DataFrame,
    *,
    period: Period,
    today: dt.date,
    rep_ids: Collection[int],
    model: StageModel | None = None,
    targets: pd.DataFrame | None = None,
    quota_metric: str = "bookings",
    states: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One forecast line per rep in ``rep_ids``, columns ``FORECAST_BY_REP_COLUMNS``
    (NaN where a value cannot be computed), highest weighted first.

    The deals' states on ``today`` are computed once for all reps (or taken from
    ``states``, see :func:`analytics.pipeline.states_in_scope`) and each rep's
    :func:`forecast` reads its rows of them.
    """
    require_columns("reps", reps.columns, ["rep_id", "name"])
    model = ensure_model(model, opportunities, stage_history, today)
    if states is None:
        states = deal_states(
            deals_in_scope(opportunities, rep_ids),
            stage_history,
            as_of=today,
            closed_stages=model.closed_stages_,
        )
    names = dict(zip(reps["rep_id"].astype("int64"), reps["name"], strict=True))
    # each rep's rows of the states and quotas, picked out once (the forecast of one rep
    # reads only those)
    deals_of = _rows_by(states, "owner_id")
    quotas_of = _rows_by(targets, "rep_id") if targets is not None and len(targets) else {}
    rows = []
    for rep_id in sorted(int(r) for r in rep_ids):
        result = forecast(
            opportunities,
            stage_history,
            period=period,
            today=today,
            model=model,
            rep_ids={rep_id},
            targets=quotas_of.get(rep_id, targets),
            quota_metric=quota_metric,
            n_simulations=1,
            states=deals_of.get(rep_id),
        )
        rows.append(
            {
                "rep_id": rep_id,
                "name": names.get(rep_id),
                "closed_won": result.closed_won,
                "commit": result.commit,
                "best_case": result.best_case,
                "weighted": np.nan if result.weighted is None else result.weighted,
                "quota": np.nan if result.quota is None else result.quota,
                "attainment": np.nan if result.attainment is None else result.attainment,
                "projected_attainment": (
                    np.nan if result.projected_attainment is None else result.projected_attainment
                ),
            }
        )
    table = pd.DataFrame(rows, columns=FORECAST_BY_REP_COLUMNS)
    return table.sort_values(
        ["weighted", "rep_id"], ascending=[False, True], kind="stable", ignore_index=True
    )
