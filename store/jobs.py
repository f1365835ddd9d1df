"""Claims for scheduled jobs: a job runs once per slot however many bot replicas run."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from store.db import StoreUnavailableError
from store.models import JobClaim, utcnow

JOB_CLAIM = JobClaim.__table__  # type: ignore[attr-defined]


def claim_job(engine: Engine, *, name: str, slot: str, claimed_by: str) -> bool:
    """Insert the claim row for ``(name, slot)``; False when another process claimed it first."""
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(JOB_CLAIM).values(
                    name=name, slot=slot, claimed_by=claimed_by, claimed_at=utcnow()
                )
            )
    except IntegrityError:
        return False
    except OperationalError as exc:
        raise StoreUnavailableError(str(exc.orig or exc)) from exc
    return True


def finish_job(engine: Engine, *, name: str, slot: str, error: str | None = None) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(
                update(JOB_CLAIM)
                .where(JOB_CLAIM.c.name == name, JOB_CLAIM.c.slot == slot)
                .values(finished_at=utcnow(), error=error)
            )
    except OperationalError as exc:
        raise StoreUnavailableError(str(exc.orig or exc)) from exc


def job_runs(engine: Engine, *, name: str) -> list[dict[str, object]]:
    """Every claimed run of ``name``, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(JOB_CLAIM).where(JOB_CLAIM.c.name == name).order_by(JOB_CLAIM.c.id)
        )
        return [dict(row._mapping) for row in rows]
