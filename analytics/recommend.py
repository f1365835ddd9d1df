"""What to pitch: categories (and a top product in each) that an account's best peers buy.

Each account is placed among its *peers*: the ``n_peers`` nearest accounts of its segment on
category mix (square-root spend shares) and size (log annual spend). Within the peer group
the better customers count more (weights rise with the peer's spend rank), so an account is
matched to the buying profile of the best customers among its peers. For every category the
account has never bought, the recommender knows

* the peer adoption rate (weighted and plain) and how much peers of its size spend on it;
* item affinity: how often buyers of the account's own categories also buy this one;
* the category's popularity overall and in the segment.

A logistic regression learnt on an earlier cutoff of the same history (features then,
first purchases in the following ``horizon_days``) turns these into the probability that
the account starts buying the category; expected value = probability x typical annual spend
of similar-size peers. Lapsed categories (bought regularly, silent for much longer than the
account's own rhythm) are offered as win-backs, valued at the account's former annual spend
times the win-back rate observed in the same history. Categories the account buys steadily
are never recommended.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from analytics.activity import BLEND, LEARNT, Calibration
from analytics.cycles import (
    NO_SEGMENT,
    OutcomeModel,
    date_of,
    day_number,
    day_numbers,
    factorize,
    single_threaded,
)
from analytics.errors import ModelNotFittedError, NoOrderHistoryError, require_columns
from analytics.wording import int_text, money_text, possessive

RECOMMENDATION_COLUMNS = [
    "account_id", "rank", "kind", "category", "product_id", "expected_value", "probability",
    "peer_share", "peer_spend", "reason",
]  # fmt: skip
CANDIDATE_FEATURES = [
    "peer_rate", "peer_rate_plain", "affinity", "popularity", "segment_popularity",
    "log_peer_spend_ratio", "log_categories", "log_annual_spend", "cooccurrence",
    "recent_popularity", "log_account_orders", "cosine", "cooccurrence_rank", "popularity_rank",
    "cosine_rank", "log_adoption_rate", "adoption_rate_rank",
]  # fmt: skip


ADOPTION_RATE = "adoption rate"
# the single-signal rankings the backtest weighs the learnt model against, by feature column
BASELINE_COLUMNS = {
    "popularity": "popularity",
    "item co-occurrence": "cooccurrence",
    ADOPTION_RATE: "log_adoption_rate",
}
# the backtest judges rankings by recall in each account's first few ideas (what a rep reads)
BACKTEST_K = 5


@dataclass
class _Profiles:
    """Account x category matrices at a cutoff (rows = accounts in ``account_ids`` order)."""

    account_ids: np.ndarray
    categories: np.ndarray
    year_spend: np.ndarray  # spend over the lookback window
    ever: np.ndarray  # bought at least once on or before the cutoff
    orders: np.ndarray  # order days per category
    first_day: np.ndarray
    last_day: np.ndarray
    total: np.ndarray
    segment: np.ndarray  # segment code per account
    segments: np.ndarray
    cutoff: int = 0
    account_orders: np.ndarray | None = None  # distinct order days per account

    def last_order_day(self) -> np.ndarray:
        """Each account's last order day (over its categories)."""
        return np.where(self.ever, self.last_day, np.iinfo(np.int64).min).max(axis=1)

    def dormant(self, lookback_days: int) -> np.ndarray:
        """Accounts gone quiet by their own rhythm: nothing bought for ``lookback_days`` and
        for more than twice their usual (mean) gap between order days. One order day and a
        silent lookback also counts; an account that orders once every two years does not."""
        if not self.ever.size:
            return np.zeros(len(self.ever), bool)
        first = self.first_day.min(axis=1)
        last = self.last_order_day()
        orders = self.account_orders if self.account_orders is not None else self.orders.max(axis=1)
        gap = (last - first) / np.maximum(orders - 1, 1)
        silent = self.cutoff - last
        return (
            np.asarray(self.ever.any(axis=1), bool)
            & (silent > lookback_days)
            & ((orders < 2) | (silent > 2.0 * gap))
        )


def _profiles(
    day: np.ndarray,
    acc_code: np.ndarray,
    cat_code: np.ndarray,
    amount: np.ndarray,
    account_ids: np.ndarray,
    categories: np.ndarray,
    segment: np.ndarray,
    segments: np.ndarray,
    cutoff: int,
    lookback_days: int,
    with_account_orders: bool = False,
) -> _Profiles:
    n, c = len(account_ids), len(categories)
    keep = day <= cutoff
    a, k, d, m = acc_code[keep], cat_code[keep], day[keep], amount[keep]
    flat = a * c + k
    recent = d > cutoff - lookback_days
    year = np.bincount(flat[recent], weights=m[recent], minlength=n * c).reshape(n, c)
    total = np.bincount(flat, weights=m, minlength=n * c).reshape(n, c)
    # order days per account x category (several lines on one day count once)
    key = np.sort(flat.astype(np.int64) * 100_000 + (d - d.min() if len(d) else d))
    key = key[np.r_[True, key[1:] != key[:-1]]] if len(key) else key
    orders = np.bincount((key // 100_000).astype(np.int64), minlength=n * c).reshape(n, c)
    first = np.full(n * c, np.iinfo(np.int64).max)
    np.minimum.at(first, flat, d)
    last = np.full(n * c, np.iinfo(np.int64).min)
    np.maximum.at(last, flat, d)
    account_orders = None
    if with_account_orders:  # only where dormancy is judged: the book at as_of
        account_days = np.unique(a.astype(np.int64) * 100_000 + (d - d.min() if len(d) else d))
        account_orders = np.bincount(account_days // 100_000, minlength=n)
    return _Profiles(
        account_ids=account_ids,
        categories=categories,
        year_spend=year,
        ever=total > 0,
        orders=orders,
        first_day=first.reshape(n, c),
        last_day=last.reshape(n, c),
        total=total,
        segment=segment,
        segments=segments,
        cutoff=cutoff,
        account_orders=account_orders,
    )


def _embedding(
    p: _Profiles, size_stats: tuple[float, float] | None = None
) -> tuple[np.ndarray, tuple[float, float]]:
    """Peer-search coordinates: square-root spend shares by category (last year, else ever)
    and half-weighted standardised log annual spend; with the size mean/std used."""
    spend = np.where(p.year_spend.sum(axis=1, keepdims=True) > 0, p.year_spend, p.total)
    share = spend / np.maximum(spend.sum(axis=1, keepdims=True), 1e-9)
    size = np.log1p(spend.sum(axis=1))
    if size_stats is None:
        size_stats = (float(size.mean()), float(size.std()) + 1e-9)
    size = (size - size_stats[0]) / size_stats[1]
    return np.column_stack([np.sqrt(share), 0.5 * size]), size_stats


def _neighbours(
    emb: np.ndarray,
    segment: np.ndarray,
    n_peers: int,
    *,
    group_size: int = 1_000,
    random_state: int = 0,
    queries: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of each account's nearest peers (excluding itself), shape (n, n_peers), -1 where
    fewer exist; with a boolean ``queries`` mask only those accounts' peers are searched (the
    others' rows stay -1), still among every account.

    Peers come from the account's segment (the whole book when the segment has too few
    accounts). Large segments are first split by KMeans on the same embedding into clusters of
    about ``group_size`` accounts, and peers are searched within the cluster: the same peers
    in practice, without comparing every pair of a 10,000-account segment.
    """
    out = np.full((len(emb), n_peers), -1, dtype=np.int64)
    everyone = np.arange(len(emb))
    groups: list[np.ndarray] = []
    for s in np.unique(segment):  # a handful of segments
        members = everyone[segment == s]
        if len(members) <= 2 * group_size:  # small segments: searched whole (or the whole book)
            groups.append(members)
            continue
        k = int(np.ceil(len(members) / group_size))
        with single_threaded():  # many small fits: thread start-up would dominate
            labels = KMeans(n_clusters=k, n_init=1, random_state=random_state).fit_predict(
                emb[members]
            )
        for c in range(k):
            groups.append(members[labels == c])
    for group in groups:
        pool = group if len(group) > n_peers else everyone
        rows = group if queries is None else group[queries[group]]
        k = min(n_peers + 1, len(pool))
        if k <= 1 or not len(rows):
            continue
        found = pool[_nearest(emb[rows], emb[pool], k)]
        # drop the account itself (normally the first hit; ties may move it)
        is_self = found == rows[:, None]
        no_self = ~is_self.any(axis=1)
        is_self[no_self, -1] = True
        found = found[~is_self].reshape(len(rows), k - 1)
        out[rows, : found.shape[1]] = found[:, :n_peers]
    return out


def _nearest(query: np.ndarray, pool: np.ndarray, k: int, chunk: int = 2_000) -> np.ndarray:
    """Positions in ``pool`` of each query row's ``k`` nearest rows (Euclidean), nearest first."""
    out = np.empty((len(query), k), dtype=np.int64)
    pool_sq = (pool**2).sum(axis=1)
    for lo in range(0, len(query), chunk):  # chunks bound the distance matrix
        q = query[lo : lo + chunk]
        dist = pool_sq[None, :] - 2.0 * (q @ pool.T)
        part = (
            np.argpartition(dist, k - 1, axis=1)[:, :k]
            if k < len(pool)
            else np.tile(np.arange(len(pool)), (len(q), 1))
        )
        order = np.argsort(np.take_along_axis(dist, part, axis=1), axis=1, kind="stable")
        out[lo : lo + chunk] = np.take_along_axis(part, order, axis=1)
    return out


@dataclass
class _Candidates:
    """Per account x category features (n x C matrices)."""

    features: np.ndarray  # (n*C, F)
    peer_rate_plain: np.ndarray
    peer_spend: np.ndarray
    affinity_from: np.ndarray  # index of the account's category that best explains the affinity
    peer_count: np.ndarray  # how many peers each account has


@dataclass
class _Book:
    """Scored accounts: their profiles, peer facts per category, adoption probabilities,
    lapsed categories and names (rows aligned with ``profiles``)."""

    profiles: _Profiles
    peer_share: np.ndarray
    peer_spend: np.ndarray
    affinity_from: np.ndarray
    probability: np.ndarray
    lapsed: np.ndarray
    names: np.ndarray
    peer_count: np.ndarray


@dataclass
class _Reference:
    """What the fitted book contributes to any account's candidates: who buys what, peers'
    weights, item-to-item conditional purchase rates, popularity overall and per segment, and
    what buyers of each category typically spend on it (log, geometric mean)."""

    buys: np.ndarray
    year_spend: np.ndarray
    rank_weight: np.ndarray
    recent_popularity: np.ndarray
    cond: np.ndarray
    cosine: np.ndarray
    popularity: np.ndarray
    segment_popularity: np.ndarray
    log_prior: np.ndarray
    adoption_rate: np.ndarray


def _adoption_rate(p: _Profiles, window: int, prior: float = 20.0) -> np.ndarray:
    """Per category, the share of the accounts that were already customers ``window`` days
    before the cutoff, had never bought it then, and bought it for the first time since: how
    often the category is newly taken up (not how many already own it). Shrunk towards its
    popularity with the weight of ``prior`` accounts, for categories with few accounts at
    risk."""
    start = p.cutoff - window
    customer = p.first_day.min(axis=1) <= start if p.first_day.size else np.zeros(0, bool)
    at_risk = customer[:, None] & (p.first_day > start)
    adopted = at_risk & p.ever
    popularity = p.ever.mean(axis=0) if len(p.ever) else np.zeros(p.ever.shape[1])
    return (adopted.sum(axis=0) + prior * popularity) / (at_risk.sum(axis=0) + prior)


def _reference(p: _Profiles, rank_weight: np.ndarray) -> _Reference:
    buys = p.year_spend > 0
    x = p.ever.astype(float)
    co = x.T @ x
    cond = co / np.maximum(np.diag(co)[:, None], 1.0)
    norm = np.sqrt(np.maximum(np.diag(co), 1.0))
    cosine = co / norm[:, None] / norm[None, :]
    np.fill_diagonal(cosine, 0.0)
    np.fill_diagonal(cond, 0.0)
    log_year = np.log(np.maximum(p.year_spend, 1e-9))
    n_buyers = buys.sum(axis=0)
    log_prior = np.where(n_buyers > 0, (log_year * buys).sum(axis=0) / np.maximum(n_buyers, 1), 0.0)
    seg_pop = np.zeros((len(p.segments), buys.shape[1]))
    for s in np.unique(p.segment):  # one row per segment
        seg_pop[s] = buys[p.segment == s].mean(axis=0)
    recent = p.last_day > p.cutoff - 91
    return _Reference(
        buys=buys,
        year_spend=p.year_spend,
        rank_weight=rank_weight,
        recent_popularity=(recent & p.ever).mean(axis=0),
        cond=cond,
        cosine=cosine,
        popularity=buys.mean(axis=0),
        segment_popularity=seg_pop,
        log_prior=log_prior,
        adoption_rate=_adoption_rate(p, 365),
    )


def _candidates(
    year_spend: np.ndarray,
    ever: np.ndarray,
    order_days: np.ndarray,
    segment: np.ndarray,
    nbrs: np.ndarray,
    ref: _Reference,
    chunk: int = 5_000,
    prior_peers: float = 2.0,
) -> _Candidates:
    """Candidate features of the query accounts (``year_spend``/``ever`` rows, their order days
    (n, 1), their segment codes and their peers' rows ``nbrs`` in the reference book)."""
    n, c = year_spend.shape
    peer_rate = np.zeros((n, c))
    plain = np.zeros((n, c))
    peer_spend = np.zeros((n, c))
    for lo in range(0, n, chunk):  # chunks bound memory: (rows x peers x categories)
        idx = nbrs[lo : lo + chunk]
        valid = idx >= 0
        safe = np.where(valid, idx, 0)
        b = ref.buys[safe] & valid[:, :, None]
        w = ref.rank_weight[safe] * valid
        peer_rate[lo : lo + chunk] = (b * w[:, :, None]).sum(axis=1) / np.maximum(
            w.sum(axis=1), 1e-9
        )[:, None]
        plain[lo : lo + chunk] = b.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)[:, None]
        logs = np.where(b, np.log(np.maximum(ref.year_spend[safe], 1e-9)), 0.0)
        cnt = b.sum(axis=1)
        # peers' typical spend, shrunk towards what all buyers spend (worth prior_peers peers)
        shrunk = (logs.sum(axis=1) + prior_peers * ref.log_prior) / (cnt + prior_peers)
        # no peer buys it: what its buyers typically spend (0 for a category nobody bought)
        fallback = np.where(ref.buys.any(axis=0), np.exp(ref.log_prior), 0.0)
        peer_spend[lo : lo + chunk] = np.where(cnt > 0, np.exp(shrunk), fallback)
    x = ever.astype(float)
    n_bought = x.sum(axis=1, keepdims=True)
    cooccurrence = x @ ref.cond
    cosine = x @ ref.cosine
    affinity = cooccurrence / np.maximum(n_bought, 1.0)
    affinity_from = _argmax_chunked(x, ref.cond)
    annual = year_spend.sum(axis=1, keepdims=True)
    spend_ratio = np.log((peer_spend + 1.0) / (annual + 1.0))
    features = np.stack(
        [
            peer_rate,
            plain,
            affinity,
            np.broadcast_to(ref.popularity, (n, c)),
            ref.segment_popularity[segment],
            spend_ratio,
            np.broadcast_to(np.log1p(n_bought), (n, c)),
            np.broadcast_to(np.log1p(annual), (n, c)),
            cooccurrence,
            np.broadcast_to(ref.recent_popularity, (n, c)),
            np.broadcast_to(np.log1p(order_days), (n, c)),
            cosine,
            # where the category stands among this account's own candidates (what a ranking
            # within one account needs): 1 = its strongest, 0 = its weakest
            _rank_within(cooccurrence, ever),
            _rank_within(np.broadcast_to(ref.popularity, (n, c)), ever),
            _rank_within(cosine, ever),
            np.broadcast_to(np.log(ref.adoption_rate + 1e-3), (n, c)),
            _rank_within(np.broadcast_to(ref.adoption_rate, (n, c)), ever),
        ],
        axis=2,
    ).reshape(n * c, len(CANDIDATE_FEATURES))
    return _Candidates(
        features=features,
        peer_rate_plain=plain,
        peer_spend=peer_spend,
        affinity_from=affinity_from,
        peer_count=(nbrs >= 0).sum(axis=1),
    )


def _rank_within(score: np.ndarray, ever: np.ndarray) -> np.ndarray:
    """Each never-bought cell's rank among its row's never-bought cells, scaled to 0..1
    (1 = the row's strongest; ties share the lower rank; bought cells get 0)."""
    if not score.size:
        return np.zeros(score.shape)
    masked = np.where(ever, -np.inf, score)
    below = pd.DataFrame(masked).rank(axis=1, method="min").to_numpy() - 1
    n_open = (~ever).sum(axis=1, keepdims=True)
    base = ever.sum(axis=1, keepdims=True)
    return np.where(ever, 0.0, (below - base) / np.maximum(n_open - 1, 1))


def _order_days(p: _Profiles) -> np.ndarray:
    """An account's busiest category's order-day count, as a (n, 1) column: how often it buys."""
    return p.orders.max(axis=1, keepdims=True).astype(float) if p.orders.size else np.zeros((0, 1))


def _argmax_chunked(x: np.ndarray, cond: np.ndarray, chunk: int = 5_000) -> np.ndarray:
    """For each account and candidate category, which of the account's categories is most
    often bought with the candidate (argmax over b of x[a, b] * cond[b, c])."""
    out = np.zeros(x.shape, dtype=np.int32)
    for lo in range(0, len(x), chunk):
        out[lo : lo + chunk] = np.argmax(x[lo : lo + chunk, :, None] * cond[None, :, :], axis=1)
    return out


def _rank_weight(p: _Profiles) -> np.ndarray:
    """1 for the smallest spender of a segment up to 3 for its biggest: the best customers of a
    peer group count three times as much as its weakest."""
    spend = p.year_spend.sum(axis=1)
    pct = pd.Series(spend).groupby(p.segment).rank(pct=True).to_numpy()
    return 1.0 + 2.0 * pct


class PeerRecommender:
    """Cross-sell and win-back recommendations from peers' buying profiles.

    Parameters
    ----------
    n_peers : size of each account's peer group.
    lookback_days : what an account "buys" now: categories bought within this window.
    horizon_days : the probability is of a first purchase within this many days.
    top_n : recommendations kept per account.
    lapse_factor, lapse_min_days : a category bought at least ``lapse_min_orders`` times and silent
        for more than ``lapse_factor`` x its usual gap (and ``lapse_min_days``) is a win-back.
    adoption_splits : earlier cutoffs, about a quarter apart, the adoption model learns from.
    max_train_rows, max_train_accounts : caps on its training rows, and on the accounts whose
        candidates are built at each earlier cutoff (a random sample of a larger book).
    Column names of the frames are parameters too.
    """

    def __init__(
        self,
        *,
        n_peers: int = 25,
        lookback_days: int = 365,
        horizon_days: int = 90,
        top_n: int = 5,
        lapse_factor: float = 3.0,
        lapse_min_days: int = 90,
        lapse_min_orders: int = 3,
        win_back: bool = True,
        adoption_splits: int = 4,
        C: float = 1.0,
        max_train_rows: int = 150_000,
        max_train_accounts: int = 30_000,
        random_state: int = 0,
        account_col: str = "account_id",
        date_col: str = "order_date",
        category_col: str = "category",
        amount_col: str = "amount",
        product_col: str = "product_id",
        segment_col: str = "segment",
        name_col: str = "name",
    ) -> None:
        self.n_peers = n_peers
        self.lookback_days = lookback_days
        self.horizon_days = horizon_days
        self.top_n = top_n
        self.lapse_factor = lapse_factor
        self.lapse_min_days = lapse_min_days
        self.lapse_min_orders = lapse_min_orders
        self.win_back = win_back
        self.adoption_splits = adoption_splits
        self.C = C
        self.max_train_rows = max_train_rows
        self.max_train_accounts = max_train_accounts
        self.random_state = random_state
        self.account_col = account_col
        self.date_col = date_col
        self.category_col = category_col
        self.amount_col = amount_col
        self.product_col = product_col
        self.segment_col = segment_col
        self.name_col = name_col

    # ---------------------------------------------------------------------- fitting

    def _arrays(self, order_lines: pd.DataFrame, accounts: pd.DataFrame | None):
        require_columns(
            "order_lines",
            order_lines.columns,
            [self.account_col, self.date_col, self.category_col, self.amount_col],
        )
        account_ids, acc_code = factorize(order_lines[self.account_col])
        categories, cat_code = factorize(order_lines[self.category_col])
        categories = categories.astype(str)
        seg_names = np.full(len(account_ids), NO_SEGMENT, dtype=object)
        names = account_ids.astype(str).astype(object)
        if accounts is not None:
            acc = accounts.drop_duplicates(self.account_col).set_index(self.account_col)
            if self.segment_col in acc.columns:
                found = acc[self.segment_col].reindex(account_ids).to_numpy(dtype=object)
                seg_names = np.where(pd.isna(found), NO_SEGMENT, found).astype(str).astype(object)
            if self.name_col in acc.columns:
                found = acc[self.name_col].reindex(account_ids).to_numpy(dtype=object)
                names = np.where(pd.isna(found), names, found).astype(object)
        segments, seg_code = np.unique(seg_names.astype(str), return_inverse=True)
        day = day_numbers(order_lines[self.date_col])
        amount = order_lines[self.amount_col].to_numpy(dtype=np.float64)
        return account_ids, acc_code, categories, cat_code, segments, seg_code, names, day, amount

    def fit(
        self,
        order_lines: pd.DataFrame,
        accounts: pd.DataFrame | None = None,
        *,
        as_of: dt.date,
    ) -> PeerRecommender:
        """Learn peer groups and adoption probabilities from the history up to ``as_of``.

        ``order_lines``: account_col, date_col, category_col, amount_col (and product_col for the
        top product per category); ``accounts`` (optional): account_col, segment_col, name_col.
        After fitting, :meth:`recommend` answers for any fitted account without recomputing.
        """
        with single_threaded():
            return self._fit(order_lines, accounts, as_of)

    def _fit(
        self, order_lines: pd.DataFrame, accounts: pd.DataFrame | None, as_of: dt.date
    ) -> PeerRecommender:
        cutoff = day_number(as_of)
        account_ids, acc_code, categories, cat_code, segments, seg_code, names, day, amount = (
            self._arrays(order_lines, accounts)
        )
        if not (day <= cutoff).any():
            raise NoOrderHistoryError(as_of)
        self.categories_ = categories
        self.segments_ = segments

        self._learn_adoption(
            day, acc_code, cat_code, amount, account_ids, categories, seg_code, segments, cutoff
        )

        # the profiles, peers and candidate scores at as_of, for every account
        p = _profiles(
            day,
            acc_code,
            cat_code,
            amount,
            account_ids,
            categories,
            seg_code,
            segments,
            cutoff,
            self.lookback_days,
            with_account_orders=True,
        )
        self.profiles_ = p
        self.account_index_ = pd.Index(p.account_ids)
        self.embedding_, self.size_stats_ = _embedding(p)
        self.neighbours_ = _neighbours(
            self.embedding_, seg_code, self.n_peers, random_state=self.random_state
        )
        self.reference_ = _reference(p, _rank_weight(p))
        self.cutoff_ = cutoff
        self.book_ = self._book(
            p,
            _candidates(
                p.year_spend, p.ever, _order_days(p), p.segment, self.neighbours_, self.reference_
            ),
            np.asarray(names, dtype=object),
        )
        self.top_product_ = self._top_products(
            order_lines, day, seg_code, acc_code, cat_code, cutoff
        )
        self.top_product_map_ = {
            (int(s), str(c)): int(pid)
            for s, c, pid in self.top_product_[["segment", "category", "product_id"]].itertuples(
                index=False
            )  # one entry per segment x category
        }
        self.as_of_ = as_of
        return self

    def _book(self, p: _Profiles, cand: _Candidates, names: np.ndarray) -> _Book:
        """Scores of the accounts of ``p``: adoption probability of every cell that can be
        pitched (never bought, some peer buys it) and the lapsed categories."""
        # every category it never bought that someone bought lately (not only its peers')
        pitchable = (~p.ever & (cand.peer_spend > 0)).reshape(-1)
        probability = np.zeros(p.ever.size)
        probability[pitchable] = self._probability(cand.features[pitchable])
        return _Book(
            profiles=p,
            peer_share=cand.peer_rate_plain,
            peer_spend=cand.peer_spend,
            affinity_from=cand.affinity_from,
            probability=probability.reshape(p.ever.shape),
            lapsed=self._lapsed(p, self.cutoff_),
            names=names,
            peer_count=cand.peer_count,
        )

    def _adoption_rows(
        self, arrays: tuple, early: int, until: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Candidate features of every never-bought (account, category) of the accounts active
        at ``early`` and whether it was first bought in ``(early, until]``; also the row's
        account and the lapsed cells and later purchases (for the win-back rate)."""
        day, acc_code, cat_code, amount, account_ids, categories, seg_code, segments = arrays
        p0 = _profiles(
            day, acc_code, cat_code, amount, account_ids, categories, seg_code, segments,
            early, self.lookback_days,
        )  # fmt: skip
        active = np.asarray(p0.ever.any(axis=1), dtype=bool)
        rows = np.flatnonzero(active)
        # the accounts whose rows are learnt from: all of a normal book, a random sample of a
        # huge one (training rows are capped anyway); their peers come from every account
        sample = rows
        if len(rows) > self.max_train_accounts:
            rng = np.random.default_rng(self.random_state)
            sample = np.sort(rng.choice(rows, self.max_train_accounts, replace=False))
        queries = np.zeros(len(account_ids), bool)
        queries[sample] = True
        nb0 = _neighbours(
            _embedding(p0)[0][active], seg_code[active], self.n_peers,
            random_state=self.random_state, queries=queries[active],
        )  # fmt: skip
        nb0 = np.where(nb0 >= 0, rows[np.maximum(nb0, 0)], -1)
        full_nb = np.full((len(account_ids), self.n_peers), -1, dtype=np.int64)
        full_nb[rows] = nb0
        cand0 = _candidates(
            p0.year_spend[sample], p0.ever[sample], _order_days(p0)[sample], p0.segment[sample],
            full_nb[sample], _reference(p0, _rank_weight(p0)),
        )  # fmt: skip
        later = (day > early) & (day <= until)
        flat_later = np.zeros(len(account_ids) * len(categories), bool)
        flat_later[(acc_code * len(categories) + cat_code)[later]] = True
        bought_later = flat_later.reshape(p0.ever.shape)
        # categories sold before the cutoff only: a product line launched later is not a gap
        sold = np.asarray(p0.ever.any(axis=0), dtype=bool)
        eligible = (~p0.ever[sample] & sold[None, :]).reshape(-1)
        owner = np.repeat(sample, len(categories))[eligible]
        return (
            cand0.features[eligible],
            bought_later[sample].reshape(-1)[eligible].astype(int),
            owner,
            self._lapsed(p0, early),
            bought_later,
        )

    def _split_step(self) -> int:
        """Days between the stacked training cutoffs: about a quarter (different seasons), a
        whole number of horizons so the backtest's cutoffs are the fit's, shifted by one."""
        return int(self.horizon_days * max(1, round(91 / max(self.horizon_days, 1))))

    def _rows_at(
        self, arrays: tuple, early: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_adoption_rows` for the window ``(early, early + horizon]``, computed once
        per fit (the backtest and the fit share most of their cutoffs)."""
        cache = self._rows_cache
        if early not in cache:
            cache[early] = self._adoption_rows(arrays, early, early + self.horizon_days)
        return cache[early]

    def _fit_adoption(self, arrays: tuple, end: int) -> OutcomeModel | None:
        """The adoption model from cutoffs whose window closes by ``end``, a quarter apart."""
        xs, ys = [], []
        for j in range(self.adoption_splits):
            early = end - self.horizon_days - self._split_step() * j
            if not (arrays[0] <= early).any():
                break
            x, y, _, _, _ = self._rows_at(arrays, early)
            xs.append(x)
            ys.append(y)
        if not xs:
            return None
        x, y = np.vstack(xs), np.concatenate(ys)
        if len(y) > self.max_train_rows:
            pick = np.random.default_rng(self.random_state).choice(
                len(y), self.max_train_rows, replace=False
            )
            x, y = x[pick], y[pick]
        if len(y) < 20 or not 0 < y.sum() < len(y):
            return None
        return OutcomeModel(C=self.C, random_state=self.random_state).fit(x, y)

    def _learn_adoption(
        self,
        day: np.ndarray,
        acc_code: np.ndarray,
        cat_code: np.ndarray,
        amount: np.ndarray,
        account_ids: np.ndarray,
        categories: np.ndarray,
        seg_code: np.ndarray,
        segments: np.ndarray,
        cutoff: int,
    ) -> None:
        """Fit the adoption model (stacked earlier cutoffs), backtest it one horizon back
        against popularity and item co-occurrence (recall@top_n of first purchases), keep
        the better ranking, and learn the win-back rate."""
        self._rows_cache: dict[int, tuple] = {}
        try:
            self._learn_adoption_from(
                (day, acc_code, cat_code, amount, account_ids, categories, seg_code, segments),
                cutoff,
            )
        finally:
            self._rows_cache = {}

    def _learn_adoption_from(self, arrays: tuple, cutoff: int) -> None:
        day = arrays[0]
        self.classifier_: OutcomeModel | None = self._fit_adoption(arrays, cutoff)
        self.win_back_rate_ = 0.0
        self.rank_method_ = LEARNT
        self.rank_calibration_ = Calibration()
        self.backtest_: dict[str, object] | None = None
        early = cutoff - self.horizon_days
        if not (day <= early).any():
            return
        x, y, owner, lapsed0, bought_later = self._rows_at(arrays, early)
        if lapsed0.any():
            self.win_back_rate_ = float(bought_later[lapsed0].mean())
        model_b = self._fit_adoption(arrays, early)
        if model_b is None or not y.any():
            return
        learnt = model_b.probability(x)
        scores = {
            LEARNT: learnt,
            "popularity": x[:, CANDIDATE_FEATURES.index("popularity")],
            "item co-occurrence": x[:, CANDIDATE_FEATURES.index("cooccurrence")],
            ADOPTION_RATE: x[:, CANDIDATE_FEATURES.index("log_adoption_rate")],
        }
        parts = _blend_parts(learnt, x)
        self.blend_stats_ = (parts.mean(axis=0), parts.std(axis=0) + 1e-9)
        scores[BLEND] = self._blend(parts)
        k = min(self.top_n, BACKTEST_K)
        recall = {name: _recall_at(owner, s, y, k) for name, s in scores.items()}
        best = max(recall, key=lambda n: (recall[n], n == LEARNT))
        self.rank_method_ = best
        if best != LEARNT:
            self.rank_calibration_ = Calibration.fit(scores[best], y)
        top = _top_k_mask(owner, scores[best], k)
        self.backtest_ = {
            "as_of": date_of(early).isoformat(),
            "pitched": int(top.sum()),
            "pitched_adopted": int(y[top].sum()),
            "horizon_days": self.horizon_days,
            "accounts": len(np.unique(owner[y == 1])),
            "first_purchases": int(y.sum()),
            "recall_at_k": {name: round(v, 4) for name, v in recall.items()},
            "k": k,
            "chosen": best,
        }

    def _lapsed(self, p: _Profiles, cutoff: int) -> np.ndarray:
        span = np.where(p.orders >= 2, p.last_day - p.first_day, 0)
        cycle = span / np.maximum(p.orders - 1, 1)
        silent = cutoff - p.last_day
        return (
            (p.orders >= self.lapse_min_orders)
            & (silent > self.lapse_factor * cycle)
            & (silent > self.lapse_min_days)
        )

    def _top_products(
        self,
        order_lines: pd.DataFrame,
        day: np.ndarray,
        seg_code: np.ndarray,
        acc_code: np.ndarray,
        cat_code: np.ndarray,
        cutoff: int,
    ) -> pd.DataFrame:
        """The product bought by most accounts per segment x category over the lookback window
        (ties and categories not bought lately: over all history), as columns segment,
        category, product_id; segment -1 = all segments."""
        if self.product_col not in order_lines.columns:
            return pd.DataFrame(columns=["segment", "category", "product_id"])
        upto = day <= cutoff
        product_ids, product_code = factorize(order_lines[self.product_col][upto])
        n_prod = max(len(product_ids), 1)
        # distinct account x product pairs, ever and within the lookback window
        key = acc_code[upto].astype(np.int64) * n_prod + product_code
        recent = day[upto] > cutoff - self.lookback_days
        pairs_recent = np.unique(key[recent])
        pairs_all = np.unique(key)
        category_of = np.empty(n_prod, dtype=object)
        category_of[product_code] = self.categories_[cat_code[upto]]
        n_seg = len(self.segments_)

        def buyers(pairs: np.ndarray) -> np.ndarray:
            seg_prod = seg_code[pairs // n_prod] * n_prod + pairs % n_prod
            per_segment = np.bincount(seg_prod, minlength=n_seg * n_prod).reshape(n_seg, n_prod)
            return np.vstack([per_segment, per_segment.sum(axis=0, keepdims=True)])

        recent_buyers, all_buyers = buyers(pairs_recent), buyers(pairs_all)
        seg_index = np.r_[np.arange(n_seg), -1]
        both = pd.DataFrame(
            {
                "segment": np.repeat(seg_index, n_prod),
                "product": np.tile(np.arange(n_prod), n_seg + 1),
                "recent": recent_buyers.reshape(-1),
                "buyers": all_buyers.reshape(-1),
            }
        )
        both = both[both["buyers"] > 0]
        both["category"] = category_of[both["product"].to_numpy()]
        both["product_id"] = product_ids[both["product"].to_numpy()]
        both = both.sort_values(
            ["segment", "category", "recent", "buyers", "product_id"],
            ascending=[True, True, False, False, True],
        )
        return both.drop_duplicates(["segment", "category"])[["segment", "category", "product_id"]]

    # --------------------------------------------------------------------- answering

    def _check_fitted(self) -> None:
        if not hasattr(self, "profiles_"):
            raise ModelNotFittedError(type(self).__name__)

    def probabilities(self) -> pd.DataFrame:
        """Adoption probability of every never-bought category of every fitted account (account
        x category DataFrame, NaN where the account has bought the category)."""
        self._check_fitted()
        p = self.profiles_
        prob = np.where(p.ever, np.nan, self.book_.probability)
        return pd.DataFrame(prob, index=p.account_ids, columns=p.categories)

    def _blend(self, parts: np.ndarray) -> np.ndarray:
        mean, std = self.blend_stats_
        return ((parts - mean) / std).mean(axis=1)

    def _probability(self, features: np.ndarray) -> np.ndarray:
        method = getattr(self, "rank_method_", LEARNT)
        if method == BLEND and self.classifier_ is not None:
            parts = _blend_parts(self.classifier_.probability(features), features)
            return self.rank_calibration_(self._blend(parts))
        if method in BASELINE_COLUMNS:
            column = BASELINE_COLUMNS[method]
            return self.rank_calibration_(features[:, CANDIDATE_FEATURES.index(column)])
        if self.classifier_ is None:
            # no learnt model: the peers' adoption rate blended with item affinity
            return 0.7 * features[:, 0] + 0.3 * features[:, 2]
        return self.classifier_.probability(features)

    def recommend(self, account_ids: np.ndarray | list | None = None) -> pd.DataFrame:
        """Ranked recommendations (RECOMMENDATION_COLUMNS) for fitted accounts (all by default).

        ``kind`` is ``cross_sell`` (peers buy it, the account never did) or ``win_back`` (the
        account bought it regularly and stopped). ``expected_value`` is a yearly amount;
        ``probability`` the chance of (re)starting within ``horizon_days``; ``peer_share`` the
        fraction of its peers buying the category; ``peer_spend`` what those peers typically
        spend on it a year.
        """
        self._check_fitted()
        n = len(self.profiles_.account_ids)
        if account_ids is None:
            rows = np.arange(n)
        else:
            pos = self.account_index_.get_indexer(np.asarray(account_ids))
            rows = pos[pos >= 0]
        return self._recommendations(self.book_, rows)

    def recommend_for(
        self,
        order_lines: pd.DataFrame,
        accounts: pd.DataFrame | None = None,
        *,
        as_of: dt.date | None = None,
    ) -> pd.DataFrame:
        """Recommendations for the accounts of ``order_lines`` from their own fresh lines,
        matched against the fitted book's peers (RECOMMENDATION_COLUMNS).

        For on-demand answers: ``order_lines`` holds only the accounts asked about (the
        store.frames shape), ``accounts`` their rows (segment, name). Categories the fitted
        book never saw are ignored; ``as_of`` defaults to the fitted day.
        """
        self._check_fitted()
        require_columns(
            "order_lines",
            order_lines.columns,
            [self.account_col, self.date_col, self.category_col, self.amount_col],
        )
        cutoff = self.cutoff_ if as_of is None else day_number(as_of)
        ref_p = self.profiles_
        account_ids, acc_code = factorize(order_lines[self.account_col])
        cat_code = pd.Index(ref_p.categories).get_indexer(
            order_lines[self.category_col].astype(str).to_numpy()
        )
        known = cat_code >= 0
        seg_names = np.full(len(account_ids), NO_SEGMENT, dtype=object)
        names = account_ids.astype(str).astype(object)
        if accounts is not None and len(account_ids):
            acc = accounts.drop_duplicates(self.account_col).set_index(self.account_col)
            if self.segment_col in acc.columns:
                found = acc[self.segment_col].reindex(account_ids).to_numpy(dtype=object)
                seg_names = np.where(pd.isna(found), NO_SEGMENT, found).astype(str)
            if self.name_col in acc.columns:
                found = acc[self.name_col].reindex(account_ids).to_numpy(dtype=object)
                names = np.where(pd.isna(found), names, found)
        segment = pd.Index(ref_p.segments).get_indexer(seg_names.astype(str))
        p = _profiles(
            day_numbers(order_lines[self.date_col])[known],
            acc_code[known],
            cat_code[known],
            order_lines[self.amount_col].to_numpy(dtype=np.float64)[known],
            account_ids,
            ref_p.categories,
            np.maximum(segment, 0),
            ref_p.segments,
            cutoff,
            self.lookback_days,
            with_account_orders=True,
        )
        emb, _ = _embedding(p, self.size_stats_)
        nbrs = np.full((len(account_ids), self.n_peers), -1, dtype=np.int64)
        for i in range(len(account_ids)):  # the accounts asked about: one or a few
            pool = (
                np.flatnonzero(ref_p.segment == segment[i])
                if segment[i] >= 0
                else np.zeros(0, np.int64)
            )
            if len(pool) <= self.n_peers:
                pool = np.arange(len(ref_p.account_ids))
            pool = pool[ref_p.account_ids[pool] != account_ids[i]]
            k = min(self.n_peers, len(pool))
            if k:
                nbrs[i, :k] = pool[_nearest(emb[i : i + 1], self.embedding_[pool], k)[0]]
        cand = _candidates(p.year_spend, p.ever, _order_days(p), p.segment, nbrs, self.reference_)
        book = self._book(p, cand, names.astype(object))
        return self._recommendations(book, np.arange(len(account_ids)))

    def _recommendations(self, book: _Book, rows: np.ndarray) -> pd.DataFrame:
        p = book.profiles
        c = p.ever.shape[1]
        prob = book.probability[rows]
        peer_spend = book.peer_spend[rows]
        plain = book.peer_share[rows]
        ever = p.ever[rows]
        # an account gone quiet by its own rhythm is pitched its win-backs first; new
        # categories only fill the rest of its list, after every win-back
        quiet = p.dormant(self.lookback_days)[rows]
        dormant = quiet[:, None]
        pitchable = ~ever & (peer_spend > 0)
        ev = np.where(pitchable, prob * peer_spend, 0.0)
        # ranked by the chance of adoption; expected value is shown beside it
        key = np.where(pitchable, np.where(dormant, prob - 1.0 - 1e-9, prob), -2.0)
        kinds = np.full((len(rows), c), "cross_sell", dtype=object)
        win_prob = np.zeros((len(rows), c))
        if self.win_back:
            lapsed = book.lapsed[rows]
            _, own_annual = _own_rhythm(
                p.total[rows], p.first_day[rows], p.last_day[rows], p.orders[rows]
            )
            win_prob = np.where(lapsed, self.win_back_rate_, 0.0)
            kinds = np.where(lapsed, "win_back", kinds)
            ev = np.where(lapsed, win_prob * own_annual, ev)
            key = np.where(lapsed, win_prob, key)
        order = np.argsort(-key, axis=1, kind="stable")[:, : self.top_n]
        r_idx = np.repeat(np.arange(len(rows)), order.shape[1])
        c_idx = order.reshape(-1)
        keep = key[r_idx, c_idx] > -2.0
        r_idx, c_idx = r_idx[keep], c_idx[keep]
        acc_rows = rows[r_idx]
        kind = kinds[r_idx, c_idx]
        probability = np.where(kind == "win_back", win_prob[r_idx, c_idx], prob[r_idx, c_idx])
        frame = pd.DataFrame(
            {
                "account_id": p.account_ids[acc_rows],
                "kind": kind,
                "category": p.categories[c_idx].astype(object),
                "expected_value": np.round(ev[r_idx, c_idx], 2),
                "probability": np.round(probability, 4),
                "peer_share": np.round(plain[r_idx, c_idx], 4),
                "peer_spend": np.round(peer_spend[r_idx, c_idx], 2),
            }
        )
        frame["rank"] = frame.groupby("account_id").cumcount().astype("int64") + 1
        frame["product_id"] = self._product_for(p.segment[acc_rows], frame["category"].to_numpy())
        frame["reason"] = self._reasons(
            book, acc_rows, c_idx, kind, plain[r_idx, c_idx], peer_spend[r_idx, c_idx], quiet[r_idx]
        )
        return frame[RECOMMENDATION_COLUMNS].reset_index(drop=True)

    def _product_for(self, segment: np.ndarray, category: np.ndarray) -> pd.array:
        """Top product of each (segment, category), else of the category over all segments."""
        top = self.top_product_map_
        ids = [
            top.get((int(s), c), top.get((-1, c)))
            for s, c in zip(segment.tolist(), category.tolist(), strict=True)
        ]
        return pd.array(ids, dtype="Int64")

    def _reasons(
        self,
        book: _Book,
        acc_rows: np.ndarray,
        c_idx: np.ndarray,
        kind: np.ndarray,
        share: np.ndarray,
        spend: np.ndarray,
        quiet: np.ndarray,
    ) -> np.ndarray:
        """Each pitch's reason; ``quiet`` marks the rows of dormant accounts."""
        p = book.profiles
        cats = p.categories[c_idx].astype(object)
        seg_lower = np.array([f"similar {x.lower()} accounts" for x in p.segments], dtype=object)
        seg_lower[p.segments == NO_SEGMENT] = "similar accounts"
        seg_text = seg_lower[p.segment[acc_rows]]
        names = book.names[acc_rows]
        # peer shares say what the peers are: "20 of its 25 closest peers (similar ...)"
        count = book.peer_count[acc_rows]
        buyers = np.round(share * count).astype(np.int64)
        peers = (
            np.where(buyers > 0, int_text(buyers), "none").astype(object)
            + " of its "
            + int_text(count)
            + " closest peers ("
            + seg_text
            + ")"
        )
        text = (
            peers
            + np.where(buyers == 1, " buys ", " buy ").astype(object)
            + cats
            + "; peers of "
            + possessive(names)
            + " size spend about "
            + money_text(spend)
            + " a year on it"
        )
        source = book.affinity_from[acc_rows, c_idx]
        with_source = p.ever[acc_rows, source] & (source != c_idx)
        text[with_source] = (
            text[with_source]
            + "; often bought with "
            + p.categories[source[with_source]].astype(object)
            + ", which "
            + names[with_source]
            + np.where(quiet[with_source], " used to buy", " already buys").astype(object)
        )
        cross = quiet & (kind != "win_back")
        if cross.any():
            silent = p.cutoff - p.last_order_day()
            text[cross] = (
                text[cross]
                + "; "
                + names[cross]
                + " has bought nothing for "
                + int_text(np.round(silent[acc_rows[cross]] / 7))
                + " weeks, so win it back first"
            )
        win = kind == "win_back"
        if win.any():
            a, c = acc_rows[win], c_idx[win]
            cycle_days, annual = _own_rhythm(
                p.total[a, c], p.first_day[a, c], p.last_day[a, c], p.orders[a, c]
            )
            peers_still = np.where(
                share[win] > 0,
                "; "
                + peers[win]
                + np.where(buyers[win] == 1, " buys it", " buy it").astype(object),
                "",
            ).astype(object)
            text[win] = (
                names[win]
                + " bought "
                + cats[win]
                + " every "
                + int_text(np.round(cycle_days))
                + " days (about "
                + money_text(annual)
                + " a year) and stopped "
                + int_text(np.round((self.cutoff_ - p.last_day[a, c]) / 7))
                + " weeks ago"
                + peers_still
            )
        return text


def _own_rhythm(
    total: np.ndarray, first_day: np.ndarray, last_day: np.ndarray, orders: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """An account's own usual gap (days) in a category and its annual spend while it bought
    (spend over the buying span plus one usual gap, at least a quarter)."""
    span = np.maximum(last_day - first_day, 1)
    cycle = span / np.maximum(orders - 1, 1)
    annual = total / np.maximum(span + cycle, 91) * 365.0
    return cycle, annual


def _top_k_mask(owner: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """True for the rows among each owner's ``k`` highest scores (ties in a fixed random
    order)."""
    if not len(owner):
        return np.zeros(0, bool)
    jitter = np.random.default_rng(0).random(len(score)) * 1e-9
    order = np.lexsort((-(np.asarray(score, dtype=float) + jitter), owner))
    o = owner[order]
    starts = np.r_[0, np.flatnonzero(o[1:] != o[:-1]) + 1]
    rank = np.arange(len(o)) - np.repeat(starts, np.diff(np.r_[starts, len(o)]))
    mask = np.zeros(len(owner), bool)
    mask[order[rank < k]] = True
    return mask


def _recall_at(owner: np.ndarray, score: np.ndarray, adopted: np.ndarray, k: int) -> float:
    """Mean over accounts with a first purchase of the share of them in the account's top
    ``k`` candidates by ``score`` (rows of one account are its candidates)."""
    if not len(owner):
        return 0.0
    top = _top_k_mask(owner, score, k)
    hit = adopted.astype(bool)
    n_acc = int(owner.max()) + 1
    hits = np.bincount(owner[hit & top], minlength=n_acc)
    total = np.bincount(owner[hit], minlength=n_acc)
    has = total > 0
    return float((hits[has] / total[has]).mean()) if has.any() else 0.0


def _blend_parts(learnt: np.ndarray, features: np.ndarray) -> np.ndarray:
    """The blend's inputs per candidate: the learnt model's log-odds, log popularity, log item
    co-occurrence and log adoption rate (each standardised on the backtest before averaging)."""
    p = np.clip(learnt, 1e-6, 1 - 1e-6)
    return np.column_stack(
        [
            np.log(p / (1 - p)),
            np.log(features[:, CANDIDATE_FEATURES.index("popularity")] + 1e-3),
            np.log1p(features[:, CANDIDATE_FEATURES.index("cooccurrence")]),
            features[:, CANDIDATE_FEATURES.index("log_adoption_rate")],
        ]
    )
