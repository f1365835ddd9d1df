from __future__ import annotations

import pytest

from actions.settings import get_settings
from store.db import cached_engine
from tests.actions.harness import SECRET


@pytest.fixture
def action_env(db_url, engine, monkeypatch):
    """Point the action settings at the test store and secret (fresh caches)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SALESBOT_IDENTITY_SECRET", SECRET)
    monkeypatch.delenv("SALESBOT_AS_OF", raising=False)
    get_settings.cache_clear()
    cached_engine.cache_clear()
    yield engine
    get_settings.cache_clear()
    cached_engine.cache_clear()
