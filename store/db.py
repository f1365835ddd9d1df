"""Engine and session factories.

Nothing here runs at import: callers build an engine from a URL (their settings
decide which) and keep it. SQLite gets WAL, a busy timeout and foreign keys, so a
bot, an action server and a batch job can share one file. PostgreSQL is used as is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

DEFAULT_HOME = Path("var")


class StoreUnavailableError(RuntimeError):
    """The database cannot be reached or opened."""


def default_database_url(home: Path | str | None = None) -> str:
    """SQLite file ``<home>/salesbot.db``; ``home`` defaults to ``$SALESBOT_HOME`` or ``./var``."""
    base = Path(home or os.environ.get("SALESBOT_HOME") or DEFAULT_HOME)
    return f"sqlite:///{(base / 'salesbot.db').resolve()}"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _normalise(url: str) -> str:
    """Accept the usual ``postgres://`` / ``postgresql://`` spellings and use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


INTERACTIVE_STATEMENT_TIMEOUT_MS = 10_000
"""How long one statement of an answer may run on PostgreSQL before the server stops it
(batch jobs have no such bound: a nightly load may rightly take minutes)."""


def _postgres_connect_args(url: str, interactive: bool) -> dict[str, Any]:
    """Bounded waits on PostgreSQL: connecting, dead or silent peers (TCP keepalives and
    unacknowledged writes) and, for answers, statements and locks (added to any ``options``
    the URL already carries, such as a search_path)."""
    args: dict[str, Any] = {
        "connect_timeout": 5,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 15_000,
    }
    if interactive:
        given = make_url(url).query.get("options") or ""
        if not isinstance(given, str):
            given = " ".join(given)
        args["options"] = (
            f"{given} -c statement_timeout={INTERACTIVE_STATEMENT_TIMEOUT_MS} "
            "-c lock_timeout=5000 -c idle_in_transaction_session_timeout=60000"
        ).strip()
    return args


def make_engine(url: str, *, echo: bool = False, interactive: bool = False) -> Engine:
    """Build an engine for ``url``; creates the SQLite file's folder when needed.

    ``interactive`` engines (the bot and the action server, which answer people) get a
    statement and lock timeout on PostgreSQL; every engine gets bounded connect and TCP
    waits."""
    url = _normalise(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args=_postgres_connect_args(url, interactive),
    )


@lru_cache(maxsize=8)
def cached_engine(url: str, *, interactive: bool = False) -> Engine:
    """One engine per URL per process (engines own connection pools)."""
    return make_engine(url, interactive=interactive)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise StoreUnavailableError(str(exc.orig) if exc.orig else str(exc)) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def check_connection(engine: Engine) -> None:
    """Raise :class:`StoreUnavailableError` unless the database answers."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        raise StoreUnavailableError(str(exc.orig) if exc.orig else str(exc)) from exc
