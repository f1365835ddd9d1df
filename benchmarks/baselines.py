"""Baselines the quality benchmark compares our methods with, computed in the same run.

Slipping: a recency rule (days since the last order) and BG/NBD 1 - P(alive) (Fader, Hardie
and Lee 2005, "Counting your customers the easy way"), fitted here by maximum likelihood
with scipy. Pitch: category popularity, item co-occurrence and implicit-feedback ALS
(the ``implicit`` package).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln

# ------------------------------------------------------------------------- slipping


def rfm_summary(
    order_lines: pd.DataFrame, cutoff: pd.Timestamp, *, unit_days: float = 7.0
) -> pd.DataFrame:
    """Frequency / recency / age per account from order days on or before ``cutoff``.

    Columns: ``frequency`` (repeat order days), ``recency`` (first to last order day),
    ``T`` (first order day to the cutoff), ``days_since_last`` — times in ``unit_days`` units,
    the lifetimes convention.
    """
    days = order_lines.loc[
        order_lines["order_date"] <= cutoff, ["account_id", "order_date"]
    ].drop_duplicates()
    g = days.groupby("account_id")["order_date"]
    first, last, n = g.min(), g.max(), g.count()
    return pd.DataFrame(
        {
            "frequency": (n - 1).astype(float),
            "recency": (last - first).dt.days / unit_days,
            "T": (cutoff - first).dt.days / unit_days,
            "days_since_last": (cutoff - last).dt.days.astype(float),
        }
    )


def recency_score(summary: pd.DataFrame) -> pd.Series:
    """The recency rule: the longer since the last order, the more likely gone."""
    return summary["days_since_last"]


class BetaGeoFitter:
    """BG/NBD model: Poisson purchases while alive, geometric drop-out after each purchase."""

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    @staticmethod
    def _negative_ll(
        log_params: np.ndarray, x: np.ndarray, tx: np.ndarray, t: np.ndarray, penalizer: float
    ) -> float:
        r, alpha, a, b = np.exp(log_params)
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + t)
        with np.errstate(divide="ignore", invalid="ignore"):
            a4 = np.where(
                x > 0,
                np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + tx),
                -np.inf,
            )
        ll = a1 + a2 + np.logaddexp(a3, a4)
        return float(-ll.mean() + penalizer * float(np.sum(np.exp(log_params) ** 2)))

    def fit(self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> BetaGeoFitter:
        x, tx, t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        best = None
        for start in (np.log([1.0, 1.0, 1.0, 1.0]), np.log([0.5, 5.0, 0.5, 2.0])):
            res = minimize(
                self._negative_ll, start, args=(x, tx, t, self.penalizer), method="L-BFGS-B",
                bounds=[(-8, 8)] * 4,
            )  # fmt: skip
            if best is None or res.fun < best.fun:
                best = res
        assert best is not None
        self.params_ = dict(zip(("r", "alpha", "a", "b"), np.exp(best.x), strict=True))
        return self

    def p_alive(self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = (self.params_[k] for k in ("r", "alpha", "a", "b"))
        x, tx, t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        log_ratio = (
            np.log(a)
            - np.log(np.maximum(b + x - 1, 1e-12))
            + (r + x) * (np.log(alpha + t) - np.log(alpha + tx))
        )
        return np.where(x > 0, 1.0 / (1.0 + np.exp(np.clip(log_ratio, -50, 50))), 1.0)


def bgnbd_score(summary: pd.DataFrame) -> pd.Series:
    """1 - P(alive) from a BG/NBD fitted on every account's history."""
    model = BetaGeoFitter(penalizer=0.001).fit(
        summary["frequency"], summary["recency"], summary["T"]
    )
    alive = model.p_alive(summary["frequency"], summary["recency"], summary["T"])
    return pd.Series(1.0 - alive, index=summary.index)


# ---------------------------------------------------------------------------- pitch


def incidence(order_lines: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Account x category spend up to the cutoff (0 where never bought)."""
    past = order_lines[order_lines["order_date"] <= cutoff]
    return past.pivot_table(
        index="account_id",
        columns="category",
        values="amount",
        aggfunc="sum",
        fill_value=0.0,
        observed=True,
    )


def popularity_scores(spend: pd.DataFrame) -> pd.DataFrame:
    """Share of accounts buying each category, the same for every account."""
    share = (spend > 0).mean(axis=0)
    return pd.DataFrame(
        np.tile(share.to_numpy(), (len(spend), 1)), index=spend.index, columns=spend.columns
    )


def cooccurrence_scores(spend: pd.DataFrame) -> pd.DataFrame:
    """Sum over the account's categories b of P(c | b) across accounts (item-to-item)."""
    x = (spend > 0).to_numpy(dtype=float)
    co = x.T @ x
    cond = co / np.maximum(np.diag(co)[:, None], 1.0)
    np.fill_diagonal(cond, 0.0)
    return pd.DataFrame(x @ cond, index=spend.index, columns=spend.columns)


def als_scores(
    spend: pd.DataFrame,
    *,
    factors: int = 16,
    iterations: int = 30,
    regularization: float = 0.05,
    alpha: float = 10.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Implicit-feedback ALS (Hu, Koren and Volinsky 2008) on log spend, via ``implicit``."""
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    values = np.log1p(
        spend.to_numpy(dtype=np.float64)
        / max(float(np.median(spend.to_numpy()[spend.to_numpy() > 0])), 1e-9)
    )
    matrix = sp.csr_matrix((alpha * values).astype(np.float32))
    k = int(max(1, min(factors, spend.shape[1] - 1)))
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=k,
            iterations=iterations,
            regularization=regularization,
            random_state=seed,
            use_gpu=False,
        )
        model.fit(matrix, show_progress=False)
    users = np.asarray(model.user_factors)
    items = np.asarray(model.item_factors)
    return pd.DataFrame(users @ items.T, index=spend.index, columns=spend.columns)


# ------------------------------------------------------------------------ evaluation


def first_purchases(
    order_lines: pd.DataFrame, spend: pd.DataFrame, cutoff: pd.Timestamp, horizon: int
) -> pd.DataFrame:
    """Account x category: True where the account first bought the category within
    ``horizon`` days after the cutoff (rows and columns of ``spend``)."""
    window = order_lines[
        (order_lines["order_date"] > cutoff)
        & (order_lines["order_date"] <= cutoff + pd.Timedelta(days=horizon))
    ]
    pairs = window[window["account_id"].isin(spend.index) & window["category"].isin(spend.columns)]
    later = pd.crosstab(pairs["account_id"], pairs["category"]).reindex(
        index=spend.index, columns=spend.columns, fill_value=0
    )
    mask = (later.to_numpy() > 0) & ~(spend.to_numpy() > 0)
    return pd.DataFrame(mask, index=spend.index, columns=spend.columns)


def recall_at_k(
    scores: pd.DataFrame, bought: pd.DataFrame, first: pd.DataFrame, k: int
) -> tuple[float, int]:
    """Mean over accounts with a first purchase of (hits in the top k) / (first purchases);
    already-bought categories are never counted as recommendations. Returns (recall, accounts)."""
    s = scores.reindex(index=first.index, columns=first.columns).to_numpy(dtype=float)
    s = np.where(
        bought.reindex(index=first.index, columns=first.columns, fill_value=False).to_numpy(),
        -np.inf,
        s,
    )
    s = np.nan_to_num(s, nan=-1e12, neginf=-np.inf)
    jitter = np.random.default_rng(0).random(s.shape) * 1e-9  # random tie-breaks
    top = np.argsort(-(s + jitter), axis=1)[:, :k]
    f = first.to_numpy()
    hits = np.take_along_axis(f, top, axis=1).sum(axis=1)
    n = f.sum(axis=1)
    has = n > 0
    return (float((hits[has] / n[has]).mean()) if has.any() else float("nan")), int(has.sum())


def tune_als(
    past_lines: pd.DataFrame, cutoff: pd.Timestamp, horizon: int, k: int = 5
) -> dict[str, float]:
    """ALS factors and regularisation chosen by recall@k on the split one horizon earlier
    (inside the history the methods see), so the baseline is not handicapped by defaults."""
    early = cutoff - pd.Timedelta(days=horizon)
    spend = incidence(past_lines, early)
    first = first_purchases(past_lines, spend, early, horizon)
    n_items = spend.shape[1]
    best: tuple[float, dict[str, float]] = (-1.0, {"factors": 8, "regularization": 0.05})
    for factors in sorted({f for f in (2, 4, 8, 16, 32) if f < n_items}):
        for regularization in (0.01, 0.1, 1.0):
            params = {"factors": factors, "regularization": regularization}
            recall, _ = recall_at_k(als_scores(spend, **params), spend > 0, first, k)
            if recall > best[0]:
                best = (recall, params)
    return best[1]
