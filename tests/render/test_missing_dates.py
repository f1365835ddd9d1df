"""Dates the CRM left empty (None, NaT, NaN, pandas NA) read as missing in every answer."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from render import fmt
from render.accounts import overview


@pytest.mark.parametrize("empty", [None, pd.NaT, np.nan, pd.NA, ""])
def test_an_empty_date_reads_as_missing(empty):
    assert fmt.day(empty) is None
    assert fmt.date(empty) == "n/a"


def test_dates_of_every_kind_read_the_same():
    for value in (
        dt.date(2025, 3, 5),
        pd.Timestamp("2025-03-05"),
        "2025-03-05",
        "2025-03-05T10:00",
    ):
        assert fmt.date(value) == "Mar 5, 2025"


def test_overview_lists_open_deals_with_and_without_close_dates():
    answer = overview(
        account={"account_id": 1, "name": "Globex Corporation", "segment": "Retail"},
        health=None,
        categories=[],
        recommendations=[],
        open_deals=[
            {
                "opportunity_id": 1,
                "name": "Renewal",
                "stage": "needs_analysis",
                "amount": 1000.0,
                "close_date": pd.NaT,
            },
            {
                "opportunity_id": 2,
                "name": "Expansion",
                "stage": "needs_analysis",
                "amount": 500.0,
                "close_date": pd.Timestamp("2025-07-01"),
            },
        ],
        owner_name=None,
    )
    lines = {line.split(" — ")[0]: line for line in answer.text.splitlines() if " — " in line}
    assert lines["• Renewal"].endswith(", no close date")
    assert lines["• Expansion"].endswith(", closes Jul 1, 2025")
    assert "Needs analysis" in answer.text and "needs_analysis" not in answer.text
    assert [d["close_date"] for d in answer.data["open_deals"]] == [None, "2025-07-01"]
