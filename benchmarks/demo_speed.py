"""Speed of ``salesbot demo-data``: generating the demo distributor and writing it.

    .venv/bin/python -m benchmarks.demo_speed [--accounts 100000] [--seed 7]
        [--end-date 2025-06-30] [--years 3] [--postgres URL] [--keep DIR]

Reported separately:

* generation: ``store.demo.generate_demo`` (pure numpy/pandas, no I/O) in seconds, accounts/s
  and order lines/s;
* SQLite write: ``store.demo.write_demo`` into a fresh, migrated SQLite file (every table, one
  transaction, bulk PRAGMAs, deferred indexes), in seconds and order lines/s, with the
  ``order_line`` table's own share;
* optionally PostgreSQL (``--postgres``): the same write through ``COPY`` into a fresh schema.

Baseline measured in the same run on the same rows: the ``order_line`` frame turned into
tuples (``tolist`` per column, dates via ``astype(str)``) and written with plain
``sqlite3.executemany`` into a bare table (no indexes, no keys, default PRAGMAs, one
transaction): the floor for pushing these rows through the driver. Ratios compare our rates
with that baseline's lines/s. Peak resident memory covers generation and writes.

Target (issue 2): generation for 100k accounts under 60 s; the whole command in a few minutes
on the 2-core machine; memory under 4 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text

from store.db import make_engine
from store.demo import DemoParams, generate_demo, write_demo
from store.migrate import upgrade

CHUNK_ROWS = 50_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def baseline_sqlite(lines: pd.DataFrame, path: Path) -> float:
    """Seconds for plain sqlite3.executemany of the order lines into a bare table."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE order_line (id INTEGER PRIMARY KEY, order_id INTEGER, line_key TEXT, "
        "account_id INTEGER, product_id INTEGER, order_date TEXT, quantity REAL, "
        "unit_price REAL, discount REAL, amount REAL)"
    )
    started = time.perf_counter()
    for start in range(0, len(lines), CHUNK_ROWS):
        part = lines.iloc[start : start + CHUNK_ROWS]
        columns = [
            part["id"].tolist(),
            part["order_id"].tolist(),
            part["line_key"].astype(str).tolist(),
            part["account_id"].tolist(),
            part["product_id"].tolist(),
            part["order_date"].dt.strftime("%Y-%m-%d").tolist(),
            part["quantity"].tolist(),
            part["unit_price"].tolist(),
            part["discount"].tolist(),
            part["amount"].tolist(),
        ]
        conn.executemany(
            "INSERT INTO order_line VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            zip(*columns, strict=True),
        )
    conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date(2025, 6, 30))
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--postgres", help="also write into a fresh schema on this PostgreSQL URL")
    parser.add_argument("--keep", type=Path, help="keep the SQLite files in this folder")
    args = parser.parse_args(argv)

    params = DemoParams(
        end_date=args.end_date, accounts=args.accounts, seed=args.seed, years=args.years
    )
    started = time.perf_counter()
    data = generate_demo(params)
    generation = time.perf_counter() - started
    lines = data.tables["order_line"]
    n_lines = len(lines)
    print(
        f"demo data: {args.accounts:,} accounts, {args.years} years to {args.end_date}, "
        f"seed {args.seed}: {n_lines:,} order lines, {len(data.tables['sales_order']):,} orders, "
        f"{len(data.tables['opportunity']):,} deals, {len(data.tables['activity']):,} activities"
    )
    print(f"peak resident memory after generation: {peak_rss_mb():,.0f} MB")

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        ours_path = folder / "demo.db"
        base_path = folder / "baseline.db"
        for path in (ours_path, base_path):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        engine = make_engine(f"sqlite:///{ours_path}")
        upgrade(engine)
        report = write_demo(engine, data)
        engine.dispose()
        baseline = baseline_sqlite(lines, base_path)

    base_rate = n_lines / baseline
    gen_rate = n_lines / generation
    write_rate = n_lines / report.total_seconds
    table_rate = n_lines / report.seconds["order_line"]
    print()
    print(f"{'step':<44}{'seconds':>9}{'accounts/s':>13}{'lines/s':>13}{'vs baseline':>13}")
    rows = [
        ("generation (generate_demo)", generation, gen_rate),
        ("SQLite write, all tables (write_demo)", report.total_seconds, write_rate),
        ("  of which order_line", report.seconds["order_line"], table_rate),
        ("baseline: sqlite3.executemany, bare table", baseline, base_rate),
    ]
    for label, seconds, rate in rows:
        per_account = args.accounts / seconds
        print(
            f"{label:<44}{seconds:>9.1f}{per_account:>13,.0f}{rate:>13,.0f}{rate / base_rate:>12.2f}x"
        )
    slow = ", ".join(
        f"{table} {seconds:.1f} s" for table, seconds in report.seconds.items() if seconds >= 0.5
    )
    print(f"SQLite write by table: {slow}")
    print(
        f"generation + SQLite write: {generation + report.total_seconds:.1f} s "
        f"(target: generation < 60 s for 100k accounts; met: {generation < 60})"
    )

    if args.postgres:
        schema = f"demo_speed_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in args.postgres else "?"
        engine = make_engine(f"{args.postgres}{sep}options=-csearch_path%3D{schema}")
        try:
            upgrade(engine)
            pg = write_demo(engine, data)
            print(
                f"PostgreSQL write (COPY), all tables: {pg.total_seconds:.1f} s, "
                f"{n_lines / pg.total_seconds:,.0f} lines/s ({n_lines / pg.total_seconds / base_rate:.2f}x "
                f"baseline); order_line {pg.seconds['order_line']:.1f} s"
            )
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    print(f"peak resident memory: {peak_rss_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
