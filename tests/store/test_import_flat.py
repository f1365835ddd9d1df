"""A flat sales-lines export (daily files, one of them gzipped) imports accounts, products
and orders with a mapping alone, in one all-or-nothing transaction."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from store.importer import ImportValidationError, import_files

FLAT = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "flat"
TODAY = dt.date(2011, 1, 31)


def raw_lines() -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype=str) for p in sorted(FLAT.glob("lines_*"))]
    lines = pd.concat(frames, ignore_index=True)
    lines["Quantity"] = lines["Quantity"].astype(float)
    lines["UnitPrice"] = lines["UnitPrice"].astype(float)
    keep = (
        ~lines["InvoiceNo"].str.startswith("C")
        & (lines["Quantity"] >= 0)
        & lines["CustomerID"].notna()
    )
    return lines[keep]


def query(engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_flat_lines_import_accounts_products_and_orders(sqlite_engine) -> None:
    files = sorted(FLAT.glob("lines_*"))
    reports = import_files(sqlite_engine, "orders", files, FLAT / "flat.yml", today=TODAY)
    expected = raw_lines()
    assert query(sqlite_engine, "SELECT external_id, name, country FROM account ORDER BY 1") == [
        ("13313", "Customer 13313", "United Kingdom"),
        ("18097", "Customer 18097", "Germany"),
    ]
    products = dict(query(sqlite_engine, "SELECT external_id, name FROM product"))
    assert products["21499"] == "BLUE POLKADOT WRAP"  # the most frequent spelling
    assert set(products) == {"22386", "21499", "84029E"}
    count, total = query(sqlite_engine, "SELECT COUNT(*), SUM(amount) FROM order_line")[0]
    assert count == len(expected)
    assert total == pytest.approx((expected["Quantity"] * expected["UnitPrice"]).sum())
    assert reports[0].skipped == {"cancelled invoice": 1, "no customer": 1}
    assert reports[1].skipped == {"return": 1}
    assert reports[0].tables["account"].created == 2


def test_one_bad_file_leaves_nothing_of_any_file(sqlite_engine, tmp_path) -> None:
    good = tmp_path / "lines_1.csv"
    shutil.copy(FLAT / "lines_2011-01-03.csv", good)
    bad = tmp_path / "lines_2.csv.gz"
    with gzip.open(FLAT / "lines_2011-01-04.csv.gz", "rt") as source:
        content = source.read().replace("3.39", "inf")
    with gzip.open(bad, "wt") as target:
        target.write(content)
    with pytest.raises(ImportValidationError) as caught:
        import_files(sqlite_engine, "orders", [good, bad], FLAT / "flat.yml", today=TODAY)
    assert str(caught.value.errors[0]) == (
        "lines_2.csv.gz line 2, column UnitPrice: must be a finite number (got inf)"
    )
    assert query(sqlite_engine, "SELECT COUNT(*) FROM account") == [(0,)]
    assert query(sqlite_engine, "SELECT COUNT(*) FROM order_line") == [(0,)]


def test_the_command_takes_a_folder_and_a_glob(sqlite_url, monkeypatch) -> None:
    from bot.cli import build_app
    from bot.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    runner = CliRunner()
    app = build_app()
    result = runner.invoke(
        app,
        [
            "import",
            "orders",
            str(FLAT),
            "--mapping",
            str(FLAT / "flat.yml"),
            "--today",
            "2011-01-31",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "imported 4 rows of orders from lines_2011-01-03.csv" in result.output
    assert "skipped 2 rows: 1 cancelled invoice, 1 no customer" in result.output
    again = runner.invoke(
        app,
        [
            "import",
            "orders",
            str(FLAT / "lines_*"),
            "-m",
            str(FLAT / "flat.yml"),
            "--today",
            "2011-01-31",
        ],
    )
    assert again.exit_code == 0, again.output
    assert "order_line: 0 created, 2 updated" in again.output
