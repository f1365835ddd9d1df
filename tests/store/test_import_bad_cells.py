"""Cells that would poison the store are rejected with file, line and column, and a
rejected file writes nothing: non-finite numbers, control characters, malformed
e-mail addresses. A Hypothesis fuzz test drives numbers, dates, encodings and control
characters through the importer."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from store.importer import ImportValidationError, import_file
from store.mapping import parse_mapping

TODAY = dt.date(2024, 6, 30)
ORDERS_HEADER = ["order_external_id", "account_external_id", "order_date"]
ORDERS_HEADER += ["product_external_id", "quantity", "unit_price"]


def write_csv(
    path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8"
) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def snapshot(engine) -> dict[str, list[tuple[object, ...]]]:
    tables = ("rep", "account", "product", "sales_order", "order_line")
    with engine.connect() as conn:
        return {
            t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))]
            for t in tables
        }


@pytest.fixture
def store(sqlite_engine, tmp_path):
    accounts = write_csv(tmp_path / "accounts.csv", ["external_id", "name"], [["A1", "Acme"]])
    products = write_csv(
        tmp_path / "products.csv",
        ["external_id", "name", "category"],
        [["P1", "Gloves", "Safety"], ["P2", "Napkins", "Paper"]],
    )
    import_file(sqlite_engine, "accounts", accounts, today=TODAY)
    import_file(sqlite_engine, "products", products, today=TODAY)
    return sqlite_engine


@pytest.mark.parametrize("bad", ["inf", "-inf", "1e400", "-1e400", "nan", "NaN", "Infinity"])
@pytest.mark.parametrize("column", ["quantity", "unit_price"])
def test_a_non_finite_number_is_rejected_with_line_and_column(store, tmp_path, bad, column) -> None:
    good = {"quantity": "2", "unit_price": "4.5"}
    rows = [["O1", "A1", "2024-01-05", "P1", good["quantity"], good["unit_price"]]]
    cells = dict(good, **{column: bad})
    rows.append(["O1", "A1", "2024-01-05", "P2", cells["quantity"], cells["unit_price"]])
    orders = write_csv(tmp_path / "orders.csv", ORDERS_HEADER, rows)
    before = snapshot(store)
    with pytest.raises(ImportValidationError) as caught:
        import_file(store, "orders", orders, today=TODAY)
    assert [str(e) for e in caught.value.errors] == [
        f"orders.csv line 3, column {column}: must be a finite number (got {bad})"
    ]
    assert snapshot(store) == before


def test_a_product_of_huge_numbers_is_rejected(store, tmp_path) -> None:
    rows = [["O1", "A1", "2024-01-05", "P1", "1e200", "1e200"]]
    orders = write_csv(tmp_path / "orders.csv", ORDERS_HEADER, rows)
    with pytest.raises(ImportValidationError) as caught:
        import_file(store, "orders", orders, today=TODAY)
    (error,) = caught.value.errors
    assert (error.line, error.column) == (2, "quantity")
    assert "beyond the range" in error.message


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f"])
def test_a_control_character_in_text_is_rejected(store, tmp_path, char) -> None:
    products = write_csv(
        tmp_path / "products.csv",
        ["external_id", "name", "category"],
        [["P3", "Masks", "Safety"], ["P4", f"Ro{char}pe", "Safety"]],
    )
    before = snapshot(store)
    with pytest.raises(ImportValidationError) as caught:
        import_file(store, "products", products, today=TODAY)
    (error,) = caught.value.errors
    assert (error.file, error.line, error.column) == ("products.csv", 3, "name")
    assert f"control character U+{ord(char):04X} at position 3" in error.message
    assert snapshot(store) == before


def test_tabs_and_line_breaks_inside_text_are_kept(store, tmp_path) -> None:
    products = write_csv(
        tmp_path / "products.csv",
        ["external_id", "name", "category", "subcategory"],
        [["P3", "Masks", "Safety", "Face\tand\nmouth"]],
    )
    import_file(store, "products", products, today=TODAY)
    with store.connect() as conn:
        stored = conn.execute(text("SELECT subcategory FROM product WHERE external_id = 'P3'"))
        assert stored.scalar_one() == "Face\tand\nmouth"


@pytest.mark.parametrize(
    "email", ["ann ames@example.com", "ann.example.com", "ann@", "@example.com", "ann@example"]
)
def test_a_malformed_email_is_rejected(sqlite_engine, tmp_path, email) -> None:
    reps = write_csv(
        tmp_path / "reps.csv",
        ["external_id", "name", "email"],
        [["R1", "Ben Burr", "ben@example.com"], ["R2", "Ann Ames", email]],
    )
    with pytest.raises(ImportValidationError) as caught:
        import_file(sqlite_engine, "reps", reps, today=TODAY)
    (error,) = caught.value.errors
    assert (error.line, error.column) == (3, "email")
    assert error.message.startswith("is not an e-mail address")
    assert snapshot(sqlite_engine)["rep"] == []


def test_a_template_built_email_with_a_space_is_rejected(sqlite_engine, tmp_path) -> None:
    reps = write_csv(tmp_path / "reps.csv", ["id", "first", "last"], [["R1", "Mary Ann", "Lee"]])
    mapping = parse_mapping(
        {
            "columns": {"id": "external_id"},
            "templates": {"name": "{first} {last}", "email": "{first}.{last}@example.com"},
        }
    )
    with pytest.raises(ImportValidationError) as caught:
        import_file(sqlite_engine, "reps", reps, mapping, today=TODAY)
    (error,) = caught.value.errors
    assert (error.line, error.column) == (2, "email (template)")


# ------------------------------------------------------------------------- fuzz

NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.sampled_from(["inf", "-inf", "1e400", "nan", "Infinity", "1_000", "0x10", " 7 ", "1,5"]),
    st.text(alphabet="0123456789.eE+-", min_size=1, max_size=10),
)
DATE_TEXT = st.one_of(
    st.dates().map(dt.date.isoformat),
    st.sampled_from(["2024-02-30", "2024-13-01", "0001-01-01", "20240105", "05/01/2024"]),
    st.text(max_size=12),
)
FUZZ_TEXT = st.text(
    st.characters(min_codepoint=0, max_codepoint=0x3FF, exclude_categories=("Cs",)),
    min_size=1,
    max_size=16,
)
ENCODINGS = st.sampled_from(["utf-8", "cp1252", "latin-1"])
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_rejected_precisely(error: ImportValidationError) -> None:
    assert error.errors
    for row_error in error.errors:
        assert row_error.file
        assert row_error.line is not None and row_error.line >= 2, str(row_error)
        assert row_error.column is not None, str(row_error)


@FUZZ
@given(quantity=NUMBER_TEXT, unit_price=NUMBER_TEXT, day=DATE_TEXT, order_id=FUZZ_TEXT)
def test_fuzzed_order_lines_import_finite_values_or_are_rejected_whole(
    store, tmp_path, quantity, unit_price, day, order_id
) -> None:
    rows = [
        ["F-ok", "A1", "2024-01-05", "P1", "1", "2.5"],
        [order_id, "A1", day, "P2", quantity, unit_price],
    ]
    orders = write_csv(tmp_path / "fuzz_orders.csv", ORDERS_HEADER, rows)
    before = snapshot(store)
    try:
        import_file(store, "orders", orders, today=TODAY)
    except ImportValidationError as exc:
        assert_rejected_precisely(exc)
        assert snapshot(store) == before
        return
    with store.connect() as conn:
        stored = conn.execute(text("SELECT quantity, unit_price, amount FROM order_line")).all()
    assert stored
    assert all(math.isfinite(v) for row in stored for v in row)


@FUZZ
@given(name=FUZZ_TEXT, price=NUMBER_TEXT, encoding=ENCODINGS, declared=ENCODINGS)
def test_fuzzed_products_in_any_encoding_import_clean_text_or_are_rejected_whole(
    store, tmp_path, name, price, encoding, declared
) -> None:
    try:
        products = write_csv(
            tmp_path / "fuzz_products.csv",
            ["external_id", "name", "category", "unit_price"],
            [["P9", name, "Safety", price]],
            encoding=encoding,
        )
    except UnicodeEncodeError:
        assume(False)
    mapping = parse_mapping({"encoding": declared})
    before = snapshot(store)
    try:
        import_file(store, "products", products, mapping, today=TODAY)
    except ImportValidationError as exc:
        assert_rejected_precisely(exc)
        assert snapshot(store) == before
        return
    with store.connect() as conn:
        stored_name, stored_price = conn.execute(
            text("SELECT name, unit_price FROM product WHERE external_id = 'P9'")
        ).one()
    assert stored_name and not any(ord(c) < 32 and c not in "\t\n\r" for c in stored_name)
    assert stored_price is None or math.isfinite(stored_price)
