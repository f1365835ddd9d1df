from __future__ import annotations

from collections.abc import Iterator

import pytest

from actions import data
from actions.settings import get_settings
from tests.actions.conftest import action_env  # noqa: F401  (the fixture, shared)
from tests.slack.fakeslack import FakeSlack


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack(users={"UVERA": "vera@example.com", "UCY": "cy@example.com"}) as slack:
        yield slack


@pytest.fixture
def digest_actions(action_env, monkeypatch):  # noqa: F811
    """The action server's settings on the test store, answering as of the seed's day."""
    monkeypatch.setenv("SALESBOT_AS_OF", "2026-03-02")
    get_settings.cache_clear()
    data.reset()
    yield action_env
    data.reset()
    get_settings.cache_clear()
