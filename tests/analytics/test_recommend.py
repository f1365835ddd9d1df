"""Pitch rules on tiny hand-built books of accounts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from analytics.errors import ModelNotFittedError
from analytics.recommend import RECOMMENDATION_COLUMNS, PeerRecommender

D = dt.date
AS_OF = D(2024, 12, 31)


def _lines(rows: list[tuple[int, dt.date, str, int, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["account_id", "order_date", "category", "product_id", "amount"]
    )
    frame["order_date"] = pd.to_datetime(frame["order_date"]).astype("datetime64[ns]")
    frame.insert(1, "order_id", np.arange(len(frame)))
    frame["quantity"] = 1.0
    return frame


def _monthly(account: int, category: str, product: int, yearly: float, months=range(1, 13)):
    """One order a month in 2024 worth ``yearly / 12``."""
    return [(account, D(2024, m, 15), category, product, yearly / 12) for m in months]


def _hospitality_book():
    """Account 1 (Acme) buys Food only; of its five peers three also buy Disposables for
    $14,000 a year (product 20 by two of them, product 21 by one)."""
    rows = _monthly(1, "Food", 10, 24_000)
    for account in (2, 3, 4, 5, 6):
        rows += _monthly(account, "Food", 10, 24_000)
    rows += _monthly(2, "Disposables", 20, 14_000)
    rows += _monthly(3, "Disposables", 20, 14_000)
    rows += _monthly(4, "Disposables", 21, 14_000)
    accounts = pd.DataFrame(
        {
            "account_id": [1, 2, 3, 4, 5, 6],
            "name": ["Acme", "B", "C", "D", "E", "F"],
            "segment": ["Hospitality"] * 6,
        }
    )
    return _lines(rows), accounts


def test_peer_gap_is_recommended_with_the_numbers_behind_it():
    lines, accounts = _hospitality_book()
    rec = PeerRecommender(n_peers=5).fit(lines, accounts, as_of=AS_OF)
    got = rec.recommend([1])
    # no model can be learnt from six accounts: probability = 0.7 x weighted peer rate +
    # 0.3 x affinity; the peers' weights rise with their spend rank in the segment
    # (spend percentile with ties averaged: B, C, D share ranks 4-6, Acme, E, F ranks 1-3)
    weights = 1 + 2 * np.array([5 / 6, 5 / 6, 5 / 6, 2 / 6, 2 / 6])  # B, C, D then E, F
    peer_rate = weights[:3].sum() / weights.sum()
    probability = 0.7 * peer_rate + 0.3 * (3 / 6)  # 3 of the 6 Food buyers buy Disposables
    expected = pd.DataFrame(
        {
            "account_id": [1],
            "rank": [1],
            "kind": ["cross_sell"],
            "category": ["Disposables"],
            "product_id": pd.array([20], dtype="Int64"),
            "expected_value": [round(probability * 14_000, 2)],
            "probability": [round(probability, 4)],
            "peer_share": [0.6],
            "peer_spend": [14_000.0],
            "reason": [
                "3 of its 5 closest peers (similar hospitality accounts) buy Disposables; peers of Acme's size spend "
                "about $14k a year on it; often bought with Food, which Acme already buys"
            ],
        },
        columns=RECOMMENDATION_COLUMNS,
    )
    assert_frame_equal(got, expected, check_exact=False, atol=0.02)


def test_steady_category_is_never_recommended():
    lines, accounts = _hospitality_book()
    got = PeerRecommender(n_peers=5).fit(lines, accounts, as_of=AS_OF).recommend()
    bought = set(map(tuple, lines[["account_id", "category"]].drop_duplicates().to_numpy()))
    pitched = set(map(tuple, got[["account_id", "category"]].to_numpy()))
    assert not (pitched & bought)
    assert set(got["account_id"]) == {1, 5, 6}  # the three accounts without Disposables


def test_lapsed_category_is_offered_as_win_back():
    lines, accounts = _hospitality_book()
    # account 5 bought Cleaning monthly in 2023 ($6,000 a year) and stopped in December 2023
    old = [(5, D(2023, m, 10), "Cleaning", 30, 500.0) for m in range(1, 13)]
    lines = pd.concat([lines, _lines(old)], ignore_index=True)
    got = PeerRecommender(n_peers=5).fit(lines, accounts, as_of=AS_OF).recommend([5])
    win = got[got["kind"] == "win_back"].iloc[0]
    assert win["category"] == "Cleaning"
    assert win["product_id"] == 30
    assert win["reason"].startswith(
        "E bought Cleaning every 30 days (about $6k a year) and stopped 55 weeks ago"
    )


def test_recommend_needs_fit():
    with pytest.raises(ModelNotFittedError):
        PeerRecommender().recommend()


def test_on_demand_answer_from_fresh_lines_matches_the_batch():
    lines, accounts = _hospitality_book()
    rec = PeerRecommender(n_peers=5).fit(lines, accounts, as_of=AS_OF)
    fresh = rec.recommend_for(
        lines[lines["account_id"] == 1], accounts[accounts["account_id"] == 1]
    )
    assert_frame_equal(fresh, rec.recommend([1]))
    # an account that arrived after the batch is matched against the fitted peers
    newcomer = _lines(_monthly(7, "Food", 10, 24_000, months=range(7, 13)))
    got = rec.recommend_for(
        newcomer, pd.DataFrame({"account_id": [7], "name": ["Gusto"], "segment": ["Hospitality"]})
    )
    assert got["category"].tolist() == ["Disposables"]
    # its five nearest peers: the three Food-only accounts and two of the three that also buy
    # Disposables
    assert got.loc[0, "reason"].startswith(
        "2 of its 5 closest peers (similar hospitality accounts) buy Disposables"
    )


def test_adoption_rate_counts_first_purchases_among_customers_who_lacked_the_category():
    # at 2024-12-31, a year back is 2024-01-01: accounts 1-4 were customers then (Food in
    # 2023); 1 and 2 also had Disposables; of the two without it (3, 4), 3 took it up in 2024.
    # Account 5 started in 2024, so it was not at risk. Popularity of Disposables = 3 of 5.
    rows = [(a, D(2023, 6, 1), "Food", 10, 100.0) for a in (1, 2, 3, 4)]
    rows += [(a, D(2023, 7, 1), "Disposables", 20, 50.0) for a in (1, 2)]
    rows += [(3, D(2024, 5, 1), "Disposables", 20, 50.0), (5, D(2024, 3, 1), "Food", 10, 100.0)]
    rec = PeerRecommender(n_peers=2).fit(_lines(rows), as_of=AS_OF)
    rate = dict(zip(rec.profiles_.categories, rec.reference_.adoption_rate, strict=True))
    assert rate["Disposables"] == pytest.approx((1 + 20 * 3 / 5) / (2 + 20))
    # nobody at risk for Food (every 2023 customer had it): its popularity, 5 of 5
    assert rate["Food"] == pytest.approx(1.0)


def test_dormant_account_gets_its_win_back_first_and_new_categories_after_it():
    lines, accounts = _hospitality_book()
    # account 7 bought Cleaning monthly through 2022 and nothing since: silent two years, far
    # beyond its monthly rhythm, so it is dormant
    old = [(7, D(2022, m, 10), "Cleaning", 30, 500.0) for m in range(1, 13)]
    accounts = pd.concat(
        [accounts, pd.DataFrame({"account_id": [7], "name": ["G"], "segment": ["Hospitality"]})]
    )
    lines = pd.concat([lines, _lines(old)], ignore_index=True)
    rec = PeerRecommender(n_peers=5).fit(lines, accounts, as_of=AS_OF)
    got = rec.recommend([7])
    assert got["kind"].tolist()[0] == "win_back"
    assert got["category"].tolist()[0] == "Cleaning"
    assert set(got["category"].tolist()[1:]) == {"Food", "Disposables"}
    assert (got["kind"].iloc[1:] == "cross_sell").all()
    food = got[got["category"] == "Food"].iloc[0]["reason"]
    assert "which G used to buy" in food
    assert food.endswith("G has bought nothing for 107 weeks, so win it back first")


def test_an_account_that_orders_every_two_years_is_not_dormant_after_one_quiet_year():
    rows = [(1, D(y, 3, 1), "Food", 10, 100.0) for y in (2018, 2020, 2022)]
    rows += [(2, D(2022, 3, 1), "Food", 10, 100.0)]
    rows += [(3, D(2021, 3, 1), "Food", 10, 100.0), (3, D(2021, 4, 1), "Food", 10, 100.0)]
    rec = PeerRecommender(n_peers=2).fit(_lines(rows), as_of=D(2023, 6, 1))
    dormant = dict(zip(rec.profiles_.account_ids, rec.profiles_.dormant(365), strict=True))
    # 1: 15 months quiet, usual gap two years; 2: one order day, 15 months quiet;
    # 3: usual gap a month, quiet 26 months
    assert dormant == {1: False, 2: True, 3: True}
