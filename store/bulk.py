"""Fast bulk loading of DataFrames into store tables (SQLite and PostgreSQL).

The ORM (and even ``insert(table)`` with one dict per row) spends microseconds per
value on Python-side type processing; for millions of rows that is minutes. These
helpers convert whole columns at once into what the driver stores natively and hand
the rows to the driver in large batches:

- **SQLite**: ``Connection.exec_driver_sql(INSERT ..., rows)`` (SQLAlchemy Core
  executemany straight into ``sqlite3``) in chunks of ``chunk_rows`` inside one explicit
  transaction, with ``foreign_keys=OFF``, ``synchronous=OFF``, a large page cache and
  in-memory temp storage for the duration of the load (restored afterwards). Dates are
  written as ``YYYY-MM-DD`` and timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC), the
  same text SQLAlchemy writes, so the ORM and ``store.frames`` read them back unchanged.
- **PostgreSQL**: ``COPY table (columns) FROM STDIN (FORMAT BINARY)`` through psycopg 3's
  ``cursor.copy`` with the columns' types set from the catalogue, fed row by row with
  ``write_row`` (psycopg's C dumpers; no text formatting or parsing). Dates and timestamps
  go as ``datetime.date`` / aware ``datetime.datetime`` (UTC), JSON as Python objects.

Both paths can defer a table's secondary indexes (and, on PostgreSQL, its foreign keys):
they are dropped before the load and re-created from their stored definitions after it,
which builds each index once from sorted data instead of updating it row by row. The
whole load runs in one transaction, so a failure leaves the store as it was (SQLite and
PostgreSQL both roll back DDL).

Typical use::

    from store.bulk import BulkLoad, bulk_load

    report = bulk_load(engine, [BulkLoad(OrderLine.__table__, frame, defer_indexes=True)])

Frames name their columns after the table's columns (a subset is fine: missing nullable
columns become NULL, missing columns with a server default take it). Values must already
be valid: these helpers do not validate rows (use the ``XCreate`` models for that) and
foreign keys are not checked on SQLite during the load. Rows must not collide with
existing primary or unique keys. When explicit ``id`` values are loaded into PostgreSQL,
``bulk_load`` moves each table's id sequence past the largest id afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, Table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeDecorator, TypeEngine

DEFAULT_CHUNK_ROWS = 50_000

SQLITE_BULK_PRAGMAS = {
    "foreign_keys": ("OFF", "ON"),
    "synchronous": ("OFF", "NORMAL"),
    "cache_size": ("-262144", "-2000"),
    "temp_store": ("MEMORY", "DEFAULT"),
}
"""PRAGMA -> (value during a bulk load, value restored afterwards). ``foreign_keys`` can
only change outside a transaction, so it is set before ``BEGIN``. The restored values are
what :func:`store.db.make_engine` sets on new connections (and SQLite's defaults)."""


class BulkLoadError(RuntimeError):
    """A frame does not fit the table it is loaded into, or the database rejected a row
    (the load's transaction is rolled back)."""


@dataclass(frozen=True)
class BulkLoad:
    """One table to load: the SQLAlchemy ``Table``, the rows as a DataFrame, and which
    secondary indexes to drop and re-create around the load: ``True`` for all of them, a
    tuple of index names for just those, ``False`` for none. Whenever any are deferred,
    PostgreSQL foreign keys of the table are deferred too.

    Deferring pays off for large tables whose rows arrive out of index order (building an
    index once from sorted data beats millions of random inserts); an index whose key grows
    with the load order (ids, dates loaded in date order) is cheaper to keep."""

    table: Table
    frame: pd.DataFrame
    defer_indexes: bool | tuple[str, ...] = False


@dataclass
class BulkReport:
    """Rows and seconds per table, in load order, plus the total."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0


# ------------------------------------------------------------------ value conversion


def _column_kind(type_: TypeEngine[Any]) -> str:
    """One of ``date``, ``datetime``, ``bool``, ``json``, ``int``, ``float``, ``other``."""
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    if isinstance(type_, DateTime):
        return "datetime"
    if isinstance(type_, Date):
        return "date"
    if isinstance(type_, Boolean):
        return "bool"
    if isinstance(type_, JSON):
        return "json"
    if isinstance(type_, Integer):
        return "int"
    if isinstance(type_, Float):
        return "float"
    return "other"


def _null_mask(values: pd.Series) -> np.ndarray:
    return np.asarray(values.isna().to_numpy(), dtype=bool)


def _as_days(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Days since 1970-01-01 (int64) and a null mask, from datetime64 or date objects."""
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = pd.to_datetime(values, errors="raise")
    if getattr(values.dtype, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    nulls = _null_mask(values)
    days = values.to_numpy(dtype="datetime64[D]", na_value=np.datetime64("1970-01-01"))
    return days.astype("int64"), nulls


def _date_values(values: pd.Series, *, as_text: bool) -> list[Any]:
    """Dates as ``YYYY-MM-DD`` strings (``as_text``) or ``datetime.date`` objects, None for
    missing, through a lookup table over the day range: ten million dates cost one array
    index, not ten million conversions."""
    days, nulls = _as_days(values)
    if len(days) == 0:
        return []
    valid = days[~nulls]
    if len(valid) == 0:
        return [None] * len(days)
    first, last = int(valid.min()), int(valid.max())
    epoch = dt.date(1970, 1, 1)
    dates = [epoch + dt.timedelta(days=first + i) for i in range(last - first + 1)]
    lut = np.array([d.isoformat() for d in dates] if as_text else dates, dtype=object)
    out = lut[np.clip(days - first, 0, last - first)]
    out[nulls] = None
    return list(out.tolist())


def _datetime_values(values: pd.Series, *, as_text: bool) -> list[Any]:
    """Timestamps in UTC as ``YYYY-MM-DD HH:MM:SS.ffffff`` text (``as_text``) or aware
    ``datetime.datetime`` objects; naive values are taken as UTC; None for missing."""
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = pd.to_datetime(values, utc=True, errors="raise")
    if getattr(values.dtype, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    nulls = _null_mask(values)
    stamps = values.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("1970-01-01", "us"))
    if as_text:
        out = np.char.replace(stamps.astype("U26"), "T", " ").astype(object)
    else:
        out = np.array(
            [s.replace(tzinfo=dt.UTC) for s in stamps.astype(object).tolist()], dtype=object
        )
    out[nulls] = None
    return list(out.tolist())


def _python_values(values: pd.Series, kind: str, dialect: str) -> list[Any]:
    """A column as a list of driver-native Python values (None for missing)."""
    as_text = dialect == "sqlite"
    if kind == "date":
        return _date_values(values, as_text=as_text)
    if kind == "datetime":
        return _datetime_values(values, as_text=as_text)
    nulls = _null_mask(values)
    if kind == "json":
        return [
            None if missing else (json.dumps(v) if as_text else v)
            for v, missing in zip(values, nulls, strict=True)
        ]
    if kind == "bool":
        as_int = dialect == "sqlite"
        return [
            None if missing else (int(bool(v)) if as_int else bool(v))
            for v, missing in zip(values, nulls, strict=True)
        ]
    if kind == "int" and not nulls.any():
        return list(values.to_numpy(dtype="int64").tolist())
    if kind == "float" and not nulls.any():
        return list(values.to_numpy(dtype="float64").tolist())
    if kind in ("int", "float"):
        caster = int if kind == "int" else float
        return [None if missing else caster(v) for v, missing in zip(values, nulls, strict=True)]
    if not nulls.any():
        if values.dtype == object:
            return list(values.tolist())
        return list(values.astype(str).tolist())
    return [
        None if missing else (v if isinstance(v, str) else str(v))
        for v, missing in zip(values, nulls, strict=True)
    ]


def frame_rows(
    table: Table,
    frame: pd.DataFrame,
    *,
    dialect: str,
    start: int = 0,
    stop: int | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows ``frame[start:stop]`` as tuples of values the ``dialect``'s
    driver stores as the table's column types (see the module docstring); missing values
    are None."""
    unknown = [c for c in frame.columns if c not in table.c]
    if unknown:
        raise BulkLoadError(f"table {table.name} has no column(s) {', '.join(map(str, unknown))}")
    part = frame.iloc[start:stop]
    columns = [str(c) for c in frame.columns]
    lists = [
        _python_values(part[name], _column_kind(table.c[name].type), dialect) for name in columns
    ]
    return columns, list(zip(*lists, strict=True))


def _chunks(n_rows: int, chunk_rows: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n_rows, chunk_rows):
        yield start, min(start + chunk_rows, n_rows)


# ------------------------------------------------------------------ deferred indexes


def _sqlite_indexes(conn: Connection, table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the table's explicit indexes (not the automatic ones
    behind PRIMARY KEY / UNIQUE constraints, which cannot be dropped)."""
    rows = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL ORDER BY name",
        (table,),
    ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def _pg_indexes(conn: Connection, table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the table's indexes that back no constraint."""
    rows = conn.exec_driver_sql(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = to_regclass(%(t)s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
        "ORDER BY i.relname",
        {"t": _pg_quote(table)},
    ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def _pg_foreign_keys(conn: Connection, table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's foreign-key constraints."""
    rows = conn.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(%(t)s) AND contype = 'f' ORDER BY conname",
        {"t": _pg_quote(table)},
    ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def _pg_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def deferred_indexes(
    conn: Connection, table: str, only: Sequence[str] | None = None
) -> Iterator[None]:
    """Drop ``table``'s secondary indexes (those named in ``only``, or all of them) and on
    PostgreSQL its foreign keys for the duration of the block, and re-create them from
    their stored definitions afterwards.

    Must run inside a transaction on ``conn``: if the block raises, the caller's rollback
    restores the dropped objects. On PostgreSQL re-adding a foreign key checks every row
    once, in one pass, instead of once per inserted row."""
    dialect = conn.dialect.name
    quoted = _pg_quote(table)
    if dialect == "sqlite":
        indexes = _sqlite_indexes(conn, table)
        foreign_keys: list[tuple[str, str]] = []
    elif dialect == "postgresql":
        indexes = _pg_indexes(conn, table)
        foreign_keys = _pg_foreign_keys(conn, table)
    else:
        indexes, foreign_keys = [], []
    if only is not None:
        indexes = [(name, definition) for name, definition in indexes if name in only]
    for name, _definition in foreign_keys:
        conn.exec_driver_sql(f"ALTER TABLE {quoted} DROP CONSTRAINT {_pg_quote(name)}")
    for name, _definition in indexes:
        conn.exec_driver_sql(f"DROP INDEX {_pg_quote(name)}")
    yield
    for _name, definition in indexes:
        conn.exec_driver_sql(definition)
    for name, definition in foreign_keys:
        conn.exec_driver_sql(f"ALTER TABLE {quoted} ADD CONSTRAINT {_pg_quote(name)} {definition}")


# ------------------------------------------------------------------------- loaders


def insert_frame_sqlite(
    conn: Connection, table: Table, frame: pd.DataFrame, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> int:
    """Insert ``frame`` into ``table`` on a SQLite connection with executemany in chunks.

    Runs in the caller's transaction; see :func:`sqlite_bulk_connection` for the PRAGMAs
    that make it fast. Returns the number of rows inserted."""
    if frame.empty:
        return 0
    columns = [str(c) for c in frame.columns]
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
    for start, stop in _chunks(len(frame), chunk_rows):
        _, rows = frame_rows(table, frame, dialect="sqlite", start=start, stop=stop)
        conn.exec_driver_sql(sql, rows)
    return len(frame)


def _pg_column_types(conn: Connection, table: str, columns: Sequence[str]) -> list[int]:
    """Type oids of ``columns`` of ``table``, in the given order (for binary COPY)."""
    rows = conn.exec_driver_sql(
        "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = to_regclass(%(t)s) "
        "AND attnum > 0 AND NOT attisdropped",
        {"t": _pg_quote(table)},
    ).fetchall()
    oids = {str(name): int(oid) for name, oid in rows}
    return [oids[c] for c in columns]


def copy_frame_postgres(
    conn: Connection, table: Table, frame: pd.DataFrame, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> int:
    """``COPY`` ``frame`` into ``table`` on a PostgreSQL (psycopg 3) connection, in binary
    format with the column types taken from the catalogue. Runs in the caller's
    transaction. Returns the number of rows copied."""
    if frame.empty:
        return 0
    columns = [str(c) for c in frame.columns]
    names = ", ".join(_pg_quote(c) for c in columns)
    types = _pg_column_types(conn, table.name, columns)
    sql = f"COPY {_pg_quote(table.name)} ({names}) FROM STDIN (FORMAT BINARY)"
    driver = conn.connection.driver_connection
    if driver is None:
        raise BulkLoadError("the PostgreSQL connection has no driver connection")
    with driver.cursor() as cursor, cursor.copy(sql) as copy:
        copy.set_types(types)
        for start, stop in _chunks(len(frame), chunk_rows):
            _, rows = frame_rows(table, frame, dialect="postgresql", start=start, stop=stop)
            for row in rows:
                copy.write_row(row)
    return len(frame)


def reset_id_sequence(conn: Connection, table: Table, column: str = "id") -> None:
    """PostgreSQL: move ``table``'s serial sequence past the largest ``column`` value, so
    rows inserted later (without an explicit id) do not collide with bulk-loaded ids."""
    if conn.dialect.name != "postgresql" or column not in table.c:
        return
    quoted = _pg_quote(table.name)
    conn.exec_driver_sql(
        f"SELECT setval(pg_get_serial_sequence(%(t)s, %(c)s), "
        f"COALESCE((SELECT MAX({_pg_quote(column)}) FROM {quoted}), 0) + 1, false) "
        "WHERE pg_get_serial_sequence(%(t)s, %(c)s) IS NOT NULL",
        {"t": quoted, "c": column},
    )


@contextmanager
def sqlite_bulk_connection(engine: Engine) -> Iterator[Connection]:
    """A SQLite connection set up for a bulk load, inside one explicit transaction.

    Sets :data:`SQLITE_BULK_PRAGMAS` (``foreign_keys`` before ``BEGIN``, since SQLite
    ignores it inside a transaction), commits on success, rolls back on error, and
    restores the PRAGMAs before the connection goes back to the pool."""
    with engine.connect() as conn:
        for pragma, (value, _restore) in SQLITE_BULK_PRAGMAS.items():
            conn.exec_driver_sql(f"PRAGMA {pragma}={value}")
        try:
            conn.exec_driver_sql("BEGIN")
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            for pragma, (_value, restore) in SQLITE_BULK_PRAGMAS.items():
                conn.exec_driver_sql(f"PRAGMA {pragma}={restore}")


@contextmanager
def bulk_connection(engine: Engine) -> Iterator[Connection]:
    """One transaction for a bulk load on either dialect (SQLite gets its PRAGMAs)."""
    if engine.dialect.name == "sqlite":
        with sqlite_bulk_connection(engine) as conn:
            yield conn
    else:
        with engine.begin() as conn:
            yield conn


def load_frame(conn: Connection, item: BulkLoad, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> int:
    """Load one :class:`BulkLoad` on ``conn`` (inside the caller's transaction)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        loader = insert_frame_sqlite
    elif dialect == "postgresql":
        loader = copy_frame_postgres
    else:
        raise BulkLoadError(f"bulk loading is implemented for SQLite and PostgreSQL, not {dialect}")
    try:
        if item.defer_indexes and not item.frame.empty:
            only = item.defer_indexes if isinstance(item.defer_indexes, tuple) else None
            with deferred_indexes(conn, item.table.name, only):
                rows = loader(conn, item.table, item.frame, chunk_rows=chunk_rows)
        else:
            rows = loader(conn, item.table, item.frame, chunk_rows=chunk_rows)
    except (DBAPIError, psycopg.Error) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        raise BulkLoadError(f"loading {item.table.name} failed: {reason}") from exc
    if "id" in item.frame.columns:
        reset_id_sequence(conn, item.table)
    return rows


def bulk_load(
    engine: Engine,
    loads: Sequence[BulkLoad],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    prepare: Callable[[Connection], None] | None = None,
) -> BulkReport:
    """Load every frame in ``loads`` (in order: parents before children) in one
    transaction. ``prepare``, when given, runs first on the same connection and inside the
    same transaction (e.g. to clear the tables being replaced). Returns rows and seconds
    per table."""
    report = BulkReport()
    started = time.perf_counter()
    with bulk_connection(engine) as conn:
        if prepare is not None:
            prepare(conn)
        for item in loads:
            table_started = time.perf_counter()
            report.rows[item.table.name] = load_frame(conn, item, chunk_rows=chunk_rows)
            report.seconds[item.table.name] = time.perf_counter() - table_started
    report.total_seconds = time.perf_counter() - started
    return report


def clear_tables(conn: Connection, tables: Sequence[Table]) -> None:
    """Delete every row of ``tables`` (children first) in the caller's transaction.

    PostgreSQL truncates them in one statement (and restarts their id sequences), which
    requires every table holding a foreign key to one of them to be in ``tables`` too;
    SQLite deletes table by table in the given order (with foreign keys off during a bulk
    load, a ``DELETE`` without ``WHERE`` is a fast truncate)."""
    if not tables:
        return
    if conn.dialect.name == "postgresql":
        names = ", ".join(_pg_quote(t.name) for t in tables)
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY")
        return
    for table in tables:
        conn.exec_driver_sql(f'DELETE FROM "{table.name}"')
