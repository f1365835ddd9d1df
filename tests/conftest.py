"""Shared fixtures: a migrated store on SQLite and on PostgreSQL, isolated per test.

PostgreSQL tests use a fresh schema per test on ``$TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). They skip when the server is not
reachable, except under ``CI=true`` where an unreachable server is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from store.db import make_engine
from store.migrate import upgrade

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_admin() -> Engine:
    return create_engine(
        POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )


def _require_postgres() -> None:
    try:
        with _postgres_admin().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not reachable"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required in CI and not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")


@pytest.fixture(autouse=True)
def _private_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test runs with its own empty ``SALESBOT_HOME``: what one writes there (fitted
    models, the identity key, a default SQLite file) never reaches the working copy's
    ``var/`` or another test. Tests that need a particular home set it themselves."""
    monkeypatch.setenv("SALESBOT_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("DATABASE_URL", raising=False)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of an empty, private PostgreSQL schema, dropped after the test."""
    _require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = _postgres_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'salesbot.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """A migrated-database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url) -> Iterator[Engine]:
    eng = make_engine(sqlite_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


STACK_AS_OF = "2026-06-30"


def _seed_stack(engine) -> None:
    """A small demo distributor, scored: what `make demo` loads, at test size."""
    import datetime as dt

    from bot.cli.score import score_book
    from store.demo import DemoParams, generate_demo, write_demo

    end = dt.date.fromisoformat(STACK_AS_OF)
    write_demo(engine, generate_demo(DemoParams(end_date=end, accounts=300, seed=11, years=3)))
    score_book(engine, end)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The real action server, Rasa and bot on a seeded SQLite store (started once per
    test process; tests using it carry ``@pytest.mark.xdist_group("stack")``)."""
    from tests.stack import start_stack

    running = start_stack(tmp_path_factory.mktemp("stack"), seed=_seed_stack, as_of=STACK_AS_OF)
    yield running
    running.stop()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Keep ``--dist loadgroup`` groups together under pytest 9.2.

    pytest-xdist 3.8 sends each ``xdist_group`` to one worker by appending ``@<group>`` to
    the node id through ``item._nodeid``; pytest 9.2 keeps node ids in ``item._id``, so the
    suffix was lost and both workers started their own Rasa stacks. Applied only on
    workers of a ``--dist loadgroup`` run, and only where xdist's own suffix is missing.
    """
    if not config.getoption("loadgroup", default=False):
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # older pytest: xdist's own suffix works
        return
    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if names and "@" not in item.nodeid.rsplit("]", 1)[-1] and hasattr(item, "_id"):
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(sorted(names))}")
