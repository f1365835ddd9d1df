"""Classic Models and Wide World Importers (public sample exports in ``../shared/data``)
import through the mappings shipped in ``mappings/``; the store's totals are checked
against pandas computed straight from the raw files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from store.importer import import_file

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / ".." / "shared" / "data"
TODAY = dt.date(2024, 6, 30)


def query(engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_classic_models_totals_match_the_raw_files(sqlite_engine) -> None:
    folder = DATA / "classicmodels"
    mappings = REPO / "mappings" / "classicmodels"
    assert (folder / "orderdetails.csv").is_file(), f"Classic Models is expected in {folder}"
    for kind, name in (
        ("reps", "employees.csv"),
        ("accounts", "customers.csv"),
        ("products", "products.csv"),
    ):
        import_file(sqlite_engine, kind, folder / name, mappings / f"{kind}.yml", today=TODAY)
    report = import_file(
        sqlite_engine, "orders", folder / "orderdetails.csv", mappings / "orders.yml", today=TODAY
    )
    orders = pd.read_csv(folder / "orders.csv", dtype={"orderNumber": str})
    lines = pd.read_csv(folder / "orderdetails.csv", dtype={"orderNumber": str}).merge(
        orders, on="orderNumber"
    )
    cancelled = lines["status"].str.strip() == "Cancelled"
    kept = lines[~cancelled]
    customers = pd.read_csv(folder / "customers.csv")
    assert report.skipped == {"cancelled order": int(cancelled.sum())}
    assert query(sqlite_engine, "SELECT COUNT(*) FROM account") == [(len(customers),)]
    count, total, buyers = query(
        sqlite_engine,
        "SELECT COUNT(*), SUM(l.amount), COUNT(DISTINCT o.account_id) FROM order_line l "
        "JOIN sales_order o ON o.id = l.order_id",
    )[0]
    assert count == len(kept)
    assert total == pytest.approx((kept["quantityOrdered"] * kept["priceEach"]).sum())
    assert buyers == kept["customerNumber"].nunique()
    owned = query(sqlite_engine, "SELECT COUNT(*) FROM account WHERE owner_id IS NOT NULL")
    assert owned == [(int(customers["salesRepEmployeeNumber"].notna().sum()),)]
    assert report.warnings == []


WWI_ORDERS = 300
"""The Wide World Importers test imports the lines of the first this many order ids."""


def test_wide_world_importers_totals_match_the_raw_files(sqlite_engine, tmp_path) -> None:
    folder = DATA / "wwi"
    mappings = REPO / "mappings" / "wwi"
    assert (folder / "order_lines.csv.gz").is_file(), (
        f"Wide World Importers is expected in {folder}"
    )
    orders = pd.read_csv(folder / "orders.csv.gz", dtype=str)
    first = sorted(orders["OrderID"].astype(int))[:WWI_ORDERS]
    wanted = {str(i) for i in first}
    lines = pd.read_csv(folder / "order_lines.csv.gz", dtype=str)
    lines = lines[lines["OrderID"].isin(wanted)]
    lines.to_csv(tmp_path / "order_lines.csv.gz", index=False)
    orders[orders["OrderID"].isin(wanted)].to_csv(tmp_path / "orders.csv.gz", index=False)
    import_file(
        sqlite_engine, "accounts", folder / "customers.csv", mappings / "accounts.yml", today=TODAY
    )
    import_file(
        sqlite_engine,
        "products",
        folder / "stock_items.csv",
        mappings / "products.yml",
        today=TODAY,
    )
    report = import_file(
        sqlite_engine,
        "orders",
        tmp_path / "order_lines.csv.gz",
        mappings / "orders.yml",
        today=TODAY,
    )
    customers = pd.read_csv(folder / "customers.csv")
    assert query(sqlite_engine, "SELECT COUNT(*) FROM account") == [(len(customers),)]
    count, total, buyers = query(
        sqlite_engine,
        "SELECT COUNT(*), SUM(l.amount), COUNT(DISTINCT o.account_id) FROM order_line l "
        "JOIN sales_order o ON o.id = l.order_id",
    )[0]
    merged = lines.merge(orders[["OrderID", "CustomerID"]], on="OrderID")
    assert count == len(lines)
    amount = lines["Quantity"].astype(float) * lines["UnitPrice"].astype(float)
    assert total == pytest.approx(amount.sum())
    assert buyers == merged["CustomerID"].nunique()
    assert report.tables["sales_order"].created == WWI_ORDERS
    # a stock item's category: the name of its lowest-numbered stock group
    groups = pd.read_csv(folder / "stock_item_stock_groups.csv")
    names = pd.read_csv(folder / "stock_groups.csv")
    first = (
        groups.sort_values(["StockItemID", "StockGroupID"])
        .drop_duplicates("StockItemID")
        .merge(names, on="StockGroupID")
    )
    expected = sorted(zip(first["StockItemID"].astype(str), first["StockGroupName"], strict=True))
    assert sorted(query(sqlite_engine, "SELECT external_id, category FROM product")) == expected
