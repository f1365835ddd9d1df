"""Real order histories for the quality benchmark, in the ``store.frames`` shape.

Every loader returns a :class:`Dataset`: ``order_lines`` (account_id, order_id, order_date,
product_id, category, quantity, amount) and ``accounts`` (account_id, name, segment). None of
these data sets was written by this project (see ``samples/README.md`` and
``../shared/data/README.md`` for sources and licences); they are read as exported, with the
documented line-amount rules and nothing tuned per file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from store.frames import ORDER_LINE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SHARED = ROOT.parent / "shared" / "data"
LINE_COLUMNS = ORDER_LINE_COLUMNS


@dataclass
class Dataset:
    name: str
    order_lines: pd.DataFrame
    accounts: pd.DataFrame
    planted: pd.DataFrame | None = None
    note: str = ""


def _shaped(lines: pd.DataFrame) -> pd.DataFrame:
    lines = lines.copy()
    lines["order_date"] = pd.to_datetime(lines["order_date"]).astype("datetime64[ns]")
    lines["account_id"] = lines["account_id"].astype(str)
    lines["category"] = lines["category"].astype(str)
    lines["amount"] = lines["amount"].astype(float)
    lines["quantity"] = lines["quantity"].astype(float)
    # the store numbers products; exports name them
    lines["product_id"] = pd.factorize(lines["product_id"], sort=True)[0] + 1
    return lines[LINE_COLUMNS].reset_index(drop=True)


def load_northwind(folder: Path = SAMPLES / "northwind") -> Dataset:
    """Northwind: customers are accounts, their country the segment, categories as given;
    line amount = unit_price * quantity * (1 - discount)."""
    orders = pd.read_csv(folder / "orders.csv", usecols=["order_id", "customer_id", "order_date"])
    details = pd.read_csv(folder / "order_details.csv")
    products = pd.read_csv(folder / "products.csv", usecols=["product_id", "category_id"])
    categories = pd.read_csv(folder / "categories.csv", usecols=["category_id", "category_name"])
    customers = pd.read_csv(folder / "customers.csv")
    products = products.merge(categories, on="category_id")
    lines = details.merge(orders, on="order_id").merge(products, on="product_id")
    lines = lines.rename(columns={"customer_id": "account_id", "category_name": "category"})
    lines["amount"] = lines["unit_price"] * lines["quantity"] * (1 - lines["discount"])
    accounts = pd.DataFrame(
        {
            "account_id": customers["customer_id"].astype(str),
            "name": customers["company_name"],
            "segment": customers["country"],
        }
    )
    return Dataset("northwind", _shaped(lines), accounts)


def load_cdnow(path: Path = SAMPLES / "cdnow" / "CDNOW_master.txt.gz") -> Dataset:
    """CDNOW: consumers are accounts, each transaction one order of the single category."""
    raw = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    lines = pd.DataFrame(
        {
            "account_id": raw["customer_id"],
            "order_id": np.arange(1, len(raw) + 1),
            "order_date": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "product_id": "CD",
            "category": "CDs",
            "quantity": raw["number_of_cds"],
            "amount": raw["dollar_value"],
        }
    )
    ids = np.sort(lines["account_id"].unique())
    accounts = pd.DataFrame({"account_id": ids, "name": "CDNOW customer " + ids})
    return Dataset("cdnow", _shaped(lines), accounts)


def load_wwi(folder: Path = SHARED / "wwi") -> Dataset:
    """Wide World Importers: customer stores are accounts, their customer category the
    segment; a stock item's category is its first stock group; line amount = Quantity *
    UnitPrice. Back-orders keep their original order's date, so order days count purchases."""
    orders = pd.read_csv(folder / "orders.csv.gz", usecols=["OrderID", "CustomerID", "OrderDate"])
    lines = pd.read_csv(
        folder / "order_lines.csv.gz", usecols=["OrderID", "StockItemID", "Quantity", "UnitPrice"]
    )
    groups = pd.read_csv(folder / "stock_item_stock_groups.csv")
    names = pd.read_csv(folder / "stock_groups.csv")
    first_group = (
        groups.sort_values(["StockItemID", "StockGroupID"])
        .drop_duplicates("StockItemID")
        .merge(names, on="StockGroupID")[["StockItemID", "StockGroupName"]]
    )
    customers = pd.read_csv(folder / "customers.csv")
    cats = pd.read_csv(folder / "customer_categories.csv")
    customers = customers.merge(cats, on="CustomerCategoryID", how="left")
    merged = lines.merge(orders, on="OrderID").merge(first_group, on="StockItemID", how="left")
    frame = pd.DataFrame(
        {
            "account_id": merged["CustomerID"],
            "order_id": merged["OrderID"],
            "order_date": merged["OrderDate"],
            "product_id": merged["StockItemID"],
            "category": merged["StockGroupName"].fillna("(none)"),
            "quantity": merged["Quantity"],
            "amount": merged["Quantity"] * merged["UnitPrice"],
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": customers["CustomerID"].astype(str),
            "name": customers["CustomerName"],
            "segment": customers["CustomerCategoryName"],
        }
    )
    return Dataset("wwi", _shaped(frame), accounts)


def load_classicmodels(folder: Path = SHARED / "classicmodels") -> Dataset:
    """Classic Models: customers are accounts, their country the segment, product lines the
    categories; cancelled orders are left out; amount = quantityOrdered * priceEach."""
    orders = pd.read_csv(folder / "orders.csv")
    orders = orders[orders["status"].str.strip() != "Cancelled"]
    details = pd.read_csv(folder / "orderdetails.csv")
    products = pd.read_csv(folder / "products.csv", usecols=["productCode", "productLine"])
    customers = pd.read_csv(folder / "customers.csv")
    merged = details.merge(orders, on="orderNumber").merge(products, on="productCode")
    frame = pd.DataFrame(
        {
            "account_id": merged["customerNumber"],
            "order_id": merged["orderNumber"],
            "order_date": merged["orderDate"],
            "product_id": merged["productCode"],
            "category": merged["productLine"],
            "quantity": merged["quantityOrdered"],
            "amount": merged["quantityOrdered"] * merged["priceEach"],
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": customers["customerNumber"].astype(str),
            "name": customers["customerName"],
            "segment": customers["country"].str.strip(),
        }
    )
    return Dataset("classicmodels", _shaped(frame), accounts)


def load_superstore(path: Path = SAMPLES / "superstore" / "superstore.csv.gz") -> Dataset:
    """The Superstore office-supplies retailer: customers are accounts, their segment as given,
    sub-categories the categories; only the net sales amount per line is exported."""
    raw = pd.read_csv(path)
    frame = pd.DataFrame(
        {
            "account_id": raw["Customer ID"],
            "order_id": raw["Order ID"],
            "order_date": raw["Order Date"],
            "product_id": raw["Product ID"],
            "category": raw["Sub-Category"],
            "quantity": raw["Quantity"],
            "amount": raw["Sales"],
        }
    )
    customers = raw.drop_duplicates("Customer ID")
    accounts = pd.DataFrame(
        {
            "account_id": customers["Customer ID"].astype(str),
            "name": customers["Customer Name"],
            "segment": customers["Segment"],
        }
    )
    return Dataset("superstore", _shaped(frame), accounts)


def product_level(data: Dataset) -> Dataset:
    """The same history with each product as its own category: a harder pitch test on data
    whose few categories every customer already buys."""
    lines = data.order_lines.assign(category=data.order_lines["product_id"].astype(str))
    return Dataset(f"{data.name} (products)", lines, data.accounts, data.planted, data.note)


IMPORTS = {
    # data set -> (folder, [(kind, file)] in import order); mapping files: mappings/<name>/
    "northwind": (
        SAMPLES / "northwind",
        [("reps", "employees.csv"), ("accounts", "customers.csv"),
         ("products", "products.csv"), ("orders", "order_details.csv")],
    ),
    "classicmodels": (
        SHARED / "classicmodels",
        [("reps", "employees.csv"), ("accounts", "customers.csv"),
         ("products", "products.csv"), ("orders", "orderdetails.csv")],
    ),
    "wwi": (
        SHARED / "wwi",
        [("accounts", "customers.csv"), ("products", "stock_items.csv"),
         ("orders", "order_lines.csv.gz")],
    ),
}  # fmt: skip


def load_imported(name: str) -> Dataset:
    """The export as ``salesbot import`` stores it, with the mapping files shipped in
    ``mappings/<name>/`` (into a throwaway SQLite store), read back with ``store.frames``: what
    the product itself would score."""
    import datetime as dt
    import tempfile

    from store import frames
    from store.db import make_engine
    from store.importer import import_file
    from store.migrate import upgrade

    folder, steps = IMPORTS[name]
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'salesbot.db'}")
        try:
            upgrade(engine)
            for kind, file in steps:
                import_file(
                    engine,
                    kind,
                    folder / file,
                    ROOT / "mappings" / name / f"{kind}.yml",
                    today=dt.date.today(),
                )
            lines = frames.order_lines(engine)
            accounts = frames.accounts(engine)
        finally:
            engine.dispose()
    lines["account_id"] = lines["account_id"].astype(str)
    lines["category"] = lines["category"].astype(str)
    accounts = pd.DataFrame(
        {
            "account_id": accounts["account_id"].astype(str),
            "name": accounts["name"],
            "segment": accounts["segment"],
        }
    )
    return Dataset(f"{name} (imported)", lines[LINE_COLUMNS], accounts)


LOADERS = {
    "northwind": load_northwind,
    "cdnow": load_cdnow,
    "wwi": load_wwi,
    "classicmodels": load_classicmodels,
    "superstore": load_superstore,
}
LOADERS |= {
    "northwind-products": lambda: product_level(load_northwind()),
    "classicmodels-products": lambda: product_level(load_classicmodels()),
    "wwi-products": lambda: product_level(load_wwi()),
}
LOADERS |= {f"{name}-imported": (lambda n=name: load_imported(n)) for name in IMPORTS}
