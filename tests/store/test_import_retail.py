"""An amount-only retailer export (one row per order line, net sales amount, customers
and products only inside the lines, an order id shared by two customers) imports with
one mapping file; totals agree with pandas on the raw file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from store.importer import import_file

RETAIL = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "retail"
TODAY = dt.date(2016, 6, 30)


def query(engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def raw() -> pd.DataFrame:
    return pd.read_csv(RETAIL / "orders.csv", dtype={"Row ID": str})


def test_totals_match_pandas(sqlite_engine) -> None:
    import_file(sqlite_engine, "orders", RETAIL / "orders.csv", RETAIL / "orders.yml", today=TODAY)
    lines = raw()
    count, quantity, amount = query(
        sqlite_engine, "SELECT COUNT(*), SUM(quantity), SUM(amount) FROM order_line"
    )[0]
    assert count == len(lines)
    assert quantity == lines["Quantity"].sum()
    assert amount == pytest.approx(lines["Sales"].sum())
    per_account = dict(
        query(
            sqlite_engine,
            "SELECT a.external_id, SUM(l.amount) FROM order_line l "
            "JOIN account a ON a.id = l.account_id GROUP BY 1",
        )
    )
    expected = lines.groupby("Customer ID")["Sales"].sum()
    assert per_account == {k: pytest.approx(v) for k, v in expected.items()}


def test_an_order_id_shared_by_two_customers_stays_two_orders(sqlite_engine) -> None:
    import_file(sqlite_engine, "orders", RETAIL / "orders.csv", RETAIL / "orders.yml", today=TODAY)
    lines = raw()
    pairs = lines[["Order ID", "Customer ID"]].drop_duplicates()
    assert query(sqlite_engine, "SELECT COUNT(*) FROM sales_order") == [(len(pairs),)]
    shared = pairs["Order ID"][pairs["Order ID"].duplicated()].iloc[0]
    owners = query(
        sqlite_engine,
        "SELECT a.external_id FROM sales_order o JOIN account a ON a.id = o.account_id "
        f"WHERE o.external_id LIKE '{shared}/%' ORDER BY 1",
    )
    assert owners == [(c,) for c in sorted(pairs[pairs["Order ID"] == shared]["Customer ID"])]


def test_quantity_is_kept_and_unit_price_is_sales_over_quantity(sqlite_engine) -> None:
    import_file(sqlite_engine, "orders", RETAIL / "orders.csv", RETAIL / "orders.yml", today=TODAY)
    lines = raw()
    repeated = lines[lines.duplicated(["Order ID", "Customer ID", "Product ID"], keep=False)]
    assert len(repeated) == 2  # the fixture repeats one product within one order
    stored = {
        key: (quantity, price)
        for key, quantity, price in query(
            sqlite_engine, "SELECT line_key, quantity, unit_price FROM order_line"
        )
    }
    for row in lines.itertuples():
        quantity, price = stored[row[1]]
        assert quantity == row.Quantity
        assert price == pytest.approx(row.Sales / row.Quantity)


def test_accounts_and_products_come_from_the_lines(sqlite_engine) -> None:
    import_file(sqlite_engine, "orders", RETAIL / "orders.csv", RETAIL / "orders.yml", today=TODAY)
    lines = raw()
    accounts = query(sqlite_engine, "SELECT external_id, name, segment, region FROM account")
    expected = lines[["Customer ID", "Customer Name", "Segment", "Region"]].drop_duplicates()
    assert sorted(accounts) == sorted(expected.itertuples(index=False, name=None))
    categories = dict(query(sqlite_engine, "SELECT external_id, category FROM product"))
    expected_categories = lines.drop_duplicates("Product ID").set_index("Product ID")
    assert categories == expected_categories["Sub-Category"].to_dict()


def test_the_command_imports_the_file_with_the_mapping_alone(sqlite_url, monkeypatch) -> None:
    from bot.cli import build_app
    from bot.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    result = CliRunner().invoke(
        build_app(),
        [
            "import",
            "orders",
            str(RETAIL / "orders.csv"),
            "--mapping",
            str(RETAIL / "orders.yml"),
            "--today",
            TODAY.isoformat(),
        ],
    )
    assert result.exit_code == 0, result.output
    orders = raw()[["Order ID", "Customer ID"]].drop_duplicates()
    assert f"sales_order: {len(orders)} created" in result.output
