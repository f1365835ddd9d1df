"""Which Slack mode the settings ask for."""

from __future__ import annotations

import pytest

from bot.settings import Settings
from bot.slack import SlackMode, slack_config_problem, slack_mode


def settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("values", "mode"),
    [
        ({}, None),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, SlackMode.socket),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SLACK_SIGNING_SECRET": "s"},
            SlackMode.socket,
        ),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, SlackMode.http),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "", "SLACK_SIGNING_SECRET": "s"},
            SlackMode.http,
        ),
        ({"SLACK_BOT_TOKEN": "", "SLACK_APP_TOKEN": "", "SLACK_SIGNING_SECRET": ""}, None),
        ({"SLACK_APP_TOKEN": "xapp-1"}, None),
    ],
)
def test_mode_follows_the_tokens_that_are_set(values, mode):
    assert slack_mode(settings(**values)) == mode


def test_half_filled_settings_say_what_is_missing():
    assert slack_config_problem(settings()) is None
    assert (
        slack_config_problem(settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")) is None
    )
    assert "Socket Mode needs both" in str(slack_config_problem(settings(SLACK_APP_TOKEN="xapp-1")))
    assert "HTTP mode needs both" in str(slack_config_problem(settings(SLACK_SIGNING_SECRET="s")))
    assert "neither SLACK_APP_TOKEN" in str(
        slack_config_problem(settings(SLACK_BOT_TOKEN="xoxb-1"))
    )
