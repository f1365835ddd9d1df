"""Baselines the quality benchmark compares our methods with, computed in the same run.

Slipping: a recency rule (days since the last order) and BG/NBD 1 - P(alive) (Fader, Hardie
and Lee 2005, "Counting your customers the easy way"), fitted here by maximum likelihood
with scipy. Pitch: category popularity, item co-occurrence and implicit-feedback ALS
(the ``implicit`` package).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.btyd import BetaGeoFitter

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


# --------------------------------------------------- slipping: more textbook baselines


def frequency_score(summary: pd.DataFrame) -> pd.Series:
    """The frequency rule: the fewer repeat order days per week of tenure, the more likely gone."""
    return -(summary["frequency"] / np.maximum(summary["T"], 1.0))


def bgnbd_no_purchase_score(summary: pd.DataFrame, horizon_days: int) -> pd.Series:
    """BG/NBD probability of no purchase in the next ``horizon_days``: the customer is gone, or
    alive and its Poisson rate (posterior Gamma(r + x, alpha + T)) yields no purchase."""
    model = BetaGeoFitter(penalizer=0.001).fit(
        summary["frequency"], summary["recency"], summary["T"]
    )
    quiet = model.p_no_purchase(
        summary["frequency"], summary["recency"], summary["T"], horizon_days / 7.0
    )
    return pd.Series(quiet, index=summary.index)


def rfm_features(order_lines: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Recency, frequency, monetary value, tenure and rhythm per account at ``cutoff``: what a
    data scientist computes in an afternoon."""
    past = order_lines[order_lines["order_date"] <= cutoff]
    days = past.groupby(["account_id", "order_date"], observed=True)["amount"].sum().reset_index()
    g = days.groupby("account_id", observed=True)
    first, last, n = g["order_date"].min(), g["order_date"].max(), g["order_date"].count()
    spend = g["amount"].sum()
    gaps = (
        days.sort_values(["account_id", "order_date"])
        .groupby("account_id", observed=True)["order_date"]
        .diff()
    )
    last_gap = gaps.groupby(days["account_id"]).last().dt.days
    year = days[days["order_date"] > cutoff - pd.Timedelta(days=365)]
    recency = (cutoff - last).dt.days.astype(float)
    tenure = (cutoff - first).dt.days.astype(float)
    mean_gap = ((last - first).dt.days / np.maximum(n - 1, 1)).astype(float)
    return pd.DataFrame(
        {
            "recency": recency,
            "frequency": (n - 1).astype(float),
            "tenure": tenure,
            "monetary": (spend / n).astype(float),
            "orders_last_year": year.groupby("account_id", observed=True)
            .size()
            .reindex(n.index, fill_value=0),
            "mean_gap": mean_gap,
            "last_gap": last_gap.reindex(n.index).astype(float),
            "overdue": recency / np.maximum(mean_gap, 1.0),
        }
    )


def gbm_rfm_score(order_lines: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int) -> pd.Series:
    """Gradient-boosted RFM model trained one horizon earlier: features at ``cutoff - horizon``,
    label = no order in the following ``horizon`` days; scores every account at ``cutoff``."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    early = cutoff - pd.Timedelta(days=horizon_days)
    train = rfm_features(order_lines, early)
    train = train[train["frequency"] >= 1]
    window = order_lines[
        (order_lines["order_date"] > early) & (order_lines["order_date"] <= cutoff)
    ]
    y = (~train.index.isin(window["account_id"].unique())).astype(int)
    now = rfm_features(order_lines, cutoff)
    if len(np.unique(y)) < 2:
        return pd.Series(now["recency"], index=now.index)
    model = HistGradientBoostingClassifier(random_state=0).fit(train.to_numpy(), y)
    return pd.Series(model.predict_proba(now.to_numpy())[:, 1], index=now.index)
