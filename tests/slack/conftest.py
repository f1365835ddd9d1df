"""Fixtures for the Slack tests: a fake Slack Web API and a small seeded store.

The book: Maria (rep, Slack id stored) owns Acme Corp (slipping) and Globex (healthy);
Tom (rep, known to Slack only by e-mail) owns Initech (lapsed). UGUEST is a workspace
member who is no rep.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from store.models import (
    Account,
    AccountHealth,
    Opportunity,
    Product,
    Recommendation,
    Rep,
    RepRole,
    ScoreRun,
)
from tests.slack.fakeslack import FakeSlack

AS_OF = dt.date(2026, 3, 1)


@dataclass(frozen=True)
class Book:
    maria_id: int
    tom_id: int
    acme_id: int
    globex_id: int
    initech_id: int


def seed_book(engine: Engine) -> Book:
    with Session(engine, expire_on_commit=False) as s:
        maria = Rep(
            external_id="R1", name="Maria Lopez", email="maria@example.com", slack_user_id="UMARIA"
        )
        tom = Rep(external_id="R2", name="Tom Berg", email="tom@example.com", role=RepRole.rep)
        s.add_all([maria, tom])
        s.flush()
        acme = Account(external_id="A1", name="Acme Corp", owner_id=maria.id, segment="retail")
        globex = Account(external_id="A2", name="Globex", owner_id=maria.id, segment="retail")
        initech = Account(external_id="A3", name="Initech", owner_id=tom.id, segment="retail")
        cheese = Product(external_id="P1", name="Gorgonzola Telino", category="Dairy")
        s.add_all([acme, globex, initech, cheese])
        s.flush()
        run = ScoreRun(
            as_of=AS_OF,
            accounts_scored=3,
            recommendations=2,
            finished_at=dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC),
        )
        s.add(run)
        s.flush()
        s.add_all(
            [
                AccountHealth(
                    account_id=acme.id, run_id=run.id, as_of=AS_OF, status="slipping", score=0.82,
                    revenue_at_risk=12_000.0, annual_revenue=48_000.0, cycle_days=30.0,
                    days_since_last_order=75, reason="orders every 30 days; none for 75 days",
                ),
                AccountHealth(
                    account_id=globex.id, run_id=run.id, as_of=AS_OF, status="healthy", score=0.1,
                    revenue_at_risk=0.0, annual_revenue=20_000.0, reason="ordering on its usual cycle",
                ),
                AccountHealth(
                    account_id=initech.id, run_id=run.id, as_of=AS_OF, status="lapsed", score=0.95,
                    revenue_at_risk=30_000.0, annual_revenue=30_000.0, days_since_last_order=200,
                    reason="no order for 200 days",
                ),
                Recommendation(
                    account_id=globex.id, rank=1, run_id=run.id, as_of=AS_OF, kind="cross_sell",
                    category="Dairy", product_id=cheese.id, expected_value=5_400.0, peer_share=0.7,
                    reason="7 of 10 similar retailers buy Dairy",
                ),
                Recommendation(
                    account_id=initech.id, rank=1, run_id=run.id, as_of=AS_OF, kind="win_back",
                    category="Beverages", expected_value=9_000.0, reason="bought Beverages until May",
                ),
                Opportunity(
                    external_id="O1", name="Acme renewal", account_id=acme.id, owner_id=maria.id,
                    amount=10_000.0, stage="Prospecting", created_date=dt.date(2026, 1, 10),
                    close_date=dt.date(2026, 3, 20),
                ),
                Opportunity(
                    external_id="O2", name="Globex expansion", account_id=globex.id, owner_id=maria.id,
                    amount=20_000.0, stage="Negotiation", created_date=dt.date(2026, 1, 20),
                    close_date=dt.date(2026, 5, 10),
                ),
                Opportunity(
                    external_id="O3", name="Initech pilot", account_id=initech.id, owner_id=tom.id,
                    amount=50_000.0, stage="Negotiation", created_date=dt.date(2026, 2, 1),
                    close_date=dt.date(2026, 3, 15),
                ),
            ]
        )  # fmt: skip
        s.commit()
        assert maria.id and tom.id and acme.id and globex.id and initech.id
        return Book(maria.id, tom.id, acme.id, globex.id, initech.id)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack(
        users={
            "UMARIA": "maria@example.com",
            "UTOM": "tom@example.com",
            "UGUEST": "guest@example.com",
        }
    ) as slack:
        yield slack


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def book(sqlite_engine: Engine) -> Book:
    return seed_book(sqlite_engine)


@pytest.fixture
def store_url(sqlite_engine: Engine, book: Book) -> str:
    """URL of the seeded SQLite store."""
    return url_of(sqlite_engine)
