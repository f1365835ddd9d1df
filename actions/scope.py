"""Whose numbers and which period a question is about.

"my pipeline" is the asker's own book (a manager's team); "Sarah's pipeline" is
Sarah's, if the asker may see her; "my team" / "the team" is everyone the asker may
see. A name the asker may not see is refused without saying anything about it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import Any

from rapidfuzz import fuzz, process, utils
from sqlmodel import select

from actions.base import Asker, Context, Refusal, said
from actions.data import account_book
from analytics.periods import Period, PeriodParseError, parse_period
from store import crud
from store.db import session_scope
from store.models import Rep

NAME_MATCH = 80.0
"""The fuzzy score at which a name said is taken for a rep's or an account's name."""
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


def scope_json(scope: Scope) -> dict[str, Any]:
    """How an answer's data names its scope."""
    return {
        "label": scope.label,
        "rep_ids": scope.as_list(),
        "rep_id": scope.rep_id,
        "is_team": scope.is_team,
    }


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
    """The period as said (or ``default`` as a phrase); raises :class:`Refusal` if unreadable.

    A "period" made only of small function words ("of", "for the") is a stray word the
    language model tagged, not a period the user said: the default applies."""
    if period_text is not None and _only_function_words(period_text):
        period_text = None
    text = (period_text or default or "").strip()
    if not text:
        return None
    try:
        return parse_period(text, today)
    except PeriodParseError:
        raise Refusal("utter_unknown_period", period=period_text) from None


FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "by",
        "for",
        "from",
        "in",
        "into",
        "is",
        "of",
        "on",
        "or",
        "our",
        "my",
        "the",
        "their",
        "to",
        "with",
    ]
)
"""Words that never make a period on their own (words like "this", "last" or "now" do)."""


def _only_function_words(text: str) -> bool:
    words = text.lower().split()
    return bool(words) and all(w.strip(".,?!") in FUNCTION_WORDS for w in words)


@dataclass(frozen=True)
class Named:
    """What a name in a question is, resolved against the store: a rep, an account, or
    nothing the asker may see (``kind`` ``"rep"``, ``"account"``, ``"nothing"``)."""

    kind: str
    said: str
    name: str | None = None
    record_id: int | None = None


def resolve_name(ctx: Context, text: str) -> Named:
    """The one place that decides whether a name is a rep or an account.

    The language model tells people and companies apart by their words, and an agent called
    "Carson Sterling" reads like a company: so a name is matched against the store's reps
    and the asker's accounts, and the better match wins. A rep outside the asker's team, an
    account outside their book and an unknown name are all ``"nothing"`` (refused alike).
    """
    said_text = text.strip().strip("?.!,'\"").removesuffix("'s").removesuffix("’s").strip()
    if not said_text:
        return Named("nothing", text)
    with session_scope(ctx.engine) as session:
        reps: dict[int, str] = {
            r.id: r.name
            for r in session.exec(select(Rep).where(Rep.active == True))  # noqa: E712
            if r.id is not None
        }
    rep_match = process.extractOne(
        said_text,
        reps,
        scorer=fuzz.WRatio,
        processor=utils.default_process,
        score_cutoff=NAME_MATCH,
    )
    matcher = account_book(ctx.engine, ctx.today).matcher
    accounts = matcher.match(
        said_text,
        visible_owner_ids=ctx.asker.visible_rep_ids,
        visible_account_ids=ctx.asker.shared_account_ids,
        limit=1,
        cutoff=NAME_MATCH,
    )
    account = accounts[0] if accounts and accounts[0].score >= NAME_MATCH else None
    rep_score = float(rep_match[1]) if rep_match is not None else 0.0
    if rep_match is not None and (account is None or rep_score >= account.score):
        rep_id = int(rep_match[2])
        if ctx.asker.can_see_owner(rep_id):
            return Named("rep", said_text, str(rep_match[0]), rep_id)
        return Named("nothing", said_text)
    if account is not None and account.visible:
        return Named("account", said_text, account.name, account.account_id)
    return Named("nothing", said_text)


def rep_said(ctx: Context, intent: str) -> str | None:
    """Whose numbers a rep/team question names (``said(ctx, "rep", intent)``), also when
    the language model took a person's name for an account ("Carson Sterling's win rate").

    A name that is not one of the asker's reps is never ignored (which would answer for the
    asker's own scope without a word): an account gets ``utter_not_per_account``, anything
    else the same refusal as a rep outside the team.
    """
    rep = said(ctx, "rep", intent)
    if rep is not None:
        plain = rep.strip().lower()
        if not (SELF_WORDS.match(plain) or TEAM_WORDS.match(plain)):
            named = resolve_name(ctx, rep)
            if named.kind == "account":  # "the pipeline for Acme Foods": accounts have none
                raise Refusal("utter_not_per_account", account=named.name)
        return rep
    latest = ctx.tracker.latest_message or {}
    if (latest.get("intent") or {}).get("name") != intent:
        return None
    names = [
        str(e["value"])
        for e in latest.get("entities") or []
        if e.get("entity") == "account" and e.get("value") not in (None, "")
    ]
    if not names:
        return None
    named = resolve_name(ctx, names[0])
    if named.kind == "rep":
        return named.name
    if named.kind == "account":
        raise Refusal("utter_not_per_account", account=named.name)
    raise Refusal("utter_rep_not_visible", rep=named.said)
