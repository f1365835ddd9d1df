"""The App Home lists the accounts of the rep's whole book: owned, shared through a deal
they own, or through a seat on the account team."""

from __future__ import annotations

import pandas as pd

from bot.coaching import Coaching
from bot.home import load_home
from store import insights
from tests.actions.crm import AS_OF, seed_crm


def test_home_lists_slipping_accounts_shared_with_the_rep(sqlite_engine):
    crm = seed_crm(sqlite_engine)
    ids = [
        crm.accounts[name] for name in ("Heartland Mart", "Northwind Traders", "Acme Corporation")
    ]
    insights.replace_account_health(
        sqlite_engine,
        pd.DataFrame(
            {
                "account_id": ids,
                "status": ["slipping", "lapsed", "slipping"],
                "score": [0.8, 0.9, 0.7],
                "revenue_at_risk": [12_000.0, 8_000.0, 30_000.0],
                "annual_revenue": [40_000.0, 30_000.0, 90_000.0],
                "reason": ["orders every 14 days on average; 9 weeks since the last order"] * 3,
            }
        ),
        as_of=AS_OF,
    )
    luis = load_home(sqlite_engine, rep_id=crm.reps["luis"], today=AS_OF)
    assert [row.name for row in luis.slipping] == ["Heartland Mart"]  # his deal's account
    carson = load_home(sqlite_engine, rep_id=crm.reps["carson"], today=AS_OF)
    assert [row.name for row in carson.slipping] == ["Northwind Traders"]  # his team seat
    aisha = load_home(sqlite_engine, rep_id=crm.reps["aisha"], today=AS_OF)
    assert aisha.slipping == []  # none of the three is in her book


def test_live_coaching_finds_an_account_shared_with_the_rep_and_only_that(sqlite_engine):
    crm = seed_crm(sqlite_engine)
    coaching = Coaching(sqlite_engine)
    assert coaching.visible_account(rep_id=crm.reps["luis"], said="Heartland Mart") == (
        crm.accounts["Heartland Mart"],
        "Heartland Mart",
    )
    assert coaching.visible_account(rep_id=crm.reps["aisha"], said="Heartland Mart") is None
