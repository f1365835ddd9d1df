"""Fixtures for the reliability tests: a small scored demo company on SQLite (what
``make demo`` loads, at test size) and the action server's settings pointed at it.

The demo company (``store.demo``): Dana Whitfield (VP) manages Priya Shah, Marcus Bell and
Elena Novak, who manage the reps; Sam Okafor is an admin. Jordan Reyes and Aisha Grant are
reps on Priya's team; Hannah Olsen is a rep on Marcus's team.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from actions import data
from actions.settings import get_settings
from store.db import cached_engine, make_engine
from store.demo import DEMO_MANAGER_EMAIL, DEMO_REP_EMAIL
from store.migrate import upgrade
from store.models import Rep
from tests.actions.harness import SECRET
from tests.slack.conftest import book, fake_slack, store_url  # noqa: F401  (shared fixtures)

AS_OF = dt.date(2026, 6, 30)


@dataclass(frozen=True)
class DemoStore:
    url: str
    engine: Engine
    reps: dict[str, int]
    """Rep id by first name, lower case ("jordan", "priya", "hannah", ...)."""

    def rep_name(self, key: str) -> str:
        with Session(self.engine) as session:
            rep = session.get(Rep, self.reps[key])
            assert rep is not None
            return rep.name


def seed_demo(engine: Engine, *, accounts: int = 150) -> None:
    """The demo distributor (two years of history up to ``AS_OF``), scored."""
    from bot.cli.score import score_book
    from store.demo import DemoParams, generate_demo, write_demo

    write_demo(
        engine, generate_demo(DemoParams(end_date=AS_OF, accounts=accounts, seed=11, years=2))
    )
    score_book(engine, AS_OF)


def open_demo(path: Path) -> DemoStore:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    seed_demo(engine)
    with Session(engine) as session:
        reps = {r.name.split()[0].lower(): int(r.id or 0) for r in session.exec(select(Rep))}
    return DemoStore(url=url, engine=engine, reps=reps)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> Iterator[DemoStore]:
    """One scored demo store per test process; tests must not change it (bad-input tests
    check that nothing was written)."""
    store = open_demo(tmp_path_factory.mktemp("reliability-demo") / "salesbot.db")
    yield store
    data.reset()  # the kept frames of this store (actions.data) go with it
    store.engine.dispose()


@pytest.fixture
def actions_env(demo_store, monkeypatch) -> Iterator[DemoStore]:
    """The action server's settings on the demo store, answering as of its last day."""
    monkeypatch.setenv("DATABASE_URL", demo_store.url)
    monkeypatch.setenv("SALESBOT_IDENTITY_SECRET", SECRET)
    monkeypatch.setenv("SALESBOT_AS_OF", AS_OF.isoformat())
    monkeypatch.setenv("SALESBOT_LIST_SIZE", "5")
    get_settings.cache_clear()
    cached_engine.cache_clear()
    yield demo_store
    get_settings.cache_clear()
    cached_engine.cache_clear()


SLACK_USERS = {
    "UJORDAN": DEMO_REP_EMAIL,
    "UPRIYA": DEMO_MANAGER_EMAIL,
    "UGHOST": "ghost@elsewhere.example",
}
"""Slack users of the cluster's fake workspace: Jordan (a rep), Priya (his manager) and a
member who is no rep."""


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """Two replicas on PostgreSQL (store and Rasa tracker store) and Redis (Rasa's lock
    store): replica A under ``salesbot serve``, replica B started directly (see
    :mod:`tests.reliability.cluster`). Started once per test process."""
    from tests.conftest import _require_postgres
    from tests.reliability.cluster import start_cluster

    _require_postgres()
    running = start_cluster(
        tmp_path_factory.mktemp("cluster"),
        seed=seed_demo,
        slack_users=SLACK_USERS,
        as_of=AS_OF.isoformat(),
    )
    yield running
    running.stop()
