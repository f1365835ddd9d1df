"""The Slack edge under attack and under duplicate delivery; secrets kept out of logs.

What tests/slack already shows (a wrong secret, no signature, a stale timestamp, a retry
answered once by either of two replicas one after the other, a click delivered twice) is
not repeated. Added here: every way of bending a signed request (body swapped, timestamp
from the future or swapped, headers missing or malformed) for events, slash commands and
button clicks, refused before anything runs or is written; oversized bodies; the same
event and the same click delivered to two replicas at the same moment (answered and
written once); and a whole conversation through the real stack whose logs (every
process's log file and the in-process bot's log records at DEBUG) hold no secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.terminal import terminal_token
from render import blocks as bk
from store.db import make_engine
from store.migrate import upgrade
from store.models import Activity, ProcessedSlackEvent
from tests.slack.conftest import Book, seed_book, url_of
from tests.slack.fakeslack import FakeSlack
from tests.slack.harness import (
    BotUnderTest,
    block_actions,
    bot_settings,
    closed_port,
    dm_event,
    event_envelope,
    listeners_done,
    mention_event,
    running_bot,
    signed_headers,
)
from tests.slack.test_buttons import alert_message, element

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


# ----------------------------------------------------------------- forged requests

Forgery = Callable[[str], tuple[str, dict[str, str]]]
"""Given the body a client wants to send: the body actually sent and its headers."""


def _swap_body(body: str) -> tuple[str, dict[str, str]]:
    headers = signed_headers(body)
    return body.replace("UMARIA", "UMARIO"), headers


def _future(body: str) -> tuple[str, dict[str, str]]:
    return body, signed_headers(body, timestamp=int(time.time()) + 10 * 60)


def _other_timestamp(body: str) -> tuple[str, dict[str, str]]:
    headers = signed_headers(body, timestamp=int(time.time()) - 20)
    headers["X-Slack-Request-Timestamp"] = str(int(time.time()))
    return body, headers


def _no_signature(body: str) -> tuple[str, dict[str, str]]:
    headers = signed_headers(body)
    del headers["X-Slack-Signature"]
    return body, headers


def _no_timestamp(body: str) -> tuple[str, dict[str, str]]:
    headers = signed_headers(body)
    del headers["X-Slack-Request-Timestamp"]
    return body, headers


def _garbage_timestamp(body: str) -> tuple[str, dict[str, str]]:
    from slack_sdk.signature import SignatureVerifier

    from tests.slack.harness import SIGNING_SECRET

    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp="soon", body=body)
    return body, {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": signature}


def _other_version(body: str) -> tuple[str, dict[str, str]]:
    headers = signed_headers(body)
    headers["X-Slack-Signature"] = "v1=" + headers["X-Slack-Signature"].removeprefix("v0=")
    return body, headers


def _empty_secret(body: str) -> tuple[str, dict[str, str]]:
    timestamp = str(int(time.time()))
    mac = hmac.new(b"", f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return body, {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={mac}"}


FORGERIES: dict[str, Forgery] = {
    "body-swapped-after-signing": _swap_body,
    "timestamp-from-the-future": _future,
    "timestamp-swapped": _other_timestamp,
    "no-signature": _no_signature,
    "no-timestamp": _no_timestamp,
    "timestamp-not-a-number": _garbage_timestamp,
    "signature-version-v1": _other_version,
    "signed-with-an-empty-secret": _empty_secret,
}


def requests_for(book: Book) -> dict[str, tuple[str, str]]:
    """A DM question, a slash command and a "Mark contacted" click by Maria: body, type."""
    from urllib.parse import urlencode

    message = alert_message(book.acme_id, "Acme Corp")
    click = block_actions(user="UMARIA", action=element(message, "sb_contacted"), message=message)
    command = {
        "team_id": "T0SALES",
        "channel_id": "DMARIA",
        "user_id": "UMARIA",
        "command": "/sales",
        "text": "slipping",
        "response_url": "http://127.0.0.1:9/response/x",
        "trigger_id": "1.2.3",
    }
    return {
        "event": (json.dumps(event_envelope(dm_event("UMARIA", "which are slipping?"))), JSON),
        "command": (urlencode(command), FORM),
        "click": (urlencode({"payload": json.dumps(click)}), FORM),
    }


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_bent_signature_is_refused_before_anything_runs(
    tmp_path, sqlite_engine, fake_slack, forgery
):
    book = seed_book(sqlite_engine)
    settings = bot_settings(tmp_path, url_of(sqlite_engine), fake_slack)

    async def scenario() -> dict[str, int]:
        statuses = {}
        async with running_bot(settings, fake_slack) as bot:
            for kind, (body, content_type) in requests_for(book).items():
                sent, headers = FORGERIES[forgery](body)
                status, _ = await bot.post(
                    sent, content_type=content_type, headers=headers, sign=False
                )
                statuses[kind] = status
            await listeners_done()
        return statuses

    statuses = asyncio.run(scenario())
    assert statuses == {"event": 401, "command": 401, "click": 401}
    assert fake_slack.calls == []
    with Session(sqlite_engine) as s:
        assert s.exec(select(Activity)).all() == []
        assert s.exec(select(ProcessedSlackEvent)).all() == []


def test_oversized_and_malformed_bodies_are_refused_and_the_bot_stays_up(
    tmp_path, store_url, fake_slack
):
    async def scenario() -> list[int]:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            big = json.dumps(event_envelope(dm_event("UMARIA", "x" * 2_000_000)))
            statuses = [(await bot.post(big, content_type=JSON))[0]]
            for body in ("{not json", "[]", '{"type": "event_callback"}', "\x00\xff" * 10):
                statuses.append((await bot.post(body, content_type=JSON))[0])
            async with bot.http.get(bot.url + "/healthz") as health:
                statuses.append(health.status)
            await listeners_done()
        return statuses

    statuses = asyncio.run(scenario())
    assert statuses[0] == 413
    assert all(400 <= s < 500 for s in statuses[1:-1]), statuses
    assert statuses[-1] == 200
    assert fake_slack.calls_to("chat.postMessage") == []


# ------------------------------------------------------- duplicates at the same moment


async def deliver_everywhere(
    bots: list[BotUnderTest], body: str, content_type: str, copies: int
) -> list[int]:
    """``copies`` deliveries of the same signed request spread over ``bots``, all at once
    (later copies carry Slack's retry headers, as Slack's own retries do)."""

    async def one(i: int) -> int:
        headers = {"X-Slack-Retry-Num": str(i), "X-Slack-Retry-Reason": "http_timeout"} if i else {}
        status, _ = await bots[i % len(bots)].post(body, content_type=content_type, headers=headers)
        return status

    return list(await asyncio.gather(*(one(i) for i in range(copies))))


def test_one_event_delivered_to_two_replicas_at_once_is_answered_once(tmp_path, db_url, fake_slack):
    engine = make_engine(db_url)
    upgrade(engine)
    seed_book(engine)
    settings = bot_settings(tmp_path, url_of(engine), fake_slack)
    body = json.dumps(event_envelope(dm_event("UMARIA", "which are slipping?"), event_id="Ev0RACE"))

    async def scenario() -> list[int]:
        async with running_bot(settings, fake_slack) as a, running_bot(settings, fake_slack) as b:
            statuses = await deliver_everywhere([a, b], body, JSON, copies=6)
            await fake_slack.wait_for_async("chat.postMessage")
            await listeners_done()
        return statuses

    try:
        assert asyncio.run(scenario()) == [200] * 6
        assert len(fake_slack.calls_to("chat.postMessage")) == 1
        with Session(engine) as s:
            assert s.exec(select(ProcessedSlackEvent.event_id)).all() == ["Ev0RACE"]
    finally:
        engine.dispose()


def test_one_click_delivered_to_two_replicas_at_once_writes_once(tmp_path, db_url, fake_slack):
    engine = make_engine(db_url)
    upgrade(engine)
    book = seed_book(engine)
    settings = bot_settings(tmp_path, url_of(engine), fake_slack)
    _, (body, content_type) = list(requests_for(book).items())[2]

    async def scenario() -> list[int]:
        async with running_bot(settings, fake_slack) as a, running_bot(settings, fake_slack) as b:
            statuses = await deliver_everywhere([a, b], body, content_type, copies=6)
            await listeners_done()
        return statuses

    try:
        assert asyncio.run(scenario()) == [200] * 6
        with Session(engine) as s:
            [activity] = s.exec(select(Activity)).all()
        assert (activity.kind, activity.account_id) == ("contacted", book.acme_id)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- secrets and logs


def secret_leaks(texts: dict[str, str], secrets: dict[str, str]) -> list[str]:
    return [
        f"{secret_name} in {where}"
        for where, text in texts.items()
        for secret_name, value in secrets.items()
        if value and value in text
    ]


def test_the_leak_check_finds_a_secret_that_is_there():
    assert secret_leaks({"bot.log": "token=xoxb-1"}, {"bot token": "xoxb-1"}) == [
        "bot token in bot.log"
    ]


@pytest.mark.rasa
@pytest.mark.xdist_group("stack")
def test_no_secret_in_any_log_of_a_whole_conversation(stack, caplog):
    """DMs, follow-ups, a mention, ``/sales``, a click, the Home tab and ``salesbot ask``
    against the real Rasa and action server; then every log is searched for the Slack
    bot token, the signing secret, the identity secret and the terminal token."""
    from sqlmodel import col

    from store.demo import DEMO_REP_EMAIL
    from tests.stack import SECRET as IDENTITY_SECRET

    bot_token = f"xoxb-{uuid.uuid4().hex}"
    signing_secret = uuid.uuid4().hex
    user = f"U{uuid.uuid4().hex[:8].upper()}"
    with FakeSlack(users={user: DEMO_REP_EMAIL}) as slack:
        settings = stack.bot_settings(
            SLACK_BOT_TOKEN=bot_token,
            SLACK_SIGNING_SECRET=signing_secret,
            SLACK_API_URL=slack.api_url,
            SALESBOT_LOG_LEVEL="DEBUG",
        )

        async def post(bot: BotUnderTest, body: str, content_type: str) -> None:
            headers = signed_headers(body, secret=signing_secret)
            status, _ = await bot.post(body, content_type=content_type, headers=headers, sign=False)
            assert status == 200

        async def scenario() -> None:
            from urllib.parse import urlencode

            async with running_bot(settings, slack, working_after_seconds=0.5) as bot:
                questions = [
                    "which of my accounts are slipping?",
                    "show more",
                    "why?",
                    "how does my pipeline look this quarter?",
                ]
                for i, text in enumerate(questions):
                    event = dm_event(user, text, ts=f"{1772470000 + i}.000100")
                    await post(bot, json.dumps(event_envelope(event)), JSON)
                    await listeners_done(timeout=120)
                await post(
                    bot, json.dumps(event_envelope(mention_event(user, "my forecast?"))), JSON
                )
                form = {
                    "team_id": "T0SALES",
                    "channel_id": "C0SALES",
                    "user_id": user,
                    "command": "/sales",
                    "text": "leads",
                    "response_url": slack.response_url(),
                    "trigger_id": "1.2.3",
                }
                await post(bot, urlencode(form), FORM)
                home = {"type": "app_home_opened", "user": user, "tab": "home"}
                await post(bot, json.dumps(event_envelope(home)), JSON)
                await listeners_done(timeout=120)
                slipping = next(
                    c.args
                    for c in slack.calls_to("chat.update") + slack.calls_to("chat.postMessage")
                    if any(
                        str(e.get("action_id", "")).startswith(bk.ACTION_CONTACTED)
                        for b in c.args.get("blocks") or []
                        for e in b.get("elements", [])
                        if isinstance(e, dict)
                    )
                )
                message = {"ts": slipping.get("ts", "1772470000.000200"), **slipping}
                click = block_actions(
                    user=user,
                    action=element(message, bk.ACTION_CONTACTED),
                    channel=slipping["channel"],
                    message=message,
                )
                await post(bot, urlencode({"payload": json.dumps(click)}), FORM)
                await listeners_done(timeout=120)

        with caplog.at_level(logging.DEBUG):
            asyncio.run(scenario())
        sent = [c.args.get("text", "") for c in slack.calls if c.method != "users.info"]
    assert len(sent) >= 8, sent
    ask = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "--as", DEMO_REP_EMAIL, "my win rate?"],
        env={**os.environ, **stack.env(), "SALESBOT_LOG_LEVEL": "DEBUG"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ask.returncode == 0, ask.stderr
    with Session(stack.engine) as s:
        clicked = s.exec(
            select(Activity).where(col(Activity.external_id).startswith(f"slack:contacted:{user}"))
        ).all()
    assert len(clicked) == 1
    logs = {
        path.name: path.read_text(errors="replace")
        for path in Path(stack.home, "logs").glob("*.log")
    }
    assert {"actions.log", "rasa.log", "bot.log"} <= set(logs)
    logs["pytest caplog (in-process bot, DEBUG)"] = caplog.text
    logs["salesbot ask output"] = ask.stdout + ask.stderr
    assert len(caplog.records) > 50
    secrets = {
        "Slack bot token": bot_token,
        "Slack signing secret": signing_secret,
        "identity secret": IDENTITY_SECRET,
        "terminal token": terminal_token(stack.settings),
    }
    assert secret_leaks(logs, secrets) == []


def test_healthz_says_whether_the_store_answers(tmp_path, store_url, fake_slack):
    """ok with a working store; down when refused; not answering when the server accepts the
    connection and never says a byte (a hung PostgreSQL), without waiting for it."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nothing ever answers
    hung = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/salesbot"
    refused = f"postgresql://postgres@127.0.0.1:{closed_port()}/salesbot"

    async def health(url: str) -> dict:
        settings = bot_settings(tmp_path, url, fake_slack)
        async with (
            running_bot(settings, fake_slack) as bot,
            bot.http.get(bot.url + "/healthz") as resp,
        ):
            assert resp.status == 200
            return await resp.json()

    try:
        got = {name: asyncio.run(health(url)) for name, url in
               [("ok", store_url), ("refused", refused), ("hung", hung)]}  # fmt: skip
    finally:
        silent.close()
    assert (got["ok"]["status"], got["ok"]["store"]) == ("ok", "ok")
    assert (got["refused"]["status"], got["refused"]["store"]) == ("degraded", "down")
    assert (got["hung"]["status"], got["hung"]["store"]) == ("degraded", "not answering")
