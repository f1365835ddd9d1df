"""Faults with real processes: a crashed action server, a database outage, a crashed Rasa.

Replica A of the cluster runs under ``salesbot serve``; replica B shares its PostgreSQL
store, its Rasa tracker store (PostgreSQL) and lock store (Redis). Each fault strikes in
the middle of a Slack conversation: the user gets a plain sentence that fits a Slack
message (no stack trace), the supervisor restarts what crashed (seen through
``salesbot status`` and its log), the next question works and the conversation keeps its
context. During the outage, "Mark contacted" clicks and digest subscriptions are refused
in words and written exactly once when the user tries again.

In-process: the subscription and follow-up actions themselves, on a store that refuses
connections, answer that the data is unreachable and write nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlmodel import Session, col, select

from actions.base import SalesAction
from actions.deals import ActionPipeline
from actions.digests import ActionSubscribeDigest, ActionUnsubscribeDigest
from actions.settings import get_settings
from bot import messages
from bot.supervisor import ChildSpec, Supervisor
from render import blocks as bk
from store.db import cached_engine
from store.demo import DEMO_MANAGER_EMAIL, DEMO_REP_EMAIL
from store.models import Activity, DigestSubscription, Rep
from tests.actions.harness import run_action, tracker_for
from tests.reliability.cluster import (
    SIGNING_SECRET,
    TOKENS,
    Cluster,
    Reply,
    assert_answered,
    assert_slack_safe,
)
from tests.slack.harness import (
    block_actions,
    bot_settings,
    dm_event,
    listeners_done,
    running_bot,
    signed_headers,
)

JORDAN, PRIYA = "UJORDAN", "UPRIYA"
SUBSCRIBE = "send me the team digest every Monday at 8"


def contacted_button(reply: Reply) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first "Mark contacted" button of a slipping answer, and its message."""
    for message in reply.messages:
        for block in message.get("blocks") or []:
            for element in block.get("elements") or []:
                if str(element.get("action_id", "")).startswith(bk.ACTION_CONTACTED):
                    ts = message.get("posted_ts") or message.get("ts")
                    return {**element, "block_id": block["block_id"]}, {**message, "ts": ts}
    raise AssertionError(f"no Mark contacted button in {reply.texts}")


def rep_id(cluster: Cluster, email: str) -> int:
    with Session(cluster.engine) as s:
        return int(s.exec(select(Rep.id).where(Rep.email == email)).one() or 0)


def contacted_rows(cluster: Cluster) -> list[Activity]:
    with Session(cluster.engine) as s:
        return list(
            s.exec(
                select(Activity).where(
                    col(Activity.external_id).startswith(f"slack:contacted:{JORDAN}:")
                )
            ).all()
        )


def subscriptions(cluster: Cluster) -> list[DigestSubscription]:
    with Session(cluster.engine) as s:
        return list(
            s.exec(
                select(DigestSubscription).where(
                    DigestSubscription.rep_id == rep_id(cluster, DEMO_MANAGER_EMAIL),
                    DigestSubscription.active == True,  # noqa: E712
                )
            ).all()
        )


def click(cluster: Cluster, bot_urls: list[str], payload: dict[str, Any]) -> list[int]:
    """The same click delivered to each bot at once (a retry, a second replica)."""
    body = urlencode({"payload": json.dumps(payload)})

    async def send() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as http:

            async def one(url: str) -> int:
                headers = {"Content-Type": "application/x-www-form-urlencoded"}
                headers.update(signed_headers(body, secret=SIGNING_SECRET))
                return (
                    await http.post(url + "/slack/events", content=body, headers=headers)
                ).status_code

            return list(await asyncio.gather(*(one(u) for u in bot_urls)))

    return asyncio.run(send())


def wait_for(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


# ------------------------------------------------------------------ real processes


@pytest.mark.rasa
@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.xdist_group("stack")
def test_a_crashed_action_server_is_restarted_and_the_conversation_goes_on(cluster):
    d, a = cluster.driver, cluster.a
    assert_answered(d.ask(a.bot_url, JORDAN, "which of my deals are stuck?"))
    killed = cluster.kill_serve_child("actions")
    try:
        down = d.ask(a.bot_url, JORDAN, "how does my pipeline look this quarter?")
    finally:
        cluster.wait_until_up(timeout=180)
    assert_slack_safe(down)
    assert down.texts == [messages.ACTIONS_DOWN]
    assert cluster.status().returncode == 0
    assert cluster.serve_child("actions") != killed
    assert "actions exited with code -9; restarting" in cluster.serve_log.read_text()
    again = d.ask(a.bot_url, JORDAN, "how does my pipeline look this quarter?")
    assert_answered(again)
    assert "open in" in again.text  # "Your book: $… open in N deals"
    why = d.ask(a.bot_url, JORDAN, "why?")  # the follow-up still knows what was answered
    assert_answered(why)
    assert "odds" in why.text


@pytest.mark.rasa
@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.xdist_group("stack")
def test_a_database_outage_is_told_in_words_and_no_write_is_lost_or_doubled(cluster):
    d, a, b = cluster.driver, cluster.a, cluster.b
    slipping = d.ask(a.bot_url, JORDAN, "which of my accounts are slipping?")
    assert_answered(slipping)
    button, message = contacted_button(slipping)
    payload = block_actions(
        user=JORDAN,
        action=button,
        channel=message["channel"],
        message=message,
        response_url=cluster.slack.response_url("outage-click"),
        action_ts=f"{time.time():.6f}",
    )
    assert contacted_rows(cluster) == []
    with cluster.store_outage():
        question = d.ask(a.bot_url, JORDAN, "how does my pipeline look this quarter?")
        assert_slack_safe(question)
        assert question.texts == [messages.STORE_DOWN]
        assert click(cluster, [a.bot_url], payload) == [200]
        wait_for(
            lambda: any(
                c.args.get("text") == messages.STORE_DOWN
                for c in cluster.slack.calls_to("response_url")
            ),
            "the click to be refused in words",
        )
        subscribe = d.ask(b.bot_url, PRIYA, SUBSCRIBE)
        assert subscribe.texts == [messages.STORE_DOWN]
        [terminal] = cluster.salesbot_ask(DEMO_REP_EMAIL, "what's my win rate?")
        assert terminal["text"] == messages.STORE_DOWN
        assert a.healthy() == b.healthy() == {"actions": True, "rasa": True, "bot": True}
        assert cluster.status().returncode == 0
    assert contacted_rows(cluster) == []
    # the user clicks again; Slack also retries the click, and it reaches both replicas
    assert click(cluster, [a.bot_url, b.bot_url, a.bot_url], payload) == [200, 200, 200]
    wait_for(
        lambda: len(cluster.slack.calls_to("chat.update")) > 0 and contacted_rows(cluster),
        "the click",
    )
    time.sleep(2.0)  # let the other deliveries finish: they must not add a row
    [row] = contacted_rows(cluster)
    assert row.account_id == int(json.loads(button["value"])["account_id"])
    before = len(subscriptions(cluster))
    for bot_url in (a.bot_url, b.bot_url):
        subscribed = d.ask(bot_url, PRIYA, SUBSCRIBE)
        assert_answered(subscribed)
        assert "Monday" in subscribed.text
    [subscription] = subscriptions(cluster)
    assert before <= 1 and subscription.cron == "0 8 * * 1"
    assert_answered(d.ask(a.bot_url, JORDAN, "how does my pipeline look this quarter?"))


@pytest.mark.rasa
@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.xdist_group("stack")
def test_a_crashed_rasa_is_restarted_and_the_conversation_resumes_where_it_was(cluster):
    """Rasa A is killed while its form waits for an account: A's user is told in words,
    replica B carries the same conversation on, and after ``salesbot serve`` restarted
    Rasa A the follow-up is answered there from the shared tracker store."""
    d, a, b = cluster.driver, cluster.a, cluster.b
    restart = httpx.post(
        f"{a.rasa_url}/conversations/slack:{JORDAN}/tracker/events",
        params={"token": TOKENS.rasa_api},
        json={"event": "restart"},
        timeout=30,
    )  # a fresh conversation: other tests on the shared cluster left an account in context
    restart.raise_for_status()
    asked = d.ask(a.bot_url, JORDAN, "what should I pitch?")
    assert_answered(asked)
    assert "which account" in asked.text.lower()
    killed = cluster.kill_serve_child("rasa")
    try:
        down = d.ask(a.bot_url, JORDAN, "Acme Food Service")
        carried_on = d.ask(b.bot_url, JORDAN, "Acme Food Service")
    finally:
        cluster.wait_until_up(timeout=300)  # the other tests need replica A back
    assert_slack_safe(down)
    assert down.texts == [messages.RASA_DOWN]
    assert_answered(carried_on)
    assert "pitch to Acme Food Service" in carried_on.text
    assert cluster.serve_child("rasa") != killed
    assert "rasa exited with code -9; restarting" in cluster.serve_log.read_text()
    why = d.ask(a.bot_url, JORDAN, "why?")
    assert_answered(why)
    assert "How I pick pitches" in why.text


# ------------------------------------------------------------------------ in-process


@pytest.fixture
def store_down(actions_env, monkeypatch):
    """The action server's settings pointed at a PostgreSQL server that is not there."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/salesbot")
    get_settings.cache_clear()
    cached_engine.cache_clear()
    yield actions_env
    get_settings.cache_clear()
    cached_engine.cache_clear()


@pytest.mark.parametrize(
    ("action", "intent", "entities"),
    [
        (ActionSubscribeDigest, "subscribe_digest", [{"entity": "schedule", "value": "every Monday at 8"}]),
        (ActionUnsubscribeDigest, "unsubscribe_digest", []),
        (ActionPipeline, "ask_pipeline", []),
    ],
)  # fmt: skip
def test_actions_on_an_unreachable_store_say_so_and_write_nothing(
    store_down, action: type[SalesAction], intent: str, entities: list[dict[str, Any]]
):
    result = run_action(
        action(),
        tracker_for(
            rep_id=store_down.reps["priya"],
            text="during an outage",
            intent=intent,
            entities=entities,
        ),
    )
    assert result.responses == ["utter_store_down"]
    assert result.answers == [] and result.events == []
    with Session(store_down.engine) as s:
        assert s.exec(select(DigestSubscription)).all() == []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_a_crashed_childs_leftover_worker_is_killed_before_the_restart(tmp_path):
    """Like the action server (Sanic) a child may run a worker process in its process
    group; when the child is killed the worker must not keep running (and its port)."""
    script = (
        "import subprocess, sys, time\n"
        "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "print(w.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    spec = ChildSpec(
        name="server", argv=[sys.executable, "-c", script], health_url="http://127.0.0.1:9/"
    )
    reports: list[str] = []
    supervisor = Supervisor([spec], log_dir=tmp_path, report=reports.append)
    [child] = supervisor.children
    supervisor._check(child, time.monotonic())  # starts it
    assert child.process is not None
    wait_for(lambda: child.log_path.read_text().strip(), "the worker to start", timeout=30)
    worker = int(child.log_path.read_text().split()[0])
    try:
        assert alive(worker)
        os.kill(child.process.pid, signal.SIGKILL)
        child.process.wait(timeout=10)
        supervisor._check(child, time.monotonic())
        assert any("server exited with code -9; restarting" in r for r in reports)
        wait_for(lambda: not alive(worker), "the leftover worker to be gone", timeout=10)
    finally:
        child.stop()
        if alive(worker):
            os.kill(worker, signal.SIGKILL)


def test_a_rasa_that_resets_the_connection_is_a_clear_message(tmp_path, store_url, fake_slack):
    """A Rasa killed while the bot's request is on the wire resets the connection (not a
    refusal): the user gets the "language service" sentence, not the generic error."""

    async def scenario() -> None:
        async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(65536)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

        server = await asyncio.start_server(reset, "127.0.0.1", 0)
        rasa = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        settings = bot_settings(tmp_path, store_url, fake_slack, RASA_URL=rasa)
        async with server, running_bot(settings, fake_slack) as bot:
            assert await bot.event(dm_event("UMARIA", "which of my accounts are slipping?")) == 200
            await fake_slack.wait_for_async("chat.postMessage")
            await listeners_done()

    asyncio.run(scenario())
    [reply] = fake_slack.calls_to("chat.postMessage")
    assert reply.args["text"] == messages.RASA_DOWN
    assert fake_slack.calls_to("chat.postEphemeral") == []
