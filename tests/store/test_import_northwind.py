"""Import the whole Northwind sample through the shipped mappings and check the store
against totals computed with pandas straight from the raw CSV files."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from store.importer import import_file

REPO = Path(__file__).resolve().parents[2]
NORTHWIND = Path(os.environ.get("SALESBOT_NORTHWIND_DIR", REPO / "samples" / "northwind"))
MAPPINGS = REPO / "mappings" / "northwind"
TODAY = dt.date(2024, 6, 30)
# kind -> source file, in import order
SOURCES = {
    "reps": "employees.csv",
    "accounts": "customers.csv",
    "contacts": "customers.csv",
    "products": "products.csv",
    "orders": "order_details.csv",
}


def import_northwind(engine, folder: Path = NORTHWIND) -> dict:
    assert (folder / "order_details.csv").is_file(), (
        f"the Northwind sample is expected in {folder} (set SALESBOT_NORTHWIND_DIR)"
    )
    return {
        kind: import_file(engine, kind, folder / name, MAPPINGS / f"{kind}.yml", today=TODAY)
        for kind, name in SOURCES.items()
    }


def raw(name: str, folder: Path = NORTHWIND) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False)


def query(engine, sql: str) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(text(sql))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def raw_lines(folder: Path = NORTHWIND) -> pd.DataFrame:
    details = raw("order_details.csv", folder)
    orders = raw("orders.csv", folder)
    lines = details.merge(orders[["order_id", "customer_id", "employee_id"]], on="order_id")
    for column in ("unit_price", "quantity", "discount"):
        lines[column] = lines[column].astype(float)
    lines["revenue"] = lines["unit_price"] * lines["quantity"] * (1 - lines["discount"])
    return lines


def table_sizes(engine) -> dict[str, int]:
    tables = ["rep", "account", "contact", "product", "sales_order", "order_line"]
    return {t: int(query(engine, f"SELECT COUNT(*) AS n FROM {t}")["n"][0]) for t in tables}


def test_northwind_totals_match_pandas(engine):
    reports = import_northwind(engine)
    lines = raw_lines()

    assert table_sizes(engine) == {
        "rep": len(raw("employees.csv")),
        "account": len(raw("customers.csv")),
        "contact": len(raw("customers.csv")),
        "product": len(raw("products.csv")),
        "sales_order": raw("order_details.csv")["order_id"].nunique(),
        "order_line": len(raw("order_details.csv")),
    }
    assert reports["orders"].tables["order_line"].created == len(lines)

    total = query(engine, "SELECT SUM(amount) AS revenue FROM order_line")["revenue"][0]
    assert total == pytest.approx(lines["revenue"].sum(), rel=1e-9)

    by_customer = query(
        engine,
        "SELECT a.external_id, SUM(l.amount) AS revenue, COUNT(*) AS line_count "
        "FROM order_line l JOIN account a ON a.id = l.account_id GROUP BY a.external_id",
    ).set_index("external_id")
    expected = lines.groupby("customer_id").agg(
        revenue=("revenue", "sum"), line_count=("revenue", "size")
    )
    for customer in ("ALFKI", "QUICK", "SAVEA", "CENTC"):
        assert by_customer.loc[customer, "revenue"] == pytest.approx(
            expected.loc[customer, "revenue"], rel=1e-9
        )
        assert by_customer.loc[customer, "line_count"] == expected.loc[customer, "line_count"]
    assert set(by_customer.index) == set(expected.index)


def test_northwind_links_managers_categories_dates_and_owners(engine):
    import_northwind(engine)
    employees = raw("employees.csv")

    managers = query(
        engine,
        "SELECT r.external_id, m.external_id AS manager FROM rep r "
        "LEFT JOIN rep m ON m.id = r.manager_id",
    )
    stored = dict(zip(managers["external_id"], managers["manager"].fillna(""), strict=True))
    assert stored == dict(zip(employees["employee_id"], employees["reports_to"], strict=True))
    roles = query(engine, "SELECT external_id, role, email FROM rep").set_index("external_id")
    assert roles.loc["2", "role"] == "manager"  # Vice President, Sales
    assert roles.loc["1", "role"] == "rep"
    assert roles.loc["1", "email"] == "nancy.davolio@northwind.example"

    products = query(engine, "SELECT external_id, category, active FROM product")
    categories = raw("categories.csv").set_index("category_id")["category_name"]
    source = raw("products.csv")
    expected_category = dict(
        zip(source["product_id"], source["category_id"].map(categories), strict=True)
    )
    assert dict(zip(products["external_id"], products["category"], strict=True)) == (
        expected_category
    )
    discontinued = set(source.loc[source["discontinued"] == "1", "product_id"])
    assert set(products.loc[products["active"] == 0, "external_id"]) == discontinued

    headers = query(
        engine,
        "SELECT o.external_id, o.order_date, a.external_id AS customer, r.external_id AS rep "
        "FROM sales_order o JOIN account a ON a.id = o.account_id "
        "LEFT JOIN rep r ON r.id = o.rep_id",
    ).set_index("external_id")
    orders = raw("orders.csv").set_index("order_id")
    assert str(headers.loc["10248", "order_date"]) == orders.loc["10248", "order_date"]
    assert (headers["customer"] == orders.loc[headers.index, "customer_id"]).all()
    assert (headers["rep"] == orders.loc[headers.index, "employee_id"]).all()

    # owners: the rep with the most revenue per customer; customers without orders keep none
    lines = raw_lines()
    revenue = lines.groupby(["customer_id", "employee_id"])["revenue"].sum().reset_index()
    best = revenue.sort_values(["customer_id", "revenue"], ascending=[True, False]).drop_duplicates(
        "customer_id"
    )
    owners = query(
        engine,
        "SELECT a.external_id, r.external_id AS owner FROM account a "
        "LEFT JOIN rep r ON r.id = a.owner_id",
    )
    stored_owners = dict(zip(owners["external_id"], owners["owner"], strict=True))
    assert {c: stored_owners[c] for c in best["customer_id"]} == dict(
        zip(best["customer_id"], best["employee_id"], strict=True)
    )
    without_orders = set(raw("customers.csv")["customer_id"]) - set(best["customer_id"])
    assert without_orders == {"FISSA", "PARIS"}
    assert all(pd.isna(stored_owners[c]) for c in without_orders)


def test_northwind_reimport_updates_and_never_duplicates(engine, tmp_path):
    import_northwind(engine)
    sizes = table_sizes(engine)

    folder = tmp_path / "northwind"
    shutil.copytree(NORTHWIND, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    products = raw("products.csv", folder)
    products.loc[products["product_id"] == "1", "unit_price"] = "99"
    products.to_csv(folder / "products.csv", index=False)
    details = raw("order_details.csv", folder)
    first = details.index[0]
    old_quantity = float(details.loc[first, "quantity"])
    details.loc[first, "quantity"] = "100"
    details.to_csv(folder / "order_details.csv", index=False)
    employees = raw("employees.csv", folder)
    employees.loc[employees["employee_id"] == "1", "title"] = "Sales Manager"
    employees.to_csv(folder / "employees.csv", index=False)

    reports = import_northwind(engine, folder)

    assert table_sizes(engine) == sizes
    assert reports["orders"].tables["order_line"].created == 0
    assert reports["orders"].tables["order_line"].updated == len(details)
    assert reports["reps"].tables["rep"].updated == len(employees)
    price = query(engine, "SELECT unit_price FROM product WHERE external_id = '1'")
    assert price["unit_price"][0] == 99.0
    role = query(engine, "SELECT role, title FROM rep WHERE external_id = '1'")
    assert (role["role"][0], role["title"][0]) == ("manager", "Sales Manager")
    line = details.loc[first]
    amount = query(
        engine,
        "SELECT l.quantity, l.amount FROM order_line l JOIN sales_order o ON o.id = l.order_id "
        f"WHERE o.external_id = '{line['order_id']}' AND l.line_key = '{line['product_id']}'",
    )
    unit_price, discount = float(line["unit_price"]), float(line["discount"])
    assert amount["quantity"][0] == 100.0
    assert amount["amount"][0] == pytest.approx(100 * unit_price * (1 - discount))
    total = query(engine, "SELECT SUM(amount) AS revenue FROM order_line")["revenue"][0]
    assert total == pytest.approx(
        raw_lines().revenue.sum() + (100 - old_quantity) * unit_price * (1 - discount), rel=1e-9
    )
