"""What alert buttons write to the store: "Mark contacted" and "Snooze"."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from store import crud
from store.db import session_scope
from store.models import ActivityKind


class AccountNotInBookError(PermissionError):
    """The account does not exist or the rep may not see it."""


@dataclass(frozen=True)
class RecordedActivity:
    activity_id: int
    account_name: str
    until_date: dt.date | None


def record_alert_click(
    engine: Engine,
    *,
    rep_id: int,
    account_id: int,
    kind: ActivityKind,
    external_id: str,
    subject: str,
    until_date: dt.date | None = None,
) -> RecordedActivity:
    """Write the activity for a click; the same ``external_id`` (one click) writes once,
    even when two deliveries of the click race each other."""
    record = partial(
        _record,
        engine,
        rep_id=rep_id,
        account_id=account_id,
        kind=kind,
        external_id=external_id,
        subject=subject,
        until_date=until_date,
    )
    try:
        return record()
    except IntegrityError:
        return record()  # the other delivery wrote it first: this returns that row


def _record(
    engine: Engine,
    *,
    rep_id: int,
    account_id: int,
    kind: ActivityKind,
    external_id: str,
    subject: str,
    until_date: dt.date | None,
) -> RecordedActivity:
    with session_scope(engine) as session:
        rep = crud.get_rep(session, rep_id=rep_id)
        account = crud.get_account(session, account_id=account_id)
        if (
            rep is None
            or account is None
            or not crud.can_see_account(session, rep=rep, account=account)
        ):
            raise AccountNotInBookError(f"account {account_id} is not visible to rep {rep_id}")
        activity = crud.record_activity(
            session,
            kind=kind,
            rep_id=rep_id,
            account_id=account_id,
            subject=subject,
            until_date=until_date,
            external_id=external_id,
            origin="slack",
        )
        assert activity.id is not None
        return RecordedActivity(activity.id, account.name, activity.until_date)
