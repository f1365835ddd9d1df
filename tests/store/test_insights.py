"""Insight tables round-trip on SQLite and PostgreSQL; ``salesbot score --out`` end to end."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlmodel import Session
from typer.testing import CliRunner

from bot.cli import build_app
from bot.settings import get_settings
from store import insights
from store.models import Account, Order, OrderLine, Product, Rep

AS_OF = dt.date(2024, 6, 30)


def _book(engine) -> tuple[list[int], list[int]]:
    with Session(engine) as session:
        accounts = [Account(external_id=f"A{i}", name=f"Account {i}") for i in range(3)]
        products = [Product(external_id="P1", name="Napkins", category="Disposables")]
        session.add_all(accounts + products)
        session.commit()
        return [a.id for a in accounts], [p.id for p in products]  # type: ignore[misc]


def _health(account_ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": account_ids,
            "status": ["slipping", "healthy", "one_off"],
            "score": [0.81, 0.1, 0.0],
            "revenue_at_risk": [12_000.5, 300.0, 0.0],
            "annual_revenue": [15_000.0, 3_000.0, 0.0],
            "cycle_days": [12.0, 30.0, np.nan],
            "days_since_last_order": [47, 10, 200],
            "spend_change": [-0.38, 0.05, np.nan],
            "spend_change_ly": [-0.4, np.nan, np.nan],
            "orders": [30, 8, 1],
            "reason": [
                "usually orders every 12 days (median of its last 12 gaps); 47 days since the last order",
                "fine",
                "once",
            ],
        }
    )


def test_account_health_round_trip_and_partial_replace(engine):
    account_ids, _ = _book(engine)
    run_id = insights.start_run(engine, AS_OF)
    written = insights.replace_account_health(
        engine, _health(account_ids), as_of=AS_OF, run_id=run_id
    )
    insights.finish_run(engine, run_id, accounts_scored=3, recommendations=0)
    assert written == 3
    got = insights.read_account_health(engine)
    expected = _health(account_ids).drop(columns=["spend_change_ly", "orders"])
    assert_frame_equal(got[expected.columns].reset_index(drop=True), expected, check_dtype=False)
    assert got["run_id"].tolist() == [run_id] * 3
    assert got["as_of"].tolist() == [pd.Timestamp(AS_OF)] * 3
    assert got.loc[0, "details"] == {"spend_change_ly": -0.4, "orders": 30}
    assert got.loc[1, "details"] == {"spend_change_ly": None, "orders": 8}
    assert insights.latest_run(engine)["accounts_scored"] == 3

    # refreshing one account leaves the others alone
    fresh = _health(account_ids).iloc[[1]].assign(status="watch", score=0.5)
    insights.replace_account_health(engine, fresh, as_of=AS_OF, account_ids=[account_ids[1]])
    again = insights.read_account_health(engine).set_index("account_id")
    assert again.loc[account_ids[1], "status"] == "watch"
    assert again.loc[account_ids[0], "status"] == "slipping"
    assert len(again) == 3
    slipping = insights.read_account_health(engine, statuses=["slipping"])
    assert slipping["account_id"].tolist() == [account_ids[0]]


def test_category_health_and_recommendations_round_trip(engine):
    account_ids, product_ids = _book(engine)
    categories = pd.DataFrame(
        {
            "account_id": [account_ids[0], account_ids[0]],
            "category": ["Cleaning Supplies", "Disposables"],
            "status": ["slipping", "healthy"],
            "score": [0.7, 0.05],
            "revenue_at_risk": [4_000.0, 10.0],
            "cycle_days": [7.0, 7.0],
            "days_since_last_order": [63, 3],
            "reason": [
                "still orders Disposables, stopped buying Cleaning Supplies 9 weeks ago",
                "ok",
            ],
        }
    )
    insights.replace_category_health(engine, categories, as_of=AS_OF)
    got = insights.read_category_health(engine)
    assert_frame_equal(got[categories.columns], categories, check_dtype=False)

    recs = pd.DataFrame(
        {
            "account_id": [account_ids[1], account_ids[1]],
            "rank": [1, 2],
            "kind": ["cross_sell", "win_back"],
            "category": ["Disposables", "Cleaning Supplies"],
            "product_id": pd.array([product_ids[0], None], dtype="Int64"),
            "expected_value": [9_000.0, 1_500.0],
            "peer_share": [0.81, np.nan],
            "reason": ["81% of similar hospitality accounts buy Disposables", "win it back"],
        }
    )
    assert insights.replace_recommendations(engine, recs, as_of=AS_OF) == 2
    got = insights.read_recommendations(engine, account_ids=[account_ids[1]])
    assert_frame_equal(got[recs.columns], recs, check_dtype=False)
    # a full replace drops what is not in the new frame
    insights.replace_recommendations(engine, recs.iloc[:1], as_of=AS_OF)
    assert len(insights.read_recommendations(engine)) == 1


def test_frame_without_required_column_is_rejected(engine):
    account_ids, _ = _book(engine)
    with pytest.raises(insights.InsightFrameError, match="reason"):
        insights.replace_account_health(
            engine, _health(account_ids).drop(columns=["reason"]), as_of=AS_OF
        )


def _write_store(engine) -> None:
    """Two reps' book: Acme orders weekly and stopped in April; Bistro orders weekly still."""
    with Session(engine) as session:
        rep = Rep(external_id="r1", name="Rita Rep", email="rita@example.com")
        session.add(rep)
        session.flush()
        acme = Account(external_id="ACME", name="Acme", segment="Hospitality", owner_id=rep.id)
        bistro = Account(external_id="BIS", name="Bistro", segment="Hospitality", owner_id=rep.id)
        napkins = Product(external_id="N", name="Napkins", category="Disposables", unit_price=10)
        soap = Product(external_id="S", name="Soap", category="Cleaning Supplies", unit_price=5)
        session.add_all([acme, bistro, napkins, soap])
        session.flush()
        day = dt.date(2023, 7, 3)
        n = 0
        while day <= AS_OF:
            for account, stop in ((acme, dt.date(2024, 4, 1)), (bistro, AS_OF)):
                if day > stop:
                    continue
                n += 1
                order = Order(external_id=f"O{n}", account_id=account.id, order_date=day)
                session.add(order)
                session.flush()
                items = [(napkins, 10)] + ([(soap, 4)] if account is bistro else [])
                for product, qty in items:
                    session.add(
                        OrderLine(
                            order_id=order.id, line_key=product.external_id, account_id=account.id,
                            product_id=product.id, order_date=day, quantity=qty,
                            unit_price=product.unit_price, amount=qty * product.unit_price,
                        )
                    )  # fmt: skip
            day += dt.timedelta(days=7)
        session.commit()


def test_score_command_writes_tables_and_csvs(sqlite_engine, sqlite_url, tmp_path, monkeypatch):
    _write_store(sqlite_engine)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            build_app(), ["score", "--as-of", AS_OF.isoformat(), "--out", str(tmp_path / "out")]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "scored 2 accounts as of 2024-06-30" in result.output

    health = pd.read_csv(tmp_path / "out" / "health.csv")
    assert list(health.columns) == [
        "account_id", "external_id", "name", "owner", "status", "score", "revenue_at_risk", "reason",
    ]  # fmt: skip
    acme = health.set_index("external_id").loc["ACME"]
    assert acme["status"] == "slipping"
    assert acme["owner"] == "rita@example.com"
    assert acme["reason"].startswith(
        "usually orders every 7 days (median of its last 12 gaps); 13 weeks since the last order"
    )
    assert health.set_index("external_id").loc["BIS", "status"] == "healthy"

    pitch = pd.read_csv(tmp_path / "out" / "pitch.csv")
    assert list(pitch.columns) == [
        "account_id", "external_id", "rank", "category", "product", "expected_value", "reason",
    ]  # fmt: skip
    assert pitch[["external_id", "rank", "category", "product"]].values.tolist() == [
        ["ACME", 1, "Cleaning Supplies", "Soap"]
    ]
    stored = insights.read_account_health(sqlite_engine)
    assert set(stored["status"]) == {"slipping", "healthy"}
    assert insights.latest_run(sqlite_engine)["as_of"] == AS_OF


def test_score_command_rejects_a_bad_date(sqlite_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(build_app(), ["score", "--as-of", "last tuesday"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "--as-of must be a date like" in result.output
