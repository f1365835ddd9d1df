"""A rep's book as the answers need it: insight rows joined with account names and owners.

One SQL statement per question (filtered by owner in the database, never by loading
every account), returning small DataFrames ordered the way the answer lists them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Select, func, or_, select, tuple_
from sqlalchemy.engine import Engine

from store.models import (
    Account,
    AccountHealth,
    CategoryHealth,
    Product,
    Recommendation,
    Rep,
    ScoreRun,
)

A = Account.__table__  # type: ignore[attr-defined]
H = AccountHealth.__table__  # type: ignore[attr-defined]
C = CategoryHealth.__table__  # type: ignore[attr-defined]
R = Recommendation.__table__  # type: ignore[attr-defined]
P = Product.__table__  # type: ignore[attr-defined]
REP = Rep.__table__  # type: ignore[attr-defined]
RUN = ScoreRun.__table__  # type: ignore[attr-defined]

FLAGGED_STATUSES = ("slipping", "lapsed")


def _owned(
    query: Select, owner_ids: Iterable[int] | None, account_ids: Iterable[int] = ()
) -> Select:
    """Rows of the accounts in the owners' books: those they own, and ``account_ids``
    (shared with them: a deal they own on it, or a seat on its account team)."""
    if owner_ids is None:
        return query
    owned = A.c.owner_id.in_([int(o) for o in owner_ids])
    shared = sorted({int(a) for a in account_ids})
    if not shared:
        return query.where(owned)
    return query.where(or_(owned, A.c.id.in_(shared)))


def _frame(engine: Engine, query: Select) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame.from_records(result.fetchall(), columns=list(result.keys()))


@dataclass(frozen=True)
class FlaggedPage:
    rows: pd.DataFrame
    """account_id, external_id, name, segment, owner_id, owner_name, status, score,
    revenue_at_risk, annual_revenue, cycle_days, days_since_last_order, spend_change, reason, as_of"""
    total: int
    total_revenue_at_risk: float
    accounts_in_book: int


def flagged_accounts(
    engine: Engine,
    *,
    owner_ids: Iterable[int] | None,
    account_ids: Iterable[int] = (),
    statuses: Iterable[str] = FLAGGED_STATUSES,
    exclude_account_ids: Iterable[int] = (),
    limit: int = 5,
    offset: int = 0,
) -> FlaggedPage:
    """Accounts in the owners' books (``account_ids``: shared with them) whose health status
    is in ``statuses``, largest revenue at risk first."""
    owners = list(owner_ids) if owner_ids is not None else None
    shared = list(account_ids)
    excluded = [int(a) for a in exclude_account_ids]
    status_list = list(statuses)
    base = (
        select(H)
        .select_from(H.join(A, A.c.id == H.c.account_id))
        .where(H.c.status.in_(status_list))
    )
    base = _owned(base, owners, shared)
    if excluded:
        base = base.where(H.c.account_id.not_in(excluded))
    rows_query = (
        select(
            H.c.account_id,
            A.c.external_id,
            A.c.name,
            A.c.segment,
            A.c.owner_id,
            REP.c.name.label("owner_name"),
            H.c.status,
            H.c.score,
            H.c.revenue_at_risk,
            H.c.annual_revenue,
            H.c.cycle_days,
            H.c.days_since_last_order,
            H.c.spend_change,
            H.c.reason,
            H.c.as_of,
        )
        .select_from(H.join(A, A.c.id == H.c.account_id).outerjoin(REP, REP.c.id == A.c.owner_id))
        .where(H.c.status.in_(status_list))
        .order_by(H.c.revenue_at_risk.desc(), H.c.account_id)
        .limit(limit)
        .offset(offset)
    )
    rows_query = _owned(rows_query, owners, shared)
    if excluded:
        rows_query = rows_query.where(H.c.account_id.not_in(excluded))
    sub = base.subquery()
    totals = select(func.count(), func.coalesce(func.sum(sub.c.revenue_at_risk), 0.0)).select_from(
        sub
    )
    book = _owned(select(func.count()).select_from(A), owners, shared)
    with engine.connect() as conn:
        total, risk = conn.execute(totals).one()
        in_book = conn.execute(book).scalar_one()
    return FlaggedPage(
        rows=_frame(engine, rows_query),
        total=int(total),
        total_revenue_at_risk=float(risk),
        accounts_in_book=int(in_book),
    )


def flagged_categories(
    engine: Engine,
    *,
    owner_ids: Iterable[int] | None,
    account_ids: Iterable[int] = (),
    categories: Iterable[str] | None = None,
    statuses: Iterable[str] = FLAGGED_STATUSES,
    account_statuses: Iterable[str] | None = ("healthy", "watch"),
    exclude_account_ids: Iterable[int] = (),
    limit: int = 5,
    offset: int = 0,
) -> FlaggedPage:
    """Account x category rows flagged while the account as a whole still buys
    (``account_statuses``; None: whatever the account's status), largest revenue at risk
    first. Rows: account_id, name, owner_id, category, status, score, revenue_at_risk,
    cycle_days, days_since_last_order, reason, as_of, account_status."""
    query = (
        select(
            C.c.account_id,
            A.c.name,
            A.c.owner_id,
            C.c.category,
            C.c.status,
            C.c.score,
            C.c.revenue_at_risk,
            C.c.cycle_days,
            C.c.days_since_last_order,
            C.c.reason,
            C.c.as_of,
            H.c.status.label("account_status"),
        )
        .select_from(
            C.join(A, A.c.id == C.c.account_id).outerjoin(H, H.c.account_id == C.c.account_id)
        )
        .where(C.c.status.in_(list(statuses)))
    )
    shared = list(account_ids)
    query = _owned(query, owner_ids, shared)
    if categories is not None:
        query = query.where(C.c.category.in_(list(categories)))
    if account_statuses is not None:
        query = query.where(H.c.status.in_(list(account_statuses)))
    excluded = [int(a) for a in exclude_account_ids]
    if excluded:
        query = query.where(C.c.account_id.not_in(excluded))
    sub = query.subquery()
    totals = select(func.count(), func.coalesce(func.sum(sub.c.revenue_at_risk), 0.0)).select_from(
        sub
    )
    book = _owned(select(func.count()).select_from(A), owner_ids, shared)
    with engine.connect() as conn:
        total, risk = conn.execute(totals).one()
        in_book = conn.execute(book).scalar_one()
    order = (C.c.revenue_at_risk.desc(), C.c.account_id, C.c.category)
    # the page's keys are ranked from the index alone, then only its rows are read whole
    ranked = query.with_only_columns(C.c.account_id, C.c.category)
    ranked = ranked.order_by(*order).limit(limit).offset(offset)
    page = query.where(tuple_(C.c.account_id, C.c.category).in_(ranked)).order_by(*order)
    return FlaggedPage(
        rows=_frame(engine, page),
        total=int(total),
        total_revenue_at_risk=float(risk),
        accounts_in_book=int(in_book),
    )


def account_health(engine: Engine, account_id: int) -> dict[str, object] | None:
    """The stored health row of one account (with its JSON details), or None if not scored."""
    with engine.connect() as conn:
        row = conn.execute(select(H).where(H.c.account_id == account_id)).mappings().first()
    return dict(row) if row is not None else None


def category_health(engine: Engine, account_id: int) -> pd.DataFrame:
    """Stored category rows of one account, largest annual revenue at risk first."""
    query = (
        select(C)
        .where(C.c.account_id == account_id)
        .order_by(C.c.revenue_at_risk.desc(), C.c.category)
    )
    return _frame(engine, query)


def recommendations(engine: Engine, account_id: int) -> pd.DataFrame:
    """Stored recommendations of one account by rank, with the product's name."""
    query = (
        select(
            R.c.account_id,
            R.c.rank,
            R.c.kind,
            R.c.category,
            R.c.product_id,
            P.c.name.label("product"),
            R.c.expected_value,
            R.c.peer_share,
            R.c.reason,
            R.c.as_of,
        )
        .select_from(R.outerjoin(P, P.c.id == R.c.product_id))
        .where(R.c.account_id == account_id)
        .order_by(R.c.rank)
    )
    return _frame(engine, query)


def top_recommendations(
    engine: Engine,
    *,
    owner_ids: Iterable[int] | None,
    exclude_account_ids: Iterable[int] = (),
    limit: int = 5,
    account_ids: Iterable[int] = (),
) -> pd.DataFrame:
    """The best pitch (rank 1) of each account of the owners (and of ``account_ids`` shared
    with them), largest expected value first."""
    query = (
        select(
            R.c.account_id,
            A.c.name,
            A.c.owner_id,
            R.c.kind,
            R.c.category,
            P.c.name.label("product"),
            R.c.expected_value,
            R.c.reason,
        )
        .select_from(R.join(A, A.c.id == R.c.account_id).outerjoin(P, P.c.id == R.c.product_id))
        .where(R.c.rank == 1)
        .order_by(R.c.expected_value.desc(), R.c.account_id)
        .limit(limit)
    )
    query = _owned(query, owner_ids, account_ids)
    excluded = [int(a) for a in exclude_account_ids]
    if excluded:
        query = query.where(R.c.account_id.not_in(excluded))
    return _frame(engine, query)


def best_pitch_totals(
    engine: Engine, *, owner_ids: Iterable[int] | None, account_ids: Iterable[int] = ()
) -> tuple[int, float]:
    """How many accounts of the owners' books have a pitch, and the expected yearly value
    of their best pitches (rank 1) together."""
    query = _owned(
        select(func.count(), func.coalesce(func.sum(R.c.expected_value), 0.0))
        .select_from(R.join(A, A.c.id == R.c.account_id))
        .where(R.c.rank == 1),
        owner_ids,
        account_ids,
    )
    with engine.connect() as conn:
        count, total = conn.execute(query).one()
    return int(count or 0), float(total or 0.0)


def known_categories(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [
            str(c)
            for c in conn.execute(select(P.c.category).distinct().order_by(P.c.category)).scalars()
        ]


def last_scored(engine: Engine) -> dict[str, object] | None:
    """The newest finished score run (id, as_of, finished_at, accounts_scored) or None."""
    query = select(RUN).where(RUN.c.finished_at.is_not(None)).order_by(RUN.c.id.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None
