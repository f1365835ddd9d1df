"""What a rep's book is made of, and checks that an answer holds nothing outside a set of
books: no id, no name, no figure of another rep's accounts, deals or leads."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from store.models import Account, AccountHealth, Lead, Opportunity, Rep

STANDARD_MESSAGE_KEYS = frozenset(
    {"text", "buttons", "elements", "custom", "template", "response", "image", "attachment"}
)
REFUSALS = frozenset(
    {
        "utter_identity_refused",
        "utter_not_linked",
        "utter_rep_not_visible",
        "utter_account_not_visible",
        "utter_digest_managers_only",
    }
)
ID_KEYS = {
    "account_id": "accounts",
    "opportunity_id": "deals",
    "lead_id": "leads",
    "owner_id": "reps",
    "rep_id": "reps",
}
NAME_KEYS = {
    "name": ("accounts", "deal_names", "rep_names"),
    "account_name": ("accounts",),
    "account": ("accounts",),
    "company": ("lead_names",),
    "owner": ("rep_names",),
    "owner_name": ("rep_names",),
}


@dataclass(frozen=True)
class Book:
    """Everything owned by a set of reps."""

    reps: frozenset[int]
    rep_names: frozenset[str]
    accounts: frozenset[int]
    account_names: frozenset[str]
    deals: frozenset[int]
    deal_names: frozenset[str]
    leads: frozenset[int]
    lead_names: frozenset[str]
    risk: frozenset[float]
    """Revenue at risk of the book's flagged accounts (figures no outsider may see)."""

    def names(self, kinds: Collection[str]) -> frozenset[str]:
        found: set[str] = set()
        for kind in kinds:
            found |= {
                "accounts": self.account_names,
                "deal_names": self.deal_names,
                "rep_names": self.rep_names,
                "lead_names": self.lead_names,
            }[kind]
        return frozenset(found)

    def ids(self, kind: str) -> frozenset[int]:
        return {
            "accounts": self.accounts,
            "deals": self.deals,
            "leads": self.leads,
            "reps": self.reps,
        }[kind]


def book_of(engine: Engine, rep_ids: Collection[int]) -> Book:
    wanted = list(rep_ids)
    with Session(engine) as session:
        reps = session.exec(select(Rep).where(col(Rep.id).in_(wanted))).all()
        accounts = session.exec(select(Account).where(col(Account.owner_id).in_(wanted))).all()
        deals = session.exec(select(Opportunity).where(col(Opportunity.owner_id).in_(wanted))).all()
        leads = session.exec(select(Lead).where(col(Lead.owner_id).in_(wanted))).all()
        account_ids = [a.id for a in accounts]
        risk = session.exec(
            select(AccountHealth.revenue_at_risk).where(
                col(AccountHealth.account_id).in_(account_ids),
                col(AccountHealth.revenue_at_risk) > 0,
            )
        ).all()
    return Book(
        reps=frozenset(int(r.id or 0) for r in reps),
        rep_names=frozenset(r.name for r in reps),
        accounts=frozenset(int(a.id or 0) for a in accounts),
        account_names=frozenset(a.name for a in accounts),
        deals=frozenset(int(d.id or 0) for d in deals),
        deal_names=frozenset(d.name for d in deals),
        leads=frozenset(int(lead.id or 0) for lead in leads),
        lead_names=frozenset(lead.company for lead in leads),
        risk=frozenset(float(r) for r in risk if r),
    )


def all_rep_ids(engine: Engine) -> set[int]:
    with Session(engine) as session:
        return {int(r) for r in session.exec(select(Rep.id)) if r is not None}


def walk(value: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    """Every (key, scalar) pair in a JSON-like value, lists inheriting their key."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, str(k))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from walk(item, key)
    else:
        yield key, value


def strings(value: Any) -> list[str]:
    return [v for _, v in walk(value) if isinstance(v, str)]


def leaks(payload: Any, outside: Book, *, said: Collection[str] = ()) -> list[str]:
    """What ``payload`` (messages, answers, Slack arguments) shows of the ``outside`` book.

    Ids under id keys, names under name keys, and outside names inside any text are
    reported, except words the asker said themselves (``said``)."""
    found = []
    allowed = {s.casefold() for s in said}
    for key, value in walk(payload):
        is_id = isinstance(value, int) and not isinstance(value, bool)
        if key in ID_KEYS and is_id and value in outside.ids(ID_KEYS[key]):
            found.append(f"{key}={value}")
        if (
            key in NAME_KEYS
            and isinstance(value, str)
            and value.casefold() not in allowed
            and value in outside.names(NAME_KEYS[key])
        ):
            found.append(f"{key}={value!r}")
    text = "\n".join(strings(payload))
    for name in outside.account_names | outside.deal_names | outside.lead_names:
        if name.casefold() not in allowed and name in text:
            found.append(f"name {name!r} in text")
    return found


def variables_of(message: dict[str, Any]) -> dict[str, Any]:
    """The template variables a dispatcher message carries (beyond its standard keys)."""
    return {k: v for k, v in message.items() if k not in STANDARD_MESSAGE_KEYS and v is not None}


def dump(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
