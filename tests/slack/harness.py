"""Run the bot's real web app (with the real bolt AsyncApp) on a loopback port and send
it requests signed the way Slack signs them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from bot.runtime import Runtime
from bot.server import create_web_app
from bot.settings import Settings
from bot.slack import SLACK_EVENTS_PATH, SlackMode, create_slack_app
from tests.slack.fakeslack import FakeSlack

SIGNING_SECRET = "test-signing-secret-8f3a"
BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-test-app-token"
IDENTITY_SECRET = "test-identity-secret"
TODAY = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


def fixed_clock() -> dt.datetime:
    return TODAY


_HELD: list[socket.socket] = []


def closed_port() -> int:
    """A loopback port that refuses connections (Rasa "down") for the rest of the test
    run: the socket stays bound without listening, so no server can take the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _HELD.append(sock)
    return int(sock.getsockname()[1])


def free_port() -> int:
    """A loopback port free right now (for a server started next)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_settings(home: Path, db_url: str, slack: FakeSlack, **overrides: Any) -> Settings:
    """Settings of a bot talking to ``slack`` in HTTP mode, with Rasa not running."""
    dead = f"http://127.0.0.1:{closed_port()}"
    values: dict[str, Any] = {
        "SALESBOT_HOME": str(home),
        "DATABASE_URL": db_url,
        "RASA_URL": dead,
        "ACTION_SERVER_URL": dead,
        "RASA_TIMEOUT_SECONDS": 10,
        "SALESBOT_IDENTITY_SECRET": IDENTITY_SECRET,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def signed_headers(
    body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def event_envelope(
    event: dict[str, Any], *, event_id: str | None = None, team_id: str = "T0SALES"
) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "api_app_id": "A0SALES",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {"enterprise_id": None, "team_id": team_id, "user_id": "UBOTSALES", "is_bot": True}
        ],
        "is_ext_shared_channel": False,
    }


def dm_event(
    user: str, text: str, *, ts: str = "1772463600.000200", channel: str | None = None
) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "channel": channel or "D" + user[1:],
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
    }


def mention_event(
    user: str, text: str, *, channel: str = "C0SALES", ts: str = "1772463700.000300"
) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "channel": channel,
        "user": user,
        "text": f"<@UBOTSALES> {text}",
        "ts": ts,
        "event_ts": ts,
    }


LISTENER_TASKS = ("run_ack_function_asynchronously", "AsyncioLazyListenerRunner")


async def listeners_done(timeout: float = 30.0) -> None:
    """Wait until every bolt listener started in this event loop has finished (bolt runs
    listeners as tasks after the ack), so a test can count what reached Slack."""
    deadline = time.monotonic() + timeout
    while True:
        running = [
            t
            for t in asyncio.all_tasks()
            if not t.done() and any(n in t.get_coro().__qualname__ for n in LISTENER_TASKS)  # type: ignore[union-attr]
        ]
        if not running:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{len(running)} Slack listener(s) still running")
        await asyncio.wait(running, timeout=left)


@dataclass
class BotUnderTest:
    url: str
    http: aiohttp.ClientSession
    slack: FakeSlack
    runtime: Runtime
    slack_app: Any = None

    async def post(
        self,
        body: str,
        *,
        content_type: str,
        headers: dict[str, str] | None = None,
        sign: bool = True,
    ) -> tuple[int, str]:
        all_headers = {"Content-Type": content_type}
        if sign:
            all_headers.update(signed_headers(body))
        all_headers.update(headers or {})
        async with self.http.post(
            self.url + SLACK_EVENTS_PATH, data=body.encode(), headers=all_headers
        ) as resp:
            return resp.status, await resp.text()

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> int:
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        body = json.dumps(event_envelope(event, event_id=event_id))
        status, _ = await self.post(body, content_type="application/json", headers=headers)
        return status

    async def command(
        self, text: str, *, user: str, channel: str = "C0SALES", response_url: str | None = None
    ) -> tuple[int, str]:
        form = {
            "token": "legacy-verification-token",
            "team_id": "T0SALES",
            "team_domain": "fake-salesbot",
            "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else "sales",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/sales",
            "text": text,
            "api_app_id": "A0SALES",
            "response_url": response_url or self.slack.response_url(),
            "trigger_id": "1337.42.abcd",
        }
        return await self.post(urlencode(form), content_type="application/x-www-form-urlencoded")

    async def interaction(self, payload: dict[str, Any]) -> tuple[int, str]:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, content_type="application/x-www-form-urlencoded")


def block_actions(
    *,
    user: str,
    action: dict[str, Any],
    channel: str | None = "C0SALES",
    message: dict[str, Any] | None = None,
    in_home: bool = False,
    ephemeral: bool = False,
    response_url: str | None = None,
    action_ts: str = "1772463800.123456",
) -> dict[str, Any]:
    """A ``block_actions`` payload for a click on ``action`` (a button element)."""
    clicked = {
        **action,
        "block_id": action.get("block_id", "alerts"),
        "type": "button",
        "action_ts": action_ts,
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": "T0SALES"},
        "api_app_id": "A0SALES",
        "token": "legacy-verification-token",
        "trigger_id": "1337.42.efgh",
        "team": {"id": "T0SALES", "domain": "fake-salesbot"},
        "actions": [clicked],
    }
    if in_home:
        payload["container"] = {"type": "view", "view_id": "V0HOME"}
        payload["view"] = {"id": "V0HOME", "type": "home", "blocks": []}
        return payload
    assert channel is not None
    payload["channel"] = {"id": channel, "name": "sales"}
    payload["container"] = {
        "type": "message",
        "message_ts": (message or {}).get("ts", "1772463750.000400"),
        "channel_id": channel,
        "is_ephemeral": ephemeral,
    }
    if message is not None and not ephemeral:
        payload["message"] = message
    if response_url:
        payload["response_url"] = response_url
    return payload


@asynccontextmanager
async def running_bot(
    settings: Settings,
    slack: FakeSlack,
    *,
    mode: SlackMode = SlackMode.http,
    clock: Callable[[], dt.datetime] = fixed_clock,
    working_after_seconds: float = 30.0,
) -> AsyncIterator[BotUnderTest]:
    """The bot's web app with Slack served in ``mode``, on a free loopback port."""
    runtime = Runtime.create(settings)
    slack_app = create_slack_app(runtime, clock=clock, working_after_seconds=working_after_seconds)
    web_app = create_web_app(runtime, slack_mode=mode, slack_app=slack_app)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http:
            yield BotUnderTest(
                url=f"http://127.0.0.1:{port}",
                http=http,
                slack=slack,
                runtime=runtime,
                slack_app=slack_app,
            )
    finally:
        await runner.cleanup()
