"""Buying rhythm: purchase cycles, seasonality and spend trend from order lines.

The building blocks shared by :mod:`analytics.health` (is an account slipping?) and
:mod:`analytics.recommend` (what to pitch). Everything is vectorised over numpy arrays
sorted by entity and day, so one pass handles millions of order lines; an *entity* is
either an account or an account x category pair.

Vocabulary
----------
order day
    a day on which an entity bought something (several orders on one day count once:
    the rhythm is about purchase occasions, not order documents).
purchase cycle
    the median gap between consecutive order days (the last ``max_gaps`` gaps, so the
    rhythm follows the account when it changes), with a spread: the scaled mean absolute
    deviation of the log gaps from their median, each deviation capped at log 4. Spreads from few gaps are shrunk towards the
    population's, so two lucky regular gaps do not make a "steady" buyer.
seasonal clock
    time measured in "expected buying days" of the account's segment: a month in which the
    segment buys half as often as usual counts as half a month. Gaps and silences are
    measured on this clock, so a quiet season does not look like an overdue account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import ThreadpoolController

from analytics.errors import InvalidParameterError, NoOrderHistoryError, require_columns

QUARTER_DAYS = 91
YEAR_DAYS = 364  # four quarters: keeps "same quarter last year" aligned on whole quarters
_EPOCH = np.datetime64("1970-01-01", "D")
NO_SEGMENT = "(none)"


def day_number(value: dt.date | pd.Timestamp | np.datetime64 | str) -> int:
    """Days since 1970-01-01 of a date-like value."""
    day = np.datetime64(pd.Timestamp(value).date(), "D")
    return int((day - _EPOCH) // np.timedelta64(1, "D"))


def day_numbers(dates: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of a datetime column, as ``int64``."""
    values = pd.to_datetime(dates).to_numpy(dtype="datetime64[D]")
    return (values - _EPOCH).astype(np.int64)


def factorize(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each row's code into them (hash-based: fast on millions of
    rows and on categorical columns)."""
    codes, uniques = pd.factorize(values, sort=True)
    if isinstance(uniques, pd.CategoricalIndex):
        uniques = uniques.astype(object)
    return np.asarray(uniques), np.asarray(codes, dtype=np.int64)


def date_strings(days: np.ndarray, fmt: str = "%b %-d") -> np.ndarray:
    """Day numbers formatted with ``fmt`` (one ``strftime`` per distinct day)."""
    if len(days) == 0:
        return np.zeros(0, dtype=object)
    distinct, inverse = np.unique(days, return_inverse=True)
    text = np.array([date_of(d).strftime(fmt) for d in distinct], dtype=object)
    return text[inverse]


def date_of(day: int | np.integer) -> dt.date:
    """The calendar date of a day number."""
    return (_EPOCH + np.timedelta64(int(day), "D")).astype(dt.date)


# ----------------------------------------------------------------------------- history


@dataclass
class PurchaseHistory:
    """Order days of every account and every account x category, as sorted arrays.

    ``account_ids[a]`` is the account of account code ``a``; ``categories[c]`` the category of
    category code ``c``. Account-level rows (``acc_*``) are sorted by account code then day;
    category-level rows (``cat_*``) by entity code ``a * n_categories + c`` then day.
    ``segment_of_account[a]`` is the account's segment code into ``segments``.
    """

    account_ids: np.ndarray
    categories: np.ndarray
    segments: np.ndarray
    segment_of_account: np.ndarray
    acc_code: np.ndarray
    acc_day: np.ndarray
    acc_amount: np.ndarray
    cat_entity: np.ndarray
    cat_day: np.ndarray
    cat_amount: np.ndarray
    first_day: int
    last_day: int

    @property
    def n_accounts(self) -> int:
        return len(self.account_ids)

    @property
    def n_categories(self) -> int:
        return len(self.categories)

    def restrict(self, account_codes: np.ndarray) -> PurchaseHistory:
        """The same history limited to some account codes (codes are kept)."""
        keep = np.zeros(self.n_accounts, dtype=bool)
        keep[account_codes] = True
        acc_rows = keep[self.acc_code]
        cat_rows = keep[self.cat_entity // max(self.n_categories, 1)]
        return PurchaseHistory(
            account_ids=self.account_ids,
            categories=self.categories,
            segments=self.segments,
            segment_of_account=self.segment_of_account,
            acc_code=self.acc_code[acc_rows],
            acc_day=self.acc_day[acc_rows],
            acc_amount=self.acc_amount[acc_rows],
            cat_entity=self.cat_entity[cat_rows],
            cat_day=self.cat_day[cat_rows],
            cat_amount=self.cat_amount[cat_rows],
            first_day=self.first_day,
            last_day=self.last_day,
        )


def _order_days(entity: np.ndarray, day: np.ndarray, amount: np.ndarray, day0: int):
    """Sum amounts per (entity, day); return the unique pairs sorted by entity then day."""
    key = entity.astype(np.int64) * np.int64(1 << 20) + (day - day0)
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sums = np.add.reduceat(amount[order], starts) if len(key) else np.zeros(0)
    unique = key[starts]
    return unique >> 20, (unique & ((1 << 20) - 1)) + day0, sums


def build_history(
    order_lines: pd.DataFrame,
    as_of: dt.date,
    accounts: pd.DataFrame | None = None,
    *,
    account_col: str = "account_id",
    date_col: str = "order_date",
    category_col: str = "category",
    amount_col: str = "amount",
    segment_col: str = "segment",
) -> PurchaseHistory:
    """Order days of every account and account x category up to and including ``as_of``.

    ``order_lines`` needs ``account_col``, ``date_col`` (datetime64), ``category_col`` and
    ``amount_col``. ``accounts`` (optional) gives each account's ``segment_col``; accounts
    without a segment share the segment ``"(none)"``. Lines after ``as_of`` are ignored;
    :class:`~analytics.errors.NoOrderHistoryError` when none is left.
    """
    require_columns(
        "order_lines", order_lines.columns, [account_col, date_col, category_col, amount_col]
    )
    cutoff = day_number(as_of)
    day = day_numbers(order_lines[date_col])
    keep = day <= cutoff
    if not keep.any():
        raise NoOrderHistoryError(as_of)
    account_ids, acc_code = factorize(order_lines[account_col][keep])
    categories, cat_code = factorize(order_lines[category_col][keep])
    categories = categories.astype(str)
    amount = order_lines[amount_col].to_numpy(dtype=np.float64)[keep]
    day = day[keep]
    seg_names = np.full(len(account_ids), NO_SEGMENT, dtype=object)
    if accounts is not None and segment_col in accounts.columns and len(account_ids):
        require_columns("accounts", accounts.columns, [account_col])
        lookup = accounts.drop_duplicates(account_col).set_index(account_col)[segment_col]
        found = lookup.reindex(account_ids).to_numpy(dtype=object)
        seg_names = np.where(pd.isna(found), NO_SEGMENT, found).astype(str).astype(object)
    segments, segment_of_account = np.unique(seg_names.astype(str), return_inverse=True)

    day0 = int(day.min()) if len(day) else cutoff
    if len(day) and cutoff - day0 >= (1 << 20):
        raise InvalidParameterError("order history longer than 2,800 years is not supported")
    a_code, a_day, a_amount = _order_days(acc_code, day, amount, day0)
    n_cat = max(len(categories), 1)
    c_ent, c_day, c_amount = _order_days(
        acc_code.astype(np.int64) * n_cat + cat_code, day, amount, day0
    )
    return PurchaseHistory(
        account_ids=account_ids,
        categories=categories,
        segments=segments,
        segment_of_account=segment_of_account.astype(np.int64),
        acc_code=a_code,
        acc_day=a_day,
        acc_amount=a_amount,
        cat_entity=c_ent,
        cat_day=c_day,
        cat_amount=c_amount,
        first_day=day0,
        last_day=cutoff,
    )


# ------------------------------------------------------------------------- seasonality


@dataclass
class SeasonalClock:
    """Monthly buying intensity per segment (mean 1 over the year) and its cumulative clock.

    ``index[s, m]`` is segment ``s``'s relative order rate in calendar month ``m`` (0 = January).
    ``cumulative[s, d - start]`` is the number of "expected buying days" elapsed from ``start``
    to day ``d`` (inclusive) for segment ``s``.
    """

    segments: np.ndarray
    index: np.ndarray
    start: int
    cumulative: np.ndarray

    def warp(self, segment_code: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Days on the seasonal clock (clamped to the clock's range)."""
        pos = np.clip(day - self.start, 0, self.cumulative.shape[1] - 1)
        return self.cumulative[segment_code, pos]

    def months_index(self, segment_code: np.ndarray, month: np.ndarray) -> np.ndarray:
        return self.index[segment_code, month]


def _month_of_days(start: int, stop: int) -> np.ndarray:
    days = _EPOCH + np.arange(start, stop + 1).astype("timedelta64[D]")
    return (days.astype("datetime64[M]").astype(np.int64) % 12).astype(np.int64)


def seasonal_index(
    history: PurchaseHistory,
    *,
    min_months: int = 24,
    min_orders: int = 200,
    prior_months: float = 1.0,
) -> np.ndarray:
    """Monthly seasonal index per segment, shape (n_segments, 12), mean 1 per row.

    Classical decomposition: order days per month are divided by their centred 12-month
    moving average (which removes growth), averaged per calendar month, and shrunk towards 1
    with a prior worth ``prior_months`` observations. A segment with fewer than ``min_orders``
    order days borrows the index of all segments together; with less than ``min_months`` of
    history every index is 1 (no seasonality can be told from trend).
    """
    n_seg = len(history.segments)
    flat = np.ones((max(n_seg, 1), 12))
    if len(history.acc_day) == 0:
        return flat
    month_abs = (
        (_EPOCH + history.acc_day.astype("timedelta64[D]")).astype("datetime64[M]").astype(np.int64)
    )
    m0, m1 = int(month_abs.min()), int(month_abs.max())
    # only whole months: the first and last month of history are partial
    n_months = m1 - m0 - 1
    if n_months < min_months:
        return flat
    seg = history.segment_of_account[history.acc_code]
    inside = (month_abs > m0) & (month_abs < m1)
    counts = np.zeros((n_seg + 1, n_months))
    np.add.at(counts, (seg[inside], month_abs[inside] - m0 - 1), 1.0)
    counts[n_seg] = counts[:n_seg].sum(axis=0)

    def _index(series: np.ndarray) -> np.ndarray:
        trend = (
            pd.Series(series).rolling(12, center=True).mean().rolling(2).mean().shift(-1).to_numpy()
        )
        ratio = np.where(trend > 0, series / np.where(trend > 0, trend, 1.0), np.nan)
        cal_month = (np.arange(m0 + 1, m1) % 12).astype(np.int64)
        total = np.zeros(12)
        n = np.zeros(12)
        ok = ~np.isnan(ratio)
        np.add.at(total, cal_month[ok], ratio[ok])
        np.add.at(n, cal_month[ok], 1.0)
        idx = (total + prior_months) / (n + prior_months)
        idx = np.clip(idx, 0.1, 10.0)
        return idx / idx.mean()

    pooled = _index(counts[n_seg])
    out = np.empty((n_seg, 12))
    for s in range(n_seg):  # one row per segment: a handful, not per account
        out[s] = _index(counts[s]) if counts[s].sum() >= min_orders else pooled
    return out


def seasonal_clock(index: np.ndarray, segments: np.ndarray, start: int, stop: int) -> SeasonalClock:
    """Cumulative seasonal clock for days ``start..stop`` (inclusive)."""
    months = _month_of_days(start, stop)
    daily = index[:, months]
    return SeasonalClock(
        segments=segments, index=index, start=start, cumulative=np.cumsum(daily, axis=1)
    )


# ---------------------------------------------------------------------------- rhythm


@dataclass
class Rhythm:
    """Per-entity rhythm at a cutoff day; arrays aligned with ``entity``.

    ``amount_cv`` is the coefficient of variation of the amounts of its order days.
    Recency and cycle are in calendar days (``*_days``) and on the seasonal clock (``*_w``).
    ``quarters[:, q]`` is spend in the q-th 91-day window before the cutoff (0 = the latest,
    4 = the same quarter last year, up to 7). ``ly_silent_orders`` counts order days in the window of
    the current silence shifted back one year; ``ly_next_orders`` those in the
    ``horizon_days`` after the cutoff, one year back.
    """

    cutoff: int
    entity: np.ndarray
    orders: np.ndarray
    first_day: np.ndarray
    last_day: np.ndarray
    total_spend: np.ndarray
    amount_cv: np.ndarray
    cycle_days: np.ndarray
    cycle_w: np.ndarray
    log_spread: np.ndarray
    gaps: np.ndarray
    recency_days: np.ndarray
    recency_w: np.ndarray
    quarters: np.ndarray
    year_spend: np.ndarray
    ly_silent_orders: np.ndarray
    ly_next_orders: np.ndarray
    horizon_w: np.ndarray


def _group_starts(keys: np.ndarray) -> np.ndarray:
    return (
        np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
    )


def _group_median(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of ``values`` per dense group code (NaN for empty groups)."""
    out = np.full(n_groups, np.nan)
    if len(values) == 0:
        return out
    med = pd.Series(values).groupby(group, sort=False).median()
    out[med.index.to_numpy()] = med.to_numpy()
    return out


def rhythm(
    entity: np.ndarray,
    day: np.ndarray,
    amount: np.ndarray,
    segment_code: np.ndarray,
    clock: SeasonalClock,
    cutoff: int,
    *,
    horizon_days: int = 90,
    max_gaps: int = 12,
    prior_spread: float | None = None,
    prior_weight: float = 3.0,
) -> Rhythm:
    """Rhythm of each entity from its order days on or before ``cutoff``.

    ``entity``/``day``/``amount`` are order days sorted by entity then day (as in
    :class:`PurchaseHistory`); ``segment_code`` gives the segment of each row.
    ``prior_spread`` is the population's log-gap spread that few-gap spreads are shrunk to
    (default: the median spread of entities with at least 6 gaps, else 0.6).
    """
    keep = day <= cutoff
    ent, d, amt, seg = entity[keep], day[keep], amount[keep], segment_code[keep]
    w = clock.warp(seg, d)
    starts = _group_starts(ent)
    n = len(starts)
    group = np.repeat(np.arange(n), np.diff(np.r_[starts, len(ent)]))
    orders = np.diff(np.r_[starts, len(ent)])
    ends = np.r_[starts[1:], len(ent)] - 1 if n else np.zeros(0, np.int64)
    first_day = d[starts] if n else np.zeros(0, np.int64)
    last_day = d[ends] if n else np.zeros(0, np.int64)
    total = np.bincount(group, weights=amt, minlength=n)
    mean_amount = total / np.maximum(orders, 1)
    second = np.bincount(group, weights=amt * amt, minlength=n) / np.maximum(orders, 1)
    amount_cv = np.sqrt(np.maximum(second - mean_amount**2, 0.0)) / np.maximum(mean_amount, 1e-9)

    # gaps: the last max_gaps gaps of each entity
    same = np.r_[False, group[1:] == group[:-1]] if len(group) else np.zeros(0, bool)
    pos_from_end = (ends[group] - np.arange(len(group))) if n else np.zeros(0, np.int64)
    use = same & (pos_from_end < max_gaps)
    gap_days = (d - np.r_[d[:1], d[:-1]])[use].astype(np.float64)
    gap_w = np.maximum((w - np.r_[w[:1], w[:-1]])[use], 0.5)
    gap_group = group[use]
    n_gaps = np.bincount(gap_group, minlength=n)
    cycle_days = _group_median(gap_group, gap_days, n)
    log_gap = np.log(gap_w)
    med_log = _group_median(gap_group, log_gap, n)
    # spread: mean absolute deviation of the log gaps from their median (x 1.2533, the normal
    # scale), each deviation capped at log 4. The median absolute deviation would be 0 for a
    # buyer with mostly weekly gaps and a few long ones, calling an irregular buyer steady.
    deviation = np.minimum(np.abs(log_gap - med_log[gap_group]), np.log(4.0))
    mad = np.bincount(gap_group, weights=deviation, minlength=n) / np.maximum(
        np.bincount(gap_group, minlength=n), 1
    )
    mad = np.where(np.bincount(gap_group, minlength=n) > 0, mad * 1.2533, np.nan)
    if prior_spread is None:
        many = n_gaps >= 6
        prior_spread = float(np.nanmedian(mad[many])) if many.any() else 0.6
        prior_spread = float(np.clip(prior_spread, 0.2, 1.5))
    own = np.nan_to_num(mad, nan=prior_spread)
    spread = np.sqrt((n_gaps * own**2 + prior_weight * prior_spread**2) / (n_gaps + prior_weight))
    cycle_w = np.exp(med_log)

    ent_seg = seg[starts] if n else np.zeros(0, np.int64)
    recency_days = cutoff - last_day
    recency_w = clock.warp(ent_seg, np.full(n, cutoff)) - clock.warp(ent_seg, last_day)
    horizon_w = clock.warp(ent_seg, np.full(n, cutoff + horizon_days)) - clock.warp(
        ent_seg, np.full(n, cutoff)
    )
    if cutoff + horizon_days > clock.start + clock.cumulative.shape[1] - 1:
        # the clock ends at as_of: estimate the coming window from last year's same window
        horizon_w = clock.warp(ent_seg, np.full(n, cutoff - YEAR_DAYS + horizon_days)) - clock.warp(
            ent_seg, np.full(n, cutoff - YEAR_DAYS)
        )
        horizon_w = np.where(horizon_w > 0, horizon_w, float(horizon_days))

    age_q = (cutoff - d) // QUARTER_DAYS
    in_q = age_q < 8
    quarters = np.zeros((n, 8))
    np.add.at(quarters, (group[in_q], age_q[in_q]), amt[in_q])
    year_spend = quarters[:, :4].sum(axis=1)

    ly_end = cutoff - YEAR_DAYS
    ly_start = ly_end - recency_days[group] if n else np.zeros(0, np.int64)
    silent = (d > ly_start) & (d <= ly_end)
    ly_silent = np.bincount(group[silent], minlength=n)
    nxt = (d > ly_end) & (d <= ly_end + horizon_days)
    ly_next = np.bincount(group[nxt], minlength=n)
    return Rhythm(
        cutoff=cutoff,
        entity=ent[starts] if n else np.zeros(0, np.int64),
        orders=orders,
        first_day=first_day,
        last_day=last_day,
        total_spend=total,
        amount_cv=amount_cv,
        cycle_days=cycle_days,
        cycle_w=cycle_w,
        log_spread=spread,
        gaps=n_gaps,
        recency_days=recency_days,
        recency_w=recency_w,
        quarters=quarters,
        year_spend=year_spend,
        ly_silent_orders=ly_silent,
        ly_next_orders=ly_next,
        horizon_w=horizon_w,
    )


def orders_between(
    entity: np.ndarray, day: np.ndarray, start: int, stop: int, n_entities: int
) -> np.ndarray:
    """Order days per entity code with ``start < day <= stop``."""
    mask = (day > start) & (day <= stop)
    return np.bincount(entity[mask], minlength=n_entities)


@cache
def _threadpools() -> ThreadpoolController:
    return ThreadpoolController()


def single_threaded() -> Any:
    """Context manager limiting BLAS and OpenMP pools to one thread.

    The models here are small and the batch shares two cores with the bot and Rasa: thread
    pools only add start-up and spin-wait costs (ten times slower under load, measured).
    The controller is created on first use, not at import."""
    return _threadpools().limit(limits=1)


class OutcomeModel:
    """Probability of a binary outcome from rhythm features: the mean of a logistic regression
    (standardised features) and, with at least ``min_boost_rows`` training rows, a
    histogram gradient-boosting classifier, which picks up interactions the linear model
    misses. The average keeps the linear model's stability on small books.

    With ``linear_beyond`` = k, the first k features extrapolate: a row above the largest
    training value of any of them is scored by the logistic regression alone, because the
    trees are flat beyond what they saw while the linear model keeps ranking further values
    higher (e.g. silences longer than any in a young book's history).

    sklearn-style: ``__init__`` stores parameters, ``fit(x, y)`` returns ``self``;
    :meth:`probability` gives P(y = 1).
    """

    def __init__(
        self,
        *,
        C: float = 1.0,
        min_boost_rows: int = 200,
        max_iter: int = 100,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 40,
        random_state: int = 0,
        linear_beyond: int = 0,
    ) -> None:
        self.C = C
        self.min_boost_rows = min_boost_rows
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.learning_rate = learning_rate
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state
        self.linear_beyond = linear_beyond

    def fit(self, x: np.ndarray, y: np.ndarray) -> OutcomeModel:
        self.logistic_ = make_pipeline(
            StandardScaler(), LogisticRegression(C=self.C, max_iter=1000)
        )
        self.boosted_: HistGradientBoostingClassifier | None = None
        # the training range of the extrapolating features
        self.seen_max_: np.ndarray | None = (
            x[:, : self.linear_beyond].max(axis=0) if self.linear_beyond else None
        )
        with single_threaded():
            self.logistic_.fit(x, y)
            if len(y) >= self.min_boost_rows:
                self.boosted_ = HistGradientBoostingClassifier(
                    max_iter=self.max_iter,
                    learning_rate=self.learning_rate,
                    min_samples_leaf=self.min_samples_leaf,
                    max_leaf_nodes=self.max_leaf_nodes,
                    l2_regularization=1.0,
                    random_state=self.random_state,
                ).fit(x, y)
        return self

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(y = 1) for each row of ``x``."""
        linear = positive_probability(self.logistic_, x)
        if self.boosted_ is None or not len(x):
            return linear
        with single_threaded():
            p = 0.5 * (linear + self.boosted_.predict_proba(x)[:, 1])
        seen = getattr(self, "seen_max_", None)  # models pickled before it was kept
        if seen is not None:
            beyond = (x[:, : len(seen)] > seen).any(axis=1)
            p[beyond] = linear[beyond]
        return p


def positive_probability(model: Pipeline, features: np.ndarray) -> np.ndarray:
    """P(class 1) of a fitted ``StandardScaler -> LogisticRegression`` pipeline, computed from
    its coefficients: the same numbers as ``predict_proba(features)[:, 1]`` without sklearn's
    per-call validation, which dominates when one account is scored on demand."""
    scaler, logistic = model[0], model[-1]
    scaled = (features - scaler.mean_) / scaler.scale_
    return expit(scaled @ logistic.coef_[0] + logistic.intercept_[0])
