"""A scope's order history is sliced from the company's kept one: it must equal the one
read from that scope's own order lines (purchase cycles for reorders, order days for CLV)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from actions import data
from store import frames
from store.demo import DemoParams, generate_demo, write_demo

TODAY = dt.date(2026, 6, 30)


@pytest.fixture
def demo_store(action_env):
    write_demo(action_env, generate_demo(DemoParams(end_date=TODAY, accounts=120, seed=3, years=2)))
    data.reset()
    yield action_env
    data.reset()


def test_scope_order_history_equals_the_one_read_from_its_lines(demo_store):
    engine = demo_store
    accounts = frames.accounts(engine)
    owner = int(accounts["owner_id"].dropna().iloc[0])
    scopes = {
        "one rep": sorted(
            int(a) for a in accounts.loc[accounts["owner_id"] == owner, "account_id"]
        ),
        "a few accounts": sorted(int(a) for a in accounts["account_id"].iloc[[3, 40, 41, 90]]),
        "no such account": [999_999],
        "everyone": sorted(int(a) for a in accounts["account_id"]),
    }
    for name, ids in scopes.items():
        kept = data.order_history(engine, TODAY, ids)
        read = data._read_order_history(engine, TODAY, tuple(ids))
        assert kept.accounts == read.accounts == len(ids), name
        pd.testing.assert_frame_equal(kept.cycles, read.cycles)
        pd.testing.assert_frame_equal(kept.order_days, read.order_days)
    assert len(data.order_history(engine, TODAY, scopes["one rep"]).cycles) > 0
