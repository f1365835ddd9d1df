"""Account health: which accounts (and which categories of an account) are slipping.

Each account and each account x category is judged against its *own* buying rhythm
(:mod:`analytics.cycles`): how long it has been silent compared with its usual gap between
orders, with a tolerance that widens with how irregular the buyer is; whether the same
weeks last year were quiet too (a seasonal lull is not an alarm); and how its spend over
the last quarter compares with its own usual quarter and with the same quarter last year.
Brand-new accounts and one-off buyers get their own statuses and are never flagged.

The ``score`` is a probability of *no order in the next* ``horizon_days``. :class:`HealthModel`
learns it from the same order history, one and more horizons earlier (features at an earlier
cutoff, outcome known since), with :class:`~analytics.cycles.OutcomeModel` (logistic regression
and gradient boosting, averaged) on the rhythm features; without
enough history it falls back to a rule-based score from the same features.

Statuses
--------
``new``       first order less than ``new_days`` ago
``one_off``   a single purchase so far
``lapsed``    slipping, and silent for longer than ``lapse_days`` and twice its tolerance
``slipping``  silent beyond its tolerance (``slip_z`` spreads past its usual gap) or spend down
              sharply beyond its usual quarter-to-quarter swings
``watch``     silent beyond ``watch_z`` spreads, a smaller spend drop, or a sizeable category
              stopped while the account still buys
``healthy``   everything else
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from analytics.activity import (
    ACTIVITY_FEATURES,
    BASELINES,
    BLEND,
    LEARNT,
    RFM_COLUMNS,
    Backtest,
    Calibration,
    activity_features,
    boosted_probability,
    choose_method,
    fit_bgnbd,
    fit_boosted,
    ranking_quality,
)
from analytics.cycles import (
    QUARTER_DAYS,
    YEAR_DAYS,
    OutcomeModel,
    PurchaseHistory,
    Rhythm,
    build_history,
    date_of,
    date_strings,
    day_number,
    orders_between,
    rhythm,
    seasonal_clock,
    seasonal_index,
    single_threaded,
)
from analytics.errors import ModelNotFittedError, NoOrderHistoryError
from analytics.wording import days_text, int_text, join_clauses, money_text, percent_text

HEALTH_COLUMNS = [
    "account_id", "status", "score", "revenue_at_risk", "annual_revenue", "cycle_days",
    "days_since_last_order", "spend_change", "spend_change_ly", "orders", "first_order",
    "last_order", "reason",
]  # fmt: skip
CATEGORY_HEALTH_COLUMNS = [
    "account_id", "category", "status", "score", "revenue_at_risk", "annual_revenue",
    "cycle_days", "days_since_last_order", "orders", "last_order", "reason",
]  # fmt: skip
FLAGGED = ("slipping", "lapsed")
FEATURES = [
    "overdue_z", "overdue_log_ratio", "log_recency", "log_orders", "log_age", "log_spread",
    "log_cycle", "log_expected_orders", "spend_trend", "has_last_year", "spend_trend_ly",
    "ordered_next_window_ly", "quiet_window_ly", "seasonal_lull",
]  # fmt: skip
# the silence features (overdue_z, overdue_log_ratio, log_recency): FEATURES[:SILENCE]
SILENCE = 3


@dataclass
class HealthResult:
    """Both levels of one assessment: ``accounts`` (HEALTH_COLUMNS) and ``categories``
    (CATEGORY_HEALTH_COLUMNS)."""

    accounts: pd.DataFrame
    categories: pd.DataFrame


@dataclass
class _Judged:
    """One level's rhythm, features, rule flags, status and score (arrays by entity)."""

    rhythm: Rhythm
    features: np.ndarray
    status: np.ndarray
    score: np.ndarray
    seasonal_lull: np.ndarray
    spend_change: np.ndarray
    spend_change_ly: np.ndarray
    annual_value: np.ndarray
    revenue_at_risk: np.ndarray
    overdue: np.ndarray
    life_change: np.ndarray


def _safe_log(x: np.ndarray, floor: float = 0.5) -> np.ndarray:
    return np.log(np.maximum(np.nan_to_num(x, nan=floor), floor))


def _features(r: Rhythm) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Feature matrix (columns FEATURES) and the named intermediate arrays."""
    cutoff = r.cutoff
    cycle_w = np.where(np.isnan(r.cycle_w), np.nan, np.maximum(r.cycle_w, 1.0))
    log_ratio = np.clip(_safe_log(r.recency_w) - _safe_log(cycle_w, 1.0), -5, 5)
    z = np.clip(log_ratio / r.log_spread, -6, 8)
    age = cutoff - r.first_day
    # floored so that orders worth nothing (free samples, replacements) keep the trends finite
    avg_order = np.maximum(r.total_spend / np.maximum(r.orders, 1), 1e-9)
    # usual quarter: mean of the up to four whole quarters before the latest one
    n_prev = np.clip(np.floor(age / QUARTER_DAYS) - 1, 0, 4)  # whole quarters seen
    whole = np.arange(4)[None, :] < n_prev[:, None]
    usual_q = np.where(
        n_prev > 0,
        np.where(whole, r.quarters[:, 1:5], 0).sum(axis=1) / np.maximum(n_prev, 1),
        np.nan,
    )
    latest_q = r.quarters[:, 0]
    trend = np.where(
        n_prev > 0, np.log((latest_q + avg_order) / (np.nan_to_num(usual_q) + avg_order)), 0.0
    )
    has_ly = age >= YEAR_DAYS + QUARTER_DAYS
    ly_q = r.quarters[:, 4]
    trend_ly = np.where(has_ly, np.log((latest_q + avg_order) / (ly_q + avg_order)), 0.0)
    expected_silent = np.maximum(np.nan_to_num(r.recency_w / cycle_w, nan=0.0), 0.0)
    window_seen = age >= YEAR_DAYS + r.recency_days
    quiet_ly = np.where(
        window_seen & (expected_silent >= 1),
        np.clip(1 - r.ly_silent_orders / np.maximum(expected_silent, 1), 0, 1),
        0.0,
    )
    # a seasonal lull: the same weeks last year were at most half as busy as the account's usual
    # rhythm (and it came back after them, since it has ordered since)
    lull = (
        window_seen
        & (expected_silent >= 2)
        & (r.ly_silent_orders <= 0.5 * expected_silent)
        & (r.recency_days < YEAR_DAYS)
    )
    log_expected = _safe_log(r.horizon_w, 1.0) - _safe_log(cycle_w, 1.0)
    matrix = np.column_stack(
        [
            z,
            log_ratio,
            np.log1p(r.recency_days),
            np.log(np.maximum(r.orders, 1)),
            np.log1p(age),
            np.log(r.log_spread),
            _safe_log(cycle_w, 1.0),
            np.clip(log_expected, -6, 6),
            np.clip(trend, -5, 5),
            has_ly.astype(float),
            np.clip(trend_ly, -5, 5),
            (has_ly & (r.ly_next_orders > 0)).astype(float),
            quiet_ly,
            lull.astype(float),
        ]
    )
    spend_change = np.where(
        n_prev > 0, latest_q / np.where(usual_q > 0, usual_q, np.nan) - 1, np.nan
    )
    spend_change_ly = np.where(
        has_ly & (ly_q > 0), latest_q / np.where(ly_q > 0, ly_q, 1.0) - 1, np.nan
    )
    # spend-drop test: log change against the account's own quarter-to-quarter swings, with a
    # small floor (a quarter of an average order) so an empty quarter is a finite drop
    floor = 0.25 * avg_order + 1e-9
    drop_trend = np.where(
        n_prev > 0, np.log((latest_q + floor) / (np.nan_to_num(usual_q) + floor)), 0.0
    )
    # the account's quarter-to-quarter swings: up to seven whole quarters before the latest
    n_swing = np.clip(np.floor(age / QUARTER_DAYS) - 1, 0, 7)
    prev = r.quarters[:, 1:8]
    usable = np.arange(7)[None, :] < n_swing[:, None]
    logs = np.log(prev + floor[:, None])
    mean_log = np.where(usable, logs, 0).sum(axis=1) / np.maximum(usable.sum(axis=1), 1)
    var_log = np.where(usable, (logs - mean_log[:, None]) ** 2, 0).sum(axis=1) / np.maximum(
        usable.sum(axis=1) - 1, 1
    )
    k = usable.sum(axis=1)
    # what an irregular rhythm and uneven order sizes alone do to a quarter: a sum of k orders
    # varies with a coefficient of about sqrt(gap spread^2 + order-size CV^2) / sqrt(k)
    expected_orders = np.maximum(QUARTER_DAYS / np.nan_to_num(r.cycle_days, nan=QUARTER_DAYS), 1.0)
    rhythm_spread = np.sqrt(r.log_spread**2 + r.amount_cv**2) / np.sqrt(expected_orders)
    prior = np.maximum(0.35, rhythm_spread)
    spend_spread = np.sqrt(
        (np.maximum(k - 1, 0) * var_log + 2 * prior**2) / (np.maximum(k - 1, 0) + 2)
    )
    spend_spread = np.maximum(spend_spread, rhythm_spread)

    # a decline that set in over the last half-year: the last two quarters against the year
    # before them, on the swings of the quarters before the decline (up to six)
    n_ref = np.clip(np.floor((age - 2 * QUARTER_DAYS) / QUARTER_DAYS), 0, 6)
    before = r.quarters[:, 2:8]
    seen = np.arange(6)[None, :] < n_ref[:, None]
    ref_q = np.where(seen[:, :4], before[:, :4], 0).sum(axis=1) / np.maximum(
        seen[:, :4].sum(axis=1), 1
    )
    recent_q = r.quarters[:, :2].mean(axis=1)
    half_trend = np.log((recent_q + floor) / (ref_q + floor))
    logs_before = np.log(before + floor[:, None])
    k_before = seen.sum(axis=1)
    mean_before = np.where(seen, logs_before, 0).sum(axis=1) / np.maximum(k_before, 1)
    var_before = np.where(seen, (logs_before - mean_before[:, None]) ** 2, 0).sum(
        axis=1
    ) / np.maximum(k_before - 1, 1)
    dof = np.maximum(k_before - 1, 0)
    half_spread = np.sqrt((dof * var_before + 2 * prior**2) / (dof + 2))
    half_spread = np.maximum(half_spread, rhythm_spread) / np.sqrt(2)
    active_days = r.last_day - r.first_day + np.nan_to_num(r.cycle_days, nan=0.0)
    life_q = r.total_spend / np.maximum(active_days, QUARTER_DAYS) * QUARTER_DAYS
    two_years = age >= 2 * YEAR_DAYS
    named = {
        "z": z,
        "trend": trend,
        "trend_ly": trend_ly,
        "has_ly": has_ly,
        "lull": lull,
        "n_prev": n_prev,
        "spend_change": spend_change,
        "spend_change_ly": spend_change_ly,
        "spend_z": drop_trend / np.maximum(spend_spread, 0.2),
        "usual_quarter": usual_q,
        "half_change": np.where(
            n_ref >= 3, recent_q / np.where(ref_q > 0, ref_q, np.nan) - 1, np.nan
        ),
        "half_z": np.where(n_ref >= 3, half_trend / np.maximum(half_spread, 0.15), 0.0),
        # against the whole relationship: a drop that happened long ago and never recovered
        "life_change": np.where(two_years, recent_q / np.maximum(life_q, 1e-9) - 1, np.nan),
        "life_z": np.where(
            two_years,
            np.log((recent_q + floor) / (life_q + floor)) / np.maximum(half_spread, 0.15),
            0.0,
        ),
    }
    return matrix, named


def _fallback_score(named: dict[str, np.ndarray], slip_z: float) -> np.ndarray:
    """Rule-based probability-like score of no order in the horizon, from how overdue the
    entity is on its own rhythm (damped in a seasonal lull)."""
    overdue = ndtr(named["z"] - slip_z + 0.5)
    return np.where(named["lull"], overdue * 0.3, overdue)


class HealthModel:
    """Slipping-account model: rhythm rules for the status, a fitted probability for the score.

    Parameters
    ----------
    horizon_days : the score is the probability of no order within this many days.
    new_days : accounts (categories) whose first order is more recent are ``new``.
    watch_z, slip_z : silence beyond ``exp(z * spread)`` times the usual gap means watch / slipping.
    lapse_days : slipping entities silent for longer than this (and twice their tolerance) are lapsed.
    spend_drop, drop_z : a latest quarter this far below the usual one (and below the same
        quarter last year when known), and ``drop_z`` standard deviations below it on the
        account's own quarter-to-quarter swings, is slipping (strict, because every account is
        tested every day); ``spend_watch`` and ``drop_z - 1`` are the watch levels.
    n_splits : earlier cutoffs (one horizon apart) used to learn the category score.
    account_splits : earlier cutoffs (a third of a horizon apart) stacked to learn the account
        score, from the rhythm and activity features (analytics.activity).
    slip_probability, watch_probability : an account whose score (P(no order in the horizon))
        reaches these is slipping (when also silent past its own tolerance) / watch; the top
        ``watch_top`` share of the ranking is at least watch, so status and score agree.
    min_flag_orders : fewer order days than this are too little history to flag.
    max_train_accounts, max_train_rows : accounts sampled for learning, and training rows kept
        per level (keeps 100k-account batches fast).
    min_train_rows : with fewer training rows, or one outcome only, the rule-based score is used.
    min_flag_score : a fitted score below this keeps an entity at ``watch`` at most.
    Column names of the frames are parameters too.
    """

    def __init__(
        self,
        *,
        horizon_days: int = 90,
        new_days: int = 90,
        watch_z: float = 1.0,
        slip_z: float = 2.0,
        lapse_days: int = 180,
        spend_drop: float = 0.5,
        spend_watch: float = 0.3,
        drop_z: float = 3.0,
        category_share: float = 0.15,
        n_splits: int = 3,
        account_splits: int = 8,
        slip_probability: float = 0.5,
        watch_probability: float = 0.35,
        min_flag_orders: int = 3,
        watch_top: float = 0.1,
        max_train_accounts: int = 20_000,
        max_train_rows: int = 60_000,
        min_train_rows: int = 40,
        min_flag_score: float = 0.3,
        C: float = 1.0,
        random_state: int = 0,
        account_col: str = "account_id",
        date_col: str = "order_date",
        category_col: str = "category",
        amount_col: str = "amount",
        segment_col: str = "segment",
    ) -> None:
        self.horizon_days = horizon_days
        self.new_days = new_days
        self.watch_z = watch_z
        self.slip_z = slip_z
        self.lapse_days = lapse_days
        self.spend_drop = spend_drop
        self.spend_watch = spend_watch
        self.drop_z = drop_z
        self.category_share = category_share
        self.n_splits = n_splits
        self.account_splits = account_splits
        self.slip_probability = slip_probability
        self.watch_probability = watch_probability
        self.min_flag_orders = min_flag_orders
        self.watch_top = watch_top
        self.max_train_accounts = max_train_accounts
        self.max_train_rows = max_train_rows
        self.min_train_rows = min_train_rows
        self.min_flag_score = min_flag_score
        self.C = C
        self.random_state = random_state
        self.account_col = account_col
        self.date_col = date_col
        self.category_col = category_col
        self.amount_col = amount_col
        self.segment_col = segment_col

    # ----------------------------------------------------------------------- fitting

    def _history(
        self, order_lines: pd.DataFrame, accounts: pd.DataFrame | None, as_of: dt.date
    ) -> PurchaseHistory:
        history = build_history(
            order_lines,
            as_of,
            accounts,
            account_col=self.account_col,
            date_col=self.date_col,
            category_col=self.category_col,
            amount_col=self.amount_col,
            segment_col=self.segment_col,
        )
        if len(history.acc_day) == 0:
            raise NoOrderHistoryError(as_of)
        return history

    def fit(
        self, order_lines: pd.DataFrame, accounts: pd.DataFrame | None = None, *, as_of: dt.date
    ) -> HealthModel:
        """Learn the seasonal index per segment, the population spreads and the score models.

        ``order_lines``: account_col, date_col, category_col, amount_col; ``accounts``
        (optional): account_col, segment_col. Only lines on or before ``as_of`` are used.
        """
        with single_threaded():
            return self._fit(order_lines, accounts, as_of)

    def _fit(
        self, order_lines: pd.DataFrame, accounts: pd.DataFrame | None, as_of: dt.date
    ) -> HealthModel:
        history = self._history(order_lines, accounts, as_of)
        index = seasonal_index(history)
        self.segments_ = list(history.segments)
        self.seasonal_index_ = pd.DataFrame(index, index=history.segments, columns=range(1, 13))
        self.pooled_index_ = index.mean(axis=0) / index.mean()
        cutoff = day_number(as_of)
        clock = seasonal_clock(index, history.segments, history.first_day, cutoff)
        acc_r = self._rhythm_accounts(history, clock, cutoff, None)
        cat_r = self._rhythm_categories(history, clock, cutoff, None)
        self.account_spread_ = (
            float(np.median(acc_r.log_spread[acc_r.gaps >= 6])) if (acc_r.gaps >= 6).any() else 0.6
        )
        self.category_spread_ = (
            float(np.median(cat_r.log_spread[cat_r.gaps >= 6])) if (cat_r.gaps >= 6).any() else 0.6
        )
        self.account_spread_ = float(np.clip(self.account_spread_, 0.2, 1.5))
        self.category_spread_ = float(np.clip(self.category_spread_, 0.2, 1.5))

        train = history
        if history.n_accounts > self.max_train_accounts:
            rng = np.random.default_rng(self.random_state)
            picked = rng.choice(history.n_accounts, self.max_train_accounts, replace=False)
            train = history.restrict(np.sort(picked))
        self.bgnbd_ = fit_bgnbd(history, cutoff, random_state=self.random_state)
        self.account_classifier_ = self._fit_account_scorer(train, clock, cutoff)
        self.category_classifier_ = self._fit_level(train, clock, cutoff, level="category")
        self.method_ = LEARNT
        self.calibration_ = Calibration()
        self.backtest_: Backtest | None = None
        self.rfm_model_ = None
        self._backtest(train, clock, cutoff)
        if self.method_ in ("gradient-boosted RFM",) or (
            self.method_ == BLEND and self.blend_with_ == "gradient-boosted RFM"
        ):
            self.rfm_model_ = self._fit_rfm(train, clock, cutoff)
        self.__dict__.pop("_rows_cache", None)  # training rows are not part of the model
        self.fitted_as_of_ = as_of
        return self

    # ------------------------------------------------------ account score and backtest

    def _cached_rows(
        self, h: PurchaseHistory, clock, cutoff: int
    ) -> tuple[np.ndarray, Rhythm, np.ndarray]:
        """:meth:`_account_rows` at an earlier cutoff of the training history, with BG/NBD
        fitted as of that day; computed once per fit (the backtest's training cutoffs are the
        final model's, shifted by one horizon)."""
        cache = self.__dict__.setdefault("_rows_cache", {})
        if cutoff not in cache:
            warm = getattr(getattr(self, "bgnbd_", None), "params_", None)
            bgnbd = fit_bgnbd(h, cutoff, random_state=self.random_state, start=warm)
            cache[cutoff] = self._account_rows(h, clock, cutoff, bgnbd)
        return cache[cutoff]

    def _account_rows(
        self, h: PurchaseHistory, clock, cutoff: int, bgnbd
    ) -> tuple[np.ndarray, Rhythm, np.ndarray]:
        """Rhythm and activity features of every account with an order on or before
        ``cutoff`` (FEATURES + ACTIVITY_FEATURES), its rhythm, and its days of silence."""
        r = self._rhythm_accounts(h, clock, cutoff, self.account_spread_)
        matrix, _ = _features(r)
        act = activity_features(h, cutoff, self.horizon_days, bgnbd)
        extra = act.matrix.copy()
        alive = ACTIVITY_FEATURES.index("bgnbd_p_alive")
        extra[:, alive] = np.nan_to_num(extra[:, alive], nan=1.0)
        extra[:, alive + 1] = np.nan_to_num(extra[:, alive + 1], nan=0.5)
        return np.column_stack([matrix, extra]), r, act.recency_days

    def _training_cutoffs(self, h: PurchaseHistory, end: int) -> list[int]:
        """Earlier cutoffs whose outcome window closes by ``end``: a third of a horizon apart,
        ``n_splits`` of them (a year of seasons at the default 90-day horizon)."""
        step = max(self.horizon_days // 3, 7)
        out = []
        for j in range(self.account_splits):
            c = end - self.horizon_days - j * step
            if c - self.new_days <= h.first_day:
                break
            out.append(c)
        return out

    def _stacked_rows(
        self,
        h: PurchaseHistory,
        clock,
        end: int,
        columns: list[int] | None = None,
        splits: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for c in self._training_cutoffs(h, end)[:splits]:
            x, r, _ = self._cached_rows(h, clock, c)
            eligible = r.orders >= 2
            future = orders_between(h.acc_code, h.acc_day, c, c + self.horizon_days, h.n_accounts)
            xs.append(x[eligible] if columns is None else x[eligible][:, columns])
            ys.append((future[r.entity][eligible] == 0).astype(int))
        if not xs:
            return np.zeros((0, 0)), np.zeros(0, dtype=int)
        return np.vstack(xs), np.concatenate(ys)

    def _fit_outcome(self, x: np.ndarray, y: np.ndarray) -> OutcomeModel | None:
        """The score model on (at most ``max_train_rows`` of) the training rows; None with too
        few rows or one outcome only. Its SILENCE features extrapolate linearly."""
        if len(y) < self.min_train_rows or y.min() == y.max():
            return None
        if len(y) > self.max_train_rows:
            pick = np.random.default_rng(self.random_state).choice(
                len(y), self.max_train_rows, replace=False
            )
            x, y = x[pick], y[pick]
        return OutcomeModel(C=self.C, random_state=self.random_state, linear_beyond=SILENCE).fit(
            x, y
        )

    def _fit_account_scorer(self, h: PurchaseHistory, clock, end: int) -> OutcomeModel | None:
        """The learnt account score: rhythm and activity features stacked over the training
        cutoffs before ``end``, outcome = no order in the following horizon."""
        x, y = self._stacked_rows(h, clock, end)
        return self._fit_outcome(x, y)

    def _fit_rfm(self, h: PurchaseHistory, clock, end: int):
        """The baseline a data scientist builds in an afternoon: gradient boosting on RFM and
        rhythm columns, trained one horizon before ``end``."""
        rfm = [len(FEATURES) + i for i in RFM_COLUMNS]
        x, y = self._stacked_rows(h, clock, end, columns=rfm, splits=1)
        if len(y) < self.min_train_rows or y.min() == y.max():
            return None
        return fit_boosted(x, y, self.random_state)

    def _baseline_raw(self, name: str, x: np.ndarray, recency: np.ndarray, rfm_model) -> np.ndarray:
        """A baseline's raw score (higher = more likely no order), on a scale a logistic
        calibration can map to a probability."""
        if name == "recency":
            return np.log1p(recency)
        if name == "BG/NBD":
            p = x[:, len(FEATURES) + ACTIVITY_FEATURES.index("bgnbd_p_quiet")]
        else:
            rfm = [len(FEATURES) + i for i in RFM_COLUMNS]
            p = (
                boosted_probability(rfm_model, x[:, rfm])
                if rfm_model is not None
                else np.full(len(x), 0.5)
            )
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    def _blend_raw(self, learnt: np.ndarray, base_raw: np.ndarray) -> np.ndarray:
        p = np.clip(learnt, 1e-6, 1 - 1e-6)
        a = (np.log(p / (1 - p)) - self.blend_stats_[0]) / self.blend_stats_[1]
        b = (base_raw - self.blend_stats_[2]) / self.blend_stats_[3]
        return 0.5 * (a + b)

    def _backtest(self, h: PurchaseHistory, clock, cutoff: int) -> None:
        """Fit everything as of one horizon back, score that day, compare with what happened
        next; keep the figures and pick the method (see analytics.activity)."""
        self.blend_with_ = ""
        self.blend_stats_ = (0.0, 1.0, 0.0, 1.0)
        b = cutoff - self.horizon_days
        if b - self.new_days <= h.first_day or self.account_classifier_ is None:
            return
        model_b = self._fit_account_scorer(h, clock, b)
        if model_b is None:
            return
        x, r, recency = self._cached_rows(h, clock, b)
        eligible = r.orders >= 2
        x, recency = x[eligible], recency[eligible]
        future = orders_between(h.acc_code, h.acc_day, b, cutoff, h.n_accounts)
        y = (future[r.entity][eligible] == 0).astype(int)
        if len(y) < 20 or y.min() == y.max():
            return
        learnt = model_b.probability(x)
        rfm_b = self._fit_rfm(h, clock, b)
        raw = {name: self._baseline_raw(name, x, recency, rfm_b) for name in BASELINES}
        quality = {LEARNT: ranking_quality(y, learnt)}
        quality |= {name: ranking_quality(y, raw[name]) for name in BASELINES}
        weight = min(1.0, 0.1 * len(y) / 30.0)
        best_base = max(
            BASELINES,
            key=lambda n: quality[n]["roc_auc"] + weight * quality[n]["precision_at_10"],
        )
        p = np.clip(learnt, 1e-6, 1 - 1e-6)
        logit = np.log(p / (1 - p))
        self.blend_stats_ = (
            float(logit.mean()), float(logit.std() + 1e-9),
            float(raw[best_base].mean()), float(raw[best_base].std() + 1e-9),
        )  # fmt: skip
        self.blend_with_ = best_base
        blend = self._blend_raw(learnt, raw[best_base])
        quality[BLEND] = ranking_quality(y, blend)
        self.method_ = choose_method(quality, accounts=len(y))
        chosen_raw = {LEARNT: None, BLEND: blend, **raw}[self.method_]
        score = learnt if chosen_raw is None else chosen_raw
        if chosen_raw is not None:
            self.calibration_ = Calibration.fit(chosen_raw, y)
            score = self.calibration_(chosen_raw)
        z = x[:, 0]
        flagged = (
            (score >= self.slip_probability)
            & (z >= self.watch_z)
            & (r.orders[eligible] >= self.min_flag_orders)
        )
        self.backtest_ = Backtest(
            as_of=date_of(b),
            horizon_days=self.horizon_days,
            accounts=len(y),
            positives=int(y.sum()),
            quality=quality,
            chosen=self.method_,
            flagged=int(flagged.sum()),
            flagged_no_order=int(y[flagged].sum()),
        )

    def _account_score(self, x: np.ndarray, recency: np.ndarray) -> np.ndarray | None:
        """P(no order in the horizon) of each account row by the method the backtest chose."""
        if self.account_classifier_ is None:
            return None
        learnt = self.account_classifier_.probability(x)
        method = getattr(self, "method_", LEARNT)
        if method == LEARNT:
            return learnt
        if method == BLEND:
            raw = self._blend_raw(
                learnt, self._baseline_raw(self.blend_with_, x, recency, self.rfm_model_)
            )
        else:
            raw = self._baseline_raw(method, x, recency, self.rfm_model_)
        return self.calibration_(raw)

    def _rhythm_accounts(
        self, h: PurchaseHistory, clock, cutoff: int, prior: float | None
    ) -> Rhythm:
        return rhythm(
            h.acc_code, h.acc_day, h.acc_amount, h.segment_of_account[h.acc_code], clock, cutoff,
            horizon_days=self.horizon_days, prior_spread=prior,
        )  # fmt: skip

    def _rhythm_categories(
        self, h: PurchaseHistory, clock, cutoff: int, prior: float | None
    ) -> Rhythm:
        acc = h.cat_entity // max(h.n_categories, 1)
        return rhythm(
            h.cat_entity, h.cat_day, h.cat_amount, h.segment_of_account[acc], clock, cutoff,
            horizon_days=self.horizon_days, prior_spread=prior,
        )  # fmt: skip

    def _fit_level(
        self, h: PurchaseHistory, clock, cutoff: int, *, level: str
    ) -> OutcomeModel | None:
        """The score model of one level; its SILENCE features extrapolate linearly beyond the
        longest silences of its training rows (a young book, or one cohort that all started
        together)."""
        xs, ys = [], []
        for k in range(1, self.n_splits + 1):
            c = cutoff - k * self.horizon_days
            if c - self.new_days <= h.first_day:
                break
            if level == "account":
                r = self._rhythm_accounts(h, clock, c, self.account_spread_)
                entity, day = h.acc_code, h.acc_day
                n_ent = h.n_accounts
            else:
                r = self._rhythm_categories(h, clock, c, self.category_spread_)
                entity, day = h.cat_entity, h.cat_day
                n_ent = h.n_accounts * max(h.n_categories, 1)
            matrix, _ = _features(r)
            eligible = r.orders >= 2
            future = orders_between(entity, day, c, c + self.horizon_days, n_ent)[r.entity]
            xs.append(matrix[eligible])
            ys.append((future[eligible] == 0).astype(int))
        if not xs:
            return None
        x = np.vstack(xs)
        y = np.concatenate(ys)
        return self._fit_outcome(x, y)

    # ----------------------------------------------------------------------- scoring

    def _check_fitted(self) -> None:
        if not hasattr(self, "seasonal_index_"):
            raise ModelNotFittedError(type(self).__name__)

    def _index_for(self, segments: np.ndarray) -> np.ndarray:
        rows = [
            self.seasonal_index_.loc[s].to_numpy()
            if s in self.seasonal_index_.index
            else self.pooled_index_
            for s in segments  # one row per segment name
        ]
        return np.vstack(rows) if rows else np.ones((1, 12))

    def _judge(
        self,
        r: Rhythm,
        classifier: OutcomeModel | None,
        cutoff: int,
        account_score: np.ndarray | None = None,
    ) -> _Judged:
        """Status, score and money of one level. With ``account_score`` (the account level's
        chosen score) the status follows the score: slipping needs a high probability of no
        order *and* a silence past the account's own tolerance, and nothing near the top of
        the ranking stays healthy."""
        matrix, named = _features(r)
        status = np.full(len(r.entity), "healthy", dtype=object)
        repeat = r.orders >= 2
        z = named["z"]
        lull = named["lull"]
        dropped = 1 + np.nan_to_num(named["spend_change"], nan=0.0)
        frequent = np.nan_to_num(r.cycle_days, nan=1e9) <= QUARTER_DAYS / 2
        ly_confirms = ~named["has_ly"] | (named["trend_ly"] <= np.log(1 - self.spend_watch))
        # a seasonal lull explains a quiet quarter as well as a late order
        enough = (named["n_prev"] >= 2) & frequent & ly_confirms & ~lull
        half_dropped = 1 + np.nan_to_num(named["half_change"], nan=0.0)
        slip_drop = enough & (
            ((dropped <= 1 - self.spend_drop) & (named["spend_z"] <= -self.drop_z))
            # or a decline over the last half-year that has not recovered in the latest quarter
            | (
                (half_dropped <= 1 - self.spend_drop)
                & (named["half_z"] <= -self.drop_z)
                & (dropped <= 1 - self.spend_watch)
            )
        )
        watch_drop = (
            enough & (dropped <= 1 - self.spend_watch) & (named["spend_z"] <= 1 - self.drop_z)
        )
        # a drop long ago that never recovered: seasonality does not matter over half a year
        long_drop = (
            (named["n_prev"] >= 2)
            & (r.orders >= 8)
            & ~lull
            & (np.nan_to_num(named["life_change"], nan=0.0) <= -1 + (1 - self.spend_drop) / 2)
            & (named["life_z"] <= -self.drop_z)
        )
        slip_drop = slip_drop | long_drop
        slip = ((z >= self.slip_z) & ~lull) | slip_drop
        watch = ((z >= self.watch_z) & ~lull) | watch_drop
        overdue = (z >= self.slip_z) & ~lull
        if account_score is not None:
            score = account_score
            likely = score >= self.slip_probability
            slip = (likely & (z >= self.watch_z) & ~lull) | slip_drop
            top = score >= np.quantile(score[repeat], 1 - self.watch_top) if repeat.any() else False
            likely_watch = score >= self.watch_probability
            watch = (
                watch
                | (likely_watch & (z >= self.watch_z))
                | (top & repeat & (score >= self.watch_probability / 2))
            )
            overdue = likely & (z >= self.watch_z) & ~lull
        elif classifier is not None:
            score = classifier.probability(matrix)
            # an overdue rhythm that the learnt model finds unremarkable is only worth a watch
            weak = overdue & (score < self.min_flag_score) & ~slip_drop
            watch = watch | weak
            slip = slip & ~weak
        else:
            score = _fallback_score(named, self.slip_z)
        tolerance_days = np.nan_to_num(r.cycle_days, nan=0.0) * np.exp(self.slip_z * r.log_spread)
        lapsed = (
            slip
            & (z >= self.slip_z)
            & (r.recency_days >= np.maximum(self.lapse_days, 2 * tolerance_days))
        )
        status[watch] = "watch"
        status[slip] = "slipping"
        status[lapsed] = "lapsed"
        # a flag needs gaps to be evidence: with fewer order days it says so instead
        thin = repeat & (r.orders < self.min_flag_orders) & (watch | slip)
        status[thin] = "short_history"
        status[~repeat] = "one_off"
        status[r.first_day > cutoff - self.new_days] = "new"
        score = np.where(repeat, score, 0.0)
        # what the account spent over its last year: money at risk is never more than that
        # (an account younger than a year is not annualised up)
        annual_value = r.year_spend
        # revenue at risk: the expected loss of that year's spend if it stops, or, when its
        # spend already dropped, the run-rate lost against its usual quarter (annualised)
        usual_year = 4 * np.nan_to_num(named["usual_quarter"], nan=0.0)
        lost = np.where(watch_drop, np.maximum(usual_year - 4 * r.quarters[:, 0], 0.0), 0.0)
        revenue_at_risk = np.minimum(np.maximum(score * annual_value, lost), annual_value)
        revenue_at_risk = np.where(
            repeat & (r.first_day <= cutoff - self.new_days), revenue_at_risk, 0.0
        )
        return _Judged(
            rhythm=r,
            features=matrix,
            status=status,
            score=score,
            seasonal_lull=lull,
            spend_change=named["spend_change"],
            spend_change_ly=named["spend_change_ly"],
            life_change=np.where(long_drop & ~overdue, named["life_change"], np.nan),
            annual_value=annual_value,
            revenue_at_risk=revenue_at_risk,
            overdue=overdue,
        )

    def assess(
        self, order_lines: pd.DataFrame, accounts: pd.DataFrame | None = None, *, as_of: dt.date
    ) -> HealthResult:
        """Health of every account in ``order_lines`` and of each of its categories on ``as_of``.

        Returns a :class:`HealthResult`: ``accounts`` with HEALTH_COLUMNS, one row per account
        with an order on or before ``as_of``, ordered by revenue at risk; ``categories`` with
        CATEGORY_HEALTH_COLUMNS, one row per account x category bought.
        """
        self._check_fitted()
        history = self._history(order_lines, accounts, as_of)
        cutoff = day_number(as_of)
        index = self._index_for(history.segments)
        clock = seasonal_clock(index, history.segments, history.first_day, cutoff)
        x, acc_r, recency = self._account_rows(
            history, clock, cutoff, getattr(self, "bgnbd_", None)
        )
        acc = self._judge(acc_r, None, cutoff, account_score=self._account_score(x, recency))
        cat = self._judge(
            self._rhythm_categories(history, clock, cutoff, self.category_spread_),
            self.category_classifier_,
            cutoff,
        )
        return _frames(history, acc, cat, self.category_share)

    def predict(
        self, order_lines: pd.DataFrame, accounts: pd.DataFrame | None = None, *, as_of: dt.date
    ) -> pd.DataFrame:
        """Account-level health only (HEALTH_COLUMNS); see :meth:`assess`."""
        return self.assess(order_lines, accounts, as_of=as_of).accounts


def account_health(
    order_lines: pd.DataFrame,
    accounts: pd.DataFrame | None = None,
    *,
    as_of: dt.date,
    model: HealthModel | None = None,
) -> HealthResult:
    """Health of every account and category on ``as_of``.

    With a fitted ``model`` (e.g. from the nightly batch) its seasonal index, spreads and
    score models are used, so one account's lines can be judged alone; without one, a model
    is fitted on the given lines first.
    """
    if model is None:
        model = HealthModel().fit(order_lines, accounts, as_of=as_of)
    return model.assess(order_lines, accounts, as_of=as_of)


# ---------------------------------------------------------------------------- output


def _change_phrase(change: np.ndarray, what: str) -> np.ndarray:
    """ "spend down 38% vs ..." for changes of 20% or more, else ""."""
    c = np.nan_to_num(change)
    out = np.full(len(c), "", dtype=object)
    big = ~np.isnan(change) & (np.abs(c) >= 0.2)
    word = np.where(c[big] < 0, "spend down ", "spend up ").astype(object)
    out[big] = word + percent_text(np.abs(c[big])) + " " + what
    return out


def _rhythm_reason(j: _Judged, noun: str = "orders") -> np.ndarray:
    r = j.rhythm
    cycle = int_text(np.round(np.nan_to_num(r.cycle_days, nan=0)))
    since = days_text(r.recency_days)
    # the usual gap is a median, and says so, with how many gaps it rests on
    gaps = np.maximum(r.gaps, 1)
    base = (
        f"usually {noun} every "
        + cycle
        + " days (median of "
        + np.where(gaps == 1, "its only gap", "its last " + int_text(gaps) + " gaps").astype(object)
        + ")"
    )
    last = since + " since the last order"
    ly = _change_phrase(j.spend_change_ly, "vs the same quarter last year")
    own = _change_phrase(j.spend_change, "vs its usual quarter")
    trend = np.where(ly != "", ly, own)
    since_first = date_strings(r.first_day, "%b %Y")
    life = _change_phrase(j.life_change, "vs its run-rate since ")
    has_life = life != ""
    life[has_life] = life[has_life] + since_first[has_life]
    trend = np.where(has_life, life, trend)
    lull = np.full(len(r.entity), "", dtype=object)
    lulls = j.seasonal_lull
    ly_start = date_strings(r.cutoff - YEAR_DAYS - r.recency_days[lulls])
    lull[lulls] = "seasonal lull: last year it was quiet from " + ly_start + " too"
    text = join_clauses(base, last, trend, lull)
    new = j.status == "new"
    text[new] = (
        "new: first order "
        + days_text(r.cutoff - r.first_day[new])
        + " ago, "
        + int_text(r.orders[new])
        + " order(s) so far, "
        + money_text(r.total_spend[new])
    )
    once = j.status == "one_off"
    text[once] = (
        "one purchase so far, " + since[once] + " ago (" + money_text(r.total_spend[once]) + ")"
    )
    return text


def _frames(h: PurchaseHistory, acc: _Judged, cat: _Judged, category_share: float) -> HealthResult:
    n_cat = max(h.n_categories, 1)
    ar, cr = acc.rhythm, cat.rhythm
    cat_acc = cr.entity // n_cat
    cat_name = h.categories[cr.entity % n_cat].astype(object)

    # category defection only means something while the account itself still buys
    acc_pos = np.full(h.n_accounts, -1)
    acc_pos[ar.entity] = np.arange(len(ar.entity))
    acc_status = acc.status[acc_pos[cat_acc]]
    account_buys = np.isin(acc_status, ["healthy", "watch"])
    cat_flagged = np.isin(cat.status, FLAGGED)
    cat_active = np.isin(cat.status, ["healthy", "watch", "new"])
    cat_year = cr.year_spend
    # the account's top still-bought category (by spend over the last year)
    order = np.lexsort((-cat_year, ~cat_active, cat_acc))
    first_of_acc = (
        np.r_[True, cat_acc[order][1:] != cat_acc[order][:-1]] if len(order) else np.zeros(0, bool)
    )
    top = order[first_of_acc & cat_active[order]]
    still_buys = np.full(h.n_accounts, "", dtype=object)
    still_buys[cat_acc[top]] = cat_name[top]

    cat_reason = _rhythm_reason(cat)
    defect = cat_flagged & account_buys
    stopped = defect & cat.overdue
    still = still_buys[cat_acc[stopped]]
    cat_reason[stopped] = (
        np.where(still != "", "still orders " + still + ", ", "").astype(object)
        + "stopped buying "
        + cat_name[stopped]
        + " "
        + days_text(cr.recency_days[stopped])
        + " ago (usually every "
        + int_text(np.round(np.nan_to_num(cr.cycle_days[stopped])))
        + " days)"
    )
    # flagged on a spend drop while still ordering the category
    shrinking = defect & ~cat.overdue
    change = cat.spend_change[shrinking]
    cat_reason[shrinking] = (
        "still orders "
        + cat_name[shrinking]
        + " (last "
        + days_text(cr.recency_days[shrinking])
        + " ago), but spend on it is down "
        + percent_text(-np.nan_to_num(change))
        + " vs its usual quarter"
    )
    cat_risk = cat.revenue_at_risk
    categories = pd.DataFrame(
        {
            "account_id": h.account_ids[cat_acc],
            "category": cat_name,
            "status": cat.status,
            "score": np.round(cat.score, 4),
            "revenue_at_risk": np.round(cat_risk, 2),
            "annual_revenue": np.round(cat_year, 2),
            "cycle_days": np.round(cr.cycle_days, 1),
            "days_since_last_order": cr.recency_days.astype("int64"),
            "orders": cr.orders.astype("int64"),
            "last_order": cr.last_day.astype("datetime64[D]").astype("datetime64[ns]"),
            "reason": cat_reason,
        },
        columns=CATEGORY_HEALTH_COLUMNS,
    )

    # account reason: mention the most valuable category defection of a still-buying account
    acc_value = np.maximum(acc.annual_value[acc_pos[cat_acc]], 1e-9)
    lost_value = np.where(defect, cat.annual_value, -1.0)
    order = np.lexsort((-lost_value, cat_acc))
    first_of_acc = (
        np.r_[True, cat_acc[order][1:] != cat_acc[order][:-1]] if len(order) else np.zeros(0, bool)
    )
    worst = order[first_of_acc & defect[order]]
    acc_defect_text = np.full(h.n_accounts, "", dtype=object)
    acc_defect_text[cat_acc[worst]] = cat_reason[worst]
    big = defect & (cat.annual_value / acc_value >= category_share)
    has_big = np.zeros(h.n_accounts, bool)
    has_big[cat_acc[big]] = True

    status = acc.status.copy()
    upgrade = (status == "healthy") & has_big[ar.entity]
    status[upgrade] = "watch"
    reason = join_clauses(
        _rhythm_reason(acc),
        np.where(np.isin(status, ["healthy", "watch"]), acc_defect_text[ar.entity], ""),
    )
    risk = acc.revenue_at_risk
    accounts = pd.DataFrame(
        {
            "account_id": h.account_ids[ar.entity],
            "status": status,
            "score": np.round(acc.score, 4),
            "revenue_at_risk": np.round(risk, 2),
            "annual_revenue": np.round(ar.year_spend, 2),
            "cycle_days": np.round(ar.cycle_days, 1),
            "days_since_last_order": ar.recency_days.astype("int64"),
            "spend_change": np.round(acc.spend_change, 4),
            "spend_change_ly": np.round(acc.spend_change_ly, 4),
            "orders": ar.orders.astype("int64"),
            "first_order": ar.first_day.astype("datetime64[D]").astype("datetime64[ns]"),
            "last_order": ar.last_day.astype("datetime64[D]").astype("datetime64[ns]"),
            "reason": reason,
        },
        columns=HEALTH_COLUMNS,
    )
    accounts = accounts.sort_values(
        ["revenue_at_risk", "account_id"], ascending=[False, True], ignore_index=True
    )
    categories = categories.sort_values(["account_id", "category"], ignore_index=True)
    return HealthResult(accounts=accounts, categories=categories)
