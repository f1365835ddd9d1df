"""Buying-group coverage of a deal: which roles are engaged, which are missing.

Inputs: ``opportunities`` (opportunity_id, account_id, ...), ``contacts`` (contact_id,
account_id, name, title, buying_role) and ``activities`` (contact_id, occurred_at, kind).

Definitions
-----------
Role of a contact
    Its ``buying_role`` when that is one of the roles asked about; otherwise (empty,
    "other", "user", ...) read from the job title: finance (CFO, finance, controller,
    accounting, treasurer), procurement (procurement, purchasing, buyer, sourcing),
    technical (CTO, CIO, IT, engineer, technical, architect, security), decision maker
    (CEO, COO, owner, founder, president, managing/general director or manager, VP,
    vice president, director, head of) - checked in that order, so "VP Finance" is
    finance. A champion cannot be read from a title.
Engaged
    A contact of the deal's account with an activity (other than a snooze) in the
    ``lookback_days`` days ending on ``today``.
Role status
    "engaged" (an engaged contact has the role), "not_engaged" (the account has a contact
    with the role, none engaged lately) or "no_contact" (nobody at the account has it).
Coverage
    Engaged roles / roles asked about.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError, UnknownDealError, require_columns
from analytics.pipeline import int_ids, is_member

__all__ = [
    "BUYING_ROLES",
    "BuyingGroupCoverage",
    "buying_group_coverage",
    "contact_roles",
    "coverage_by_deal",
    "role_from_title",
]

BUYING_ROLES = ("decision_maker", "champion", "finance", "technical", "procurement")
ROLE_WORDS = {
    "decision_maker": "decision maker",
    "champion": "champion",
    "finance": "finance contact",
    "technical": "technical contact",
    "procurement": "procurement contact",
}
_TITLE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "finance",
        re.compile(r"\b(cfo|finance|financial|controller|accounting|accounts|treasurer)\b"),
    ),
    ("procurement", re.compile(r"\b(procurement|purchasing|purchaser|buyer|sourcing)\b")),
    (
        "technical",
        re.compile(r"\b(cto|cio|it|engineer|engineering|technical|architect|security|systems)\b"),
    ),
    (
        "decision_maker",
        re.compile(
            r"\b(ceo|coo|owner|founder|president|vp|vice president|chief|director|head of"
            r"|managing director|general manager|principal)\b"
        ),
    ),
)
CONTACT_REQUIRED = ["contact_id", "account_id", "name", "title", "buying_role"]


def role_from_title(title: object) -> str | None:
    """The buying role a job title suggests (see the module docstring), or ``None``."""
    if not isinstance(title, str) or not title.strip():
        return None
    text = title.lower()
    for role, pattern in _TITLE_RULES:
        if pattern.search(text):
            return role
    return None


def contact_roles(contacts: pd.DataFrame, roles: Sequence[str] = BUYING_ROLES) -> pd.Series:
    """Role of each contact among ``roles`` (``None`` when neither field says one)."""
    require_columns("contacts", contacts.columns, CONTACT_REQUIRED)
    stated = contacts["buying_role"].astype(object).where(contacts["buying_role"].notna(), None)
    from_title = contacts["title"].map(role_from_title)
    chosen = [
        s if isinstance(s, str) and s in roles else (t if t in roles else None)
        for s, t in zip(stated, from_title, strict=True)
    ]
    return pd.Series(chosen, index=contacts.index, dtype=object)


def _engaged_last(
    activities: pd.DataFrame | None, contact_ids: np.ndarray, today: dt.date, lookback_days: int
) -> pd.Series:
    """Last activity day per contact within the window (contacts without one absent)."""
    if activities is None or not len(activities) or not len(contact_ids):
        return pd.Series(dtype="datetime64[ns]")
    require_columns("activities", activities.columns, ["contact_id", "occurred_at", "kind"])
    end = pd.Timestamp(today) + pd.Timedelta(days=1)
    start = pd.Timestamp(today) - pd.Timedelta(days=lookback_days - 1)
    acts = activities[is_member(int_ids(activities["contact_id"]), int_ids(contact_ids))]
    acts = acts[
        (acts["kind"] != "snooze").to_numpy()
        & (acts["occurred_at"] >= start).to_numpy()
        & (acts["occurred_at"] < end).to_numpy()
    ]
    return acts.groupby(acts["contact_id"].astype("int64"))["occurred_at"].max().dt.normalize()


@dataclass(frozen=True, eq=False)
class BuyingGroupCoverage:
    """Coverage of one deal. ``roles`` has one row per role asked about: ``role``,
    ``status`` ("engaged", "not_engaged", "no_contact"), ``contacts`` (names with the role,
    engaged first), ``last_engaged`` (latest activity day of a contact with the role)."""

    opportunity_id: int
    account_id: int
    as_of: dt.date
    lookback_days: int
    engaged_roles: tuple[str, ...]
    not_engaged_roles: tuple[str, ...]
    missing_roles: tuple[str, ...]
    coverage: float
    roles: pd.DataFrame
    reason: str
    next_step: str | None


def buying_group_coverage(
    opportunity_id: int,
    opportunities: pd.DataFrame,
    contacts: pd.DataFrame,
    activities: pd.DataFrame | None,
    *,
    today: dt.date,
    lookback_days: int = 90,
    roles: Sequence[str] = BUYING_ROLES,
) -> BuyingGroupCoverage:
    """Which buying roles are engaged on a deal, and what to do about the gaps."""
    if lookback_days < 1:
        raise InvalidParameterError("lookback_days must be at least 1")
    if not roles:
        raise InvalidParameterError("name at least one buying role")
    require_columns("opportunities", opportunities.columns, ["opportunity_id", "account_id"])
    deal = opportunities[opportunities["opportunity_id"] == int(opportunity_id)]
    if not len(deal):
        raise UnknownDealError(f"deal {opportunity_id} is not in the opportunities data")
    account_id = int(deal["account_id"].iloc[0])
    people = contacts[contacts["account_id"] == account_id]
    people = people.assign(role=contact_roles(people, roles).to_numpy())
    last = _engaged_last(activities, people["contact_id"].to_numpy(), today, lookback_days)
    engaged_on = pd.Series(pd.NaT, index=people.index, dtype="datetime64[ns]")
    if len(last):
        engaged_on = people["contact_id"].map(last).astype("datetime64[ns]")
    people = people.assign(last_engaged=engaged_on)

    rows = []
    for role in roles:
        with_role = people[people["role"] == role].sort_values(
            "last_engaged", ascending=False, na_position="last", kind="stable"
        )
        engaged = with_role["last_engaged"].notna()
        status = "engaged" if engaged.any() else ("not_engaged" if len(with_role) else "no_contact")
        rows.append(
            {
                "role": role,
                "status": status,
                "contacts": tuple(str(n) for n in with_role["name"]),
                "last_engaged": with_role["last_engaged"].max() if engaged.any() else pd.NaT,
            }
        )
    table = pd.DataFrame(rows, columns=["role", "status", "contacts", "last_engaged"])
    table["last_engaged"] = pd.to_datetime(table["last_engaged"]).astype("datetime64[ns]")
    engaged_roles = tuple(table.loc[table["status"] == "engaged", "role"])
    idle_roles = tuple(table.loc[table["status"] == "not_engaged", "role"])
    missing = tuple(table.loc[table["status"] == "no_contact", "role"])
    coverage = len(engaged_roles) / len(roles)
    reason = _reason(engaged_roles, idle_roles, missing, len(roles), lookback_days)
    return BuyingGroupCoverage(
        opportunity_id=int(opportunity_id),
        account_id=account_id,
        as_of=today,
        lookback_days=lookback_days,
        engaged_roles=engaged_roles,
        not_engaged_roles=idle_roles,
        missing_roles=missing,
        coverage=coverage,
        roles=table,
        reason=reason,
        next_step=_next_step(table, people),
    )


def _words(roles: Sequence[str]) -> str:
    return ", ".join(ROLE_WORDS.get(r, r.replace("_", " ")) for r in roles)


def _reason(
    engaged: Sequence[str],
    idle: Sequence[str],
    missing: Sequence[str],
    total: int,
    lookback_days: int,
) -> str:
    parts = [f"{len(engaged)} of {total} buying roles engaged in the last {lookback_days} days"]
    if engaged:
        parts.append(f"engaged: {_words(engaged)}")
    if idle:
        parts.append(f"known but quiet: {_words(idle)}")
    if missing:
        parts.append(f"nobody known: {_words(missing)}")
    return "; ".join(parts)


def _next_step(table: pd.DataFrame, people: pd.DataFrame) -> str | None:
    gaps = table[table["status"] != "engaged"]
    if not len(gaps):
        return None
    first = gaps.iloc[0]
    role_words = ROLE_WORDS.get(str(first["role"]), str(first["role"]))
    if first["status"] == "not_engaged":
        return f"Re-engage {first['contacts'][0]} ({role_words}): nothing logged with them lately"
    engaged_people = people[people["last_engaged"].notna()].sort_values(
        "last_engaged", ascending=False, kind="stable"
    )
    champions = engaged_people[engaged_people["role"] == "champion"]
    via = champions if len(champions) else engaged_people
    if len(via):
        return f"Ask {via['name'].iloc[0]} to introduce you to the {role_words}"
    return f"Map the buying group: find and contact the {role_words} first"


COVERAGE_COLUMNS = [
    "opportunity_id",
    "account_id",
    "engaged_roles",
    "missing_roles",
    "coverage",
]


def coverage_by_deal(
    opportunities: pd.DataFrame,
    contacts: pd.DataFrame,
    activities: pd.DataFrame | None,
    *,
    today: dt.date,
    opportunity_ids: Collection[int],
    lookback_days: int = 90,
    roles: Sequence[str] = BUYING_ROLES,
) -> pd.DataFrame:
    """Coverage of several deals, lowest first. Columns ``COVERAGE_COLUMNS``;
    ``missing_roles`` are the roles not engaged (quiet or unknown)."""
    rows = []
    for opportunity_id in opportunity_ids:
        result = buying_group_coverage(
            int(opportunity_id),
            opportunities,
            contacts,
            activities,
            today=today,
            lookback_days=lookback_days,
            roles=roles,
        )
        rows.append(
            {
                "opportunity_id": result.opportunity_id,
                "account_id": result.account_id,
                "engaged_roles": result.engaged_roles,
                "missing_roles": result.not_engaged_roles + result.missing_roles,
                "coverage": result.coverage,
            }
        )
    table = pd.DataFrame(rows, columns=COVERAGE_COLUMNS)
    return table.sort_values(["coverage", "opportunity_id"], kind="stable", ignore_index=True)
