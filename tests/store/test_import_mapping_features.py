"""Mapping features for exports as they come: skip rules (counted per reason, with a
rejects file), computed fields (arithmetic, first non-empty, case, whole numbers,
scaling, templates), line numbers, lookups next to the mapping file, gzip files."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sqlalchemy import text

from store.importer import ImportValidationError, import_file
from store.mapping import MappingError, parse_mapping

TODAY = dt.date(2024, 6, 30)


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def rows_of(engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


@pytest.fixture
def store(sqlite_engine, tmp_path):
    accounts = write(tmp_path / "a.csv", "external_id,name", ["17850,Acme", "13047,Globex"])
    products = write(
        tmp_path / "p.csv",
        "external_id,name,category",
        ["85123A,Heart holder,Decor", "71053,Lantern,Decor", "22752,Glass set,Kitchen"],
    )
    import_file(sqlite_engine, "accounts", accounts, today=TODAY)
    import_file(sqlite_engine, "products", products, today=TODAY)
    return sqlite_engine


LINES_HEADER = "InvoiceNo,StockCode,Quantity,UnitPrice,InvoiceDate,CustomerID"
LINES = [
    "536365,85123A,6,2.55,2010-12-01,17850.0",
    "536365,71053,6,3.39,2010-12-01,17850.0",
    "536365,85123A,2,2.55,2010-12-01,17850.0",
    "C536379,22752,-1,7.65,2010-12-01,13047.0",
    "536380,22752,-3,7.65,2010-12-02,13047.0",
    "536381,22752,2,7.65,2010-12-02,",
    "536382,22752,4,7.65,2010-12-03,13047.0",
]
LINES_MAPPING = {
    "columns": {
        "InvoiceNo": "order_external_id",
        "StockCode": "product_external_id",
        "Quantity": "quantity",
        "UnitPrice": "unit_price",
        "InvoiceDate": "order_date",
    },
    "fields": {"account_external_id": {"column": "CustomerID", "format": "integer"}},
    "skip": [
        {"column": "InvoiceNo", "starts_with": "C", "reason": "cancelled invoice"},
        {"column": "Quantity", "below": 0, "reason": "return"},
        {"column": "CustomerID", "empty": True, "reason": "no customer"},
    ],
    "line_numbers": True,
}


def test_skip_rules_count_rows_per_reason_and_write_a_rejects_file(store, tmp_path) -> None:
    lines = write(tmp_path / "lines.csv", LINES_HEADER, LINES)
    rejects = tmp_path / "rejects.csv"
    report = import_file(
        store, "orders", lines, parse_mapping(LINES_MAPPING), today=TODAY, rejects=rejects
    )
    assert report.skipped == {"cancelled invoice": 1, "return": 1, "no customer": 1}
    assert "skipped 3 rows: 1 cancelled invoice, 1 return, 1 no customer" in report.summary()
    skipped = pd.read_csv(rejects, dtype=str)
    assert skipped["line"].tolist() == ["5", "6", "7"]
    assert skipped["reason"].tolist() == ["cancelled invoice", "return", "no customer"]
    assert skipped["InvoiceNo"].tolist() == ["C536379", "536380", "536381"]
    stored = rows_of(
        store,
        "SELECT o.external_id, a.external_id, l.line_key, l.quantity FROM order_line l "
        "JOIN sales_order o ON o.id = l.order_id JOIN account a ON a.id = o.account_id "
        "ORDER BY o.external_id, l.line_key",
    )
    assert stored == [
        ("536365", "17850", "1", 6.0),
        ("536365", "17850", "2", 6.0),
        ("536365", "17850", "3", 2.0),
        ("536382", "13047", "1", 4.0),
    ]


def test_reimporting_with_line_numbers_updates_instead_of_duplicating(store, tmp_path) -> None:
    lines = write(tmp_path / "lines.csv", LINES_HEADER, LINES)
    import_file(store, "orders", lines, parse_mapping(LINES_MAPPING), today=TODAY)
    again = import_file(store, "orders", lines, parse_mapping(LINES_MAPPING), today=TODAY)
    assert again.tables["order_line"].created == 0
    assert rows_of(store, "SELECT COUNT(*) FROM order_line") == [(4,)]


def test_a_repeated_product_without_line_numbers_is_an_error(store, tmp_path) -> None:
    lines = write(tmp_path / "lines.csv", LINES_HEADER, LINES)
    mapping = parse_mapping({**LINES_MAPPING, "line_numbers": False})
    with pytest.raises(ImportValidationError) as caught:
        import_file(store, "orders", lines, mapping, today=TODAY)
    assert caught.value.errors[0].line == 4
    assert "twice" in caught.value.errors[0].message


def test_amount_only_lines_get_their_unit_price_by_arithmetic(store, tmp_path) -> None:
    lines = write(
        tmp_path / "sales.csv",
        "Order,Customer,Date,Item,Qty,Net Sales",
        ["S1,17850,2024-02-03,71053,4,10.00", "S1,17850,2024-02-03,22752,3,22.95"],
    )
    mapping = parse_mapping(
        {
            "columns": {
                "Order": "order_external_id",
                "Customer": "account_external_id",
                "Date": "order_date",
                "Item": "product_external_id",
                "Qty": "quantity",
            },
            "fields": {"unit_price": {"expr": "{Net Sales} / Qty"}},
        }
    )
    import_file(store, "orders", lines, mapping, today=TODAY)
    stored = rows_of(store, "SELECT quantity, unit_price, amount FROM order_line ORDER BY id")
    assert stored == [(4.0, 2.5, 10.0), (3.0, pytest.approx(7.65), pytest.approx(22.95))]


def test_a_division_by_zero_is_an_error_on_its_line(store, tmp_path) -> None:
    lines = write(
        tmp_path / "sales.csv",
        "Order,Customer,Date,Item,Qty,Net",
        ["S1,17850,2024-02-03,71053,4,10", "S2,17850,2024-02-04,71053,0,5"],
    )
    mapping = parse_mapping(
        {
            "columns": {
                "Order": "order_external_id",
                "Customer": "account_external_id",
                "Date": "order_date",
                "Item": "product_external_id",
                "Qty": "quantity",
            },
            "fields": {"unit_price": {"expr": "Net / Qty"}},
        }
    )
    with pytest.raises(ImportValidationError) as caught:
        import_file(store, "orders", lines, mapping, today=TODAY)
    assert (3, "unit_price (computed)") in [(e.line, e.column) for e in caught.value.errors]
    assert rows_of(store, "SELECT COUNT(*) FROM order_line") == [(0,)]


def test_an_expression_that_is_not_arithmetic_is_a_mapping_error(store, tmp_path) -> None:
    lines = write(tmp_path / "s.csv", "Order,Qty", ["S1,4"])
    mapping = parse_mapping({"fields": {"unit_price": {"expr": "__import__('os')"}}})
    with pytest.raises(MappingError, match="only column names, numbers"):
        import_file(store, "orders", lines, mapping, today=TODAY)


def test_first_non_empty_scaling_and_case(store, tmp_path) -> None:
    deals = write(
        tmp_path / "deals.csv",
        "Id,Title,Account,Stage,Created,Close Value,List Price",
        [
            "D1,big deal,17850,Won,2024-01-02,1.5,0.9",
            "D2,open deal,13047,Engaging,2024-01-03,,0.25",
        ],
    )
    mapping = parse_mapping(
        {
            "columns": {
                "Id": "external_id",
                "Account": "account_external_id",
                "Stage": "stage",
                "Created": "created_date",
            },
            "fields": {
                "amount": {"first_of": ["Close Value", "List Price"], "scale": 1_000_000},
                "name": {"column": "Title", "case": "upper"},
            },
        }
    )
    import_file(store, "opportunities", deals, mapping, today=TODAY)
    assert rows_of(store, "SELECT external_id, name, amount FROM opportunity") == [
        ("D1", "BIG DEAL", 1_500_000.0),
        ("D2", "OPEN DEAL", 250_000.0),
    ]


def test_a_lower_cased_email_from_a_template(sqlite_engine, tmp_path) -> None:
    agents = write(tmp_path / "agents.csv", "agent,first,last", ["A1,Anna,Ames", "A2,Ben,McBurr"])
    mapping = parse_mapping(
        {
            "columns": {"agent": "external_id"},
            "templates": {"name": "{first} {last}"},
            "fields": {"email": {"template": "{first}.{last}@crm.example", "case": "lower"}},
        }
    )
    import_file(sqlite_engine, "reps", agents, mapping, today=TODAY)
    assert rows_of(sqlite_engine, "SELECT email FROM rep ORDER BY external_id") == [
        ("anna.ames@crm.example",),
        ("ben.mcburr@crm.example",),
    ]


def test_lookups_are_found_next_to_the_mapping_file(sqlite_engine, tmp_path) -> None:
    data = tmp_path / "export"
    mappings = tmp_path / "mappings"
    data.mkdir()
    mappings.mkdir()
    write(mappings / "segments.csv", "code,segment", ["R,retail", "W,wholesale"])
    accounts = write(data / "customers.csv", "id,name,code", ["C1,Acme,R", "C2,Globex,W"])
    mapping_file = mappings / "accounts.yml"
    mapping_file.write_text(
        yaml.safe_dump(
            {
                "columns": {"id": "external_id", "segment": "segment"},
                "lookups": [{"file": "segments.csv", "match": "code", "add": ["segment"]}],
            }
        ),
        encoding="utf-8",
    )
    import_file(sqlite_engine, "accounts", accounts, mapping_file, today=TODAY)
    assert rows_of(sqlite_engine, "SELECT external_id, segment FROM account ORDER BY 1") == [
        ("C1", "retail"),
        ("C2", "wholesale"),
    ]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"repeated": "first"}, [("C1", "10"), ("C2", "9")]),  # the file's order
        ({"repeated": "first", "order_by": "group"}, [("C1", "2"), ("C2", "9")]),  # 2 < 10
    ],
    ids=["file-order", "order-by-number"],
)
def test_a_lookup_with_several_rows_per_key_takes_the_first(
    sqlite_engine, tmp_path, options, expected
) -> None:
    """An item in several groups (Wide World Importers' stock item -> stock groups): one
    category each, chosen the way the mapping says."""
    write(tmp_path / "groups.csv", "id,group", ["C1,10", "C1,2", "C2,9", "C1,11"])
    accounts = write(tmp_path / "customers.csv", "id,name", ["C1,Acme", "C2,Globex"])
    mapping = {
        "columns": {"id": "external_id", "group": "segment"},
        "lookups": [{"file": "groups.csv", "match": "id", "add": ["group"], **options}],
    }
    (tmp_path / "accounts.yml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    import_file(sqlite_engine, "accounts", accounts, tmp_path / "accounts.yml", today=TODAY)
    assert rows_of(sqlite_engine, "SELECT external_id, segment FROM account ORDER BY 1") == expected


def test_a_lookup_with_a_repeated_key_is_an_error_unless_the_mapping_says_which_row(
    sqlite_engine, tmp_path
) -> None:
    write(tmp_path / "groups.csv", "id,group", ["C1,10", "C1,2"])
    accounts = write(tmp_path / "customers.csv", "id,name", ["C1,Acme"])
    mapping = {
        "columns": {"id": "external_id", "group": "segment"},
        "lookups": [{"file": "groups.csv", "match": "id", "add": ["group"]}],
    }
    (tmp_path / "accounts.yml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    with pytest.raises(ImportValidationError, match="appears again"):
        import_file(sqlite_engine, "accounts", accounts, tmp_path / "accounts.yml", today=TODAY)
    assert rows_of(sqlite_engine, "SELECT COUNT(*) FROM account") == [(0,)]


def test_a_gzip_file_imports_and_errors_name_it(sqlite_engine, tmp_path) -> None:
    path = tmp_path / "accounts.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("external_id,name\nA1,Acme\nA2,\n")
    with pytest.raises(ImportValidationError) as caught:
        import_file(sqlite_engine, "accounts", path, today=TODAY)
    assert (
        str(caught.value.errors[0]) == "accounts.csv.gz line 3, column name: is required but empty"
    )
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("external_id,name\nA1,Acme\nA2,Globex\n")
    report = import_file(sqlite_engine, "accounts", path, today=TODAY)
    assert report.tables["account"].created == 2
