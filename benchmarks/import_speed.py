"""Speed of ``salesbot import orders``: 1M order lines from CSV into SQLite.

    .venv/bin/python -m benchmarks.import_speed [--lines 1000000] [--accounts 20000]
        [--products 2000] [--reimport] [--keep DIR]

Writes a deterministic order-line CSV (seeded; the same bytes on every run) plus the reps,
accounts and products it refers to, imports those into a fresh SQLite store, then times
``store.importer.import_file(engine, "orders", ...)``: strict CSV parsing, per-row pydantic
validation, reference checks, order headers and ``INSERT .. ON CONFLICT`` upserts in one
transaction. With ``--reimport`` the same file is imported a second time (every line an
update). Baselines measured in the same run on the same file:

* ``pandas``: ``pandas.read_csv`` + ``DataFrame.to_sql`` into a bare SQLite table (no
  validation, no keys, no indexes): what a quick script would do;
* ``sqlite3``: ``csv.reader`` + ``sqlite3.executemany`` of the parsed rows into a table shaped
  like ``order_line`` with the same indexes and page cache (no validation, no references):
  the floor for writing these rows through the driver.

Target (issue 2): 1M order lines into SQLite in under 60 s on the 2-core machine.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from store.db import make_engine
from store.importer import SQLITE_IMPORT_CACHE_KIB, import_file
from store.migrate import upgrade

TARGET_SECONDS = 60.0
TODAY = dt.date(2024, 12, 31)
LINE_COLUMNS = [
    "order_external_id", "account_external_id", "order_date", "product_external_id",
    "quantity", "unit_price", "discount", "rep_external_id",
]  # fmt: skip


def write_inputs(folder: Path, lines: int, accounts: int, products: int, seed: int = 7) -> Path:
    """Write reps.csv, accounts.csv, products.csv and orders.csv; returns orders.csv."""
    rng = np.random.default_rng(seed)
    reps = 50
    pd.DataFrame(
        {
            "external_id": [f"R{i}" for i in range(reps)],
            "name": [f"Rep {i}" for i in range(reps)],
            "email": [f"rep{i}@example.com" for i in range(reps)],
        }
    ).to_csv(folder / "reps.csv", index=False)
    owner = rng.integers(0, reps, accounts)
    pd.DataFrame(
        {
            "external_id": [f"A{i}" for i in range(accounts)],
            "name": [f"Account {i}" for i in range(accounts)],
            "owner_external_id": [f"R{r}" for r in owner],
        }
    ).to_csv(folder / "accounts.csv", index=False)
    price = np.round(rng.lognormal(2.5, 0.8, products), 2)
    pd.DataFrame(
        {
            "external_id": [f"P{i}" for i in range(products)],
            "name": [f"Product {i}" for i in range(products)],
            "category": [f"Category {i % 15}" for i in range(products)],
            "unit_price": price,
        }
    ).to_csv(folder / "products.csv", index=False)

    per_order = rng.integers(1, 10, lines)  # lines per order, cut to the total below
    sizes = per_order[np.cumsum(per_order) <= lines]
    sizes = np.append(sizes, lines - sizes.sum()) if sizes.sum() < lines else sizes
    orders = len(sizes)
    order_of_line = np.repeat(np.arange(orders), sizes)
    line_in_order = np.arange(lines) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    account = rng.integers(0, accounts, orders)
    day = TODAY - dt.timedelta(days=4 * 365)
    days = rng.integers(0, 4 * 365, orders)
    dates = (np.datetime64(day) + days.astype("timedelta64[D]")).astype(str)
    # distinct products within an order: a per-order offset plus a stride
    start = rng.integers(0, products, orders)
    product = (start[order_of_line] + line_in_order * 7) % products
    quantity = rng.integers(1, 40, lines)
    discount = rng.choice(np.array(["0", "0", "0", "0.05", "0.1"]), lines)
    frame = pd.DataFrame(
        {
            "order_external_id": np.char.add("O", order_of_line.astype(str)),
            "account_external_id": np.char.add("A", account[order_of_line].astype(str)),
            "order_date": dates[order_of_line],
            "product_external_id": np.char.add("P", product.astype(str)),
            "quantity": quantity,
            "unit_price": price[product],
            "discount": discount,
            "rep_external_id": np.char.add("R", owner[account[order_of_line]].astype(str)),
        }
    )
    path = folder / "orders.csv"
    frame.to_csv(path, index=False)
    return path


def baseline_pandas(csv_path: Path, db_path: Path) -> float:
    started = time.perf_counter()
    frame = pd.read_csv(csv_path, dtype={"order_external_id": str, "account_external_id": str})
    with sqlite3.connect(db_path) as conn:
        frame.to_sql("order_line_bare", conn, index=False, chunksize=50_000)
    return time.perf_counter() - started


def baseline_sqlite3(csv_path: Path, db_path: Path) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA cache_size=-{SQLITE_IMPORT_CACHE_KIB}")  # as the import uses
    conn.execute(
        "CREATE TABLE line (id INTEGER PRIMARY KEY, order_id TEXT NOT NULL, line_key TEXT NOT NULL, "
        "account_id TEXT NOT NULL, product_id TEXT NOT NULL, order_date DATE NOT NULL, "
        "quantity FLOAT NOT NULL, unit_price FLOAT NOT NULL, discount FLOAT NOT NULL, "
        "amount FLOAT NOT NULL, UNIQUE (order_id, line_key))"
    )
    conn.execute("CREATE INDEX ix_line_account_date ON line (account_id, order_date)")
    conn.execute("CREATE INDEX ix_line_order ON line (order_id)")
    conn.execute("CREATE INDEX ix_line_product ON line (product_id)")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        rows = (
            (o, p, a, p, d, float(q), float(u), float(s), float(q) * float(u) * (1 - float(s)))
            for o, a, d, p, q, u, s, _r in reader
        )
        conn.executemany(
            "INSERT INTO line (order_id, line_key, account_id, product_id, order_date, quantity, "
            "unit_price, discount, amount) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn.commit()
    conn.close()
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--reimport", action="store_true", help="time a second, updating import")
    parser.add_argument("--keep", type=Path, help="write the files and stores here and keep them")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="salesbot-import-bench-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        orders = write_inputs(folder, args.lines, args.accounts, args.products)
        size_mb = orders.stat().st_size / 1e6
        print(
            f"input: {args.lines:,} order lines ({size_mb:.0f} MB), {args.accounts:,} accounts, "
            f"{args.products:,} products, written in {time.perf_counter() - started:.1f} s"
        )

        store = folder / "salesbot.db"
        for leftover in folder.glob("*.db*"):
            leftover.unlink()
        engine = make_engine(f"sqlite:///{store}")
        upgrade(engine)
        for kind in ("reps", "accounts", "products"):
            import_file(engine, kind, folder / f"{kind}.csv", today=TODAY)

        report = import_file(engine, "orders", orders, today=TODAY)
        seconds = report.seconds
        rate = args.lines / seconds
        print(f"salesbot import orders: {seconds:.1f} s, {rate:,.0f} lines/s")
        for table, counts in report.tables.items():
            print(f"  {table}: {counts.created:,} created, {counts.updated:,} updated")
        if args.reimport:
            again = import_file(engine, "orders", orders, today=TODAY)
            print(
                f"re-import (every line an update): {again.seconds:.1f} s, "
                f"{args.lines / again.seconds:,.0f} lines/s"
            )
        engine.dispose()

        pandas_seconds = baseline_pandas(orders, folder / "baseline_pandas.db")
        sqlite_seconds = baseline_sqlite3(orders, folder / "baseline_sqlite3.db")
        print(
            f"baseline pandas read_csv + to_sql (bare table): {pandas_seconds:.1f} s, "
            f"{args.lines / pandas_seconds:,.0f} lines/s"
        )
        print(
            f"baseline csv + sqlite3.executemany (same indexes): {sqlite_seconds:.1f} s, "
            f"{args.lines / sqlite_seconds:,.0f} lines/s"
        )
        print(
            f"ratio import / pandas baseline: {seconds / pandas_seconds:.2f}x the time; "
            f"import / sqlite3 baseline: {seconds / sqlite_seconds:.2f}x the time"
        )
        print(f"peak resident memory: {peak_rss_mb():,.0f} MB")
        within = seconds <= TARGET_SECONDS * args.lines / 1_000_000
        print(
            f"target: 1M lines in <= {TARGET_SECONDS:.0f} s -> "
            f"{'met' if within else 'MISSED'} ({seconds * 1_000_000 / args.lines:.1f} s per 1M lines)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
