"""What a team digest is computed from: the frames of one team, read in a few SQL statements.

:func:`team_frames` reads, for the reps of a team (``rep_ids``; ``None`` = the whole
company), the rows a digest needs, filtered by owner in the database (a team of a large
company never loads the other teams' accounts, activities or calls):

- ``reps``: every rep (names, managers, time zones; small).
- ``accounts``: the team's accounts (``account_id``, ``name``, ``owner_id``).
- ``opportunities`` / ``stage_history``: every deal of the company and its stage history.
  The stage model (stage order, win odds, typical days in stage) is learned from the whole
  company's history, as for the pipeline answers, so a team's numbers in the digest match
  what ``how does my pipeline look?`` says. Callers that keep these frames in memory
  already pass them in.
- ``activities``: activities on the team's accounts, on the team's deals or logged by the
  team's reps (columns of :func:`store.frames.activities`).
- ``targets``: the team's quotas (columns of :func:`store.frames.targets`).
- ``account_health``: the stored health of the team's accounts (``account_id``, ``status``,
  ``score``, ``revenue_at_risk``, ``annual_revenue``, ``days_since_last_order``,
  ``cycle_days``, ``reason``, ``as_of``), as the last ``salesbot score`` run wrote it.
- ``recommendations``: the stored pitches of the team's accounts (``account_id``, ``rank``,
  ``kind``, ``category``, ``product_id``, ``product``, ``expected_value``, ``reason``,
  ``as_of``).
- ``calls`` / ``coaching_flags``: the team's calls started on or after ``calls_since``
  (``call_id``, ``rep_id``, ``account_id``, ``started_at``) and their coaching flags
  (columns of :func:`store.frames.coaching_flags`).

Dates come back as ``datetime64[ns]`` days, timestamps as naive UTC ``datetime64[ns]``, ids
as ``int64`` (nullable ids ``Int64``), as in :mod:`store.frames`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Select, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from store import crud, frames
from store.models import (
    Account,
    AccountHealth,
    Activity,
    Call,
    CoachingFlag,
    Opportunity,
    Product,
    Recommendation,
    Rep,
    RepRole,
)

A = Account.__table__  # type: ignore[attr-defined]
ACT = Activity.__table__  # type: ignore[attr-defined]
CALL = Call.__table__  # type: ignore[attr-defined]
FLAG = CoachingFlag.__table__  # type: ignore[attr-defined]
H = AccountHealth.__table__  # type: ignore[attr-defined]
O = Opportunity.__table__  # type: ignore[attr-defined]  # noqa: E741
P = Product.__table__  # type: ignore[attr-defined]
R = Recommendation.__table__  # type: ignore[attr-defined]

HEALTH_COLUMNS = [
    "account_id", "status", "score", "revenue_at_risk", "annual_revenue", "days_since_last_order",
    "cycle_days", "reason", "as_of",
]  # fmt: skip
RECOMMENDATION_COLUMNS = [
    "account_id", "rank", "kind", "category", "product_id", "product", "expected_value", "reason",
    "as_of",
]  # fmt: skip
CALL_COLUMNS = ["call_id", "rep_id", "account_id", "started_at"]


@dataclass(frozen=True, eq=False)
class TeamFrames:
    """The frames of one team (see the module docstring)."""

    rep_ids: frozenset[int] | None
    reps: pd.DataFrame
    accounts: pd.DataFrame
    opportunities: pd.DataFrame
    stage_history: pd.DataFrame
    activities: pd.DataFrame
    targets: pd.DataFrame
    account_health: pd.DataFrame
    recommendations: pd.DataFrame
    calls: pd.DataFrame
    coaching_flags: pd.DataFrame

    def frames(self) -> dict[str, pd.DataFrame]:
        """The frames by the keyword names :func:`analytics.digest.build_digest` takes."""
        return {
            "reps": self.reps,
            "accounts": self.accounts,
            "opportunities": self.opportunities,
            "stage_history": self.stage_history,
            "activities": self.activities,
            "targets": self.targets,
            "account_health": self.account_health,
            "recommendations": self.recommendations,
            "calls": self.calls,
            "coaching_flags": self.coaching_flags,
        }


def team_of(engine: Engine, rep_id: int) -> frozenset[int] | None:
    """Whose numbers a digest for ``rep_id`` covers: a manager's team (recursively, with
    the manager), every rep for an admin (``None``), a rep's own book otherwise.
    Raises :class:`store.crud.UnknownRecordError` for an unknown rep."""
    with Session(engine) as session:
        rep = session.get(Rep, rep_id)
        if rep is None:
            raise crud.UnknownRecordError(f"rep {rep_id} is not in the store")
        if rep.role == RepRole.admin:
            return None
        if rep.role == RepRole.manager:
            return frozenset(crud.team_rep_ids(session, manager_id=rep_id))
        return frozenset({rep_id})


def _owned(query: Select, column: object, rep_ids: Collection[int] | None) -> Select:
    if rep_ids is None:
        return query
    return query.where(column.in_(sorted(int(r) for r in rep_ids)))  # type: ignore[attr-defined]


def _frame(engine: Engine, query: Select, columns: list[str]) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    return pd.DataFrame.from_records(rows, columns=columns)


def _days(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], errors="coerce").astype("datetime64[ns]")
    return frame


def _utc_naive(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        stamps = pd.to_datetime(frame[column], utc=True, errors="coerce").dt.tz_convert(None)
        frame[column] = stamps.astype("datetime64[ns]")
    return frame


def _account_ids_of(rep_ids: Collection[int] | None) -> Select:
    return _owned(select(A.c.id), A.c.owner_id, rep_ids)


def team_accounts(engine: Engine, rep_ids: Collection[int] | None) -> pd.DataFrame:
    """The team's accounts: ``account_id``, ``name``, ``owner_id`` (``Int64``)."""
    query = _owned(select(A.c.id, A.c.name, A.c.owner_id), A.c.owner_id, rep_ids)
    frame = _frame(engine, query.order_by(A.c.id), ["account_id", "name", "owner_id"])
    frame["account_id"] = frame["account_id"].astype("int64")
    frame["owner_id"] = pd.array(frame["owner_id"], dtype="Int64")
    return frame


def team_account_health(engine: Engine, rep_ids: Collection[int] | None) -> pd.DataFrame:
    """Stored health rows of the team's accounts (``HEALTH_COLUMNS``)."""
    query = select(*(H.c[c] for c in HEALTH_COLUMNS)).select_from(
        H.join(A, A.c.id == H.c.account_id)
    )
    frame = _frame(engine, _owned(query, A.c.owner_id, rep_ids), HEALTH_COLUMNS)
    frame["account_id"] = frame["account_id"].astype("int64")
    for column in ("score", "revenue_at_risk", "annual_revenue", "cycle_days"):
        frame[column] = frame[column].astype("float64")
    frame["days_since_last_order"] = pd.array(frame["days_since_last_order"], dtype="Int64")
    return _days(frame, "as_of")


def team_recommendations(engine: Engine, rep_ids: Collection[int] | None) -> pd.DataFrame:
    """Stored recommendations of the team's accounts with the product's name
    (``RECOMMENDATION_COLUMNS``), by account and rank."""
    query = (
        select(
            R.c.account_id,
            R.c.rank,
            R.c.kind,
            R.c.category,
            R.c.product_id,
            P.c.name.label("product"),
            R.c.expected_value,
            R.c.reason,
            R.c.as_of,
        )
        .select_from(R.join(A, A.c.id == R.c.account_id).outerjoin(P, P.c.id == R.c.product_id))
        .order_by(R.c.account_id, R.c.rank)
    )
    frame = _frame(engine, _owned(query, A.c.owner_id, rep_ids), RECOMMENDATION_COLUMNS)
    frame["account_id"] = frame["account_id"].astype("int64")
    frame["rank"] = frame["rank"].astype("int64")
    frame["product_id"] = pd.array(frame["product_id"], dtype="Int64")
    frame["expected_value"] = frame["expected_value"].astype("float64")
    return _days(frame, "as_of")


def team_activities(engine: Engine, rep_ids: Collection[int] | None) -> pd.DataFrame:
    """Activities on the team's accounts or deals, or logged by its reps
    (columns of :func:`store.frames.activities`)."""
    if rep_ids is None:
        return frames.activities(engine)
    reps = sorted(int(r) for r in rep_ids)
    deals = select(O.c.id).where(O.c.owner_id.in_(reps))
    query = (
        select(
            ACT.c.id,
            ACT.c.kind,
            ACT.c.occurred_at,
            ACT.c.rep_id,
            ACT.c.account_id,
            ACT.c.opportunity_id,
            ACT.c.lead_id,
            ACT.c.contact_id,
            ACT.c.until_date,
        )
        .where(
            or_(
                ACT.c.account_id.in_(_account_ids_of(reps)),
                ACT.c.opportunity_id.in_(deals),
                ACT.c.rep_id.in_(reps),
            )
        )
        .order_by(ACT.c.occurred_at, ACT.c.id)
    )
    frame = _frame(engine, query, frames.ACTIVITY_COLUMNS)
    frame = _days(_utc_naive(frame, "occurred_at"), "until_date")
    frame["activity_id"] = frame["activity_id"].astype("int64")
    for column in ("rep_id", "account_id", "opportunity_id", "lead_id", "contact_id"):
        frame[column] = pd.array(frame[column], dtype="Int64")
    return frame


def team_calls(
    engine: Engine, rep_ids: Collection[int] | None, *, since: dt.datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The team's calls started on or after ``since`` (``CALL_COLUMNS``) and their coaching
    flags (``store.frames.FLAG_COLUMNS``), both by start time."""
    since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    calls_query = _owned(
        select(CALL.c.id, CALL.c.rep_id, CALL.c.account_id, CALL.c.started_at).where(
            CALL.c.started_at >= since
        ),
        CALL.c.rep_id,
        rep_ids,
    ).order_by(CALL.c.started_at, CALL.c.id)
    calls = _utc_naive(_frame(engine, calls_query, CALL_COLUMNS), "started_at")
    calls["call_id"] = calls["call_id"].astype("int64")
    for column in ("rep_id", "account_id"):
        calls[column] = pd.array(calls[column], dtype="Int64")
    flags_query = _owned(
        select(
            FLAG.c.call_id,
            CALL.c.rep_id,
            CALL.c.account_id,
            CALL.c.started_at,
            FLAG.c.category,
            FLAG.c.tracker,
            FLAG.c.speaker,
            FLAG.c.created_at,
        )
        .select_from(FLAG.join(CALL, CALL.c.id == FLAG.c.call_id))
        .where(CALL.c.started_at >= since),
        CALL.c.rep_id,
        rep_ids,
    ).order_by(CALL.c.started_at, FLAG.c.id)
    flags = _utc_naive(_frame(engine, flags_query, frames.FLAG_COLUMNS), "started_at", "created_at")
    flags["call_id"] = flags["call_id"].astype("int64")
    for column in ("rep_id", "account_id"):
        flags[column] = pd.array(flags[column], dtype="Int64")
    return calls, flags


def team_frames(
    engine: Engine,
    rep_ids: Collection[int] | None,
    *,
    calls_since: dt.datetime,
    opportunities: pd.DataFrame | None = None,
    stage_history: pd.DataFrame | None = None,
) -> TeamFrames:
    """Everything a digest of the team ``rep_ids`` is computed from (module docstring).

    ``opportunities`` / ``stage_history``: the company's deals when the caller holds them
    already (read from the store otherwise).
    """
    team = frozenset(int(r) for r in rep_ids) if rep_ids is not None else None
    calls, flags = team_calls(engine, team, since=calls_since)
    return TeamFrames(
        rep_ids=team,
        reps=frames.reps(engine),
        accounts=team_accounts(engine, team),
        opportunities=opportunities if opportunities is not None else frames.opportunities(engine),
        stage_history=stage_history if stage_history is not None else frames.stage_history(engine),
        activities=team_activities(engine, team),
        targets=frames.targets(engine, rep_ids=None if team is None else sorted(team)),
        account_health=team_account_health(engine, team),
        recommendations=team_recommendations(engine, team),
        calls=calls,
        coaching_flags=flags,
    )
