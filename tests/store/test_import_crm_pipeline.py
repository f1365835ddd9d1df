"""A one-row-per-deal CRM export (sales teams, accounts, products, a pipeline with stages
Prospecting/Engaging/Won/Lost) imports with mapping files alone; counts and the sanity
report agree with pandas on the raw files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from store.importer import ImportReport, import_file

CRM = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "crm_pipeline"
TODAY = dt.date(2017, 6, 30)
FILES = (
    ("reps", "sales_teams.csv"),
    ("accounts", "accounts.csv"),
    ("products", "products.csv"),
    ("opportunities", "sales_pipeline.csv"),
)


def query(engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def import_all(engine, pipeline: Path = CRM / "sales_pipeline.csv") -> ImportReport:
    for kind, name in FILES[:-1]:
        import_file(engine, kind, CRM / name, CRM / f"{kind}.yml", today=TODAY)
    return import_file(engine, "opportunities", pipeline, CRM / "opportunities.yml", today=TODAY)


def pipeline() -> pd.DataFrame:
    return pd.read_csv(CRM / "sales_pipeline.csv", dtype=str)


def test_won_lost_and_open_counts_match_pandas(sqlite_engine) -> None:
    report = import_all(sqlite_engine)
    deals = pipeline()
    kept = deals[deals["account"].notna()]
    stage = kept["deal_stage"].str.lower()
    won, lost = int((stage == "won").sum()), int((stage == "lost").sum())
    open_ = len(kept) - won - lost
    assert f"deals: {won} won, {lost} lost, {open_} open" in report.facts
    stored = query(
        sqlite_engine,
        "SELECT SUM(is_won), SUM(is_closed AND NOT is_won), SUM(NOT is_closed) FROM opportunity",
    )
    assert stored == [(won, lost, open_)]
    assert report.skipped == {"deal without an account": int(deals["account"].isna().sum())}
    created = pd.to_datetime(deals["engage_date"]).dropna()
    assert f"created date: {created.min().date()} to {TODAY}" in report.facts


def test_stages_are_matched_in_any_case(sqlite_engine, tmp_path) -> None:
    deals = pipeline()
    deals["deal_stage"] = deals["deal_stage"].replace({"Won": "WON", "Lost": "lost"})
    shouting = tmp_path / "sales_pipeline.csv"
    deals.to_csv(shouting, index=False)
    report = import_all(sqlite_engine, shouting)
    assert "deals: 15 won, 10 lost, 9 open" in report.facts
    assert not any("matched no stage" in w for w in report.warnings)


def test_open_deals_are_valued_at_the_list_price(sqlite_engine) -> None:
    import_all(sqlite_engine)
    deals = pipeline().dropna(subset=["account"])
    prices = pd.read_csv(CRM / "products.csv").set_index("product")["sales_price"]
    expected = deals["close_value"].astype(float).fillna(deals["product"].map(prices))
    assert query(sqlite_engine, "SELECT SUM(amount) FROM opportunity") == [
        (pytest.approx(expected.sum()),)
    ]
    open_deal = deals[deals["deal_stage"] == "Engaging"].iloc[0]
    assert query(
        sqlite_engine,
        f"SELECT amount FROM opportunity WHERE external_id = '{open_deal['opportunity_id']}'",
    ) == [(float(prices[open_deal["product"]]),)]
    # a product spelled differently from the product list does not reject the file
    assert "GTXPro" not in prices.index
    assert query(sqlite_engine, "SELECT amount FROM opportunity WHERE name LIKE 'GTXPro%'") == [
        (0.0,)
    ]


def test_managers_come_from_the_repeated_column_with_built_emails(sqlite_engine) -> None:
    import_all(sqlite_engine)
    managers = query(
        sqlite_engine, "SELECT name, email FROM rep WHERE role = 'manager' ORDER BY name"
    )
    assert managers == [
        ("Lena Pratt", "lena.pratt@sales.example"),
        ("Mara Stone", "mara.stone@sales.example"),
        ("Tomas Reyes", "tomas.reyes@sales.example"),
    ]
    teams = pd.read_csv(CRM / "sales_teams.csv")
    linked = query(
        sqlite_engine,
        "SELECT r.name, m.name FROM rep r JOIN rep m ON r.manager_id = m.id ORDER BY r.name",
    )
    assert linked == sorted(zip(teams["sales_agent"], teams["manager"], strict=True))


def test_revenue_in_millions_is_scaled(sqlite_engine) -> None:
    import_all(sqlite_engine)
    accounts = pd.read_csv(CRM / "accounts.csv")
    stored = dict(query(sqlite_engine, "SELECT external_id, annual_revenue FROM account"))
    assert stored == {
        name: pytest.approx(revenue * 1_000_000)
        for name, revenue in zip(accounts["account"], accounts["revenue"], strict=True)
    }


def test_deals_without_engage_date_are_kept_with_a_warning(sqlite_engine) -> None:
    report = import_all(sqlite_engine)
    deals = pipeline().dropna(subset=["account"])
    undated = deals[deals["engage_date"].isna()]
    closed = undated[undated["close_date"].notna()]
    assert (
        f"{len(undated)} deals without a created date (column engage_date) kept: "
        f"{len(closed)} dated by their close date, {len(undated) - len(closed)} dated by "
        f"the day of the import ({TODAY})"
    ) in report.warnings
    won = closed.iloc[0]
    assert query(
        sqlite_engine,
        f"SELECT created_date FROM opportunity WHERE external_id = '{won['opportunity_id']}'",
    ) == [(won["close_date"],)]


def test_each_deal_becomes_a_stage_history(sqlite_engine) -> None:
    import_all(sqlite_engine)
    deals = pipeline().dropna(subset=["account"])
    won = deals[(deals["deal_stage"] == "Won") & deals["engage_date"].notna()].iloc[0]
    history = query(
        sqlite_engine,
        "SELECT h.stage, h.entered_date FROM opportunity_stage_history h "
        "JOIN opportunity o ON o.id = h.opportunity_id "
        f"WHERE o.external_id = '{won['opportunity_id']}' ORDER BY h.entered_date",
    )
    assert history == [("Engaging", won["engage_date"]), ("Won", won["close_date"])]
    engaging = deals[deals["deal_stage"] == "Engaging"].iloc[0]
    history = query(
        sqlite_engine,
        "SELECT h.stage, h.entered_date FROM opportunity_stage_history h "
        "JOIN opportunity o ON o.id = h.opportunity_id "
        f"WHERE o.external_id = '{engaging['opportunity_id']}'",
    )
    assert history == [("Engaging", engaging["engage_date"])]


def test_a_second_import_changes_nothing(sqlite_engine) -> None:
    import_all(sqlite_engine)
    before = query(sqlite_engine, "SELECT external_id, created_date, amount FROM opportunity")
    report = import_all(sqlite_engine)
    assert report.tables["opportunity"].created == 0
    assert (
        query(sqlite_engine, "SELECT external_id, created_date, amount FROM opportunity") == before
    )
