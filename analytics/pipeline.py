"""Pipeline: open deals by stage, weighted pipeline, deals closing, movement, stalled deals.

Inputs are the frames of ``store.frames``: ``opportunities`` (opportunity_id, name,
account_id, owner_id, amount, stage, created_date, close_date, is_closed, is_won,
forecast_category, next_step, ...), ``stage_history`` (opportunity_id, stage,
entered_date, amount), ``activities`` (activity_id, kind, occurred_at, opportunity_id,
account_id, until_date, ...) and ``reps`` (rep_id, name, manager_id). ``today`` (or
``as_of``) is always a parameter. A *scope* is a set of owner rep ids (``rep_ids``);
``None`` means the whole company. :func:`team_rep_ids` turns a manager into their team.

Definitions
-----------
Deal state as of a day D (:func:`deal_states`)
    A deal is *known* on D when ``created_date <= D``. It is *won* (or *lost*) on D when it
    is closed and its ``close_date <= D`` (a closed deal without a close date counts as
    closed on the day it entered its last recorded stage, else on its created date);
    otherwise it is *open* on D. The *stage* of an open deal on D is the last stage it
    entered on or before D according to the stage history, ignoring closed stages; a deal
    with no history entry by D is in its current ``stage`` if it is still open today,
    otherwise its stage on D is unknown (shown as ``"(no stage history)"``). *Days in
    stage* count from the first day of the latest uninterrupted run of entries into that
    stage. The *amount* on D is the amount recorded with that stage entry, else the
    deal's current amount.
Closed stages
    Stage names that closed deals currently sit in and that never appear in the history
    followed by another entry, nor as the stage of an open deal.
Stage order
    Given, or learned: each open stage's mean relative position (0 = first, 1 = last)
    among the open stages a deal went through, first entries only, earliest first.
Stage-to-win probability (:class:`StageModel`)
    Among deals closed on or before ``as_of`` (within ``lookback_days`` if set), of those
    that entered stage S at least once, the share that was won, shrunk towards the overall
    win rate with ``prior_strength`` pseudo-deals:
    ``(won_S + k * p_all) / (closed_S + k)``, then made non-decreasing along the stage
    order (isotonic, weighted by ``closed_S + k``) unless ``monotone=False``. Deals in a
    stage with no closed history, or in an unknown stage, get the overall win rate. With
    ``weight="amount"`` deals count by their amount: won amount / closed amount, the
    pseudo-deals being deals of the mean closed amount (a value-weighted win rate, the
    right weight for forecasting value when deal size and winning go together).
Typical days in stage
    From deals won on or before ``as_of``: the days between entering stage S and the next
    different stage (or the close date); the ``typical_quantile`` (default 75 %) of those
    visits. Needs ``min_won_samples`` visits, else the stage has no typical time.
Weighted pipeline
    Sum over open deals of amount x stage-to-win probability.
Deals closing in a period
    Deals open on ``today`` whose expected ``close_date`` lies in the period (both ends
    included). *Past due*: open deals whose ``close_date`` is before ``today``.
Movement since a day S (:func:`pipeline_movement`), for deals known on ``today``
    *won* / *lost*: closed in ``(S, today]``; *new*: created in ``(S, today]`` and open on
    ``today``; *slipped*: open on S and on ``today`` and either moved back to an earlier
    stage or its expected close date fell in ``[S, today)`` without it closing (close-date
    changes are not recorded, so a passed date is the push we can see); *advanced*: open
    on both days, on a later stage now, and not slipped. Other deals did not move.
Stalled deals (:func:`stalled_deals`), among deals open on ``today``
    *stage time*: days in the current stage above the stage's typical days; *no activity*:
    no activity (other than a snooze) on the deal, or on its account without a deal, for
    more than ``no_activity_days`` days (counted from the created date when there was
    none); *past close date*: expected close date before ``today``. A deal with a snooze
    activity whose ``until_date`` is on or after ``today`` is left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from analytics.errors import (
    InsufficientDataError,
    InvalidParameterError,
    ModelNotFittedError,
    NoTeamError,
    UnknownRepError,
    require_columns,
)
from analytics.periods import Period

__all__ = [
    "MOVEMENTS",
    "NO_STAGE",
    "PipelineSummary",
    "StageModel",
    "deal_states",
    "deals_closing",
    "deals_in_scope",
    "ensure_model",
    "infer_closed_stages",
    "infer_stage_order",
    "int_ids",
    "is_member",
    "movement_summary",
    "pipeline_by_rep",
    "pipeline_by_stage",
    "pipeline_movement",
    "pipeline_summary",
    "rows_with",
    "scope_rep_ids",
    "stalled_deals",
    "states_in_scope",
    "team_rep_ids",
]

NO_STAGE = "(no stage history)"
MOVEMENTS = ("new", "advanced", "slipped", "won", "lost")
OPPORTUNITY_REQUIRED = [
    "opportunity_id",
    "owner_id",
    "amount",
    "stage",
    "created_date",
    "close_date",
    "is_closed",
    "is_won",
]
HISTORY_REQUIRED = ["opportunity_id", "stage", "entered_date"]
ACTIVITY_REQUIRED = ["kind", "occurred_at", "opportunity_id", "account_id"]
SNOOZE = "snooze"

Scope = Literal["rep", "team", "company"]


def _count(n: float, word: str) -> str:
    """ "1 day", "3 days": a whole count and its noun, pluralised."""
    whole = int(n)
    return f"{whole} {word}" if whole == 1 else f"{whole} {word}s"


def stage_label(stage: object) -> str:
    """A stage as reasons name it: ``needs_analysis`` -> ``Needs analysis``; names a CRM
    already writes with capitals (``Engaging``, ``Closed Won``) are kept as they are."""
    text = "" if stage is None or stage != stage else str(stage).strip()
    if not text:
        return "(no stage)"
    if text == text.lower():
        words = text.replace("_", " ")
        return words[:1].upper() + words[1:]
    return text


def _ts(day: dt.date | pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(day).normalize()


def _date(value: object) -> dt.date | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    return pd.Timestamp(value).date()  # type: ignore[arg-type]


# ------------------------------------------------------------------------- scopes


def team_rep_ids(
    reps: pd.DataFrame, manager_id: int, *, include_manager: bool = True
) -> frozenset[int]:
    """The manager and everyone who reports to them, directly or through other managers.

    Raises :class:`UnknownRepError` when ``manager_id`` is not in ``reps`` and
    :class:`NoTeamError` when nobody reports to them.
    """
    require_columns("reps", reps.columns, ["rep_id", "manager_id"])
    rep_ids = reps["rep_id"].astype("int64").to_numpy()
    if int(manager_id) not in set(rep_ids.tolist()):
        raise UnknownRepError(f"rep {manager_id} is not in the reps data")
    managers = pd.array(reps["manager_id"], dtype="Int64")
    reports: dict[int, list[int]] = {}
    for rep, manager in zip(rep_ids.tolist(), managers, strict=True):
        if manager is not pd.NA and int(manager) != rep:
            reports.setdefault(int(manager), []).append(rep)
    if not reports.get(int(manager_id)):
        raise NoTeamError(
            f"nobody reports to rep {manager_id}, so there is no team to show; "
            "ask for their own numbers instead"
        )
    seen = {int(manager_id)}
    frontier = [int(manager_id)]
    while frontier:
        for child in reports.get(frontier.pop(), []):
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    if not include_manager:
        seen.discard(int(manager_id))
    return frozenset(seen)


def scope_rep_ids(reps: pd.DataFrame, rep_id: int | None, scope: Scope) -> frozenset[int] | None:
    """Owner ids for a scope: ``"rep"`` (that rep), ``"team"`` (the rep's team, recursively)
    or ``"company"`` (``None``: every deal, including deals without an owner)."""
    if scope == "company":
        return None
    if rep_id is None:
        raise InvalidParameterError(f"the {scope!r} scope needs a rep id")
    if scope == "team":
        return team_rep_ids(reps, rep_id)
    if int(rep_id) not in set(reps["rep_id"].astype("int64").tolist()):
        raise UnknownRepError(f"rep {rep_id} is not in the reps data")
    return frozenset({int(rep_id)})


def deals_in_scope(opportunities: pd.DataFrame, rep_ids: Collection[int] | None) -> pd.DataFrame:
    """Deals owned by ``rep_ids`` (every deal when ``None``)."""
    if rep_ids is None:
        return opportunities
    return opportunities[is_member(int_ids(opportunities["owner_id"]), int_ids(rep_ids))]


def int_ids(values: pd.Series | pd.Index | np.ndarray | Collection[int]) -> np.ndarray:
    """Ids as ``int64`` (missing ids become -1, which no record carries)."""
    if isinstance(values, pd.Series | pd.Index):
        return values.to_numpy(dtype="int64", na_value=-1)
    array = values if isinstance(values, np.ndarray) else np.asarray(list(values))
    if array.dtype.kind in "iu":
        return array.astype("int64", copy=False)
    return pd.array(array, dtype="Int64").to_numpy(dtype="int64", na_value=-1)


def is_member(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``np.isin`` for int64 ids: a boolean lookup table over the ids' range when that range
    is modest (one gather instead of a sort or a hash), ``np.isin`` otherwise."""
    if not len(ids) or not len(values):
        return np.zeros(len(values), dtype=bool)
    low, high = int(ids.min()), int(ids.max())
    span = high - low
    if span >= 50_000_000:
        return np.isin(values, ids)
    # slot 0: below the range, slot span + 2: above it; ids sit in 1 .. span + 1
    table = np.zeros(span + 3, dtype=bool)
    table[ids - low + 1] = True
    return table[np.clip(values - low + 1, 0, span + 2)]


def _slices(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start, stop)`` for each pair."""
    lengths = stops - starts
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def rows_with(frame: pd.DataFrame, column: str, ids: Collection[int] | np.ndarray) -> pd.DataFrame:
    """Rows whose ``column`` is one of ``ids``: a binary search when the frame is sorted by
    that column and few ids are asked for, a membership test otherwise."""
    values = int_ids(frame[column])
    wanted = int_ids(ids)
    if len(wanted) > 1 and not bool(np.all(wanted[1:] > wanted[:-1])):
        wanted = np.unique(wanted)
    if len(wanted) * 20 < len(values) and bool(np.all(values[1:] >= values[:-1])):
        lo = np.searchsorted(values, wanted, side="left")
        hi = np.searchsorted(values, wanted, side="right")
        return frame.iloc[_slices(lo, hi)]
    return frame[is_member(values, wanted)]


# ------------------------------------------------------------------------- stages


def infer_closed_stages(opportunities: pd.DataFrame, stage_history: pd.DataFrame) -> frozenset[str]:
    """Stage names that mean "closed" (see the module docstring)."""
    closed_names = set(opportunities.loc[opportunities["is_closed"].astype(bool), "stage"].dropna())
    open_names = set(opportunities.loc[~opportunities["is_closed"].astype(bool), "stage"].dropna())
    if len(stage_history):
        hist = stage_history.sort_values(["opportunity_id", "entered_date"], kind="stable")
        followed = hist["opportunity_id"].to_numpy()[:-1] == hist["opportunity_id"].to_numpy()[1:]
        non_final = set(hist["stage"].to_numpy()[:-1][followed])
    else:
        non_final = set()
    return frozenset(str(s) for s in closed_names - open_names - non_final)


def infer_stage_order(
    stage_history: pd.DataFrame,
    closed_stages: Collection[str],
    extra_stages: Iterable[str] = (),
) -> tuple[str, ...]:
    """Open stages, earliest first, learned from the history (see the module docstring).

    Stages only seen in ``extra_stages`` (e.g. current stages of deals without history)
    come last, alphabetically.
    """
    hist = stage_history[~stage_history["stage"].isin(list(closed_stages))]
    hist = hist.sort_values(["opportunity_id", "entered_date"], kind="stable")
    first = hist.drop_duplicates(["opportunity_id", "stage"], keep="first")
    order: list[str] = []
    if len(first):
        rank = first.groupby("opportunity_id").cumcount().to_numpy(dtype=float)
        count = first.groupby("opportunity_id")["stage"].transform("size").to_numpy(dtype=float)
        relative = np.where(count > 1, rank / np.maximum(count - 1, 1), np.nan)
        scored = pd.DataFrame({"stage": first["stage"].to_numpy(), "relative": relative})
        means = scored.groupby("stage", sort=True)["relative"].mean()
        means = means.fillna(0.5)
        order = [str(s) for s in sorted(means.index, key=lambda s: (means[s], str(s)))]
    known = set(order) | set(closed_stages)
    order += sorted({str(s) for s in extra_stages if pd.notna(s)} - known)
    return tuple(order)


def _runs(hist: pd.DataFrame) -> pd.DataFrame:
    """Collapse consecutive entries into the same stage; adds ``run_start``."""
    hist = hist.sort_values(["opportunity_id", "entered_date"], kind="stable")
    opp = hist["opportunity_id"].to_numpy()
    stage = hist["stage"].to_numpy()
    new_run = np.ones(len(hist), dtype=bool)
    if len(hist) > 1:
        new_run[1:] = (opp[1:] != opp[:-1]) | (stage[1:] != stage[:-1])
    run_id = np.cumsum(new_run)
    starts = hist["entered_date"].to_numpy()[new_run]
    out = hist.assign(run_start=starts[run_id - 1])
    return out


class StageModel:
    """What the team's own history says about its stages: order, win odds, typical pace.

    Parameters only are stored by ``__init__``; :meth:`fit` learns, from data known on
    ``as_of``, the attributes ``stage_order_``, ``closed_stages_``, ``overall_win_rate_``
    (``None`` without closed deals), ``closed_deals_``, ``won_deals_``,
    ``win_probabilities_`` (DataFrame: stage, position, closed_deals, won_deals,
    closed_amount, won_amount, raw_rate, win_probability) and ``stage_days_`` (DataFrame: stage, won_visits, median_days,
    typical_days). Definitions are in the module docstring.
    """

    def __init__(
        self,
        *,
        stage_order: Iterable[str] | None = None,
        closed_stages: Iterable[str] | None = None,
        prior_strength: float = 2.0,
        monotone: bool = True,
        typical_quantile: float = 0.75,
        min_won_samples: int = 3,
        lookback_days: int | None = None,
        weight: Literal["count", "amount"] = "count",
    ) -> None:
        if weight not in ("count", "amount"):
            raise InvalidParameterError("weight is 'count' or 'amount'")
        self.weight = weight
        self.stage_order = stage_order
        self.closed_stages = closed_stages
        self.prior_strength = prior_strength
        self.monotone = monotone
        self.typical_quantile = typical_quantile
        self.min_won_samples = min_won_samples
        self.lookback_days = lookback_days

    def fit(
        self, opportunities: pd.DataFrame, stage_history: pd.DataFrame, *, as_of: dt.date
    ) -> StageModel:
        require_columns("opportunities", opportunities.columns, OPPORTUNITY_REQUIRED)
        require_columns("stage_history", stage_history.columns, HISTORY_REQUIRED)
        if self.prior_strength < 0:
            raise InvalidParameterError("prior_strength must be 0 or more")
        if not 0 < self.typical_quantile < 1:
            raise InvalidParameterError("typical_quantile must be between 0 and 1")
        cutoff = _ts(as_of)
        # Which stage *names* mean closed is vocabulary, not outcome: learn it from all rows.
        known_closed = (
            frozenset(self.closed_stages)
            if self.closed_stages is not None
            else infer_closed_stages(opportunities, stage_history)
        )
        self.closed_stages_ = known_closed
        opps = opportunities[~(opportunities["created_date"] > cutoff)]
        hist = stage_history[stage_history["entered_date"] <= cutoff]
        hist = hist[hist["opportunity_id"].isin(opps["opportunity_id"])]
        states = deal_states(opps, hist, as_of=as_of, closed_stages=known_closed)
        open_hist = hist[~hist["stage"].isin(list(known_closed))]
        if self.stage_order is not None:
            self.stage_order_ = tuple(self.stage_order)
        else:
            extra = states.loc[states["state"] == "open", "stage"]
            self.stage_order_ = infer_stage_order(open_hist, known_closed, extra)
        positions = {stage: i for i, stage in enumerate(self.stage_order_)}

        closed = states[states["state"] != "open"]
        if self.lookback_days is not None:
            start = cutoff - pd.Timedelta(days=int(self.lookback_days))
            closed = closed[closed["close_date"] >= start]
        is_won = (closed["state"] == "won").to_numpy()
        closed_amount = closed["amount"].to_numpy(dtype=float)
        self.closed_deals_ = len(closed)
        self.won_deals_ = int(is_won.sum())
        by_amount = self.weight == "amount" and closed_amount.sum() > 0
        overall: float | None = None
        if by_amount:
            overall = float(closed_amount[is_won].sum() / closed_amount.sum())
        elif self.closed_deals_:
            overall = self.won_deals_ / self.closed_deals_
        self.overall_win_rate_ = overall

        visited = open_hist[open_hist["opportunity_id"].isin(closed["opportunity_id"])]
        visited = visited.drop_duplicates(["opportunity_id", "stage"])
        won_ids = closed.loc[closed["state"] == "won", "opportunity_id"]
        amount_of = pd.Series(closed_amount, index=closed["opportunity_id"].to_numpy())
        deal_amount = amount_of.reindex(visited["opportunity_id"].to_numpy()).to_numpy()
        won_flag = visited["opportunity_id"].isin(won_ids).to_numpy()
        visited = pd.DataFrame(
            {
                "stage": visited["stage"].to_numpy(),
                "won": won_flag.astype(np.int64),
                "amount": deal_amount,
                "won_amount": np.where(won_flag, deal_amount, 0.0),
            }
        )
        sums = visited.groupby("stage")[["won", "amount", "won_amount"]].sum()
        sizes = visited.groupby("stage").size()
        table = pd.DataFrame({"stage": list(self.stage_order_)})
        table["position"] = np.arange(len(table), dtype="int64")
        table["closed_deals"] = table["stage"].map(sizes).fillna(0).astype("int64")
        table["won_deals"] = table["stage"].map(sums["won"]).fillna(0).astype("int64")
        table["closed_amount"] = table["stage"].map(sums["amount"]).fillna(0.0).astype(float)
        table["won_amount"] = table["stage"].map(sums["won_amount"]).fillna(0.0).astype(float)
        # in "deal equivalents": amounts are divided by the mean closed deal amount
        unit = closed_amount.mean() if by_amount else 1.0
        trials = (table["closed_amount"] if by_amount else table["closed_deals"]) / unit
        wins = (table["won_amount"] if by_amount else table["won_deals"]) / unit
        trials, wins = trials.to_numpy(dtype=float), wins.to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            table["raw_rate"] = np.where(trials > 0, wins / np.where(trials > 0, trials, 1), np.nan)
        if self.overall_win_rate_ is None:
            table["win_probability"] = np.nan
        else:
            k = float(self.prior_strength)
            p_all = self.overall_win_rate_
            weight = trials + k
            shrunk = np.where(weight > 0, (wins + k * p_all) / np.maximum(weight, 1e-12), p_all)
            if self.monotone and len(table) > 1:
                shrunk = IsotonicRegression(increasing=True, y_min=0.0, y_max=1.0).fit_transform(
                    table["position"].to_numpy(dtype=float),
                    shrunk,
                    sample_weight=np.maximum(weight, 1e-12),
                )
            table["win_probability"] = shrunk
        self.win_probabilities_ = table
        self._probability_of = dict(
            zip(table["stage"], table["win_probability"].astype(float), strict=True)
        )
        self._positions = positions
        self.stage_days_ = self._stage_days(hist, closed, won_ids)
        self.as_of_ = as_of
        return self

    def _stage_days(
        self, hist: pd.DataFrame, closed: pd.DataFrame, won_ids: pd.Series
    ) -> pd.DataFrame:
        won_hist = _runs(hist[hist["opportunity_id"].isin(won_ids)])
        won_hist = won_hist[won_hist["entered_date"] == won_hist["run_start"]]
        if len(won_hist):
            nxt = won_hist.groupby("opportunity_id")["entered_date"].shift(-1)
            close_by_deal = closed.drop_duplicates("opportunity_id").set_index("opportunity_id")
            close_dates = won_hist["opportunity_id"].map(close_by_deal["close_date"])
            end = nxt.fillna(close_dates)
            days = (end - won_hist["entered_date"]).dt.days.to_numpy(dtype=float)
        else:
            days = np.zeros(0, dtype=float)
        visits = pd.DataFrame({"stage": won_hist["stage"].to_numpy(), "days": days})
        visits = visits[visits["stage"].isin(list(self.stage_order_)) & (visits["days"] >= 0)]
        grouped = visits.groupby("stage")["days"]
        table = pd.DataFrame({"stage": list(self.stage_order_)})
        sizes = grouped.size()
        table["won_visits"] = table["stage"].map(sizes).fillna(0).astype("int64")
        table["median_days"] = table["stage"].map(grouped.median()).astype(float)
        table["typical_days"] = (
            table["stage"].map(grouped.quantile(self.typical_quantile)).astype(float)
        )
        thin = table["won_visits"] < self.min_won_samples
        table.loc[thin, ["median_days", "typical_days"]] = np.nan
        return table

    # ------------------------------------------------------------------ lookups

    def _check(self) -> None:
        if not hasattr(self, "win_probabilities_"):
            raise ModelNotFittedError("StageModel")

    @property
    def has_probabilities(self) -> bool:
        self._check()
        return self.overall_win_rate_ is not None

    def win_probability(self, stages: pd.Series) -> pd.Series:
        """Stage-to-win probability of each stage; unknown stages get the overall win rate.

        Raises :class:`InsufficientDataError` when no deal had closed by ``as_of``.
        """
        self._check()
        if self.overall_win_rate_ is None:
            raise InsufficientDataError(
                f"no deal had closed by {self.as_of_}, so win probabilities per stage "
                "cannot be learned yet"
            )
        mapped = stages.map(self._probability_of).astype(float)
        return mapped.fillna(self.overall_win_rate_)

    def position(self, stages: pd.Series) -> pd.Series:
        """0-based position of each stage in the stage order (NaN when unknown)."""
        self._check()
        return stages.map(self._positions).astype(float)

    def typical_days(self, stages: pd.Series) -> pd.Series:
        """Typical days won deals spend in each stage (NaN when not learned)."""
        self._check()
        lookup = dict(zip(self.stage_days_["stage"], self.stage_days_["typical_days"], strict=True))
        return stages.map(lookup).astype(float)


def ensure_model(
    model: StageModel | None,
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    today: dt.date,
) -> StageModel:
    """``model`` if fitted, else a default :class:`StageModel` fitted on the data as of ``today``."""
    if model is not None:
        model._check()
        return model
    return StageModel().fit(opportunities, stage_history, as_of=today)


# ------------------------------------------------------------------------- states


def deal_states(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    *,
    as_of: dt.date,
    closed_stages: Collection[str] | None = None,
) -> pd.DataFrame:
    """Each deal known on ``as_of`` with its state then (see the module docstring).

    Returns the opportunity columns plus ``state`` ("open", "won", "lost"),
    ``stage`` (stage on ``as_of``), ``stage_entered`` (datetime64, NaT without history),
    ``amount`` (amount on ``as_of``), ``has_history`` (bool) and ``current_stage``.
    """
    require_columns("opportunities", opportunities.columns, OPPORTUNITY_REQUIRED)
    require_columns("stage_history", stage_history.columns, HISTORY_REQUIRED)
    cutoff = _ts(as_of)
    opps = opportunities[~(opportunities["created_date"] > cutoff).to_numpy()].copy()
    ids = int_ids(opps["opportunity_id"])
    hist = rows_with(stage_history, "opportunity_id", ids)
    hist = hist[(hist["entered_date"] <= cutoff).to_numpy()]

    is_closed = opps["is_closed"].astype(bool).to_numpy()
    close_date = opps["close_date"]
    if is_closed.any() and close_date[is_closed].isna().any():
        last_entry = hist.groupby("opportunity_id")["entered_date"].max()
        fallback = _map_dates(opps["opportunity_id"], last_entry).fillna(opps["created_date"])
        close_date = close_date.where(~(close_date.isna() & is_closed), fallback)
    closed_by = is_closed & (close_date <= cutoff).to_numpy()
    won = opps["is_won"].astype(bool).to_numpy()
    opps["close_date"] = close_date
    opps["state"] = np.where(closed_by, np.where(won, "won", "lost"), "open")
    current_stage = opps["stage"].astype(object).where(opps["stage"].notna(), NO_STAGE)
    opps["current_stage"] = current_stage

    closed_names = (
        frozenset(closed_stages)
        if closed_stages is not None
        else infer_closed_stages(opportunities, stage_history)
        if len(hist)
        else frozenset()
    )
    hist_stage, hist_start, hist_amount = _last_runs(hist, ids, closed_names)
    has_history = pd.notna(hist_stage)
    is_open_now = ~closed_by
    current = current_stage.to_numpy(dtype=object)
    stage = np.where(
        ~is_open_now,
        current,
        np.where(has_history, hist_stage, np.where(~is_closed, current, NO_STAGE)),
    )
    opps["stage"] = stage
    opps["stage_entered"] = np.where(
        is_open_now & has_history, hist_start, np.datetime64("NaT", "ns")
    ).astype("datetime64[ns]")
    current_amount = opps["amount"].astype(float).fillna(0.0).to_numpy()
    opps["amount"] = np.where(is_open_now & ~np.isnan(hist_amount), hist_amount, current_amount)
    opps["has_history"] = has_history
    return opps


def _last_runs(
    hist: pd.DataFrame, ids: np.ndarray, closed_names: Collection[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each id: the last open stage entered (object, None without history), the first
    day of that uninterrupted run (datetime64[ns]) and the amount recorded with it (NaN)."""
    n = len(ids)
    stage_out = np.full(n, None, dtype=object)
    start_out = np.full(n, np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    amount_out = np.full(n, np.nan)
    if not len(hist):
        return stage_out, start_out, amount_out
    opp = int_ids(hist["opportunity_id"])
    day = hist["entered_date"].to_numpy(dtype="datetime64[ns]")
    stage = hist["stage"].to_numpy(dtype=object)
    amount = (
        hist["amount"].to_numpy(dtype=float, na_value=np.nan)
        if "amount" in hist.columns
        else np.full(len(hist), np.nan)
    )
    if closed_names:
        closed_rows = np.zeros(len(stage), dtype=bool)
        for name in closed_names:
            closed_rows |= stage == name
        keep = ~closed_rows
        opp, day, stage, amount = opp[keep], day[keep], stage[keep], amount[keep]
    if not len(opp):
        return stage_out, start_out, amount_out
    d_opp, d_day = np.diff(opp), np.diff(day.astype(np.int64))
    if not bool(np.all((d_opp > 0) | ((d_opp == 0) & (d_day >= 0)))):
        order = np.lexsort((day, opp))
        opp, day, stage, amount = opp[order], day[order], stage[order], amount[order]
    new_run = np.ones(len(opp), dtype=bool)
    new_run[1:] = (opp[1:] != opp[:-1]) | (stage[1:] != stage[:-1])
    run_start = day[new_run][np.cumsum(new_run) - 1]
    last = np.ones(len(opp), dtype=bool)
    last[:-1] = opp[1:] != opp[:-1]
    last_opp = opp[last]
    position = np.searchsorted(last_opp, ids).clip(0, len(last_opp) - 1)
    found = last_opp[position] == ids
    stage_out[found] = stage[last][position[found]]
    start_out[found] = run_start[last][position[found]]
    amount_out[found] = amount[last][position[found]]
    return stage_out, start_out, amount_out


def states_in_scope(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    *,
    as_of: dt.date,
    model: StageModel,
    rep_ids: Collection[int] | None,
    states: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`deal_states` on ``as_of`` (the model's closed stages) of the deals owned by
    ``rep_ids``.

    ``states``: that function's result for every deal of ``opportunities`` on ``as_of``,
    when the caller has it already (answers that look at one set of deals several ways).
    Its rows of the scope are the same as the scope's own states, because each deal's
    state depends on its own rows only; they are taken instead of computing them again.
    """
    if states is not None:
        scoped = deals_in_scope(states, rep_ids)
        if len(scoped):
            return scoped
    return deal_states(
        deals_in_scope(opportunities, rep_ids),
        stage_history,
        as_of=as_of,
        closed_stages=model.closed_stages_,
    )


def _open_deals(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    model: StageModel,
    today: dt.date,
    rep_ids: Collection[int] | None,
    states: pd.DataFrame | None = None,
) -> pd.DataFrame:
    scoped = states_in_scope(
        opportunities, stage_history, as_of=today, model=model, rep_ids=rep_ids, states=states
    )
    return scoped[scoped["state"] == "open"]


def _weighted(model: StageModel, deals: pd.DataFrame) -> tuple[pd.Series | None, str | None]:
    if not model.has_probabilities:
        return None, (
            f"no deal had closed by {model.as_of_}, so there are no learned win "
            "probabilities to weight the pipeline with"
        )
    return model.win_probability(deals["stage"]), None


# ----------------------------------------------------------------------- pipeline


def pipeline_by_stage(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    *,
    today: dt.date,
    model: StageModel | None = None,
    rep_ids: Collection[int] | None = None,
    period: Period | None = None,
    states: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Open deals on ``today`` by stage, every known open stage listed (zeros included).

    With ``period``, only deals whose expected close date lies in it. Columns: ``stage``,
    ``position`` (0-based stage order; unknown stages last), ``deals``, ``amount``,
    ``win_probability`` (learned; NaN without closed history) and ``weighted_amount``.
    ``states``: see :func:`states_in_scope` (on ``today``).
    """
    model = ensure_model(model, opportunities, stage_history, today)
    deals = _open_deals(opportunities, stage_history, model, today, rep_ids, states)
    if period is not None:
        deals = deals[deals["close_date"].between(_ts(period.start), _ts(period.end))]
    return _by_stage(model, deals)


def _by_stage(model: StageModel, deals: pd.DataFrame) -> pd.DataFrame:
    grouped = deals.groupby("stage", sort=False)["amount"].agg(["size", "sum"])
    stages = list(model.stage_order_) + sorted(
        str(s) for s in grouped.index if s not in set(model.stage_order_)
    )
    table = pd.DataFrame({"stage": stages})
    table["position"] = np.arange(len(table), dtype="int64")
    table["deals"] = table["stage"].map(grouped["size"]).fillna(0).astype("int64")
    table["amount"] = table["stage"].map(grouped["sum"]).fillna(0.0).astype(float)
    if model.has_probabilities:
        table["win_probability"] = model.win_probability(table["stage"]).to_numpy()
    else:
        table["win_probability"] = np.nan
    table["weighted_amount"] = table["amount"] * table["win_probability"]
    return table


@dataclass(frozen=True, eq=False)
class PipelineSummary:
    """Open pipeline on ``as_of`` for a scope.

    ``weighted_amount`` / ``closing_weighted`` are ``None`` (with ``weighted_reason``)
    when no deal had closed yet to learn win probabilities from. ``closing_*`` count open
    deals expected to close in ``period`` (``None`` period: zeros).
    """

    as_of: dt.date
    period: Period | None
    open_deals: int
    open_amount: float
    weighted_amount: float | None
    closing_deals: int
    closing_amount: float
    closing_weighted: float | None
    past_due_deals: int
    past_due_amount: float
    weighted_reason: str | None
    by_stage: pd.DataFrame


def pipeline_summary(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    *,
    today: dt.date,
    model: StageModel | None = None,
    rep_ids: Collection[int] | None = None,
    period: Period | None = None,
    states: pd.DataFrame | None = None,
) -> PipelineSummary:
    """Totals of the open pipeline on ``today``, what closes in ``period``, and what is past due.

    ``states``: see :func:`states_in_scope` (on ``today``).
    """
    model = ensure_model(model, opportunities, stage_history, today)
    deals = _open_deals(opportunities, stage_history, model, today, rep_ids, states)
    probability, reason = _weighted(model, deals)
    amounts = deals["amount"].astype(float)
    if period is not None:
        closing = deals["close_date"].between(_ts(period.start), _ts(period.end)).to_numpy()
    else:
        closing = np.zeros(len(deals), dtype=bool)
    past_due = (deals["close_date"] < _ts(today)).to_numpy()
    by_stage = _by_stage(model, deals)
    return PipelineSummary(
        as_of=today,
        period=period,
        open_deals=len(deals),
        open_amount=float(amounts.sum()),
        weighted_amount=None if probability is None else float((amounts * probability).sum()),
        closing_deals=int(closing.sum()),
        closing_amount=float(amounts[closing].sum()),
        closing_weighted=(
            None if probability is None else float((amounts * probability)[closing].sum())
        ),
        past_due_deals=int(past_due.sum()),
        past_due_amount=float(amounts[past_due].sum()),
        weighted_reason=reason,
        by_stage=by_stage,
    )


DEAL_COLUMNS = [
    "opportunity_id",
    "name",
    "account_id",
    "owner_id",
    "stage",
    "amount",
    "close_date",
    "win_probability",
    "weighted_amount",
    "forecast_category",
]


def deals_closing(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    *,
    period: Period,
    today: dt.date,
    model: StageModel | None = None,
    rep_ids: Collection[int] | None = None,
    states: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Open deals whose expected close date lies in ``period``, by close date then amount.

    Columns: ``DEAL_COLUMNS`` (``name`` / ``forecast_category`` empty when absent).
    ``states``: see :func:`states_in_scope` (on ``today``).
    """
    model = ensure_model(model, opportunities, stage_history, today)
    deals = _open_deals(opportunities, stage_history, model, today, rep_ids, states)
    deals = deals[deals["close_date"].between(_ts(period.start), _ts(period.end))]
    return _deal_table(model, deals).sort_values(
        ["close_date", "amount"], ascending=[True, False], kind="stable", ignore_index=True
    )


def _deal_table(model: StageModel, deals: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=deals.index)
    for column in DEAL_COLUMNS:
        if column in deals.columns:
            out[column] = deals[column]
        elif column in {"name", "forecast_category"}:
            out[column] = None
    if model.has_probabilities:
        out["win_probability"] = model.win_probability(deals["stage"]).to_numpy()
    else:
        out["win_probability"] = np.nan
    out["weighted_amount"] = out["amount"].astype(float) * out["win_probability"]
    return out[DEAL_COLUMNS]


def pipeline_by_rep(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    reps: pd.DataFrame,
    *,
    today: dt.date,
    model: StageModel | None = None,
    rep_ids: Collection[int] | None = None,
    states: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per rep in scope (reps without deals included): ``rep_id``, ``name``,
    ``open_deals``, ``open_amount``, ``weighted_amount`` (NaN without closed history),
    largest open amount first.
    ``states``: see :func:`states_in_scope` (on ``today``).
    """
    require_columns("reps", reps.columns, ["rep_id", "name"])
    model = ensure_model(model, opportunities, stage_history, today)
    deals = _open_deals(opportunities, stage_history, model, today, rep_ids, states)
    probability, _ = _weighted(model, deals)
    deals = deals.assign(
        weighted=np.nan if probability is None else deals["amount"] * probability.to_numpy()
    )
    grouped = deals.groupby("owner_id")[["amount", "weighted"]].agg(
        open_deals=("amount", "size"),
        open_amount=("amount", "sum"),
        weighted_amount=("weighted", "sum"),
    )
    people = reps[["rep_id", "name"]]
    if rep_ids is not None:
        people = people[people["rep_id"].isin([int(r) for r in rep_ids])]
    table = people.reset_index(drop=True).copy()
    table["open_deals"] = table["rep_id"].map(grouped["open_deals"]).fillna(0).astype("int64")
    table["open_amount"] = table["rep_id"].map(grouped["open_amount"]).fillna(0.0).astype(float)
    if probability is None:
        table["weighted_amount"] = np.nan
    else:
        table["weighted_amount"] = (
            table["rep_id"].map(grouped["weighted_amount"]).fillna(0.0).astype(float)
        )
    return table.sort_values(
        ["open_amount", "rep_id"], ascending=[False, True], kind="stable", ignore_index=True
    )


# ----------------------------------------------------------------------- movement

MOVEMENT_COLUMNS = [
    "opportunity_id",
    "name",
    "account_id",
    "owner_id",
    "movement",
    "stage_before",
    "stage_now",
    "amount",
    "close_date",
    "reason",
]


def pipeline_movement(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    *,
    since: dt.date,
    today: dt.date,
    model: StageModel | None = None,
    rep_ids: Collection[int] | None = None,
    states: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Deals that moved between ``since`` and ``today`` (definitions in the module docstring).

    One row per moved deal, columns ``MOVEMENT_COLUMNS``; ``movement`` is one of
    ``MOVEMENTS``; ``amount`` is the amount on ``today``; ``reason`` says what changed.
    ``states``: see :func:`states_in_scope` (on ``today``).
    """
    if since >= today:
        raise InvalidParameterError(f"'since' ({since}) must be before today ({today})")
    model = ensure_model(model, opportunities, stage_history, today)
    now = states_in_scope(
        opportunities, stage_history, as_of=today, model=model, rep_ids=rep_ids, states=states
    )
    scoped = deals_in_scope(opportunities, rep_ids)
    before = deal_states(scoped, stage_history, as_of=since, closed_stages=model.closed_stages_)
    before = before.set_index("opportunity_id")
    start, end = _ts(since), _ts(today)

    ids = now["opportunity_id"]
    state_before = ids.map(before["state"]).to_numpy(dtype=object)
    stage_before = ids.map(before["stage"]).to_numpy(dtype=object)
    state_now = now["state"].to_numpy(dtype=object)
    closed_in_window = (state_now != "open") & (state_before != "lost") & (state_before != "won")
    closed_in_window &= (now["close_date"] > start).to_numpy()
    created_in_window = (now["created_date"] > start).to_numpy() & (
        now["created_date"] <= end
    ).to_numpy()
    open_both = (state_now == "open") & (state_before == "open")
    pos_now = model.position(now["stage"]).to_numpy()
    pos_before = model.position(pd.Series(stage_before, index=now.index)).to_numpy()
    moved_back = open_both & (pos_now < pos_before)
    moved_on = open_both & (pos_now > pos_before)
    date_passed = (
        open_both & (now["close_date"] >= start).to_numpy() & (now["close_date"] < end).to_numpy()
    )

    movement = np.full(len(now), "", dtype=object)
    movement[open_both & moved_on & ~date_passed] = "advanced"
    movement[moved_back | date_passed] = "slipped"
    movement[(state_now == "open") & created_in_window] = "new"
    movement[closed_in_window & (state_now == "lost")] = "lost"
    movement[closed_in_window & (state_now == "won")] = "won"

    keep = movement != ""
    out = now.assign(movement=movement, stage_before=stage_before, stage_now=now["stage"])[keep]
    if "name" not in out.columns:
        out = out.assign(name=None)
    reasons = []
    for row, back, passed in zip(
        out.itertuples(index=False), moved_back[keep], date_passed[keep], strict=True
    ):
        close = _date(row.close_date)
        if row.movement in {"won", "lost"}:
            reasons.append(f"{row.movement} on {close}")
        elif row.movement == "new":
            reasons.append(
                f"created on {_date(row.created_date)}, now in {stage_label(row.stage_now)}"
            )
        elif row.movement == "advanced":
            reasons.append(
                f"moved from {stage_label(row.stage_before)} to {stage_label(row.stage_now)}"
            )
        else:
            words = []
            if back:
                words.append(
                    f"moved back from {stage_label(row.stage_before)} "
                    f"to {stage_label(row.stage_now)}"
                )
            if passed:
                words.append(f"expected close date {close} passed without closing")
            reasons.append("; ".join(words))
    order = {m: i for i, m in enumerate(MOVEMENTS)}
    out = out.assign(reason=reasons, _order=out["movement"].map(order))
    out = out.sort_values(["_order", "amount"], ascending=[True, False], kind="stable")
    return out[MOVEMENT_COLUMNS].reset_index(drop=True)


def movement_summary(movement: pd.DataFrame) -> pd.DataFrame:
    """Count and amount per movement kind, every kind listed: ``movement``, ``deals``, ``amount``."""
    grouped = movement.groupby("movement")["amount"].agg(["size", "sum"])
    table = pd.DataFrame({"movement": list(MOVEMENTS)})
    table["deals"] = table["movement"].map(grouped["size"]).fillna(0).astype("int64")
    table["amount"] = table["movement"].map(grouped["sum"]).fillna(0.0).astype(float)
    return table


# ------------------------------------------------------------------------ stalled

STALLED_COLUMNS = [
    "opportunity_id",
    "name",
    "account_id",
    "owner_id",
    "stage",
    "amount",
    "close_date",
    "days_in_stage",
    "typical_days_in_stage",
    "days_since_activity",
    "last_activity_date",
    "stalled_by",
    "reason",
    "next_step",
]

_NEXT_STEPS: Mapping[str, tuple[str, str, str]] = {
    "past_close_date": (
        "Agree a new close date with the buyer, or close the deal as lost",
        "Agree a new close date with the buyer, or close the deal as lost",
        "Confirm with your champion what blocks the signature and agree a new close date",
    ),
    "stage_time": (
        "Book a discovery meeting with the decision maker, or qualify the deal out",
        "Propose a mutual close plan with dates for each remaining step",
        "Confirm the procurement and legal steps and who signs",
    ),
    "no_activity": (
        "Call the main contact to re-confirm the need and the timing",
        "Send a recap of the value discussed and book the next meeting with the decision maker",
        "Ask your champion what stands between the deal and a signature",
    ),
}


def stalled_deals(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    activities: pd.DataFrame | None,
    *,
    today: dt.date,
    model: StageModel | None = None,
    rep_ids: Collection[int] | None = None,
    no_activity_days: int | None = 14,
    stage_time: bool = True,
    past_close_date: bool = True,
    states: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Open deals that look stuck, largest amount first (definitions in the module docstring).

    Set ``no_activity_days=None`` (or ``activities=None``) to skip the activity rule,
    ``stage_time=False`` / ``past_close_date=False`` to skip the others. Columns:
    ``STALLED_COLUMNS``; ``stalled_by`` is a tuple of rule names (``"stage_time"``,
    ``"no_activity"``, ``"past_close_date"``), ``reason`` the numbers in words and
    ``next_step`` a suggested action (with the CRM's own next step when it has one).
    ``states``: see :func:`states_in_scope` (on ``today``).
    """
    model = ensure_model(model, opportunities, stage_history, today)
    deals = _open_deals(opportunities, stage_history, model, today, rep_ids, states)
    end = _ts(today)
    deals = deals.assign(
        days_in_stage=(end - deals["stage_entered"]).dt.days.astype(float),
        typical_days_in_stage=model.typical_days(deals["stage"]).to_numpy(),
    )
    use_activity = activities is not None and no_activity_days is not None
    if use_activity:
        assert activities is not None
        last_activity, snoozed = _activity_facts(activities, deals, today)
        deals = deals[~deals["opportunity_id"].isin(snoozed)]
        last = _map_dates(deals["opportunity_id"], last_activity)
        deals = deals.assign(
            last_activity_date=last.dt.normalize(),
            days_since_activity=(
                end - last.fillna(deals["created_date"]).dt.normalize()
            ).dt.days.astype(float),
        )
    else:
        deals = deals.assign(last_activity_date=pd.NaT, days_since_activity=np.nan)
    stage_flag = (
        deals["days_in_stage"] > deals["typical_days_in_stage"]
        if stage_time
        else pd.Series(False, index=deals.index)
    ).to_numpy()
    activity_flag = (
        (deals["days_since_activity"] > float(no_activity_days)).to_numpy()
        if use_activity and no_activity_days is not None
        else np.zeros(len(deals), dtype=bool)
    )
    close_flag = (
        (deals["close_date"] < end).to_numpy() if past_close_date else np.zeros(len(deals), bool)
    )
    flagged = stage_flag | activity_flag | close_flag
    deals = deals[flagged]
    stage_flag, activity_flag, close_flag = (
        stage_flag[flagged],
        activity_flag[flagged],
        close_flag[flagged],
    )
    n_stages = max(len(model.stage_order_), 1)
    positions = model.position(deals["stage"]).to_numpy()
    stage_days = model.stage_days_.set_index("stage")["won_visits"]
    rows_by, reasons, steps = [], [], []
    for i, row in enumerate(deals.itertuples(index=False)):
        rules: list[str] = []
        words: list[str] = []
        if close_flag[i]:
            rules.append("past_close_date")
            overdue = (end - row.close_date).days
            words.append(
                f"expected to close on {_date(row.close_date)}, {_count(overdue, 'day')} ago"
            )
        if stage_flag[i]:
            rules.append("stage_time")
            visits = int(stage_days.get(row.stage, 0))
            words.append(
                f"in {stage_label(row.stage)} for {_count(row.days_in_stage, 'day')}; "
                f"{int(model.typical_quantile * 100)}% of won deals moved on within "
                f"{_count(round(row.typical_days_in_stage), 'day')} ({_count(visits, 'won deal')})"
            )
        if activity_flag[i]:
            rules.append("no_activity")
            if pd.isna(row.last_activity_date):
                words.append(
                    f"no activity logged since it was created {_count(row.days_since_activity, 'day')} ago"
                )
            else:
                words.append(
                    f"no activity for {_count(row.days_since_activity, 'day')} "
                    f"(last on {_date(row.last_activity_date)})"
                )
        position = positions[i]
        third = 0 if np.isnan(position) else min(int(3 * position / n_stages), 2)
        step = _NEXT_STEPS[rules[0]][third]
        crm_step = getattr(row, "next_step", None)
        if isinstance(crm_step, str) and crm_step.strip():
            step += f" (next step in the CRM: {crm_step.strip()})"
        rows_by.append(tuple(rules))
        reasons.append("; ".join(words))
        steps.append(step)
    deals = deals.assign(stalled_by=rows_by, reason=reasons, next_step=steps)
    if "name" not in deals.columns:
        deals = deals.assign(name=None)
    return deals.sort_values(["amount", "opportunity_id"], ascending=[False, True], kind="stable")[
        STALLED_COLUMNS
    ].reset_index(drop=True)


def _map_dates(keys: pd.Series, lookup: pd.Series) -> pd.Series:
    """``keys.map(lookup)`` for a datetime lookup, NaT where missing (also when it is empty)."""
    if not len(lookup):
        return pd.Series(pd.NaT, index=keys.index, dtype="datetime64[ns]")
    return keys.map(lookup).astype("datetime64[ns]")


def _activity_facts(
    activities: pd.DataFrame, deals: pd.DataFrame, today: dt.date
) -> tuple[pd.Series, set[int]]:
    """Last non-snooze activity per deal (own or account-level) and the snoozed deal ids."""
    require_columns("activities", activities.columns, ACTIVITY_REQUIRED)
    end = np.datetime64(_ts(today) + pd.Timedelta(days=1), "ns")
    deal_ids = int_ids(deals["opportunity_id"])
    account_ids = int_ids(deals["account_id"])
    opp = int_ids(activities["opportunity_id"])
    acc = int_ids(activities["account_id"])
    on_deal = is_member(opp, deal_ids)
    loose = np.flatnonzero(opp < 0)
    on_account = loose[is_member(acc[loose], account_ids)]
    rows = np.union1d(np.flatnonzero(on_deal), on_account)
    when = activities["occurred_at"].to_numpy(dtype="datetime64[ns]")[rows]
    rows, when = rows[when < end], when[when < end]
    kind = activities["kind"].to_numpy(dtype=object)[rows]
    opp, acc = opp[rows], acc[rows]
    is_snooze = kind == SNOOZE
    snoozed: set[int] = set()
    if is_snooze.any() and "until_date" in activities.columns:
        until = activities["until_date"].to_numpy(dtype="datetime64[ns]")[rows]
        active = is_snooze & (opp >= 0) & (until >= np.datetime64(_ts(today), "ns"))
        snoozed = {int(x) for x in opp[active]}
    touch = ~is_snooze
    own_rows = touch & (opp >= 0)
    account_rows = touch & (opp < 0)
    last_by_deal = pd.Series(when[own_rows]).groupby(opp[own_rows]).max()
    last_by_account = pd.Series(when[account_rows]).groupby(acc[account_rows]).max()
    own = _map_dates(pd.Series(deal_ids), last_by_deal).to_numpy()
    via_account = _map_dates(pd.Series(account_ids), last_by_account).to_numpy()
    last = np.where(np.isnat(own) | (via_account > own), via_account, own)
    return pd.Series(last, index=deal_ids), snoozed
