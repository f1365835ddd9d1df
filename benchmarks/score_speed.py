"""Speed of account scoring: the nightly batch and single accounts on demand.

    .venv/bin/python -m benchmarks.score_speed [--accounts 100000] [--lines 10000000]
        [--store-url URL] [--on-demand 200]

Order lines come from the store (``--store-url``, e.g. after ``salesbot demo-data --accounts
100000``), from the demo generator in memory (``--demo``), or are synthesised here in the
store.frames shape: accounts with their own cycles, sizes, segments and category preferences
over three years. Reported:

* batch: HealthModel fit + assess and PeerRecommender fit + recommend for every account, wall
  time and peak resident memory, next to one pandas groupby-sum over the same lines
  (the cheapest pass any batch must make) measured in the same run;
* on demand: one account's fresh lines judged by the fitted models (health, and pitch against
  the fitted peers with ``recommend_for``), p50/p95 per account.
Targets (DESIGN.md section 5): batch <= 120 s and <= 4 GB for 100k accounts / 10M lines;
one account <= 50 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time

import numpy as np
import pandas as pd

from analytics.health import HealthModel
from analytics.recommend import PeerRecommender

SEGMENTS = [
    "Hospitality",
    "Healthcare",
    "Education",
    "Retail",
    "Manufacturing",
    "Offices",
    "Public",
    "Fitness",
]
CATEGORIES = [f"Category {i:02d}" for i in range(20)]


def synthesise(
    n_accounts: int, n_lines: int, end: dt.date, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Order lines and accounts (store.frames columns) of a synthetic distributor."""
    rng = np.random.default_rng(seed)
    segment = rng.integers(0, len(SEGMENTS), n_accounts)
    prefs = rng.dirichlet(np.full(len(CATEGORIES), 0.3), len(SEGMENTS))
    lines_per_order = 3.0
    orders_total = int(n_lines / lines_per_order)
    weight = rng.lognormal(0, 0.8, n_accounts)
    n_orders = np.maximum(1, rng.poisson(weight / weight.sum() * orders_total))
    account = np.repeat(np.arange(n_accounts), n_orders)
    history = 3 * 365
    # order days: uniform over each account's active span (some accounts stop early)
    start = rng.integers(0, history // 2, n_accounts)
    stop = np.where(
        rng.random(n_accounts) < 0.15, rng.integers(history // 2, history, n_accounts), history
    )
    day = start[account] + (rng.random(len(account)) * (stop - start)[account]).astype(np.int64)
    order_id = np.arange(len(account))
    k = np.maximum(1, rng.poisson(lines_per_order - 1, len(account)) + 1)
    line_order = np.repeat(order_id, k)
    line_account = account[line_order]
    cum = np.cumsum(prefs, axis=1)
    line_segment = segment[line_account]
    u = rng.random(len(line_order))
    category = np.zeros(len(line_order), dtype=np.int64)
    for s in range(len(SEGMENTS)):  # inverse CDF per segment
        rows = line_segment == s
        category[rows] = np.searchsorted(cum[s], u[rows]).clip(0, len(CATEGORIES) - 1)
    product = category * 10 + rng.integers(0, 10, len(line_order))
    amount = np.round(rng.lognormal(4, 1, len(line_order)), 2)
    end64 = np.datetime64(end, "D")
    lines = pd.DataFrame(
        {
            "account_id": line_account + 1,
            "order_id": line_order + 1,
            "order_date": (end64 - history + day[line_order]).astype("datetime64[ns]"),
            "product_id": product + 1,
            "category": pd.Categorical.from_codes(category, CATEGORIES),
            "quantity": 1.0,
            "amount": amount,
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": np.arange(1, n_accounts + 1),
            "name": [f"Account {i}" for i in range(1, n_accounts + 1)],
            "segment": np.array(SEGMENTS, dtype=object)[segment],
        }
    )
    return lines, accounts


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--store-url", help="read order lines and accounts from this store instead")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="use the demo generator's data (store.demo, in memory) instead of the synthetic book",
    )
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2025, 6, 30))
    parser.add_argument("--on-demand", type=int, default=200, help="accounts timed one by one")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    if args.store_url:
        from store import frames
        from store.db import make_engine

        engine = make_engine(args.store_url)
        lines = frames.order_lines(engine, end=args.as_of)
        accounts = frames.accounts(engine)
        source = args.store_url
    elif args.demo:
        from benchmarks.quality import generate_demo_dataset

        demo = generate_demo_dataset(args.accounts, args.as_of)
        lines, accounts = demo.order_lines, demo.accounts
        source = "demo generator"
        del demo
    else:
        lines, accounts = synthesise(args.accounts, args.lines, args.as_of)
        source = "synthetic"
    load_s = time.perf_counter() - t0
    rss_loaded = peak_rss_gb()
    print(
        f"data: {source}, {lines['account_id'].nunique()} accounts, {len(lines)} lines ({load_s:.1f} s, peak RSS {rss_loaded:.2f} GB)"
    )

    t0 = time.perf_counter()
    baseline = lines.groupby("account_id")["amount"].sum()
    baseline_s = time.perf_counter() - t0
    del baseline

    t0 = time.perf_counter()
    health_model = HealthModel().fit(lines, accounts, as_of=args.as_of)
    t_fit = time.perf_counter()
    rss = {"health fit": peak_rss_gb()}
    health = health_model.assess(lines, accounts, as_of=args.as_of)
    t_health = time.perf_counter()
    rss["assess"] = peak_rss_gb()
    recommender = PeerRecommender().fit(lines, accounts, as_of=args.as_of)
    t_rfit = time.perf_counter()
    rss["pitch fit"] = peak_rss_gb()
    recs = recommender.recommend()
    t_end = time.perf_counter()
    rss["recommend"] = peak_rss_gb()
    batch_s = t_end - t0
    print(
        f"batch: {batch_s:.1f} s (health fit {t_fit - t0:.1f} s, assess {t_health - t_fit:.1f} s, "
        f"pitch fit {t_rfit - t_health:.1f} s, recommend {t_end - t_rfit:.1f} s); "
        f"{len(health.accounts)} accounts, {len(health.categories)} account x category rows, {len(recs)} recommendations"
    )
    print(
        f"  vs one groupby-sum over the lines: {baseline_s:.2f} s -> batch = {batch_s / baseline_s:.0f}x that pass"
    )
    print(
        f"  peak RSS {peak_rss_gb():.2f} GB (data alone {rss_loaded:.2f} GB); targets <= 120 s, <= 4 GB"
    )
    print("  peak RSS after each step: " + ", ".join(f"{k} {v:.2f} GB" for k, v in rss.items()))

    # on demand: one account's lines, as the action server loads them from the store
    rng = np.random.default_rng(1)
    ids = rng.choice(
        health.accounts["account_id"].to_numpy(),
        min(args.on_demand, len(health.accounts)),
        replace=False,
    )
    by_account = {
        a: g for a, g in lines[lines["account_id"].isin(ids)].groupby("account_id", observed=True)
    }
    acc_rows = accounts.set_index("account_id")
    times = []
    for account_id in ids:  # one request at a time, like replies to reps
        one = by_account[account_id]
        meta = acc_rows.loc[[account_id]].reset_index()
        t0 = time.perf_counter()
        health_model.assess(one, meta, as_of=args.as_of)
        recommender.recommend_for(one, meta, as_of=args.as_of)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000
    print(
        f"on demand: {len(ms)} accounts, p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, max {ms.max():.1f} ms (target <= 50 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
