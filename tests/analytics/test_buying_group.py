"""Buying-group coverage: roles engaged, quiet or unknown on a deal (today 2024-06-30)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analytics.buying_group import buying_group_coverage, coverage_by_deal, role_from_title
from analytics.errors import UnknownDealError
from tests.analytics import test_pipeline as team

TODAY = dt.date(2024, 6, 30)


def contacts(rows: list[tuple] | None = None) -> pd.DataFrame:
    rows = rows or [
        (1, 101, "Dana", "Chief Executive Officer", "other"),
        (2, 101, "Fay", "VP Finance", None),
        (3, 101, "Tom", "IT Manager", "user"),
        (4, 101, "Cat", "Operations Lead", "champion"),
        (5, 102, "Pat", "Head of Purchasing", "procurement"),
    ]
    return pd.DataFrame(rows, columns=["contact_id", "account_id", "name", "title", "buying_role"])


def activities(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["contact_id", "occurred_at", "kind"])
    frame["contact_id"] = pd.array(frame["contact_id"], dtype="Int64")
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"]).astype("datetime64[ns]")
    return frame


ACTS = activities(
    [
        (1, "2024-06-20 10:00", "meeting"),
        (4, "2024-05-01 10:00", "call"),
        (2, "2024-01-01 10:00", "email"),  # before the 90-day window
        (3, "2024-06-25 10:00", "snooze"),  # a snooze is not engagement
        (5, "2024-06-25 10:00", "call"),  # another account
    ]
)


@pytest.mark.parametrize(
    ("title", "role"),
    [
        ("VP Finance", "finance"),
        ("Chief Financial Officer", "finance"),
        ("Head of Purchasing", "procurement"),
        ("Director of IT", "technical"),
        ("Lead Engineer", "technical"),
        ("CEO", "decision_maker"),
        ("Managing Director", "decision_maker"),
        ("Office assistant", None),
        ("", None),
        (None, None),
    ],
)
def test_role_from_title(title: object, role: str | None) -> None:
    assert role_from_title(title) == role


def test_coverage_of_a_deal() -> None:
    result = buying_group_coverage(1, team.opportunities(), contacts(), ACTS, today=TODAY)
    assert result.account_id == 101
    assert result.engaged_roles == ("decision_maker", "champion")
    assert result.not_engaged_roles == ("finance", "technical")
    assert result.missing_roles == ("procurement",)
    assert result.coverage == 0.4
    assert result.roles["contacts"].tolist() == [("Dana",), ("Cat",), ("Fay",), ("Tom",), ()]
    assert result.roles["last_engaged"].tolist()[:2] == [
        pd.Timestamp("2024-06-20"),
        pd.Timestamp("2024-05-01"),
    ]
    assert result.reason == (
        "2 of 5 buying roles engaged in the last 90 days; engaged: decision maker, champion; "
        "known but quiet: finance contact, technical contact; nobody known: procurement contact"
    )
    assert result.next_step == "Re-engage Fay (finance contact): nothing logged with them lately"


def test_a_shorter_window_sees_less() -> None:
    result = buying_group_coverage(
        1, team.opportunities(), contacts(), ACTS, today=TODAY, lookback_days=30
    )
    assert result.engaged_roles == ("decision_maker",)
    assert result.next_step.startswith("Re-engage Cat (champion)")


def test_missing_role_is_introduced_by_the_champion() -> None:
    acts = pd.concat(
        [ACTS, activities([(2, "2024-06-01", "email"), (3, "2024-06-02", "call")])],
        ignore_index=True,
    )
    result = buying_group_coverage(1, team.opportunities(), contacts(), acts, today=TODAY)
    assert result.missing_roles == ("procurement",) and result.coverage == 0.8
    assert result.next_step == "Ask Cat to introduce you to the procurement contact"


def test_account_without_contacts_or_activities() -> None:
    result = buying_group_coverage(5, team.opportunities(), contacts(), None, today=TODAY)
    assert result.coverage == 0.0 and len(result.missing_roles) == 5
    assert result.next_step == "Map the buying group: find and contact the decision maker first"
    with pytest.raises(UnknownDealError):
        buying_group_coverage(999, team.opportunities(), contacts(), ACTS, today=TODAY)


def test_coverage_for_several_deals_lowest_first() -> None:
    table = coverage_by_deal(
        team.opportunities(), contacts(), ACTS, today=TODAY, opportunity_ids=[1, 2]
    )
    assert table["opportunity_id"].tolist() == [2, 1]
    assert table["coverage"].tolist() == [0.2, 0.4]  # Pat (procurement) called on deal 2
    assert table.loc[1, "missing_roles"] == ("finance", "technical", "procurement")
