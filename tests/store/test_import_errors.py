"""The bad-input corpus: every broken file is rejected with errors that name the line and
the column, and the store is left exactly as it was."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from store import importer
from store.importer import ImportValidationError, import_file
from store.mapping import Mapping
from store.models import TABLES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
CRM = FIXTURES / "crm"
BAD = FIXTURES / "bad"
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
CASES = yaml.safe_load((BAD / "cases.yml").read_text())


def load_crm(engine) -> None:
    for kind in CRM_ORDER:
        import_file(engine, kind, CRM / f"{kind}.csv", today=TODAY)


def table_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            model.__tablename__: conn.execute(
                select(func.count()).select_from(model.__table__)
            ).scalar_one()
            for model in TABLES
        }


def test_corpus_covers_every_file():
    listed = {case["file"] for case in CASES}
    on_disk = {p.name for p in BAD.glob("*.csv")}
    assert listed == on_disk


@pytest.mark.parametrize("case", CASES, ids=[case["file"] for case in CASES])
def test_bad_file_is_rejected_with_line_and_column(sqlite_engine, case):
    load_crm(sqlite_engine)
    before = table_counts(sqlite_engine)
    with pytest.raises(ImportValidationError) as info:
        import_file(sqlite_engine, case["kind"], BAD / case["file"], today=TODAY)
    found = [(e.line, e.column, e.message) for e in info.value.errors]
    assert len(found) == len(case["errors"]), found
    for expected in case["errors"]:
        assert any(
            line == expected["line"]
            and column == expected["column"]
            and expected["message"] in text
            for line, column, text in found
        ), (expected, found)
    assert all(e.file == case["file"] for e in info.value.errors)
    assert table_counts(sqlite_engine) == before


def test_error_message_reads_file_line_column(sqlite_engine):
    load_crm(sqlite_engine)
    with pytest.raises(ImportValidationError) as info:
        import_file(sqlite_engine, "orders", BAD / "orders_negative_quantity.csv", today=TODAY)
    assert [str(e) for e in info.value.errors] == [
        "orders_negative_quantity.csv line 17, column quantity: must be greater than 0 (got -3)"
    ]
    assert "nothing was imported" in str(info.value)


def test_huge_field_is_refused_without_reading_it_whole(sqlite_engine, tmp_path):
    load_crm(sqlite_engine)
    before = table_counts(sqlite_engine)
    path = tmp_path / "accounts_huge.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("external_id,name,city\nA50,Plain,Berlin\n")
        handle.write("A51,Big," + "x" * (2 * 1024 * 1024) + "\nA52,After,Rome\n")
    with pytest.raises(ImportValidationError) as info:
        import_file(sqlite_engine, "accounts", path, today=TODAY)
    (error,) = info.value.errors
    assert (error.line, error.column) == (3, "city")
    assert "field is larger than 1 MiB" in error.message
    assert "max_field_size" in error.message
    assert table_counts(sqlite_engine) == before


def test_huge_quoted_field_over_many_lines_is_refused(sqlite_engine, tmp_path):
    path = tmp_path / "accounts_huge_quoted.csv"
    path.write_text(
        'external_id,name,city\nA60,"' + "word\n" * 5000 + '",Berlin\n', encoding="utf-8"
    )
    mapping = Mapping(max_field_size=4096)
    with pytest.raises(ImportValidationError) as info:
        import_file(sqlite_engine, "accounts", path, mapping, today=TODAY)
    (error,) = info.value.errors
    assert (error.line, error.column) == (2, "name")
    assert "larger than 4 KiB" in error.message


def test_late_error_rolls_back_rows_already_written(engine, monkeypatch, tmp_path):
    """Rows are written chunk by chunk; an error in the last chunk must undo the earlier ones."""
    load_crm(engine)
    before = table_counts(engine)
    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    path = tmp_path / "orders_late_error.csv"
    rows = [f"N{i},A1,2024-05-{i:02d},P1,{i},4.5,0" for i in range(1, 8)]
    rows.append("N8,A2,2024-05-08,P2,1,-2.0,0")
    path.write_text(
        "order_external_id,account_external_id,order_date,product_external_id,quantity,"
        "unit_price,discount\n" + "\n".join(rows) + "\n"
    )
    with pytest.raises(ImportValidationError) as info:
        import_file(engine, "orders", path, today=TODAY)
    assert [(e.line, e.column) for e in info.value.errors] == [(9, "unit_price")]
    assert table_counts(engine) == before


def test_errors_are_capped_and_counted(sqlite_engine, tmp_path):
    load_crm(sqlite_engine)
    path = tmp_path / "products_many_bad.csv"
    path.write_text(
        "external_id,name,category,unit_price\n"
        + "".join(f"Q{i},Item {i},Misc,-{i}\n" for i in range(1, 301))
    )
    with pytest.raises(ImportValidationError) as info:
        import_file(sqlite_engine, "products", path, today=TODAY, max_errors=10)
    assert info.value.total == 300
    assert info.value.truncated
    assert [e.line for e in info.value.errors] == list(range(2, 12))
    assert "and 290 more" in str(info.value)


def test_deferred_indexes_come_back_after_a_failed_large_import(
    sqlite_engine, monkeypatch, tmp_path
):
    """Large loads drop order_line's secondary indexes and build them after; when the load
    fails, the rollback must bring them back."""
    from sqlalchemy import inspect

    load_crm(sqlite_engine)
    indexes = {i["name"] for i in inspect(sqlite_engine).get_indexes("order_line")}
    monkeypatch.setattr(importer, "DEFER_INDEXES_MIN_ROWS", 1)
    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    dropped: list[str] = []
    defer = importer.defer_indexes

    def spy(*args, **kwargs):
        found = defer(*args, **kwargs)
        dropped.extend(str(i.name) for i in found)
        return found

    monkeypatch.setattr(importer, "defer_indexes", spy)
    path = tmp_path / "orders_deferred.csv"
    rows = [f"D{i},A1,2024-05-{i:02d},P1,{i},4.5,0" for i in range(1, 8)]
    rows.append("D8,A2,2024-05-08,P2,1,2.0,7")
    path.write_text(
        "order_external_id,account_external_id,order_date,product_external_id,quantity,"
        "unit_price,discount\n" + "\n".join(rows) + "\n"
    )
    before = table_counts(sqlite_engine)
    with pytest.raises(ImportValidationError) as info:
        import_file(sqlite_engine, "orders", path, today=TODAY)
    assert [(e.line, e.column) for e in info.value.errors] == [(9, "discount")]
    assert sorted(dropped) == sorted(indexes - {"sqlite_autoindex_order_line_1"})
    assert table_counts(sqlite_engine) == before
    assert {i["name"] for i in inspect(sqlite_engine).get_indexes("order_line")} == indexes
