"""Whose numbers and which period a question is about.

"my pipeline" is the asker's own book (a manager's team); "Sarah's pipeline" is
Sarah's, if the asker may see her; "my team" / "the team" is everyone the asker may
see. A name the asker may not see is refused without saying anything about it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace

from rapidfuzz import fuzz, process, utils
from sqlmodel import select

from actions.base import Asker, Refusal
from analytics.periods import Period, PeriodParseError, parse_period
from store import crud
from store.db import session_scope
from store.models import Rep

TEAM_WORDS = re.compile(
    r"^(my |our |the |whole |entire )*(team|company|org|organi[sz]ation|everyone|all reps)$"
)
SELF_WORDS = re.compile(r"^(me|my|mine|myself|i|my own|my book)$")


@dataclass(frozen=True)
class Scope:
    """The reps an answer covers. ``rep_ids`` None means the whole company (admins)."""

    rep_ids: frozenset[int] | None
    label: str
    """How the answer names it: "your book", "your team", "Sarah Chen's book"."""
    rep_id: int | None
    """The one rep the answer is about, when it is about one rep."""
    is_team: bool
    account_ids: frozenset[int] = frozenset()
    """Accounts in these reps' books that they do not own (a deal they own on it, or a seat
    on its account team); empty for the whole company."""

    def as_list(self) -> list[int] | None:
        return sorted(self.rep_ids) if self.rep_ids is not None else None


def own_scope(asker: Asker, *, team_default: bool = True) -> Scope:
    """The asker's own book, or, for managers (``team_default``), the team they see."""
    if team_default and asker.is_manager:
        label = "the company" if asker.visible_rep_ids is None else "your team"
        return Scope(rep_ids=asker.visible_rep_ids, label=label, rep_id=asker.rep_id, is_team=True)
    return Scope(
        rep_ids=frozenset({asker.rep_id}), label="your book", rep_id=asker.rep_id, is_team=False
    )


def resolve_scope(
    engine: object, asker: Asker, rep_text: str | None, *, team_default: bool = True
) -> Scope:
    """Scope for the ``rep`` slot as said, with the accounts shared with its reps; raises
    :class:`Refusal` for names not visible or unknown."""
    scope = _scope_of(engine, asker, rep_text, team_default=team_default)
    if scope.rep_ids is None:
        return scope
    with session_scope(engine) as session:  # type: ignore[arg-type]
        shared = crud.shared_account_ids(session, rep_ids=scope.rep_ids)
    return replace(scope, account_ids=frozenset(shared))


def _scope_of(
    engine: object, asker: Asker, rep_text: str | None, *, team_default: bool = True
) -> Scope:
    said = (rep_text or "").strip().lower().removesuffix("'s").removesuffix("’s").strip()
    if not said or SELF_WORDS.match(said):
        return own_scope(asker, team_default=team_default and not said)
    if TEAM_WORDS.match(said):
        return (
            own_scope(asker, team_default=True)
            if asker.is_manager
            else own_scope(asker, team_default=False)
        )
    with session_scope(engine) as session:  # type: ignore[arg-type]
        reps: dict[int, str] = {
            r.id: r.name
            for r in session.exec(select(Rep).where(Rep.active == True))  # noqa: E712
            if r.id is not None
        }
        match = process.extractOne(
            said, reps, scorer=fuzz.WRatio, processor=utils.default_process, score_cutoff=80
        )
        if match is None:
            raise Refusal("utter_rep_not_visible", rep=rep_text)
        name, _score, found = match
        rep_id = int(found)
        other = crud.get_rep(session, rep_id=rep_id)
        assert other is not None
        if not asker.can_see_owner(other.id):
            raise Refusal("utter_rep_not_visible", rep=rep_text)
        if other.id == asker.rep_id:
            return own_scope(asker, team_default=False)
        if other.role in ("manager", "admin"):
            team = crud.team_rep_ids(session, manager_id=rep_id)
            return Scope(
                rep_ids=frozenset(team), label=f"{name}'s team", rep_id=rep_id, is_team=True
            )
        return Scope(
            rep_ids=frozenset({rep_id}),
            label=f"{name}'s book",
            rep_id=rep_id,
            is_team=False,
        )


def resolve_period(
    period_text: str | None, today: dt.date, *, default: str | None = None
) -> Period | None:
    """The period as said (or ``default`` as a phrase); raises :class:`Refusal` if unreadable."""
    text = (period_text or default or "").strip()
    if not text:
        return None
    try:
        return parse_period(text, today)
    except PeriodParseError:
        raise Refusal("utter_unknown_period", period=period_text) from None
