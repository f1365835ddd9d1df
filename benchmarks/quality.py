"""Quality benchmark: slipping detection and pitch on a time split of an order history.

    .venv/bin/python -m benchmarks.quality [--dataset northwind cdnow demo] [--horizon 90]
        [--cutoff YYYY-MM-DD]
        [--generate ACCOUNTS | --demo-dir var/demo --store-url URL] [--out FILE.md]

The history up to a cutoff (``horizon`` days before its last day, or ``--cutoff``) is all any
method sees. Slipping: among repeat customers at the cutoff (two or more order days), the
positive class is "no order in the holdout window"; ROC-AUC and precision at the top 10% for
our HealthModel score, the recency rule and BG/NBD 1 - P(alive). Pitch: recall@5 of the categories each
account buys for the first time in the holdout, for our PeerRecommender ranking, category
popularity, item co-occurrence and implicit ALS. On demo data, the planted truth is also
scored: precision/recall of flagged accounts against planted defections, and how many planted
seasonal / one-off / volatile / new accounts were wrongly flagged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

from analytics.activity import precision_at
from analytics.health import FLAGGED, HealthModel
from analytics.recommend import PeerRecommender
from benchmarks import baselines
from benchmarks.real_data import LOADERS, Dataset


def load_demo(demo_dir: Path, store_url: str | None = None) -> Dataset:
    """Demo data as written by ``salesbot demo-data --out DIR``: the store (``store_url``, by
    default the configured one) and ``DIR/planted_truth.csv``."""
    from store import frames
    from store.db import default_database_url, make_engine

    engine = make_engine(store_url or default_database_url())
    try:
        lines = frames.order_lines(engine)
        accounts = frames.accounts(engine)
    finally:
        engine.dispose()
    planted = pd.read_csv(demo_dir / "planted_truth.csv", dtype=str, keep_default_na=False)
    return Dataset("demo", lines, accounts, planted)


def generate_demo_dataset(accounts: int, end_date: dt.date, seed: int = 7) -> Dataset:
    """Demo data made in memory by store.demo's generator (what ``salesbot demo-data``
    writes), in the store.frames shape, with its planted truth."""
    from store.demo import DemoParams, generate_demo

    demo = generate_demo(DemoParams(end_date=end_date, accounts=accounts, seed=seed))
    products = demo.tables["product"].rename(columns={"id": "product_id"})
    lines = demo.tables["order_line"].merge(products[["product_id", "category"]], on="product_id")
    lines["order_date"] = pd.to_datetime(lines["order_date"]).astype("datetime64[ns]")
    lines = lines[
        ["account_id", "order_id", "order_date", "product_id", "category", "quantity", "amount"]
    ]
    account_frame = demo.tables["account"].rename(columns={"id": "account_id"})
    planted = demo.planted_truth.astype(str).replace({"nan": "", "None": ""})
    return Dataset(f"demo ({accounts} accounts, seed {seed})", lines, account_frame, planted)


def slipping_labels(
    lines: pd.DataFrame, cutoff: pd.Timestamp, horizon: int
) -> tuple[pd.DataFrame, pd.Series]:
    """RFM summary of every account at the cutoff and, for repeat customers (two or more order
    days), the label 1 = no order in the ``horizon`` days after the cutoff."""
    past = lines[lines["order_date"] <= cutoff]
    summary = baselines.rfm_summary(past, cutoff)
    repeat = summary[summary["frequency"] >= 1]
    later = lines[
        (lines["order_date"] > cutoff)
        & (lines["order_date"] <= cutoff + pd.Timedelta(days=horizon))
    ]
    label = pd.Series(
        (~repeat.index.isin(later["account_id"].unique())).astype(int), index=repeat.index
    )
    return summary, label


def slipping_scores(
    data: Dataset, cutoff: pd.Timestamp, horizon: int
) -> tuple[pd.Series, dict[str, pd.Series]]:
    """Labels of repeat customers and every method's score for them (higher = more at risk)."""
    lines = data.order_lines
    past = lines[lines["order_date"] <= cutoff]
    summary, label = slipping_labels(lines, cutoff, horizon)
    idx = label.index
    model = HealthModel(horizon_days=horizon).fit(past, data.accounts, as_of=cutoff.date())
    health = model.predict(past, data.accounts, as_of=cutoff.date()).set_index("account_id")
    scores = {
        "ours": health["score"].reindex(idx),
        "recency": baselines.recency_score(summary).reindex(idx),
        "frequency": baselines.frequency_score(summary).reindex(idx),
        "BG/NBD 1-P(alive)": baselines.bgnbd_score(summary).reindex(idx),
        "BG/NBD P(no order)": baselines.bgnbd_no_purchase_score(summary, horizon).reindex(idx),
        "gradient-boosted RFM": baselines.gbm_rfm_score(past, cutoff, horizon).reindex(idx),
    }
    return label, scores


def evaluate_slipping(data: Dataset, cutoff: pd.Timestamp, horizon: int) -> pd.DataFrame:
    label, scores = slipping_scores(data, cutoff, horizon)
    y = label.to_numpy()
    rows = []
    for method, s in scores.items():
        values = s.fillna(s.min()).to_numpy(dtype=float)
        rows.append(
            {
                "method": method,
                "roc_auc": roc_auc_score(y, values) if 0 < y.sum() < len(y) else float("nan"),
                "precision@10%": precision_at(y, values),
                "accounts": len(y),
                "positives": int(y.sum()),
            }
        )
    return pd.DataFrame(rows)


def evaluate_pitch(data: Dataset, cutoff: pd.Timestamp, horizon: int, k: int = 5) -> pd.DataFrame:
    """recall@1/3/k of the categories each account first buys in the ``horizon`` days after
    the cutoff, among categories sold before the cutoff."""
    lines = data.order_lines
    past = lines[lines["order_date"] <= cutoff]
    spend = baselines.incidence(past, cutoff)
    bought = spend > 0
    first = baselines.first_purchases(lines, spend, cutoff, horizon)
    # the product as configured (its own 90-day adoption window), judged on the longer window
    rec = PeerRecommender(top_n=len(spend.columns)).fit(past, data.accounts, as_of=cutoff.date())
    ranked = rec.recommend(spend.index)
    shown = ranked.pivot_table(index="account_id", columns="category", values="rank", aggfunc="min")
    shown = -shown.reindex(index=spend.index, columns=spend.columns)
    prob = rec.probabilities().reindex(index=spend.index, columns=spend.columns)
    scores = {
        "ours (as shown)": shown,
        "ours (by probability)": prob,
        "popularity": baselines.popularity_scores(spend),
        "item co-occurrence": baselines.cooccurrence_scores(spend),
        "implicit ALS": baselines.als_scores(spend, **baselines.tune_als(past, cutoff, horizon)),
    }
    planted = _planted_adoptions(data, spend, cutoff, horizon)
    rows = []
    for method, s in scores.items():
        row: dict[str, object] = {"method": method}
        for kk in sorted({1, 3, k}):
            row[f"recall@{kk}"], n = baselines.recall_at_k(s, bought, first, kk)
        row |= {"accounts": n, "first_purchases": int(first.to_numpy().sum())}
        if planted is not None:
            row[f"planted adoptions@{k}"] = baselines.recall_at_k(s, bought, planted, k)[0]
        rows.append(row)
    return pd.DataFrame(rows)


def cutoffs(
    data: Dataset, horizon: int, count: int, min_history_days: int = 270
) -> list[pd.Timestamp]:
    """Up to ``count`` cutoffs one quarter apart, the latest ``horizon`` days before the last
    order day, each with at least ``min_history_days`` of history before it."""
    first = data.order_lines["order_date"].min()
    last = data.order_lines["order_date"].max()
    out = []
    for i in range(count):
        c = last - pd.Timedelta(days=horizon + 91 * i)
        if c - first >= pd.Timedelta(days=min_history_days):
            out.append(c)
    return out


def _planted_adoptions(
    data: Dataset, spend: pd.DataFrame, cutoff: pd.Timestamp, horizon: int
) -> pd.DataFrame | None:
    """Account x category: planted adoptions whose ``since`` falls in the holdout window."""
    if data.planted is None or "external_id" not in data.accounts.columns:
        return None
    planted = data.planted[data.planted["kind"] == "adoption"]
    since = pd.to_datetime(planted["since"], errors="coerce")
    planted = planted[(since > cutoff) & (since <= cutoff + pd.Timedelta(days=horizon))]
    account_of = pd.Series(
        data.accounts["account_id"].to_numpy(), index=data.accounts["external_id"].to_numpy()
    )
    mask = pd.DataFrame(False, index=spend.index, columns=spend.columns)
    for external_id, category in planted[["account_external_id", "category"]].itertuples(
        index=False
    ):  # evaluation only: a few hundred planted rows
        account = account_of.get(external_id)
        if account in mask.index and category in mask.columns and spend.at[account, category] == 0:
            mask.at[account, category] = True
    return mask


def evaluate_planted(data: Dataset, as_of: pd.Timestamp) -> pd.DataFrame:
    """Planted-truth check on the full history (as_of = the generator's last day)."""
    assert data.planted is not None
    lines = data.order_lines
    model = HealthModel().fit(lines, data.accounts, as_of=as_of.date())
    result = model.assess(lines, data.accounts, as_of=as_of.date())
    ext = data.accounts.set_index("account_id")["external_id"]
    acc = result.accounts.assign(external_id=lambda f: f["account_id"].map(ext))
    cat = result.categories.assign(external_id=lambda f: f["account_id"].map(ext))
    rec = PeerRecommender().fit(lines, data.accounts, as_of=as_of.date()).recommend()
    rec = rec.assign(external_id=lambda f: f["account_id"].map(ext))
    planted = data.planted.fillna({"category": ""})
    flagged = set(acc.loc[acc["status"].isin(FLAGGED), "external_id"])
    rows = []
    defect = set(
        planted.loc[
            (planted["kind"] == "defection") & (planted["category"] == ""), "account_external_id"
        ]
    )
    if defect:
        hit = len(flagged & defect)
        rows.append(
            {
                "check": "defection flagged (slipping/lapsed)",
                "planted": len(defect),
                "found": hit,
                "precision": hit / max(len(flagged), 1),
                "recall": hit / len(defect),
            }
        )
    # category alerts that matter: a flagged category of an account that still buys
    still_buying = set(acc.loc[acc["status"].isin(["healthy", "watch"]), "account_id"])
    alerts = cat[cat["status"].isin(FLAGGED) & cat["account_id"].isin(still_buying)]
    cat_flag = set(map(tuple, alerts[["external_id", "category"]].to_numpy()))
    cdef = set(
        map(
            tuple,
            planted.loc[
                planted["kind"] == "category_defection", ["account_external_id", "category"]
            ].to_numpy(),
        )
    )
    if cdef:
        hit = len(cat_flag & cdef)
        rows.append(
            {
                "check": "category defection flagged (account still buying)",
                "planted": len(cdef),
                "found": hit,
                "precision": hit / max(len(cat_flag), 1),
                "recall": hit / len(cdef),
            }
        )
    pitched = set(map(tuple, rec[["external_id", "category"]].to_numpy()))
    gaps = set(
        map(
            tuple,
            planted.loc[
                planted["kind"] == "cross_sell_gap", ["account_external_id", "category"]
            ].to_numpy(),
        )
    )
    if gaps:
        hit = len(pitched & gaps)
        rows.append(
            {
                "check": "cross-sell gap pitched (top 5)",
                "planted": len(gaps),
                "found": hit,
                "precision": float("nan"),
                "recall": hit / len(gaps),
            }
        )
        top3 = set(map(tuple, rec.loc[rec["rank"] <= 3, ["external_id", "category"]].to_numpy()))
        hit3 = len(top3 & gaps)
        rows.append(
            {
                "check": "cross-sell gap pitched (top 3)",
                "planted": len(gaps),
                "found": hit3,
                "precision": float("nan"),
                "recall": hit3 / len(gaps),
            }
        )
    for kind in ("seasonal", "one_off", "volatile", "new"):
        ids = set(planted.loc[planted["kind"] == kind, "account_external_id"])
        if ids:
            wrong = len(ids & flagged)
            rows.append(
                {
                    "check": f"{kind} wrongly flagged",
                    "planted": len(ids),
                    "found": wrong,
                    "precision": float("nan"),
                    "recall": float("nan"),
                }
            )
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (floats with three decimals)."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.3f}"
        return str(value)

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


SLIP_BASELINES = [
    "recency",
    "frequency",
    "BG/NBD 1-P(alive)",
    "BG/NBD P(no order)",
    "gradient-boosted RFM",
]
PITCH_BASELINES = ["popularity", "item co-occurrence", "implicit ALS"]


def _best(table: pd.DataFrame, methods: list[str], metric: str) -> tuple[str, float]:
    rows = table[table["method"].isin(methods)].dropna(subset=[metric])
    if rows.empty:
        return "-", float("nan")
    top = rows.loc[rows[metric].idxmax()]
    return str(top["method"]), float(top[metric])


def run(
    data: Dataset, slip_horizon: int, pitch_horizon: int, n_cutoffs: int
) -> tuple[str, list[dict[str, object]]]:
    """Every table of one dataset at each of its cutoffs, and one summary row per cutoff."""
    n_lines, n_acc = len(data.order_lines), data.order_lines["account_id"].nunique()
    first, last = data.order_lines["order_date"].min(), data.order_lines["order_date"].max()
    parts = [
        f"## {data.name}: {n_acc} accounts, {n_lines} order lines, "
        f"{first.date()} to {last.date()}\n"
    ]
    summary: list[dict[str, object]] = []
    multi = data.order_lines["category"].nunique() > 1
    slip_cuts = cutoffs(data, slip_horizon, n_cutoffs)
    pitch_cuts = cutoffs(data, pitch_horizon, n_cutoffs) if multi else []
    for c in slip_cuts:
        t0 = time.perf_counter()
        slip = evaluate_slipping(data, c, slip_horizon)
        parts += [
            f"### Slipping, cutoff {c.date()}: no order in the next {slip_horizon} days\n",
            markdown(slip),
            "",
        ]
        ours = slip[slip["method"] == "ours"].iloc[0]
        b_auc, v_auc = _best(slip, SLIP_BASELINES, "roc_auc")
        b_p, v_p = _best(slip, SLIP_BASELINES, "precision@10%")
        summary.append(
            {
                "data set": data.name,
                "task": f"slipping {slip_horizon}d",
                "cutoff": str(c.date()),
                "ours AUC": ours["roc_auc"],
                "best baseline AUC": f"{v_auc:.3f} ({b_auc})",
                "ours p@10%": ours["precision@10%"],
                "best baseline p@10%": f"{v_p:.3f} ({b_p})",
                "wins": bool(ours["roc_auc"] >= v_auc and ours["precision@10%"] >= v_p),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    for c in pitch_cuts:
        t0 = time.perf_counter()
        pitch = evaluate_pitch(data, c, pitch_horizon)
        if pitch["accounts"].iloc[0] == 0:
            parts.append(f"Pitch, cutoff {c.date()}: no account bought a new category after it.\n")
            continue
        parts += [
            f"### Pitch, cutoff {c.date()}: categories first bought in the next {pitch_horizon} days\n",
            markdown(pitch),
            "",
        ]
        ours = pitch[pitch["method"] == "ours (as shown)"].iloc[0]
        b, v = _best(pitch, PITCH_BASELINES, "recall@5")
        summary.append(
            {
                "data set": data.name,
                "task": f"pitch {pitch_horizon}d",
                "cutoff": str(c.date()),
                "ours recall@5": ours["recall@5"],
                "best baseline recall@5": f"{v:.3f} ({b})",
                "wins": bool(ours["recall@5"] >= v),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    if not multi:
        parts.append("Pitch: not applicable (a single category, nothing to cross-sell).\n")
    if data.planted is not None:
        parts += ["### Planted truth (full history)\n", markdown(evaluate_planted(data, last)), ""]
    return "\n".join(parts) + "\n", summary


HEADER = """# Quality benchmark: slipping accounts and pitch on real order histories

Written by `.venv/bin/python -m benchmarks.quality {command}`. Each data set is cut at several
cutoffs a quarter apart (different seasons); every method sees only the history up to the
cutoff, and every baseline is computed in the same run on the same accounts. Slipping: among
repeat customers (two or more order days), positive = no order in the following window;
ROC-AUC and precision at the top 10%. Baselines: days since the last order (recency), repeat
order days per week of tenure (frequency), BG/NBD 1 - P(alive) and its probability of no order
in the window, and a gradient-boosted model on recency / frequency / monetary / tenure / rhythm
features trained one window earlier. Pitch: recall@k of the categories an account buys for the
first time in the following window, among categories sold before the cutoff (already-bought
categories never count); "as shown" is the order reps see. Baselines: popularity, item
co-occurrence and implicit ALS (its factors and regularisation tuned on the split one window
earlier).

"""


def _summary_markdown(rows: list[dict[str, object]]) -> str:
    slip = pd.DataFrame([r for r in rows if str(r["task"]).startswith("slipping")])
    pitch = pd.DataFrame([r for r in rows if str(r["task"]).startswith("pitch")])
    out = []
    if len(slip):
        out += ["### Slipping\n", markdown(slip), ""]
    if len(pitch):
        out += ["### Pitch\n", markdown(pitch), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset",
        choices=[*LOADERS, "demo"],
        nargs="+",
        default=[
            "northwind-imported",
            "cdnow",
            "wwi-imported",
            "classicmodels-imported",
            "superstore",
        ],
    )
    parser.add_argument("--horizon", type=int, default=90, help="slipping window (days)")
    parser.add_argument("--pitch-horizon", type=int, default=365, help="pitch window (days)")
    parser.add_argument("--cutoffs", type=int, default=4, help="cutoffs per data set")
    parser.add_argument("--demo-dir", type=Path, default=Path("var/demo"))
    parser.add_argument(
        "--store-url", help="database of the demo data (default: the configured store)"
    )
    parser.add_argument(
        "--generate",
        type=int,
        metavar="ACCOUNTS",
        help="demo: make the demo data in memory with this many accounts instead of reading a store",
    )
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date(2026, 6, 30))
    parser.add_argument("--seed", type=int, default=7, help="demo generator seed (with --generate)")
    parser.add_argument("--out", type=Path, help="also write the tables to this Markdown file")
    args = parser.parse_args(argv)
    tables, summary = [], []
    for name in args.dataset:
        if name in LOADERS:
            data = LOADERS[name]()
        elif args.generate:
            data = generate_demo_dataset(args.generate, args.end_date, args.seed)
        else:
            data = load_demo(args.demo_dir, args.store_url)
        text, rows = run(data, args.horizon, args.pitch_horizon, args.cutoffs)
        tables.append(text)
        summary += rows
        print(text, flush=True)
    summary_text = _summary_markdown(summary)
    print(summary_text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        command = " ".join(sys.argv[1:] if argv is None else argv)
        args.out.write_text(
            HEADER.format(command=command)
            + "## Summary\n\n"
            + summary_text
            + "\n"
            + "\n".join(tables)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
