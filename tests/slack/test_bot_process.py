"""``python -m bot`` (what ``salesbot serve`` starts) in each Slack mode, as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bot import messages
from tests.slack.harness import (
    APP_TOKEN,
    BOT_TOKEN,
    IDENTITY_SECRET,
    SIGNING_SECRET,
    closed_port,
    dm_event,
    event_envelope,
    free_port,
    signed_headers,
)

pytestmark = pytest.mark.slow
START_TIMEOUT = 120.0


@contextmanager
def bot_process(tmp_path: Path, store_url: str, **slack_env: str) -> Iterator[tuple[str, Path]]:
    dead = f"http://127.0.0.1:{closed_port()}"
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SALESBOT_", "RASA_"))
    }
    env.update(
        {
            "SALESBOT_HOME": str(tmp_path / "home"),
            "DATABASE_URL": store_url,
            "SALESBOT_HOST": "127.0.0.1",
            "SALESBOT_BOT_PORT": str(port),
            "RASA_URL": dead,
            "ACTION_SERVER_URL": dead,
            "SALESBOT_IDENTITY_SECRET": IDENTITY_SECRET,
            "PYTHONUNBUFFERED": "1",
            **slack_env,
        }
    )
    log_path = tmp_path / "bot.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "bot did not start:\n" + log_path.read_text()
            time.sleep(0.3)
        yield url, log_path
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_starts_terminal_only_without_slack_credentials(tmp_path, store_url):
    with bot_process(tmp_path, store_url) as (url, log_path):
        assert httpx.get(url + "/healthz").json()["slack"] == "off"
        assert httpx.post(url + "/slack/events", content=b"{}").status_code == 404
    assert "terminal channel only" in log_path.read_text()


def test_half_configured_slack_is_reported_and_the_bot_still_serves(tmp_path, store_url):
    with bot_process(tmp_path, store_url, SLACK_BOT_TOKEN=BOT_TOKEN) as (url, log_path):
        assert httpx.get(url + "/healthz").json()["slack"] == "off"
    log = log_path.read_text()
    assert "neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode)" in log
    assert BOT_TOKEN not in log


def test_starts_in_http_mode_with_signing_secret_and_bot_token(tmp_path, store_url, fake_slack):
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
    }
    with bot_process(tmp_path, store_url, **env) as (url, log_path):
        assert httpx.get(url + "/healthz").json()["slack"] == "http"
        body = json.dumps({"token": "t", "challenge": "c-41", "type": "url_verification"})
        headers = {"Content-Type": "application/json", **signed_headers(body)}
        response = httpx.post(url + "/slack/events", content=body, headers=headers)
        assert response.status_code == 200 and "c-41" in response.text
        event = json.dumps(event_envelope(dm_event("UMARIA", "hi")))
        response = httpx.post(
            url + "/slack/events",
            content=event,
            headers={"Content-Type": "application/json", **signed_headers(event)},
        )
        assert response.status_code == 200
        [reply] = fake_slack.wait_for("chat.postMessage")
    assert reply.args["text"] == messages.RASA_DOWN
    log = log_path.read_text()
    assert SIGNING_SECRET not in log and BOT_TOKEN not in log


def test_starts_in_socket_mode_with_an_app_token(tmp_path, store_url, fake_slack):
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": fake_slack.api_url,
    }
    with bot_process(tmp_path, store_url, **env) as (url, log_path):
        assert httpx.get(url + "/healthz").json()["slack"] == "socket"
        fake_slack.wait_for("socket.connect")
        envelope_id = fake_slack.send_envelope(event_envelope(dm_event("UMARIA", "hi")))
        assert fake_slack.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
        [reply] = fake_slack.wait_for("chat.postMessage")
    assert reply.args["channel"] == "DMARIA"
    assert reply.args["text"] == messages.RASA_DOWN
    log = log_path.read_text()
    assert APP_TOKEN not in log and BOT_TOKEN not in log
