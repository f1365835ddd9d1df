"""After every import a sanity report says what went in (counts, date range, won/lost/open)
and warns about likely mapping mistakes; stage rules and value maps ignore case."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from store.importer import import_file
from store.mapping import parse_mapping

TODAY = dt.date(2024, 6, 30)


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def crm(sqlite_engine, tmp_path):
    """A store with two reps, two accounts and products in two categories."""
    reps = write(
        tmp_path / "reps.csv",
        "external_id,name,email",
        ["R1,Ann Ames,ann@example.com", "R2,Ben Burr,ben@example.com"],
    )
    accounts = write(
        tmp_path / "accounts.csv",
        "external_id,name,owner_external_id",
        ["A1,Acme,R1", "A2,Globex,R2"],
    )
    products = write(
        tmp_path / "products.csv",
        "external_id,name,category,unit_price",
        ["P1,Gloves,Safety,4.5", "P2,Napkins,Paper,2.0", "P3,Masks,Safety,1.5"],
    )
    import_file(sqlite_engine, "reps", reps, today=TODAY)
    import_file(sqlite_engine, "accounts", accounts, today=TODAY)
    import_file(sqlite_engine, "products", products, today=TODAY)
    return sqlite_engine


DEALS_HEADER = "Id,Name,Account,Owner,Value,Stage,Created,Closed"
DEALS = [
    "D1,Gloves deal,A1,R1,5000,Won,2024-01-15,2024-03-01",
    "D2,Napkin deal,A2,R2,1200,LOST ,2024-02-01,2024-03-11",
    "D3,Mask deal,A1,R1,800,Engaging,2024-02-03,",
    "D4,Glove refill,A2,R2,900,won,2024-02-05,2024-04-02",
]
DEALS_MAPPING = {
    "columns": {
        "Id": "external_id",
        "Name": "name",
        "Account": "account_external_id",
        "Owner": "owner_external_id",
        "Value": "amount",
        "Stage": "stage",
        "Created": "created_date",
        "Closed": "close_date",
    },
}


def deal_flags(engine) -> dict[str, tuple[bool, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT external_id, is_closed, is_won FROM opportunity"))
        return {r[0]: (bool(r[1]), bool(r[2])) for r in rows}


def test_won_and_lost_stages_match_ignoring_case_and_blanks(crm, tmp_path) -> None:
    deals = write(tmp_path / "deals.csv", DEALS_HEADER, DEALS)
    mapping = parse_mapping({**DEALS_MAPPING, "won_stages": ["WON"], "lost_stages": ["lost"]})
    report = import_file(crm, "opportunities", deals, mapping, today=TODAY)
    assert deal_flags(crm) == {
        "D1": (True, True),
        "D2": (True, False),
        "D3": (False, False),
        "D4": (True, True),
    }
    assert "deals: 2 won, 1 lost, 1 open" in report.facts
    assert report.warnings == []


def test_no_deal_won_or_lost_is_a_warning_naming_the_stages(crm, tmp_path) -> None:
    deals = write(tmp_path / "deals.csv", DEALS_HEADER, DEALS)
    mapping = parse_mapping(
        {**DEALS_MAPPING, "won_stages": ["Closed Won"], "lost_stages": ["Closed Lost"]}
    )
    report = import_file(crm, "opportunities", deals, mapping, today=TODAY)
    assert "deals: 0 won, 0 lost, 4 open" in report.facts
    text_ = "\n".join(report.warnings)
    assert "no deal was imported as won or lost" in text_
    assert "`won_stages` ('Closed Won') matched no stage" in text_
    assert "`lost_stages` ('Closed Lost') matched no stage" in text_
    assert "'Engaging'" in text_
    assert "warning: no deal was imported as won or lost" in report.summary()


def test_value_maps_match_ignoring_case_and_blanks(crm, tmp_path) -> None:
    deals = write(tmp_path / "deals.csv", DEALS_HEADER, DEALS)
    mapping = parse_mapping(
        {
            **DEALS_MAPPING,
            "values": {"stage": {"won": "closed_won", "lost": "closed_lost", "*": "open"}},
        }
    )
    import_file(crm, "opportunities", deals, mapping, today=TODAY)
    with crm.connect() as conn:
        stages = dict(conn.execute(text("SELECT external_id, stage FROM opportunity")).all())
    assert stages == {"D1": "closed_won", "D2": "closed_lost", "D3": "open", "D4": "closed_won"}
    assert deal_flags(crm)["D2"] == (True, False)


def test_a_value_map_that_matches_nothing_is_a_warning(crm, tmp_path) -> None:
    deals = write(tmp_path / "deals.csv", DEALS_HEADER, DEALS)
    mapping = parse_mapping(
        {**DEALS_MAPPING, "values": {"stage": {"Closed Won": "won", "Closed Lost": "lost"}}}
    )
    report = import_file(crm, "opportunities", deals, mapping, today=TODAY)
    assert any(
        w.startswith("the value map for stage matched no value of column Stage") and "Engaging" in w
        for w in report.warnings
    )


ORDERS_HEADER = (
    "order_external_id,account_external_id,order_date,product_external_id,quantity,unit_price"
)


def test_orders_report_date_range_and_store_counts(crm, tmp_path) -> None:
    orders = write(
        tmp_path / "orders.csv",
        ORDERS_HEADER,
        ["O1,A1,2024-01-05,P1,10,4.5", "O1,A1,2024-01-05,P2,5,2.0", "O2,A2,2024-03-17,P3,1,1.5"],
    )
    report = import_file(crm, "orders", orders, today=TODAY)
    assert "order date: 2024-01-05 to 2024-03-17" in report.facts
    assert (
        "the store now holds 2 reps, 2 accounts, 3 products, 2 orders, 3 order lines, 0 deals"
        in (report.facts)
    )
    assert report.warnings == []
    assert "order date: 2024-01-05 to 2024-03-17" in report.summary()


def test_every_date_on_the_first_of_a_month_is_a_warning(crm, tmp_path) -> None:
    rows = [f"O{m},A1,2024-{m:02d}-01,P{1 + m % 2},1,4.5" for m in range(1, 7)]
    orders = write(tmp_path / "orders.csv", ORDERS_HEADER, rows)
    report = import_file(crm, "orders", orders, today=TODAY)
    assert any(
        w.startswith("every order_date (column order_date) is on the 1st of a month")
        for w in report.warnings
    )


def test_amounts_that_look_like_cents_are_a_warning(crm, tmp_path) -> None:
    prices = [1999, 2349, 1195, 4999, 3275, 1849]
    rows = [f"O{i},A1,2024-02-{i + 3:02d},P{1 + i % 2},1,{p}" for i, p in enumerate(prices)]
    orders = write(tmp_path / "orders.csv", ORDERS_HEADER, rows)
    report = import_file(crm, "orders", orders, today=TODAY)
    assert any("look like cents" in w and "unit_price" in w for w in report.warnings)


def test_round_whole_prices_are_not_taken_for_cents(crm, tmp_path) -> None:
    prices = [1200, 2500, 1100, 4000, 3250, 1800]
    rows = [f"O{i},A1,2024-02-{i + 3:02d},P{1 + i % 2},1,{p}" for i, p in enumerate(prices)]
    orders = write(tmp_path / "orders.csv", ORDERS_HEADER, rows)
    report = import_file(crm, "orders", orders, today=TODAY)
    assert not any("cents" in w for w in report.warnings)


def test_every_line_in_one_category_is_a_warning(crm, tmp_path) -> None:
    rows = [f"O{i},A1,2024-02-{i + 3:02d},P{1 + 2 * (i % 2)},1,4.5" for i in range(6)]
    orders = write(tmp_path / "orders.csv", ORDERS_HEADER, rows)
    report = import_file(crm, "orders", orders, today=TODAY)
    assert any(
        w.startswith("every order line is in one category ('Safety')") for w in report.warnings
    )


def test_every_product_in_one_category_is_a_warning(sqlite_engine, tmp_path) -> None:
    rows = [f"P{i},Item {i},General,1.0" for i in range(6)]
    products = write(tmp_path / "products.csv", "external_id,name,category,unit_price", rows)
    report = import_file(sqlite_engine, "products", products, today=TODAY)
    assert any(w.startswith("every product is in one category") for w in report.warnings)
