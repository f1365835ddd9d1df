"""Keyword-only create/read/update helpers used by the bot and the actions.

Visibility lives here as data access (which rep ids a rep may see); *deciding*
what to answer is the caller's job. Bulk reads for analytics are in ``frames``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process, utils
from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from store.models import (
    Account,
    AccountTeamMember,
    Activity,
    ActivityKind,
    Opportunity,
    ProcessedSlackEvent,
    Rep,
    RepRole,
    utcnow,
)


class UnknownRecordError(LookupError):
    """A record named by the caller does not exist."""


# ------------------------------------------------------------------------ identity


def get_rep(session: Session, *, rep_id: int) -> Rep | None:
    return session.get(Rep, rep_id)


def get_rep_by_email(session: Session, *, email: str) -> Rep | None:
    return session.exec(select(Rep).where(Rep.email == email.strip().lower())).first()


def get_rep_by_slack_id(session: Session, *, slack_user_id: str) -> Rep | None:
    return session.exec(select(Rep).where(Rep.slack_user_id == slack_user_id)).first()


def link_slack_user(session: Session, *, rep: Rep, slack_user_id: str) -> Rep:
    """Remember which Slack user a rep is, so later lookups need no ``users.info``."""
    other = get_rep_by_slack_id(session, slack_user_id=slack_user_id)
    if other is not None and other.id != rep.id:
        other.slack_user_id = None
        session.add(other)
        session.flush()
    rep.slack_user_id = slack_user_id
    session.add(rep)
    session.flush()
    return rep


def team_rep_ids(session: Session, *, manager_id: int) -> set[int]:
    """The manager and everyone who reports to them, directly or not."""
    rows = session.exec(select(Rep.id, Rep.manager_id)).all()
    reports: dict[int, list[int]] = {}
    for rep_id, manager in rows:
        if manager is not None and rep_id is not None:
            reports.setdefault(manager, []).append(rep_id)
    seen = {manager_id}
    frontier = [manager_id]
    while frontier:
        current = frontier.pop()
        for child in reports.get(current, []):
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return seen


def visible_rep_ids(session: Session, *, rep: Rep) -> set[int] | None:
    """Rep ids whose book ``rep`` may see; ``None`` means everyone (admins).

    Reps see their own book, managers their team's (recursively), admins all. A book
    holds the accounts those reps own plus :func:`shared_account_ids` of them.
    """
    if rep.role == RepRole.admin:
        return None
    assert rep.id is not None
    if rep.role == RepRole.manager:
        return team_rep_ids(session, manager_id=rep.id)
    return {rep.id}


def shared_account_ids(session: Session, *, rep_ids: Collection[int]) -> set[int]:
    """Accounts in the books of ``rep_ids`` beyond those they own: accounts owned by someone
    else (or nobody) on which one of them owns a deal (opportunity), or whose account team
    one of them is on."""
    reps = sorted({int(r) for r in rep_ids})
    if not reps:
        return set()
    # only accounts they do not own: those are in the book already, and the list stays short
    not_theirs = or_(col(Account.owner_id).is_(None), col(Account.owner_id).not_in(reps))
    dealt = (
        select(Opportunity.account_id)
        .join(Account, col(Account.id) == col(Opportunity.account_id))
        .where(col(Opportunity.owner_id).in_(reps), not_theirs)
        .distinct()
    )
    teamed = (
        select(AccountTeamMember.account_id)
        .join(Account, col(Account.id) == col(AccountTeamMember.account_id))
        .where(col(AccountTeamMember.rep_id).in_(reps), not_theirs)
    )
    return {int(a) for a in session.exec(dealt)} | {int(a) for a in session.exec(teamed)}


def can_see_account(session: Session, *, rep: Rep, account: Account) -> bool:
    """Whether ``account`` is in the book of ``rep`` (their team's, for a manager): owned,
    with a deal owned, or on its account team; admins see every account."""
    visible = visible_rep_ids(session, rep=rep)
    if visible is None or (account.owner_id is not None and account.owner_id in visible):
        return True
    return account.id in shared_account_ids(session, rep_ids=visible)


def can_see_rep(session: Session, *, rep: Rep, other: Rep) -> bool:
    visible = visible_rep_ids(session, rep=rep)
    return visible is None or other.id in visible


# ------------------------------------------------------------------------ accounts


def get_account(session: Session, *, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def get_account_by_external_id(session: Session, *, external_id: str) -> Account | None:
    return session.exec(select(Account).where(Account.external_id == external_id)).first()


@dataclass(frozen=True)
class AccountMatch:
    account_id: int
    name: str
    score: float
    visible: bool


_GENERIC_WORDS = """
    inc incorporated corp corporation co company companies llc llp lp ltd limited plc gmbh
    ag kg sa sas sarl srl spa bv nv oy ab as pty pte pvt jsc group holding holdings
    international intl global worldwide national enterprises enterprise industries
    services service solutions systems partners associates and the of for
    mart market markets store stores shop shops supply supplies trading traders
"""
GENERIC_NAME_WORDS = frozenset(_GENERIC_WORDS.split())
"""Words that do not tell one account from another (legal suffixes, common business words):
they never carry a match on their own ("Acme Corporation" is not "Globex Corporation")."""
COMMON_SHARE = 0.02
"""A word in more than this share of the store's account names (and in at least
:data:`COMMON_MIN_NAMES` of them) is common there too, whatever it is."""
COMMON_MIN_NAMES = 5


def distinctive(processed_name: str, common: Collection[str] = ()) -> str:
    """The words of a name (prepared with ``rapidfuzz.utils.default_process``) that tell it
    apart: without legal suffixes, generic business words and the store's common words."""
    return " ".join(
        word
        for word in processed_name.split()
        if word not in GENERIC_NAME_WORDS and word not in common
    )


@dataclass(frozen=True, eq=False)
class AccountNames:
    """Account ids, names and owners with the names prepared for matching once
    (``rapidfuzz.utils.default_process``), for callers that keep them between questions.
    :func:`match_accounts` and :func:`accounts_named_in` read them from the store each time.

    A fuzzy match must be on the names' distinctive words (:func:`distinctive`): a query
    whose distinctive words match no candidate's distinctive words matches nothing.
    """

    ids: list[int]
    names: list[str]
    owners: list[int | None]
    processed: list[str]
    by_processed: dict[str, list[int]]
    distinct: list[str]
    common: frozenset[str]

    @classmethod
    def of(cls, rows: Iterable[tuple[Any, Any, Any]]) -> AccountNames:
        """From ``(id, name, owner_id)`` rows, in the order they should be ranked on ties."""
        ids, names, owners = [], [], []
        for account_id, name, owner in rows:
            ids.append(int(account_id))
            names.append(str(name))
            owners.append(None if owner is None or owner != owner else int(owner))
        processed = [utils.default_process(n) for n in names]
        by_processed: dict[str, list[int]] = {}
        for i, name in enumerate(processed):
            by_processed.setdefault(name, []).append(i)
        counts = Counter(word for name in processed for word in set(name.split()))
        floor = max(COMMON_MIN_NAMES, COMMON_SHARE * len(processed))
        common = frozenset(word for word, n in counts.items() if n >= floor)
        distinct = [distinctive(name, common) for name in processed]
        return cls(ids, names, owners, processed, by_processed, distinct, common)

    def _visible(
        self,
        index: int,
        visible_owner_ids: Collection[int] | None,
        visible_account_ids: Collection[int] = (),
    ) -> bool:
        if visible_owner_ids is None:
            return True
        owner = self.owners[index]
        return (owner is not None and owner in visible_owner_ids) or (
            self.ids[index] in visible_account_ids
        )

    def exactly_named(
        self,
        query: str,
        *,
        visible_owner_ids: Collection[int] | None,
        visible_account_ids: Collection[int] = (),
        limit: int = 5,
    ) -> AccountMatch | None:
        """The one visible account whose whole name is ``query`` (compared as
        :meth:`match` compares), found by a dict lookup; ``None`` when there is no such
        account or several. It is the only exact match :meth:`match` returns (an exact name
        scores 100, and only an exact name does)."""
        key = utils.default_process(query.strip())
        positions = self.by_processed.get(key, []) if key else []
        if not positions or len(positions) > max(limit * 4, 20):
            return None
        visible = [i for i in positions if self._visible(i, visible_owner_ids, visible_account_ids)]
        if len(visible) != 1:
            return None
        i = visible[0]
        return AccountMatch(account_id=self.ids[i], name=self.names[i], score=100.0, visible=True)

    def match(
        self,
        query: str,
        *,
        visible_owner_ids: Collection[int] | None,
        visible_account_ids: Collection[int] = (),
        limit: int = 5,
        cutoff: float = 70.0,
    ) -> list[AccountMatch]:
        """See :func:`match_accounts`. Candidates are those whose distinctive words match
        the query's (``cutoff``); they are ranked by the whole name's score. A query without
        distinctive words ("Corporation", "the mart") matches only a whole name."""
        query = query.strip()
        if not query:
            return []
        processed = utils.default_process(query)
        key = distinctive(processed, self.common)
        if key:
            found = process.extract(
                key,
                self.distinct,
                scorer=fuzz.WRatio,
                processor=None,
                limit=max(limit * 20, 100),
                score_cutoff=cutoff,
            )
            candidates = [index for _name, _score, index in found]
        else:
            candidates = list(self.by_processed.get(processed, []))
        matches = []
        for index in candidates:
            score = (
                100.0
                if self.processed[index] == processed
                else float(min(fuzz.WRatio(processed, self.processed[index]), 99.0))
            )
            matches.append(
                AccountMatch(
                    account_id=self.ids[index],
                    name=self.names[index],
                    score=score,
                    visible=self._visible(index, visible_owner_ids, visible_account_ids),
                )
            )
        matches.sort(key=lambda m: (not m.visible, -m.score, m.name))
        return matches[:limit]

    def named_in(
        self,
        text: str,
        *,
        visible_owner_ids: Collection[int] | None,
        visible_account_ids: Collection[int] = (),
    ) -> list[int]:
        """Positions of the accounts :func:`accounts_named_in` finds in ``text``, longest
        name first."""
        lowered = f" {utils.default_process(text)} "
        if not lowered.strip():
            return []
        found = [
            i
            for i, name in enumerate(self.processed)
            if len(name) >= 3
            and f" {name} " in lowered
            and self._visible(i, visible_owner_ids, visible_account_ids)
        ]
        found.sort(key=lambda i: -len(self.names[i]))
        return found


def match_accounts(
    session: Session,
    *,
    query: str,
    visible_owner_ids: set[int] | None,
    visible_account_ids: Collection[int] = (),
    limit: int = 5,
    cutoff: float = 70.0,
) -> list[AccountMatch]:
    """Fuzzy-match ``query`` against account names, best first.

    Matches among the visible accounts come first; matches outside the book are
    returned with ``visible=False`` so the caller can say "not in your book"
    without showing any data.
    """
    if not query.strip():
        return []
    rows = session.exec(select(Account.id, Account.name, Account.owner_id)).all()
    return AccountNames.of(rows).match(
        query,
        visible_owner_ids=visible_owner_ids,
        visible_account_ids=visible_account_ids,
        limit=limit,
        cutoff=cutoff,
    )


def accounts_named_in(
    session: Session,
    *,
    text: str,
    visible_owner_ids: set[int] | None,
    visible_account_ids: Collection[int] = (),
) -> list[Account]:
    """Accounts whose full name appears in ``text`` (case-insensitive), longest name first."""
    lowered = f" {utils.default_process(text)} "
    if not lowered.strip():
        return []
    stmt = select(Account)
    if visible_owner_ids is not None:
        owned = col(Account.owner_id).in_(visible_owner_ids)
        shared = sorted({int(a) for a in visible_account_ids})
        stmt = stmt.where(or_(owned, col(Account.id).in_(shared)) if shared else owned)
    found = []
    for account in session.exec(stmt):
        name = utils.default_process(account.name)
        if len(name) >= 3 and f" {name} " in lowered:
            found.append(account)
    found.sort(key=lambda a: -len(a.name))
    return found


def count_accounts(session: Session, *, owner_ids: Iterable[int] | None = None) -> int:
    stmt = select(func.count()).select_from(Account)
    if owner_ids is not None:
        stmt = stmt.where(col(Account.owner_id).in_(list(owner_ids)))
    return int(session.exec(stmt).one())


def get_opportunity(session: Session, *, opportunity_id: int) -> Opportunity | None:
    return session.get(Opportunity, opportunity_id)


# ---------------------------------------------------------------------- activities


def record_activity(
    session: Session,
    *,
    kind: ActivityKind,
    rep_id: int | None,
    account_id: int | None = None,
    opportunity_id: int | None = None,
    subject: str | None = None,
    occurred_at: dt.datetime | None = None,
    until_date: dt.date | None = None,
    external_id: str | None = None,
    origin: str = "slack",
) -> Activity:
    """Write one activity. ``external_id`` makes the write idempotent: a second call
    with the same id returns the existing row instead of adding another."""
    if external_id is not None:
        existing = session.exec(select(Activity).where(Activity.external_id == external_id)).first()
        if existing is not None:
            return existing
    activity = Activity(
        external_id=external_id or f"{origin}-{uuid.uuid4().hex}",
        kind=kind,
        rep_id=rep_id,
        account_id=account_id,
        opportunity_id=opportunity_id,
        subject=subject,
        occurred_at=occurred_at or utcnow(),
        until_date=until_date,
        origin=origin,
    )
    session.add(activity)
    session.flush()
    return activity


def snoozed_account_ids(
    session: Session, *, rep_ids: Sequence[int] | None, today: dt.date
) -> set[int]:
    """Accounts whose alerts a rep snoozed until a day after ``today``."""
    stmt = select(Activity.account_id).where(
        Activity.kind == ActivityKind.snooze,
        col(Activity.until_date) > today,
        col(Activity.account_id).is_not(None),
    )
    if rep_ids is not None:
        stmt = stmt.where(col(Activity.rep_id).in_(list(rep_ids)))
    return {int(a) for a in session.exec(stmt) if a is not None}


# --------------------------------------------------------------------- slack events


def claim_slack_event(
    session: Session,
    *,
    event_id: str,
    claimed_by: str,
    payload: str | None = None,
    received_at: dt.datetime | None = None,
) -> bool:
    """Record that ``event_id`` is being answered, keeping the question's ``payload`` until it
    is (see :func:`mark_slack_event_answered`). Returns False when someone already claimed it
    (a Slack retry, or another replica): the caller must not answer again."""
    row = ProcessedSlackEvent(event_id=event_id, claimed_by=claimed_by, payload=payload)
    if received_at is not None:
        row.received_at = received_at
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def mark_slack_event_answered(session: Session, *, event_id: str, at: dt.datetime) -> None:
    """The event was answered (or the user told why not): its payload is no longer kept."""
    row = session.get(ProcessedSlackEvent, event_id)
    if row is not None and row.answered_at is None:
        row.answered_at = at
        row.payload = None
        session.add(row)
        session.flush()


def unanswered_slack_events(
    session: Session, *, claimed_before: dt.datetime, claimed_after: dt.datetime, attempts: int
) -> list[ProcessedSlackEvent]:
    """Claimed questions still unanswered, claimed between the two times, tried fewer than
    ``attempts`` times: their bot died after the ack."""
    return list(
        session.exec(
            select(ProcessedSlackEvent)
            .where(
                col(ProcessedSlackEvent.answered_at).is_(None),
                col(ProcessedSlackEvent.payload).is_not(None),
                col(ProcessedSlackEvent.received_at) < claimed_before,
                col(ProcessedSlackEvent.received_at) > claimed_after,
                col(ProcessedSlackEvent.attempts) < attempts,
            )
            .order_by(col(ProcessedSlackEvent.received_at))
        ).all()
    )


def reclaim_slack_event(
    session: Session, *, event_id: str, claimed_by: str, seen_attempts: int
) -> bool:
    """Take over an unanswered event, counting the attempt; False when another process took
    it first (compare-and-set on the attempt count)."""
    result = session.connection().execute(
        update(ProcessedSlackEvent)
        .where(
            col(ProcessedSlackEvent.event_id) == event_id,
            col(ProcessedSlackEvent.attempts) == seen_attempts,
            col(ProcessedSlackEvent.answered_at).is_(None),
        )
        .values(claimed_by=claimed_by, attempts=seen_attempts + 1)
    )
    return bool(result.rowcount)


def forget_slack_events(session: Session, *, older_than: dt.datetime) -> int:
    """Drop event ids older than Slack's retry window; returns how many."""
    rows = session.exec(
        select(ProcessedSlackEvent).where(col(ProcessedSlackEvent.received_at) < older_than)
    ).all()
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)
