"""Account activity features, the textbook slipping scores, and the self-backtest that picks
between them.

An account's chance of *not* ordering in the next ``horizon_days`` is best told by what the
textbooks use (recency, frequency, tenure, monetary value; BG/NBD's P(alive)) together with
its own rhythm (:mod:`analytics.cycles`). :func:`activity_features` computes the former at
any cutoff from a :class:`~analytics.cycles.PurchaseHistory`; :class:`analytics.health.HealthModel`
stacks them with the rhythm features over several earlier cutoffs and learns one model.

Because no single method wins on every company's data, each fit also *backtests itself* on the
company's own history: the same time split one horizon back (fit on what was known then,
judged on what happened next) for the learnt model and the baselines (:data:`BASELINES`), and
:func:`choose_method` keeps the learnt model only where it is at least as good as the best
baseline, else that baseline or the blend of both. The figures are kept (:class:`Backtest`) so
users can ask how accurate the flags are.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.special import expit
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from analytics.btyd import BetaGeoFitter
from analytics.cycles import PurchaseHistory, single_threaded

ACTIVITY_FEATURES = [
    "log_recency", "log_frequency", "log_tenure", "orders_30", "orders_90", "orders_180",
    "orders_365", "log_mean_gap", "log_last_gap", "recency_over_mean_gap",
    "recency_over_last_gap", "log_avg_order", "log_year_spend", "spend_trend",
    "orders_next_window_ly", "bgnbd_p_alive", "bgnbd_p_quiet",
]  # fmt: skip
# the plain recency / frequency / monetary / tenure / rhythm columns of a data scientist's
# gradient-boosted RFM model (positions in ACTIVITY_FEATURES)
RFM_COLUMNS = [0, 1, 2, 6, 7, 8, 9, 11]
BASELINES = ("recency", "BG/NBD", "gradient-boosted RFM")
LEARNT = "learnt model"
BLEND = "blend"


@dataclass
class Activity:
    """Activity features of the accounts with an order on or before the cutoff (rows aligned
    with ``entity``, the account codes, ascending)."""

    entity: np.ndarray
    matrix: np.ndarray
    recency_days: np.ndarray
    orders: np.ndarray


def _bgnbd_inputs(
    orders: np.ndarray, first: np.ndarray, last: np.ndarray, cutoff: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequency, recency and age in weeks (the BG/NBD convention)."""
    return (orders - 1).astype(float), (last - first) / 7.0, (cutoff - first) / 7.0


def fit_bgnbd(
    h: PurchaseHistory,
    cutoff: int,
    *,
    max_accounts: int = 5_000,
    random_state: int = 0,
    start: dict[str, float] | None = None,
) -> BetaGeoFitter | None:
    """BG/NBD fitted on (a sample of) the accounts with an order on or before ``cutoff``; four
    population parameters need a few thousand accounts, not every one. ``start``: warm start."""
    keep = h.acc_day <= cutoff
    code, day = h.acc_code[keep], h.acc_day[keep]
    if len(code) == 0:
        return None
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    ends = np.r_[starts[1:], len(code)] - 1
    orders = ends - starts + 1
    if (orders > 1).sum() < 5:
        return None
    x, tx, t = _bgnbd_inputs(orders, day[starts], day[ends], cutoff)
    if len(x) > max_accounts:
        pick = np.random.default_rng(random_state).choice(len(x), max_accounts, replace=False)
        x, tx, t = x[pick], tx[pick], t[pick]
    return BetaGeoFitter().fit(x, tx, t, start=start)


def activity_features(
    h: PurchaseHistory, cutoff: int, horizon_days: int, bgnbd: BetaGeoFitter | None
) -> Activity:
    """ACTIVITY_FEATURES of every account with an order day on or before ``cutoff``.

    Counts are of order days (several orders on one day are one purchase occasion); spend is
    the sum of the order days' amounts; ``orders_next_window_ly`` counts order days in the
    ``horizon_days`` after the cutoff one year earlier (seasonal buying).
    """
    keep = h.acc_day <= cutoff
    code, day, amount = h.acc_code[keep], h.acc_day[keep], h.acc_amount[keep]
    if len(code) == 0:
        empty = np.zeros(0, np.int64)
        return Activity(empty, np.zeros((0, len(ACTIVITY_FEATURES))), empty, empty)
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    ends = np.r_[starts[1:], len(code)] - 1
    n = len(starts)
    group = np.repeat(np.arange(n), ends - starts + 1)
    orders = (ends - starts + 1).astype(float)
    first, last = day[starts], day[ends]
    recency = (cutoff - last).astype(float)
    tenure = (cutoff - first).astype(float)
    mean_gap = np.where(orders > 1, (last - first) / np.maximum(orders - 1, 1), np.nan)
    prev = np.where(orders > 1, day[np.maximum(ends - 1, 0)], first)
    last_gap = np.where(orders > 1, (last - prev).astype(float), np.nan)

    def window(lo: int, hi: int, weights: np.ndarray | None = None) -> np.ndarray:
        inside = (day > lo) & (day <= hi)
        return np.bincount(
            group[inside], weights=None if weights is None else weights[inside], minlength=n
        ).astype(float)

    total = np.bincount(group, weights=amount, minlength=n)
    avg_order = np.maximum(total / orders, 1e-9)
    year_spend = window(cutoff - 365, cutoff, amount)
    recent = window(cutoff - 91, cutoff, amount)
    before = window(cutoff - 365, cutoff - 91, amount) * 91.0 / 274.0
    spend_trend = np.log((recent + avg_order) / (before + avg_order))
    ly_next = window(cutoff - 364, cutoff - 364 + horizon_days)
    if bgnbd is not None:
        x, tx, t = _bgnbd_inputs(orders, first, last, cutoff)
        p_alive = bgnbd.p_alive(x, tx, t)
        p_quiet = bgnbd.p_no_purchase(x, tx, t, horizon_days / 7.0)
    else:
        p_alive = np.full(n, np.nan)
        p_quiet = np.full(n, np.nan)
    # one order day: no gap yet, as if the first gap were longer than its whole tenure
    fill_gap = np.where(np.isnan(mean_gap), tenure + 1, mean_gap)
    fill_last = np.where(np.isnan(last_gap), tenure + 1, last_gap)
    matrix = np.column_stack(
        [
            np.log1p(recency),
            np.log(orders),
            np.log1p(tenure),
            window(cutoff - 30, cutoff),
            window(cutoff - 91, cutoff),
            window(cutoff - 182, cutoff),
            window(cutoff - 365, cutoff),
            np.log1p(fill_gap),
            np.log1p(fill_last),
            np.log1p(recency) - np.log1p(fill_gap),
            np.log1p(recency) - np.log1p(fill_last),
            np.log(avg_order),
            np.log1p(np.maximum(year_spend, 0.0)),
            np.clip(spend_trend, -10, 10),
            ly_next,
            p_alive,
            p_quiet,
        ]
    )
    return Activity(
        entity=code[starts], matrix=matrix, recency_days=recency, orders=orders.astype(np.int64)
    )


def boosted_model(random_state: int = 0) -> HistGradientBoostingClassifier:
    """The gradient-boosted classifier used for the learnt score and the RFM baseline."""
    return HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=random_state,
    )


def fit_boosted(
    x: np.ndarray, y: np.ndarray, random_state: int = 0
) -> HistGradientBoostingClassifier:
    with single_threaded():
        return boosted_model(random_state).fit(x, y)


def boosted_probability(model: HistGradientBoostingClassifier, x: np.ndarray) -> np.ndarray:
    if not len(x):
        return np.zeros(0)
    with single_threaded():
        return model.predict_proba(x)[:, 1]


# ----------------------------------------------------------------------------- backtest


def precision_at(labels: np.ndarray, scores: np.ndarray, fraction: float = 0.1) -> float:
    """Share of positives among the top ``fraction`` of ``scores`` (ties in a fixed random
    order, so a tied block is not read in input order)."""
    if not len(labels):
        return float("nan")
    k = max(1, math.ceil(fraction * len(labels)))
    jitter = np.random.default_rng(0).random(len(scores)) * 1e-9
    top = np.argsort(-(np.asarray(scores, dtype=float) + jitter), kind="stable")[:k]
    return float(np.asarray(labels)[top].mean())


def ranking_quality(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC-AUC and precision at the top 10% (NaN where one class is missing)."""
    y = np.asarray(labels, dtype=int)
    s = np.nan_to_num(
        np.asarray(scores, dtype=float), nan=float(np.nanmin(scores)) if len(scores) else 0.0
    )
    both = 0 < y.sum() < len(y)
    return {
        "roc_auc": float(roc_auc_score(y, s)) if both else float("nan"),
        "precision_at_10": precision_at(y, s),
    }


def percentile(scores: np.ndarray) -> np.ndarray:
    """Each score's rank among ``scores`` as a fraction in (0, 1] (ties share their mean rank)."""
    s = np.asarray(scores, dtype=float)
    if not len(s):
        return s
    order = s.argsort(kind="stable")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    # ties: mean rank of the tied block
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse] / len(s)


def choose_method(quality: dict[str, dict[str, float]], accounts: int = 1_000) -> str:
    """The method to score with: the learnt model unless a baseline or the blend beats it on
    ROC-AUC plus precision at the top 10% in the backtest (ties keep the learnt model).

    Precision over a top 10% of fewer than 30 accounts is mostly chance (one account moves it
    by several points), so on a small book it counts in proportion to its size."""
    weight = min(1.0, 0.1 * accounts / 30.0)

    def merit(name: str) -> float:
        q = quality.get(name, {})
        auc, p10 = q.get("roc_auc", float("nan")), q.get("precision_at_10", float("nan"))
        return -math.inf if math.isnan(auc) or math.isnan(p10) else auc + weight * p10

    best = LEARNT
    for name in (BLEND, *BASELINES):
        if merit(name) > merit(best) + 1e-9:
            best = name
    return best


@dataclass
class Calibration:
    """A monotone map from a method's raw score to P(no order in the horizon): a logistic
    curve on the score's transform, fitted on the backtest's outcomes."""

    slope: float = 1.0
    intercept: float = 0.0

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return expit(self.slope * np.asarray(raw, dtype=float) + self.intercept)

    @classmethod
    def fit(cls, raw: np.ndarray, labels: np.ndarray) -> Calibration:
        from sklearn.linear_model import LogisticRegression

        x = np.asarray(raw, dtype=float).reshape(-1, 1)
        y = np.asarray(labels, dtype=int)
        if len(y) < 10 or y.min() == y.max():
            return cls(1.0, 0.0)
        model = LogisticRegression(C=10.0).fit(x, y)
        return cls(float(model.coef_[0, 0]), float(model.intercept_[0]))


@dataclass
class Backtest:
    """How each method did on the company's own history, one horizon back: features as of
    ``as_of``, outcome = no order in the ``horizon_days`` after it."""

    as_of: dt.date
    horizon_days: int
    accounts: int
    positives: int
    quality: dict[str, dict[str, float]] = field(default_factory=dict)
    chosen: str = LEARNT
    flagged: int = 0
    flagged_no_order: int = 0

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        return out


def track_record(health_backtest: Backtest | None, pitch_backtest: dict | None) -> dict | None:
    """The JSON-ready track record a scoring run stores: the slipping backtest (every method's
    ROC-AUC and precision at the top 10%, the method chosen, how many flagged accounts did not
    order again) and the pitch backtest (recall@k per method, how many pitches became first
    orders). None when neither could be run (too little history)."""
    if health_backtest is None and pitch_backtest is None:
        return None

    def rounded(value: object) -> object:
        if isinstance(value, float):
            return None if math.isnan(value) else round(value, 4)
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return value

    out: dict[str, object] = {}
    if health_backtest is not None:
        out["slipping"] = rounded(health_backtest.as_dict())
    if pitch_backtest is not None:
        out["pitch"] = rounded(dict(pitch_backtest))
    return out
