"""Questions a new user asks on a real CRM export, in-process against the actions:
deals without close dates, accounts shared by several agents, agents whose names look
like company names, a store without activities or contacts."""

from __future__ import annotations

import pytest

from actions.accounts import ActionAccountOverview
from actions.settings import get_settings
from tests.actions.crm import AS_OF, seed_crm
from tests.actions.harness import run_action, tracker_for


@pytest.fixture
def crm(action_env, monkeypatch):
    ids = seed_crm(action_env)
    monkeypatch.setenv("SALESBOT_AS_OF", AS_OF.isoformat())
    get_settings.cache_clear()
    return ids


def test_overview_of_an_account_whose_open_deal_has_no_close_date(crm):
    result = run_action(
        ActionAccountOverview(),
        tracker_for(
            rep_id=crm.reps["aisha"],
            text="how is Globex Corporation doing?",
            intent="ask_account_overview",
            slots={
                "account": "Globex Corporation",
                "account_id": crm.accounts["Globex Corporation"],
            },
        ),
    )
    [answer] = result.answers
    assert "Globex renewal" in answer.text
    assert "no close date" in answer.text
    assert answer.data["open_deals"][0]["close_date"] is None
