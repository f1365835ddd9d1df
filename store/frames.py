"""SQL -> DataFrames for analytics.

Every loader runs one SQL statement (no ORM objects, no row loops) and returns a
DataFrame with documented columns and dtypes. Date columns come back as
``datetime64[ns]`` (calendar days at midnight), ids as ``int64`` (nullable ids as
``Int64``). Filters are optional keyword arguments; ``None`` means "everything".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Engine

ORDER_LINE_COLUMNS = [
    "account_id",
    "order_id",
    "order_date",
    "product_id",
    "category",
    "quantity",
    "amount",
]
ACCOUNT_COLUMNS = [
    "account_id", "external_id", "name", "owner_id", "segment", "industry", "region", "country",
    "size", "employees", "annual_revenue", "pricing_tier", "created_date",
]  # fmt: skip
PRODUCT_COLUMNS = ["product_id", "external_id", "name", "category", "subcategory", "unit_price"]
REP_COLUMNS = [
    "rep_id",
    "external_id",
    "name",
    "email",
    "role",
    "manager_id",
    "slack_user_id",
    "timezone",
]
OPPORTUNITY_COLUMNS = [
    "opportunity_id", "external_id", "name", "account_id", "owner_id", "amount", "stage",
    "created_date", "close_date", "is_closed", "is_won", "source", "forecast_category", "lead_id",
    "next_step",
]  # fmt: skip
STAGE_HISTORY_COLUMNS = ["opportunity_id", "stage", "entered_date", "amount"]
LEAD_COLUMNS = [
    "lead_id", "external_id", "company", "source", "segment", "industry", "region", "employees",
    "status", "created_date", "converted_date", "owner_id", "account_id",
]  # fmt: skip
ACTIVITY_COLUMNS = [
    "activity_id", "kind", "occurred_at", "rep_id", "account_id", "opportunity_id", "lead_id",
    "contact_id", "until_date",
]  # fmt: skip
TARGET_COLUMNS = ["rep_id", "period_start", "period_end", "metric", "amount"]
CONTACT_COLUMNS = ["contact_id", "account_id", "name", "title", "buying_role"]
FLAG_COLUMNS = [
    "call_id",
    "rep_id",
    "account_id",
    "started_at",
    "category",
    "tracker",
    "speaker",
    "created_at",
]


def _in_clause(column: str, name: str, values: Iterable[Any] | None, params: dict[str, Any]) -> str:
    """SQL fragment ``AND column IN (:name_0, ...)``; empty filter matches nothing."""
    if values is None:
        return ""
    items = list(dict.fromkeys(values))
    if not items:
        return " AND 1 = 0"
    keys = []
    for i, value in enumerate(items):
        key = f"{name}_{i}"
        params[key] = int(value) if isinstance(value, np.integer) else value
        keys.append(f":{key}")
    return f" AND {column} IN ({', '.join(keys)})"


def _read(engine: Engine, sql: str, params: dict[str, Any], columns: Sequence[str]) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(text(sql), params)
        # plain tuples: building a frame from Row objects costs several times more
        rows = [tuple(row) for row in result]
    return pd.DataFrame.from_records(rows, columns=list(columns))


def _dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], errors="coerce").astype("datetime64[ns]")
    return frame


def _timestamps(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True, errors="coerce").dt.tz_convert(None)
        frame[column] = frame[column].astype("datetime64[ns]")
    return frame


def _ids(
    frame: pd.DataFrame, required: Sequence[str] = (), nullable: Sequence[str] = ()
) -> pd.DataFrame:
    for column in required:
        frame[column] = frame[column].astype("int64")
    for column in nullable:
        frame[column] = pd.array(frame[column], dtype="Int64")
    return frame


ORDER_LINE_CHUNK_ROWS = 500_000
"""Order lines read and converted at a time (bounds the memory of reading a whole company)."""


def _day_number_sql(engine: Engine, column: str) -> str:
    """SQL for a DATE column as whole days since 1970-01-01 (one integer per row is far cheaper
    to fetch and convert than a date string or a driver date object)."""
    if engine.dialect.name == "sqlite":
        return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"
    return f"({column} - DATE '1970-01-01')"


def order_lines(
    engine: Engine,
    *,
    account_ids: Iterable[int] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """Order lines, one row per line.

    Columns: ``account_id``, ``order_id``, ``order_date`` (datetime64), ``product_id``,
    ``category`` (the product's category, categorical over every product category),
    ``quantity`` (float), ``amount`` (float, net of discount). ``start``/``end`` bound
    ``order_date`` inclusively.
    """
    params: dict[str, Any] = {}
    where = _in_clause("l.account_id", "acc", account_ids, params)
    if start is not None:
        where += " AND l.order_date >= :start"
        params["start"] = start
    if end is not None:
        where += " AND l.order_date <= :end"
        params["end"] = end
    # numbers only: the category comes from the product table, the date as a day number
    sql = (
        f"SELECT l.account_id, l.order_id, {_day_number_sql(engine, 'l.order_date')}, "
        "l.product_id, l.quantity, l.amount FROM order_line l WHERE 1 = 1" + where
    )
    parts: list[np.ndarray] = []
    with engine.connect() as conn:
        catalogue = conn.execute(text("SELECT id, category FROM product")).all()
        result = conn.execute(text(sql), params)
        # the driver's own tuples, a chunk at a time: one float array per chunk (a whole
        # company's rows as Python objects would take gigabytes)
        cursor = result.cursor
        while rows := cursor.fetchmany(ORDER_LINE_CHUNK_ROWS):
            parts.append(np.array(rows, dtype=np.float64).reshape(len(rows), 6))
        result.close()
    values = np.vstack(parts) if parts else np.zeros((0, 6))
    product_ids = np.array([int(r[0]) for r in catalogue], dtype=np.int64)
    names = np.array([str(r[1]) for r in catalogue], dtype=object)
    categories = sorted(set(names.tolist()))
    codes_by_product = pd.Series(
        pd.Index(categories).get_indexer(names) if len(names) else [], index=product_ids
    )
    product = values[:, 3].astype(np.int64)
    codes = codes_by_product.reindex(product).fillna(-1).to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "account_id": values[:, 0].astype(np.int64),
            "order_id": values[:, 1].astype(np.int64),
            "order_date": values[:, 2]
            .astype(np.int64)
            .astype("datetime64[D]")
            .astype("datetime64[ns]"),
            "product_id": product,
            "category": pd.Categorical.from_codes(codes, categories=categories),
            "quantity": values[:, 4],
            "amount": values[:, 5],
        },
        columns=ORDER_LINE_COLUMNS,
    )


def accounts(
    engine: Engine,
    *,
    account_ids: Iterable[int] | None = None,
    owner_ids: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Accounts. Columns: see ``ACCOUNT_COLUMNS``; ``owner_id`` is nullable (``Int64``)."""
    params: dict[str, Any] = {}
    where = _in_clause("id", "acc", account_ids, params) + _in_clause(
        "owner_id", "own", owner_ids, params
    )
    sql = (
        "SELECT id, external_id, name, owner_id, segment, industry, region, country, size, employees, "
        "annual_revenue, pricing_tier, created_date FROM account WHERE 1 = 1"
        + where
        + " ORDER BY id"
    )
    frame = _read(engine, sql, params, ACCOUNT_COLUMNS)
    return _ids(
        _dates(frame, "created_date"), required=["account_id"], nullable=["owner_id", "employees"]
    )


def products(engine: Engine) -> pd.DataFrame:
    """Products. Columns: ``product_id``, ``external_id``, ``name``, ``category``, ``subcategory``, ``unit_price``."""
    sql = "SELECT id, external_id, name, category, subcategory, unit_price FROM product ORDER BY id"
    return _ids(_read(engine, sql, {}, PRODUCT_COLUMNS), required=["product_id"])


def reps(engine: Engine) -> pd.DataFrame:
    """Reps. Columns: ``rep_id``, ``external_id``, ``name``, ``email``, ``role``, ``manager_id`` (Int64), ``slack_user_id``, ``timezone``."""
    sql = "SELECT id, external_id, name, email, role, manager_id, slack_user_id, timezone FROM rep ORDER BY id"
    return _ids(_read(engine, sql, {}, REP_COLUMNS), required=["rep_id"], nullable=["manager_id"])


def opportunities(
    engine: Engine,
    *,
    owner_ids: Iterable[int] | None = None,
    account_ids: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Opportunities. ``close_date`` is the expected close for open deals and the actual
    close for closed ones. Columns: see ``OPPORTUNITY_COLUMNS``."""
    params: dict[str, Any] = {}
    where = _in_clause("owner_id", "own", owner_ids, params) + _in_clause(
        "account_id", "acc", account_ids, params
    )
    sql = (
        "SELECT id, external_id, name, account_id, owner_id, amount, stage, created_date, close_date, "
        "is_closed, is_won, source, forecast_category, lead_id, next_step FROM opportunity WHERE 1 = 1"
        + where
        + " ORDER BY id"
    )
    frame = _read(engine, sql, params, OPPORTUNITY_COLUMNS)
    frame = _dates(frame, "created_date", "close_date")
    frame["is_closed"] = frame["is_closed"].astype(bool)
    frame["is_won"] = frame["is_won"].astype(bool)
    frame["amount"] = frame["amount"].astype("float64")
    return _ids(frame, required=["opportunity_id", "account_id"], nullable=["owner_id", "lead_id"])


def stage_history(engine: Engine, *, opportunity_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Stage entries. Columns: ``opportunity_id``, ``stage``, ``entered_date``, ``amount``."""
    params: dict[str, Any] = {}
    where = _in_clause("opportunity_id", "opp", opportunity_ids, params)
    sql = (
        "SELECT opportunity_id, stage, entered_date, amount FROM opportunity_stage_history WHERE 1 = 1"
        + where
        + " ORDER BY opportunity_id, entered_date, id"
    )
    frame = _read(engine, sql, params, STAGE_HISTORY_COLUMNS)
    return _ids(_dates(frame, "entered_date"), required=["opportunity_id"])


def leads(engine: Engine, *, owner_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Leads. Columns: see ``LEAD_COLUMNS``."""
    params: dict[str, Any] = {}
    where = _in_clause("owner_id", "own", owner_ids, params)
    sql = (
        "SELECT id, external_id, company, source, segment, industry, region, employees, status, "
        "created_date, converted_date, owner_id, account_id FROM lead WHERE 1 = 1"
        + where
        + " ORDER BY id"
    )
    frame = _read(engine, sql, params, LEAD_COLUMNS)
    frame = _dates(frame, "created_date", "converted_date")
    return _ids(frame, required=["lead_id"], nullable=["owner_id", "account_id", "employees"])


def activities(
    engine: Engine,
    *,
    rep_ids: Iterable[int] | None = None,
    account_ids: Iterable[int] | None = None,
    opportunity_ids: Iterable[int] | None = None,
    since: dt.datetime | None = None,
) -> pd.DataFrame:
    """Activities. Columns: see ``ACTIVITY_COLUMNS``; ``occurred_at`` is naive UTC datetime64."""
    params: dict[str, Any] = {}
    where = (
        _in_clause("rep_id", "rep", rep_ids, params)
        + _in_clause("account_id", "acc", account_ids, params)
        + _in_clause("opportunity_id", "opp", opportunity_ids, params)
    )
    if since is not None:
        where += " AND occurred_at >= :since"
        params["since"] = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    sql = (
        "SELECT id, kind, occurred_at, rep_id, account_id, opportunity_id, lead_id, contact_id, until_date "
        "FROM activity WHERE 1 = 1" + where + " ORDER BY occurred_at, id"
    )
    frame = _read(engine, sql, params, ACTIVITY_COLUMNS)
    frame = _dates(_timestamps(frame, "occurred_at"), "until_date")
    return _ids(
        frame,
        required=["activity_id"],
        nullable=["rep_id", "account_id", "opportunity_id", "lead_id", "contact_id"],
    )


def targets(engine: Engine, *, rep_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Quotas. Columns: ``rep_id``, ``period_start``, ``period_end``, ``metric``, ``amount``."""
    params: dict[str, Any] = {}
    where = _in_clause("rep_id", "rep", rep_ids, params)
    sql = (
        "SELECT rep_id, period_start, period_end, metric, amount FROM target WHERE 1 = 1"
        + where
        + " ORDER BY rep_id, period_start"
    )
    frame = _read(engine, sql, params, TARGET_COLUMNS)
    return _ids(_dates(frame, "period_start", "period_end"), required=["rep_id"])


def contacts(engine: Engine, *, account_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Contacts. Columns: ``contact_id``, ``account_id``, ``name``, ``title``, ``buying_role``."""
    params: dict[str, Any] = {}
    where = _in_clause("account_id", "acc", account_ids, params)
    sql = (
        "SELECT id, account_id, name, title, buying_role FROM contact WHERE 1 = 1"
        + where
        + " ORDER BY id"
    )
    return _ids(_read(engine, sql, params, CONTACT_COLUMNS), required=["contact_id", "account_id"])


def coaching_flags(
    engine: Engine,
    *,
    rep_ids: Iterable[int] | None = None,
    since: dt.datetime | None = None,
) -> pd.DataFrame:
    """Coaching flags with their call. Columns: see ``FLAG_COLUMNS`` (timestamps naive UTC)."""
    params: dict[str, Any] = {}
    where = _in_clause("c.rep_id", "rep", rep_ids, params)
    if since is not None:
        where += " AND c.started_at >= :since"
        params["since"] = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    sql = (
        "SELECT f.call_id, c.rep_id, c.account_id, c.started_at, f.category, f.tracker, f.speaker, f.created_at "
        "FROM coaching_flag f JOIN call c ON c.id = f.call_id WHERE 1 = 1"
        + where
        + " ORDER BY c.started_at, f.id"
    )
    frame = _read(engine, sql, params, FLAG_COLUMNS)
    frame = _timestamps(frame, "started_at", "created_at")
    return _ids(frame, required=["call_id"], nullable=["rep_id", "account_id"])
