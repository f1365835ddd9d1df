"""Engines that answer people never wait unboundedly on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from store.db import INTERACTIVE_STATEMENT_TIMEOUT_MS, make_engine


@pytest.mark.postgres
def test_interactive_engine_bounds_statements_and_keeps_the_urls_own_options(postgres_url):
    engine = make_engine(postgres_url, interactive=True)
    batch = make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            timeout = conn.exec_driver_sql("SHOW statement_timeout").scalar()
            lock = conn.exec_driver_sql("SHOW lock_timeout").scalar()
            path = conn.exec_driver_sql("SHOW search_path").scalar()
            conn.exec_driver_sql("SET statement_timeout = 200")
            with pytest.raises(OperationalError, match="statement timeout"):
                conn.exec_driver_sql("SELECT pg_sleep(5)")
        assert timeout == f"{INTERACTIVE_STATEMENT_TIMEOUT_MS // 1000}s"
        assert lock == "5s"
        # the test URL selects its own schema through options=-csearch_path=...
        assert path == postgres_url.rsplit("%3D", 1)[1]
        with batch.connect() as conn:
            # a nightly load may rightly run for minutes
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
    finally:
        engine.dispose()
        batch.dispose()
