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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from analytics.health import FLAGGED, HealthModel
from analytics.recommend import PeerRecommender
from benchmarks import baselines

NORTHWIND = Path(__file__).resolve().parents[1] / "samples" / "northwind"
CDNOW = Path(__file__).resolve().parents[1] / "samples" / "cdnow" / "CDNOW_master.txt.gz"


@dataclass
class Dataset:
    name: str
    order_lines: pd.DataFrame
    accounts: pd.DataFrame
    planted: pd.DataFrame | None = None


def load_northwind(folder: Path = NORTHWIND) -> Dataset:
    """Northwind's raw CSVs in the store.frames shape (customers are accounts, their country
    the segment)."""
    orders = pd.read_csv(folder / "orders.csv", usecols=["order_id", "customer_id", "order_date"])
    details = pd.read_csv(folder / "order_details.csv")
    products = pd.read_csv(folder / "products.csv", usecols=["product_id", "category_id"])
    categories = pd.read_csv(folder / "categories.csv", usecols=["category_id", "category_name"])
    customers = pd.read_csv(folder / "customers.csv")
    products = products.merge(categories, on="category_id")
    lines = details.merge(orders, on="order_id").merge(products, on="product_id")
    lines = lines.rename(columns={"customer_id": "account_id", "category_name": "category"})
    lines["order_date"] = pd.to_datetime(lines["order_date"])
    lines["amount"] = lines["unit_price"] * lines["quantity"] * (1 - lines["discount"])
    lines = lines[
        ["account_id", "order_id", "order_date", "product_id", "category", "quantity", "amount"]
    ]
    accounts = customers.rename(columns={"customer_id": "account_id", "company_name": "name"})
    accounts["segment"] = accounts["country"]
    return Dataset("northwind", lines, accounts[["account_id", "name", "segment"]])


def load_cdnow(path: Path = CDNOW) -> Dataset:
    """The CDNOW transaction log (samples/cdnow) in the store.frames shape: consumers are
    accounts, each transaction one order (and one order line) of the single category "CDs".
    Nothing honest can be said about segment or industry, so accounts have neither."""
    raw = pd.read_csv(
        path, sep=r"\s+", dtype={"customer_id": str, "date": str}, compression="infer"
    )
    lines = pd.DataFrame(
        {
            "account_id": raw["customer_id"],
            "order_id": np.arange(1, len(raw) + 1),
            "order_date": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "product_id": "CD",
            "category": "CDs",
            "quantity": raw["number_of_cds"].astype(float),
            "amount": raw["dollar_value"].astype(float),
        }
    )
    ids = np.sort(lines["account_id"].unique())
    accounts = pd.DataFrame({"account_id": ids, "name": "CDNOW customer " + ids})
    return Dataset("cdnow", lines, accounts)


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


def precision_at(labels: np.ndarray, scores: np.ndarray, fraction: float = 0.1) -> float:
    """Share of positives among the top ``fraction`` by score (ties broken by order)."""
    k = max(1, math.ceil(fraction * len(labels)))
    top = np.argsort(-scores, kind="stable")[:k]
    return float(labels[top].mean())


def evaluate_slipping(data: Dataset, cutoff: pd.Timestamp, horizon: int) -> pd.DataFrame:
    lines = data.order_lines
    past = lines[lines["order_date"] <= cutoff]
    summary = baselines.rfm_summary(past, cutoff)
    repeat = summary[summary["frequency"] >= 1]
    later = lines[
        (lines["order_date"] > cutoff)
        & (lines["order_date"] <= cutoff + pd.Timedelta(days=horizon))
    ]
    label = (~repeat.index.isin(later["account_id"].unique())).astype(int)

    t0 = time.perf_counter()
    model = HealthModel(horizon_days=horizon).fit(past, data.accounts, as_of=cutoff.date())
    health = model.predict(past, data.accounts, as_of=cutoff.date()).set_index("account_id")
    ours_s = time.perf_counter() - t0
    scores = {
        "HealthModel (ours)": health["score"].reindex(repeat.index).to_numpy(),
        "recency": baselines.recency_score(repeat).to_numpy(),
        "BG/NBD 1-P(alive)": baselines.bgnbd_score(summary).reindex(repeat.index).to_numpy(),
    }
    rows = []
    for method, s in scores.items():
        rows.append(
            {
                "method": method,
                "roc_auc": roc_auc_score(label, s),
                "precision@10%": precision_at(label, s),
                "accounts": len(label),
                "positives": int(label.sum()),
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["seconds"] = ours_s
    return out


def evaluate_pitch(data: Dataset, cutoff: pd.Timestamp, horizon: int, k: int = 5) -> pd.DataFrame:
    lines = data.order_lines
    past = lines[lines["order_date"] <= cutoff]
    spend = baselines.incidence(past, cutoff)
    bought = spend > 0
    first = baselines.first_purchases(lines, spend, cutoff, horizon)

    t0 = time.perf_counter()
    rec = PeerRecommender(horizon_days=horizon, top_n=len(spend.columns), win_back=False).fit(
        past, data.accounts, as_of=cutoff.date()
    )
    ranked = rec.recommend(spend.index)
    ours_s = time.perf_counter() - t0
    ours = ranked.pivot_table(index="account_id", columns="category", values="rank", aggfunc="min")
    ours = -ours.reindex(index=spend.index, columns=spend.columns)
    prob = rec.probabilities().reindex(index=spend.index, columns=spend.columns)
    scores = {
        "PeerRecommender (ours, by expected value)": ours,
        "PeerRecommender (ours, by probability)": prob,
        "popularity": baselines.popularity_scores(spend),
        "item co-occurrence": baselines.cooccurrence_scores(spend),
        "implicit ALS (tuned on an earlier split)": baselines.als_scores(
            spend, **baselines.tune_als(past, cutoff, horizon)
        ),
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
    out = pd.DataFrame(rows)
    out.attrs["seconds"] = ours_s
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


def run(data: Dataset, horizon: int, cutoff: pd.Timestamp | None = None) -> str:
    """All tables of one dataset, cut at ``cutoff`` (default: its last order day minus the
    holdout)."""
    last = data.order_lines["order_date"].max()
    if cutoff is None:
        cutoff = last - pd.Timedelta(days=horizon)
    if cutoff + pd.Timedelta(days=horizon) > last:
        raise SystemExit(f"cutoff {cutoff.date()} + {horizon} days is past the last order day")
    slip = evaluate_slipping(data, cutoff, horizon)
    n_lines, n_acc = len(data.order_lines), data.order_lines["account_id"].nunique()
    parts = [
        f"## {data.name}: {n_acc} accounts, {n_lines} order lines, cutoff {cutoff.date()}, holdout {horizon} days\n",
        "### Slipping: no order in the holdout window, repeat customers\n",
        markdown(slip),
    ]
    if data.order_lines["category"].nunique() > 1:
        pitch = evaluate_pitch(data, cutoff, horizon)
        parts += ["\n### Pitch: categories first bought in the holdout\n", markdown(pitch)]
    else:
        parts.append("\nPitch: not applicable (a single category, nothing to cross-sell).")
    if data.planted is not None:
        parts += ["\n### Planted truth (full history)\n", markdown(evaluate_planted(data, last))]
    return "\n".join(parts) + "\n"


HEADER = """# Quality benchmark: slipping accounts and pitch

Written by `.venv/bin/python -m benchmarks.quality {command}`. Each dataset is cut at its last order day minus the
holdout; every method sees only the history before the cutoff, baselines are computed in the
same run. Slipping: positives are repeat customers (two or more order days) with no order in
the holdout. Pitch: categories an account buys for the first time in the holdout; recall@k is
averaged over accounts with at least one such purchase; already-bought categories are never
counted. "by expected value" is the product's ranking (probability x typical annual spend);
"by probability" ranks by the adoption probability alone. The planted-truth table scores the
full history (as of the generator's last day) against the demo generator's planted_truth.csv.

"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset", choices=["northwind", "cdnow", "demo"], nargs="+", default=["northwind"]
    )
    parser.add_argument("--horizon", type=int, default=90)
    parser.add_argument(
        "--cutoff",
        type=pd.Timestamp,
        help="an earlier cutoff (default: the last order day minus the horizon)",
    )
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
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    tables = []
    for name in args.dataset:
        if name == "northwind":
            data = load_northwind()
        elif name == "cdnow":
            data = load_cdnow()
        elif args.generate:
            data = generate_demo_dataset(args.generate, args.end_date, args.seed)
        else:
            data = load_demo(args.demo_dir, args.store_url)
        tables.append(run(data, args.horizon, args.cutoff))
        print(tables[-1])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        command = " ".join(sys.argv[1:] if argv is None else argv)
        args.out.write_text(HEADER.format(command=command) + "\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
