"""Insight tables: write and read account health, category health and recommendations.

A batch scoring run (``salesbot score``) opens a :class:`~store.models.ScoreRun`, replaces
the rows of the three insight tables in bulk (one transaction per table, ``DELETE`` then a
driver-level bulk insert: executemany on SQLite, ``COPY`` on PostgreSQL) and closes the run
with its counts. An on-demand refresh replaces the rows of some accounts only
(``account_ids``).

Frames use the tables' column names. Columns of a frame that the table lacks are ignored,
except for ``account_health`` where they are kept in its JSON ``details`` column (for
example ``spend_change_ly``, ``orders``, ``first_order``, ``last_order``). Readers return
DataFrames with the tables' columns (dates as ``datetime64[ns]``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.engine import Connection, Engine

from store.bulk import copy_frame_postgres, insert_frame_sqlite
from store.models import AccountHealth, CategoryHealth, Recommendation, ScoreRun, utcnow

ACCOUNT_HEALTH_TABLE: Table = AccountHealth.__table__  # type: ignore[attr-defined]
CATEGORY_HEALTH_TABLE: Table = CategoryHealth.__table__  # type: ignore[attr-defined]
RECOMMENDATION_TABLE: Table = Recommendation.__table__  # type: ignore[attr-defined]
SCORE_RUN_TABLE: Table = ScoreRun.__table__  # type: ignore[attr-defined]


class InsightFrameError(ValueError):
    """A frame cannot be stored in an insight table (a required column is missing)."""


def start_run(engine: Engine, as_of: dt.date) -> int:
    """Open a scoring run for ``as_of``; returns its id."""
    with engine.begin() as conn:
        result = conn.execute(
            SCORE_RUN_TABLE.insert()
            .values(as_of=as_of, started_at=utcnow(), accounts_scored=0, recommendations=0)
            .returning(SCORE_RUN_TABLE.c.id)
        )
        return int(result.scalar_one())


def finish_run(
    engine: Engine,
    run_id: int,
    *,
    accounts_scored: int,
    recommendations: int,
    backtest: dict[str, Any] | None = None,
) -> None:
    """Record the end of a scoring run, what it wrote and its backtest (JSON-ready)."""
    with engine.begin() as conn:
        conn.execute(
            update(SCORE_RUN_TABLE)
            .where(SCORE_RUN_TABLE.c.id == run_id)
            .values(
                finished_at=utcnow(),
                accounts_scored=int(accounts_scored),
                recommendations=int(recommendations),
                backtest=backtest,
            )
        )


def latest_run(engine: Engine) -> dict[str, Any] | None:
    """The newest finished run (id, as_of, started_at, finished_at, counts), or None."""
    with engine.connect() as conn:
        newest = (
            select(func.max(SCORE_RUN_TABLE.c.id))
            .where(SCORE_RUN_TABLE.c.finished_at.is_not(None))
            .scalar_subquery()
        )
        row = conn.execute(select(SCORE_RUN_TABLE).where(SCORE_RUN_TABLE.c.id == newest)).first()
    return dict(row._mapping) if row is not None else None


# --------------------------------------------------------------------------- writing


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp | dt.date):
        return None if pd.isna(value) else value.isoformat()[:10]
    return value


def _table_frame(
    table: Table, frame: pd.DataFrame, *, run_id: int | None, as_of: dt.date, details: bool
) -> pd.DataFrame:
    required = [
        c.name
        for c in table.c
        if not c.nullable and c.default is None and c.name not in ("run_id", "as_of")
    ]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InsightFrameError(
            f"the frame for {table.name} lacks the column(s) {', '.join(missing)}"
        )
    columns = [c.name for c in table.c if c.name in frame.columns and c.name != "details"]
    out = frame[columns].copy()
    out["run_id"] = run_id
    out["as_of"] = pd.Timestamp(as_of)
    if details:
        extra = [c for c in frame.columns if c not in table.c]
        if extra:
            values = frame[extra].astype(object).to_numpy()
            out["details"] = [
                {k: _json_value(v) for k, v in zip(extra, row, strict=True)} for row in values
            ]
    for column in ("product_id",):
        if column in out.columns:
            out[column] = pd.array(out[column], dtype="Int64")
    return out


def _replace(
    engine: Engine,
    table: Table,
    frame: pd.DataFrame,
    *,
    run_id: int | None,
    as_of: dt.date,
    account_ids: Iterable[int] | None,
    details: bool = False,
) -> int:
    rows = _table_frame(table, frame, run_id=run_id, as_of=as_of, details=details)
    with engine.begin() as conn:
        _delete(conn, table, account_ids)
        if conn.dialect.name == "postgresql":
            return copy_frame_postgres(conn, table, rows)
        return insert_frame_sqlite(conn, table, rows)


def _delete(conn: Connection, table: Table, account_ids: Iterable[int] | None) -> None:
    if account_ids is None:
        conn.execute(delete(table))
        return
    ids = [int(a) for a in account_ids]
    for start in range(0, len(ids), 5_000):  # bounded IN lists
        conn.execute(delete(table).where(table.c.account_id.in_(ids[start : start + 5_000])))


def replace_account_health(
    engine: Engine,
    frame: pd.DataFrame,
    *,
    as_of: dt.date,
    run_id: int | None = None,
    account_ids: Iterable[int] | None = None,
) -> int:
    """Replace account health rows (all, or those of ``account_ids``) with ``frame``.

    ``frame`` needs ``account_id``, ``status``, ``score``, ``reason``; optional
    ``revenue_at_risk``, ``annual_revenue``, ``cycle_days``, ``days_since_last_order``,
    ``spend_change``; other columns go into ``details``. Returns the rows written.
    """
    return _replace(
        engine,
        ACCOUNT_HEALTH_TABLE,
        frame,
        run_id=run_id,
        as_of=as_of,
        account_ids=account_ids,
        details=True,
    )


def replace_category_health(
    engine: Engine,
    frame: pd.DataFrame,
    *,
    as_of: dt.date,
    run_id: int | None = None,
    account_ids: Iterable[int] | None = None,
) -> int:
    """Replace category health rows (``account_id``, ``category``, ``status``, ``score``,
    ``reason``; optional ``revenue_at_risk``, ``cycle_days``, ``days_since_last_order``)."""
    return _replace(
        engine, CATEGORY_HEALTH_TABLE, frame, run_id=run_id, as_of=as_of, account_ids=account_ids
    )


def replace_recommendations(
    engine: Engine,
    frame: pd.DataFrame,
    *,
    as_of: dt.date,
    run_id: int | None = None,
    account_ids: Iterable[int] | None = None,
) -> int:
    """Replace recommendation rows (``account_id``, ``rank``, ``kind``, ``category``,
    ``expected_value``, ``reason``; optional ``product_id``, ``peer_share``)."""
    return _replace(
        engine, RECOMMENDATION_TABLE, frame, run_id=run_id, as_of=as_of, account_ids=account_ids
    )


# --------------------------------------------------------------------------- reading


def _read(
    engine: Engine,
    table: Table,
    account_ids: Iterable[int] | None,
    order_by: list[str],
    where: Any = None,
) -> pd.DataFrame:
    query = select(table)
    if account_ids is not None:
        query = query.where(table.c.account_id.in_([int(a) for a in account_ids]))
    if where is not None:
        query = query.where(where)
    query = query.order_by(*(table.c[c] for c in order_by))
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    frame = pd.DataFrame.from_records(rows, columns=[c.name for c in table.c])
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
    return frame


def read_account_health(
    engine: Engine,
    *,
    account_ids: Iterable[int] | None = None,
    statuses: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Account health rows (columns of ``account_health``), by revenue at risk, largest first."""
    where = ACCOUNT_HEALTH_TABLE.c.status.in_(list(statuses)) if statuses is not None else None
    frame = _read(engine, ACCOUNT_HEALTH_TABLE, account_ids, ["account_id"], where)
    return frame.sort_values(
        ["revenue_at_risk", "account_id"], ascending=[False, True], ignore_index=True
    )


def read_category_health(
    engine: Engine, *, account_ids: Iterable[int] | None = None
) -> pd.DataFrame:
    """Category health rows (columns of ``category_health``), by account and category."""
    return _read(engine, CATEGORY_HEALTH_TABLE, account_ids, ["account_id", "category"])


def read_recommendations(
    engine: Engine, *, account_ids: Iterable[int] | None = None
) -> pd.DataFrame:
    """Recommendations (columns of ``recommendation``), by account and rank; ``product_id``
    is nullable ``Int64``."""
    frame = _read(engine, RECOMMENDATION_TABLE, account_ids, ["account_id", "rank"])
    frame["product_id"] = pd.array(frame["product_id"], dtype="Int64")
    return frame
