"""The Slack app manifest asks for what the listeners need, and nothing is left out."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.slack.slash import SLASH_COMMAND

ROOT = Path(__file__).resolve().parents[2]


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))


def test_manifest_subscribes_to_the_events_and_command_the_bot_answers():
    app = manifest()
    assert set(app["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_home_opened",
        "app_mention",
        "message.im",
        "message.channels",  # transcripts posted in the call-review channel
        "message.groups",
    }
    assert [c["command"] for c in app["features"]["slash_commands"]] == [SLASH_COMMAND]
    assert app["settings"]["interactivity"]["is_enabled"] is True
    assert app["features"]["app_home"]["home_tab_enabled"] is True
    assert app["settings"]["socket_mode_enabled"] is True


def test_manifest_scopes_cover_the_web_api_methods_used():
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    needed = {
        "chat:write",  # chat.postMessage, chat.postEphemeral, chat.update
        "users:read",  # users.info
        "users:read.email",  # the e-mail that links a Slack user to a rep
        "im:write",  # conversations.open
        "im:history",  # message.im
        "app_mentions:read",  # app_mention
        "commands",  # /sales
        "files:write",  # files_upload_v2
        "files:read",  # files.info and url_private of shared transcripts
        "channels:history",  # message.channels
        "groups:history",  # message.groups
    }
    assert needed <= scopes


def test_manifest_texts_are_within_slacks_limits():
    info = manifest()["display_information"]
    assert len(info["name"]) <= 35
    assert len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
