"""What each import kind writes, and the mapping features (renames, templates, constants,
value maps, lookups, date and number formats, encodings)."""

from __future__ import annotations

import datetime as dt
import json
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from store.importer import ImportValidationError, assign_owners_from_orders, import_file
from store.mapping import Mapping, MappingError, load_mapping

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
CRM = FIXTURES / "crm"
BAD = FIXTURES / "bad"
SALESFORCE = FIXTURES / "salesforce"
TODAY = dt.date(2024, 6, 30)
CRM_ORDER = (
    "reps",
    "accounts",
    "contacts",
    "products",
    "leads",
    "opportunities",
    "stage_history",
    "activities",
    "targets",
    "orders",
)


def load_crm(engine) -> None:
    for kind in CRM_ORDER:
        import_file(engine, kind, CRM / f"{kind}.csv", today=TODAY)


def query(engine, sql: str) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(text(sql))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def history(engine, opportunity: str) -> list[tuple[str, str]]:
    rows = query(
        engine,
        "SELECT h.stage, h.entered_date FROM opportunity_stage_history h "
        "JOIN opportunity o ON o.id = h.opportunity_id "
        f"WHERE o.external_id = '{opportunity}' ORDER BY h.entered_date, h.stage",
    )
    return [
        (stage, str(day)) for stage, day in zip(rows["stage"], rows["entered_date"], strict=True)
    ]


def test_every_kind_imports_with_our_column_names(engine):
    load_crm(engine)
    reps = query(
        engine,
        "SELECT r.external_id, r.email, r.role, m.external_id AS manager FROM rep r "
        "LEFT JOIN rep m ON m.id = r.manager_id ORDER BY r.external_id",
    )
    assert reps["email"].tolist()[3] == "bob@example.com"  # lower-cased by RepCreate
    assert reps["manager"].fillna("").tolist() == ["", "R1", "R2", "R2"]

    contacts = query(engine, "SELECT external_id, buying_role FROM contact ORDER BY external_id")
    assert contacts["buying_role"].tolist() == ["decision_maker", "finance", "user"]

    leads = query(engine, "SELECT external_id, source, status FROM lead ORDER BY external_id")
    assert leads["source"].tolist() == ["referral", "inbound"]  # "Inbound" normalised

    activity = query(engine, "SELECT kind, occurred_at FROM activity WHERE external_id = 'ACT2'")
    assert activity["kind"][0] == "email"
    occurred = pd.Timestamp(activity["occurred_at"][0])
    occurred = occurred.tz_localize("UTC") if occurred.tzinfo is None else occurred
    assert occurred == pd.Timestamp("2024-02-03 07:00", tz="UTC")

    targets = query(
        engine,
        "SELECT r.external_id, t.metric, t.amount FROM target t JOIN rep r ON r.id = t.rep_id "
        "ORDER BY r.external_id, t.metric",
    )
    assert list(targets.itertuples(index=False, name=None)) == [
        ("R3", "bookings", 30000.0),
        ("R3", "revenue", 50000.0),
        ("R4", "bookings", 25000.0),
    ]

    opportunities = query(
        engine, "SELECT external_id, is_closed, is_won FROM opportunity ORDER BY external_id"
    )
    assert opportunities[["is_closed", "is_won"]].astype(bool).values.tolist() == [
        [False, False],
        [True, True],
    ]
    # the explicit history file replaced the derived entry of OP1; OP2 keeps its derived one
    assert history(engine, "OP1") == [
        ("prospecting", "2024-01-15"),
        ("qualification", "2024-02-01"),
    ]
    assert history(engine, "OP2") == [("closed_won", "2024-03-01")]

    lines = query(
        engine,
        "SELECT o.external_id, l.line_key, l.amount, l.discount FROM order_line l "
        "JOIN sales_order o ON o.id = l.order_id ORDER BY o.external_id, l.line_key",
    )
    assert lines["amount"].tolist() == pytest.approx([45.0, 9.0, 36.0, 12.0])
    assert lines["discount"].tolist() == [0.0, 0.1, 0.0, 0.0]  # empty discount -> default 0


def test_reimport_is_idempotent_for_every_kind(sqlite_engine):
    load_crm(sqlite_engine)
    tables = [
        "rep", "account", "contact", "product", "lead", "opportunity",
        "opportunity_stage_history", "activity", "target", "sales_order", "order_line",
    ]  # fmt: skip

    def sizes() -> dict[str, int]:
        return {
            t: int(query(sqlite_engine, f"SELECT COUNT(*) AS n FROM {t}")["n"][0]) for t in tables
        }

    first = sizes()
    load_crm(sqlite_engine)
    assert sizes() == first


def test_stage_change_on_reimport_appends_history(sqlite_engine, tmp_path):
    load_crm(sqlite_engine)
    changed = tmp_path / "opportunities.csv"
    source = pd.read_csv(CRM / "opportunities.csv", dtype=str, keep_default_na=False)
    source.loc[source["external_id"] == "OP1", "stage"] = "proposal"
    source.to_csv(changed, index=False)

    report = import_file(sqlite_engine, "opportunities", changed, today=dt.date(2024, 5, 2))
    assert report.tables["opportunity"].updated == 2
    assert report.tables["opportunity_stage_history"].created == 1
    assert history(sqlite_engine, "OP1")[-1] == ("proposal", "2024-05-02")

    again = import_file(sqlite_engine, "opportunities", changed, today=dt.date(2024, 5, 9))
    assert again.tables["opportunity_stage_history"].created == 0

    source.loc[source["external_id"] == "OP1", "stage"] = "negotiation"
    source["stage_changed_date"] = ["2024-05-20", ""]
    source.to_csv(changed, index=False)
    import_file(sqlite_engine, "opportunities", changed, today=dt.date(2024, 6, 1))
    assert history(sqlite_engine, "OP1")[-1] == ("negotiation", "2024-05-20")


def test_salesforce_export_through_a_mapping(sqlite_engine):
    load_crm(sqlite_engine)
    report = import_file(
        sqlite_engine,
        "opportunities",
        SALESFORCE / "opportunities.csv",
        SALESFORCE / "opportunities.yml",
        today=TODAY,
    )
    assert report.tables["opportunity"].created == 3
    rows = query(
        sqlite_engine,
        "SELECT external_id, amount, stage, created_date, is_closed, is_won FROM opportunity "
        "WHERE external_id LIKE '006%' ORDER BY external_id",
    )
    assert rows["amount"].tolist() == [12500.0, 800.0, 950.0]
    assert rows["stage"].tolist() == ["needs_analysis", "closed_lost", "prospecting"]
    assert [str(d) for d in rows["created_date"]] == ["2024-01-20", "2024-02-01", "2024-03-01"]
    assert rows[["is_closed", "is_won"]].astype(bool).values.tolist() == [
        [False, False],
        [True, False],
        [False, False],
    ]
    assert history(sqlite_engine, "006A") == [("needs_analysis", "2024-02-15")]  # stage change date
    assert history(sqlite_engine, "006B") == [("closed_lost", "2024-03-15")]  # close date
    assert history(sqlite_engine, "006C") == [("prospecting", "2024-03-01")]  # created date


def test_erp_export_with_split_headers_formats_and_constants(sqlite_engine, tmp_path):
    """Semicolons, German numbers and dates, a header file joined on the order number, a
    template and a constant."""
    load_crm(sqlite_engine)
    (tmp_path / "kopf.csv").write_text(
        "Beleg;Kunde;Datum\n9001;A1;05.03.2024\n9002;A2;06.03.2024\n", encoding="cp1252"
    )
    (tmp_path / "positionen.csv").write_text(
        "Beleg;Pos;Artikel;Menge;Preis;Rabatt\n"
        "9001;1;P1;1.000;4,50;0\n9001;2;P1;2;4,50;0,1\n9002;1;P3;3;12,00;0\n",
        encoding="cp1252",
    )
    mapping = Mapping.model_validate(
        {
            "kind": "orders",
            "encoding": "cp1252",
            "delimiter": ";",
            "decimal": ",",
            "thousands": ".",
            "date_format": "%d.%m.%Y",
            "columns": {
                "Beleg": "order_external_id",
                "Kunde": "account_external_id",
                "Datum": "order_date",
                "Artikel": "product_external_id",
                "Menge": "quantity",
                "Preis": "unit_price",
                "Rabatt": "discount",
            },
            "templates": {"line_external_id": "{Beleg}-{Pos}"},
            "constants": {"rep_external_id": "R3"},
            "lookups": [{"file": "kopf.csv", "match": "Beleg", "add": ["Kunde", "Datum"]}],
        }
    )
    report = import_file(sqlite_engine, "orders", tmp_path / "positionen.csv", mapping, today=TODAY)
    assert report.tables["order_line"].created == 3
    lines = query(
        sqlite_engine,
        "SELECT o.external_id, o.order_date, l.line_key, l.quantity, l.amount, r.external_id AS rep "
        "FROM order_line l JOIN sales_order o ON o.id = l.order_id "
        "JOIN rep r ON r.id = o.rep_id WHERE o.external_id LIKE '900%' ORDER BY l.line_key",
    )
    assert lines["line_key"].tolist() == ["9001-1", "9001-2", "9002-1"]
    assert lines["quantity"].tolist() == [1000.0, 2.0, 3.0]
    assert lines["amount"].tolist() == pytest.approx([4500.0, 8.1, 36.0])
    assert [str(d) for d in lines["order_date"]] == ["2024-03-05", "2024-03-05", "2024-03-06"]
    assert set(lines["rep"]) == {"R3"}


def test_lookup_miss_names_the_line(sqlite_engine, tmp_path):
    load_crm(sqlite_engine)
    (tmp_path / "heads.csv").write_text("order,customer,day\n7001,A1,2024-04-01\n")
    (tmp_path / "lines.csv").write_text(
        "order,product,quantity,unit_price\n7001,P1,1,4.5\n7002,P2,1,2.0\n"
    )
    mapping = Mapping.model_validate(
        {
            "columns": {
                "order": "order_external_id",
                "customer": "account_external_id",
                "day": "order_date",
                "product": "product_external_id",
            },
            "lookups": [{"file": "heads.csv", "match": "order", "add": ["customer", "day"]}],
        }
    )
    with pytest.raises(ImportValidationError) as info:
        import_file(sqlite_engine, "orders", tmp_path / "lines.csv", mapping, today=TODAY)
    assert [str(e) for e in info.value.errors] == [
        "lines.csv line 3, column order: no row of heads.csv has order = 7002"
    ]


def test_encoding_and_value_map_fix_the_bad_files(sqlite_engine):
    load_crm(sqlite_engine)
    import_file(
        sqlite_engine,
        "accounts",
        BAD / "accounts_latin1.csv",
        Mapping(encoding="latin-1"),
        today=TODAY,
    )
    names = query(sqlite_engine, "SELECT name, city FROM account WHERE external_id = 'A21'")
    assert (names["name"][0], names["city"][0]) == ("Café Müller", "Köln")

    mapping = Mapping.model_validate({"values": {"source": {"webinar": "event"}}})
    import_file(sqlite_engine, "leads", BAD / "leads_unknown_source.csv", mapping, today=TODAY)
    source = query(sqlite_engine, "SELECT source FROM lead WHERE external_id = 'L11'")
    assert source["source"][0] == "event"


def test_reps_may_name_managers_listed_later_in_the_file(sqlite_engine, tmp_path):
    path = tmp_path / "reps.csv"
    path.write_text(
        "external_id,name,email,manager_external_id\n"
        "E3,Ed,ed@example.com,E2\nE2,Di,di@example.com,E1\nE1,Bo,bo@example.com,\n"
    )
    import_file(sqlite_engine, "reps", path, today=TODAY)
    links = query(
        sqlite_engine,
        "SELECT r.external_id, m.external_id AS manager FROM rep r "
        "LEFT JOIN rep m ON m.id = r.manager_id ORDER BY r.external_id",
    )
    assert links["manager"].fillna("").tolist() == ["", "E1", "E2"]


def test_update_leaves_columns_the_file_does_not_carry(sqlite_engine, tmp_path):
    load_crm(sqlite_engine)
    path = tmp_path / "accounts.csv"
    path.write_text("external_id,name\nA1,Acme Foods Ltd\n")
    import_file(sqlite_engine, "accounts", path, today=TODAY)
    row = query(
        sqlite_engine,
        "SELECT a.name, a.segment, r.external_id AS owner FROM account a "
        "JOIN rep r ON r.id = a.owner_id WHERE a.external_id = 'A1'",
    )
    assert row.iloc[0].tolist() == ["Acme Foods Ltd", "food service", "R3"]


def test_assign_owners_from_orders_picks_the_top_seller(sqlite_engine, tmp_path):
    load_crm(sqlite_engine)
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_external_id,account_external_id,order_date,product_external_id,quantity,"
        "unit_price,rep_external_id\n"
        "X1,A3,2024-04-01,P1,10,10,R3\n"  # R3 sells 100
        "X2,A3,2024-04-02,P1,5,10,R4\n"  # R4 sells 50 + 60 = 110
        "X3,A3,2024-04-03,P3,5,12,R4\n"
        "X4,A1,2024-04-03,P3,50,12,R4\n"  # A1 already has an owner (R3): kept
    )
    report = import_file(sqlite_engine, "orders", path, today=TODAY, assign_owners_from_orders=True)
    assert report.notes == ["1 accounts without an owner got the rep with the most order revenue"]
    owners = query(
        sqlite_engine,
        "SELECT a.external_id, r.external_id AS owner FROM account a "
        "LEFT JOIN rep r ON r.id = a.owner_id ORDER BY a.external_id",
    )
    assert owners["owner"].tolist() == ["R3", "R4", "R4"]
    assert assign_owners_from_orders(sqlite_engine) == 0


def test_mapping_mistakes_are_explained(sqlite_engine, tmp_path):
    load_crm(sqlite_engine)
    with pytest.raises(MappingError, match=r"'quantty' \(did you mean 'quantity'\?\)"):
        import_file(
            sqlite_engine,
            "orders",
            CRM / "orders.csv",
            Mapping.model_validate({"constants": {"quantty": 1}}),
            today=TODAY,
        )
    with pytest.raises(MappingError, match=r"renames column 'Qty'.*did you mean 'quantity'"):
        import_file(
            sqlite_engine,
            "orders",
            CRM / "orders.csv",
            Mapping.model_validate({"columns": {"Qty": "quantity"}}),
            today=TODAY,
        )
    with pytest.raises(MappingError, match="the mapping is for kind 'accounts', not 'orders'"):
        import_file(
            sqlite_engine, "orders", CRM / "orders.csv", Mapping(kind="accounts"), today=TODAY
        )
    bad = tmp_path / "bad.yml"
    bad.write_text("columns: {a: name}\ncolumn_map: {}\n")
    with pytest.raises(MappingError, match="column_map: unknown key"):
        load_mapping(bad)


def test_yaml_keeps_yes_no_on_off_as_text(tmp_path):
    path = tmp_path / "mapping.yml"
    path.write_text("values:\n  active: {yes: true, no: false, 'on': true, 1: true}\n")
    assert load_mapping(path).values["active"] == {"yes": True, "no": False, "on": True, "1": True}


# ------------------------------------------------------------------------------ CLI


@pytest.fixture
def cli(sqlite_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    from bot.cli import build_app
    from bot.settings import get_settings

    if hasattr(get_settings, "cache_clear"):
        get_settings.cache_clear()
    runner = CliRunner()
    app = build_app()

    def run(*args: str):
        return runner.invoke(app, list(args))

    yield run
    if hasattr(get_settings, "cache_clear"):
        get_settings.cache_clear()


def test_cli_prints_a_summary_and_json(cli):
    done = cli("import", "reps", str(CRM / "reps.csv"))
    assert done.exit_code == 0, done.output
    assert "imported 4 rows of reps from reps.csv" in done.stdout
    assert "rep: 4 created, 0 updated" in done.stdout
    again = cli("import", "reps", str(CRM / "reps.csv"), "--json")
    assert again.exit_code == 0
    payload = json.loads(again.stdout)
    assert payload["ok"] is True
    assert payload["tables"]["rep"] == {"created": 0, "updated": 4}


def test_cli_lists_errors_and_exits_non_zero(cli):
    assert cli("import", "reps", str(CRM / "reps.csv")).exit_code == 0
    failed = cli("import", "accounts", str(BAD / "accounts_duplicate_ids.csv"))
    assert failed.exit_code == 1
    assert (
        "accounts_duplicate_ids.csv line 4, column external_id: duplicate id A9 (first on line 2)"
        in failed.stderr
    )
    assert "nothing was imported" in failed.stderr
    as_json = cli("import", "accounts", str(BAD / "accounts_duplicate_ids.csv"), "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["errors"] == [
        {
            "file": "accounts_duplicate_ids.csv",
            "line": 4,
            "column": "external_id",
            "message": "duplicate id A9 (first on line 2)",
        }
    ]
    unknown = cli("import", "widgets", str(CRM / "reps.csv"))
    assert unknown.exit_code == 1
    assert "unknown kind 'widgets'" in unknown.stderr


def test_cli_delegates_kinds_it_does_not_own(cli, monkeypatch):
    from bot.cli import imports

    calls = []
    module = types.ModuleType("delegated_kind_for_test")

    def handle(path, *, mapping, today, as_json, quiet):
        calls.append((path, mapping, today, as_json, quiet))

    module.handle = handle  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "delegated_kind_for_test", module)
    monkeypatch.setitem(imports.DELEGATED_KINDS, "recordings", "delegated_kind_for_test:handle")
    done = cli("import", "recordings", str(CRM), "--today", "2024-05-01", "--json")
    assert done.exit_code == 0, done.output
    assert calls == [(CRM, None, dt.date(2024, 5, 1), True, False)]
    assert "transcripts" in imports.all_kinds()


def test_large_order_import_rebuilds_the_deferred_indexes(sqlite_engine, monkeypatch, tmp_path):
    from sqlalchemy import inspect

    from store import importer

    load_crm(sqlite_engine)
    indexes = {i["name"] for i in inspect(sqlite_engine).get_indexes("order_line")}
    monkeypatch.setattr(importer, "DEFER_INDEXES_MIN_ROWS", 1)
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_external_id,account_external_id,order_date,product_external_id,quantity,"
        "unit_price\n"
        + "".join(f"B{i},A2,2024-06-{1 + i % 28:02d},P{1 + i % 3},1,2.0\n" for i in range(30))
    )
    report = import_file(sqlite_engine, "orders", path, today=TODAY)
    assert report.tables["order_line"].created == 30
    assert {i["name"] for i in inspect(sqlite_engine).get_indexes("order_line")} == indexes
    by_account = query(
        sqlite_engine,
        "SELECT COUNT(*) AS n FROM order_line INDEXED BY ix_order_line_account_date "
        "WHERE account_id = (SELECT id FROM account WHERE external_id = 'A2')",
    )
    assert by_account["n"][0] == 31  # 30 new lines and O2 from the fixture


@pytest.mark.parametrize(
    ("kind", "row"),
    [
        ("reps", {"external_id": "R1", "name": "Al", "email": " Al@Example.COM "}),
        ("reps", {"external_id": "R1", "name": "Al", "email": "nope", "role": "boss"}),
        ("orders", {"order_external_id": "1", "account_external_id": "x" * 200, "quantity": "-3"}),
        (
            "leads",
            {"external_id": "L", "company": "c", "created_date": "2024-01-01", "employees": "1.5"},
        ),
        ("targets", {"rep_external_id": "R", "period_start": "2024-01-01", "amount": "-1"}),
    ],
)
def test_row_models_validate_like_the_create_models(kind, row):
    """Rows are validated with plain pydantic copies of the XCreate models (same fields,
    constraints and field validators, without SQLModel's slower __init__)."""
    from pydantic import ValidationError

    from store.importer import _spec, row_model

    model = _spec(kind).model
    copy = row_model(model)
    assert copy.model_fields.keys() == model.model_fields.keys()

    def outcome(validator_model):
        try:
            return validator_model.__pydantic_validator__.validate_python(row).__dict__
        except ValidationError as exc:
            return [(e["type"], e["loc"], e["msg"]) for e in exc.errors(include_url=False)]

    assert outcome(copy) == outcome(model)
