"""Two salesbot replicas on one machine, as a team would run them on several.

- Store: a fresh PostgreSQL database (the demo company, scored).
- Rasa tracker store: another fresh PostgreSQL database; lock store: Redis.
- Replica A: ``salesbot serve`` (the supervisor with its action server, Rasa and bot).
- Replica B: an action server, a Rasa and a bot started directly (as ``salesbot serve``
  starts them), on the same store,
  tracker store and lock store.
- Both bots in Slack HTTP mode against one local fake of Slack's Web API.

Only loopback addresses are used. :class:`SlackDriver` sends signed Slack events to either
bot and collects what each one posted back, per question: every question is asked in a
thread of the asker's DM (the thread's ``ts`` is the event's), so each reply is tied to
the event it answers (``chat.update`` of a "Working on it…" placeholder included).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from bot import messages
from bot.cli.serve import current_model
from bot.rasa_endpoints import InternalTokens, write_endpoints
from bot.rasa_project import pythonpath_with_source_root, rasa_child_environment
from bot.settings import Settings
from bot.supervisor import Child, ChildSpec, is_healthy
from render import blocks as bk
from store.db import make_engine
from store.migrate import upgrade
from tests.slack.fakeslack import FakeSlack, SlackCall
from tests.slack.harness import dm_event, event_envelope, signed_headers
from tests.stack import free_port, wait_healthy

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_LOCKS = "redis://127.0.0.1:6379/5"
IDENTITY_SECRET = "cluster-identity-secret"
TOKENS = InternalTokens.derive(IDENTITY_SECRET)
BOT_TOKEN = "xoxb-cluster-bot-token"
SIGNING_SECRET = "cluster-signing-secret"
START_TIMEOUT = float(os.environ.get("SALESBOT_TEST_STACK_TIMEOUT", "400"))
ERROR_TEXTS = frozenset(
    {
        messages.RASA_DOWN,
        messages.ACTIONS_DOWN,
        messages.STORE_DOWN,
        messages.NO_REPLY,
        messages.SLACK_UNEXPECTED,
        messages.NOT_LINKED,
    }
)
"""What the bot says itself when something is down (or the user is unknown)."""


class ClusterError(RuntimeError):
    pass


# ------------------------------------------------------------------- fake Slack


class ThreadedSlack(FakeSlack):
    """The fake Slack, also filing every message by the thread it belongs to (a
    ``chat.update`` by the thread of the message it replaces)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.thread_of_ts: dict[str, str] = {}
        self.by_thread: dict[str, list[SlackCall]] = {}

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        answer = super()._m_chat_postMessage(args)
        if answer.get("ok"):
            args["posted_ts"] = answer["ts"]  # the recorded call is these args: keep its ts
            if args.get("thread_ts"):
                self.thread_of_ts[str(answer["ts"])] = str(args["thread_ts"])
        return answer

    def _record(self, call: SlackCall) -> None:
        if call.method in ("chat.postMessage", "chat.postEphemeral"):
            thread = call.args.get("thread_ts")
        elif call.method == "chat.update":
            thread = self.thread_of_ts.get(str(call.args.get("ts")))
        else:
            thread = None
        if thread:
            with self._cond:
                self.by_thread.setdefault(str(thread), []).append(call)
        super()._record(call)

    def in_thread(self, thread_ts: str) -> list[SlackCall]:
        with self._cond:
            return list(self.by_thread.get(thread_ts, []))


@dataclass
class Reply:
    """What the bot posted for one question."""

    thread_ts: str
    calls: list[SlackCall]
    acked: int
    """HTTP status of the event delivery."""

    @property
    def texts(self) -> list[str]:
        return [
            str(c.args.get("text") or "")
            for c in self.calls
            if c.args.get("text") != messages.WORKING
        ]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.args.get("text") != messages.WORKING]

    def block_ids(self) -> list[str]:
        return [
            str(b.get("block_id"))
            for m in self.messages
            for b in m.get("blocks") or []
            if b.get("block_id")
        ]


def assert_slack_safe(reply: Reply) -> None:
    """Every message is one Slack accepts and shows no internals."""
    assert reply.acked == 200
    assert reply.messages, f"no reply in thread {reply.thread_ts}"
    for message in reply.messages:
        assert 0 < len(message["text"]) <= bk.MAX_MESSAGE_TEXT
        assert bk.validate_blocks(message.get("blocks") or []) == []
        dumped = json.dumps(message)
        for word in ("Traceback", "Exception", "Error:", "psycopg", "sqlalchemy", "http://"):
            assert word not in dumped, (word, message["text"])


def assert_answered(reply: Reply) -> None:
    assert_slack_safe(reply)
    assert not set(reply.texts) & ERROR_TEXTS, reply.texts


class SlackDriver:
    """Signed Slack events to a bot's ``/slack/events``; replies read from the fake."""

    def __init__(self, slack: ThreadedSlack, *, signing_secret: str = SIGNING_SECRET) -> None:
        self.slack = slack
        self.signing_secret = signing_secret
        self._ts = itertools.count(int(time.time()) * 1000)
        self._lock = threading.Lock()

    def next_ts(self) -> str:
        with self._lock:
            n = next(self._ts)
        return f"{n // 1000}.{n % 1000:06d}"

    def event_body(
        self, user: str, text: str, *, thread_ts: str, event_id: str | None = None
    ) -> str:
        event = dm_event(user, text, ts=thread_ts)
        event["thread_ts"] = thread_ts
        return json.dumps(event_envelope(event, event_id=event_id))

    async def post(
        self, http: httpx.AsyncClient, bot_url: str, body: str, *, retry: int | None = None
    ) -> int:
        headers = {"Content-Type": "application/json"}
        headers.update(signed_headers(body, secret=self.signing_secret))
        if retry:
            headers.update(
                {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
            )
        response = await http.post(bot_url + "/slack/events", content=body, headers=headers)
        return response.status_code

    async def reply_to(
        self, thread_ts: str, *, timeout: float, settle: float = 1.0, acked: int = 200
    ) -> Reply:
        """The messages posted in ``thread_ts``: waits for the first one that is not the
        "Working on it…" status, then ``settle`` seconds for the rest of the answer."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.slack.in_thread(thread_ts)
            if any(c.args.get("text") != messages.WORKING for c in calls):
                break
            if time.monotonic() > deadline:
                return Reply(thread_ts, calls, acked)
            await asyncio.sleep(0.05)
        await asyncio.sleep(settle)
        return Reply(thread_ts, self.slack.in_thread(thread_ts), acked)

    async def ask_async(
        self, http: httpx.AsyncClient, bot_url: str, user: str, text: str, *, timeout: float = 120
    ) -> Reply:
        thread_ts = self.next_ts()
        status = await self.post(http, bot_url, self.event_body(user, text, thread_ts=thread_ts))
        if status != 200:
            return Reply(thread_ts, [], status)
        return await self.reply_to(thread_ts, timeout=timeout, acked=status)

    def ask(self, bot_url: str, user: str, text: str, *, timeout: float = 120) -> Reply:
        async def run() -> Reply:
            async with httpx.AsyncClient(timeout=60) as http:
                return await self.ask_async(http, bot_url, user, text, timeout=timeout)

        return asyncio.run(run())


# ----------------------------------------------------------------------- cluster


@dataclass
class Replica:
    name: str
    actions_url: str
    rasa_url: str
    bot_url: str
    logs: Path

    def healthy(self) -> dict[str, bool]:
        return {
            "actions": is_healthy(self.actions_url + "/health"),
            "rasa": is_healthy(f"{self.rasa_url}/status?token={TOKENS.rasa_api}"),
            "bot": is_healthy(self.bot_url + "/healthz"),
        }

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class Cluster:
    home: Path
    store_url: str
    tracker_url: str
    engine: Engine
    slack: ThreadedSlack
    driver: SlackDriver
    a: Replica
    b: Replica
    env_a: dict[str, str]
    """The environment ``salesbot`` commands need to talk to replica A (as its operator)."""
    serve: subprocess.Popen[bytes]
    serve_log: Path
    children_b: list[Child] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)

    # --------------------------------------------------------------- replica A
    def serve_children(self) -> dict[str, int]:
        """Pid of each child of ``salesbot serve`` (actions, rasa, bot), read from /proc."""
        found: dict[str, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, IndexError):
                continue
            if int(fields[1]) != self.serve.pid:
                continue
            if "--actions actions" in cmdline:
                found["actions"] = int(stat.parent.name)
            elif " run --enable-api" in cmdline:
                found["rasa"] = int(stat.parent.name)
            elif "-m bot" in cmdline:
                found["bot"] = int(stat.parent.name)
        return found

    def serve_child(self, name: str, timeout: float = 60.0) -> int:
        """The pid of ``salesbot serve``'s child ``name`` (waiting while it is restarted)."""
        deadline = time.monotonic() + timeout
        while (pid := self.serve_children().get(name)) is None:
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"salesbot serve has no {name} child:\n{self.serve_log.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        return pid

    def kill_serve_child(self, name: str) -> int:
        """SIGKILL one child of ``salesbot serve`` and the worker processes it started (its
        process group), as a crash of the whole server would; returns its pid."""
        pid = self.serve_child(name)
        os.killpg(pid, signal.SIGKILL)
        return pid

    def status(self) -> subprocess.CompletedProcess[str]:
        """``salesbot status`` as replica A's operator runs it."""
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "status"],
            env=self.env_a,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def wait_until_up(self, timeout: float = START_TIMEOUT) -> None:
        """Until ``salesbot status`` says every part of replica A is up."""
        deadline = time.monotonic() + timeout
        while self.status().returncode != 0:
            if self.serve.poll() is not None:
                raise ClusterError("salesbot serve exited:\n" + self.serve_log.read_text()[-3000:])
            if time.monotonic() > deadline:
                raise ClusterError(f"replica A not up after {timeout:.0f}s: {self.status().stdout}")
            time.sleep(1.0)

    def salesbot_ask(self, email: str, question: str) -> list[dict[str, Any]]:
        """``salesbot ask --json`` against replica A."""
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", "ask", "--as", email, question, "--json"],
            env=self.env_a,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode in (0, 1), result.stderr
        replies: list[dict[str, Any]] = json.loads(result.stdout)
        return replies

    # ------------------------------------------------------------ database
    @contextlib.contextmanager
    def store_outage(self) -> Iterator[None]:
        """The store's database refuses every connection (open ones are cut) until the
        block ends: what a stopped database looks like to its clients."""
        database = self.store_url.rsplit("/", 1)[1]
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false'))
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": database},
                )
            yield
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true'))
            admin.dispose()

    # ------------------------------------------------------------- teardown
    def stop(self) -> None:
        for child in self.children_b:  # replica B stops while serve stops replica A
            if child.process is not None and child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGTERM)
        if self.serve.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.serve.pid, signal.SIGTERM)
            try:
                self.serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.serve.pid, signal.SIGKILL)
                self.serve.wait(timeout=10)
        for child in reversed(self.children_b):
            child.stop()
        self.slack.stop()
        self.engine.dispose()
        drop_databases(self.databases)


def create_database(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return name


def drop_databases(names: list[str]) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def copy_model(home: Path) -> Path:
    """The trained model ``salesbot train`` points at, copied under ``home`` (a retrain
    elsewhere prunes old models) with the pointer ``salesbot serve`` reads."""
    model = current_model(Settings(SALESBOT_HOME=str(Path("var").resolve())))  # type: ignore[call-arg]
    if model is None:
        raise ClusterError("no trained Rasa model: run `salesbot train` (make setup does) first")
    models = home / "rasa" / "models"
    models.mkdir(parents=True, exist_ok=True)
    target = models / model.name
    shutil.copyfile(model, target)
    pointer = json.loads((model.parent / "current.json").read_text())
    pointer["model"] = model.name
    (models / "current.json").write_text(json.dumps(pointer))
    return target


def clean_environ() -> dict[str, str]:
    prefixes = ("SLACK_", "SALESBOT_", "RASA_", "DATABASE_URL", "ACTION_SERVER_URL")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def start_cluster(
    home: Path,
    *,
    seed: Any,
    slack_users: dict[str, str],
    as_of: str,
) -> Cluster:
    """Create the databases, seed the store (``seed(engine)``), start both replicas and
    wait until every process answers its health check."""
    home.mkdir(parents=True, exist_ok=True)
    store_db = create_database("salesbot_store")
    try:
        tracker_db = create_database("salesbot_tracker")
    except BaseException:
        drop_databases([store_db])
        raise
    store_url = f"{POSTGRES}/{store_db}"
    tracker_url = f"{POSTGRES}/{tracker_db}"
    engine = make_engine(store_url)
    slack = ThreadedSlack(users=slack_users).start()
    cluster: Cluster | None = None
    try:
        upgrade(engine)
        seed(engine)
        model = copy_model(home / "a")
        ports = {
            name: free_port()
            for name in ("actions_a", "rasa_a", "bot_a", "actions_b", "rasa_b", "bot_b")
        }
        url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        common = {
            **clean_environ(),
            "DATABASE_URL": store_url,
            "SALESBOT_IDENTITY_SECRET": IDENTITY_SECRET,
            "SALESBOT_AS_OF": as_of,
            "SALESBOT_HOST": "127.0.0.1",
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "RASA_TRACKER_STORE_URL": tracker_url,
            "RASA_LOCK_STORE_URL": REDIS_LOCKS,
            "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            # the replicas run from their own folders: without this, `python -m bot.cli`
            # imports the checkout the virtual environment was installed from, not this one
            "PYTHONPATH": pythonpath_with_source_root(os.environ.get("PYTHONPATH", "")),
        }
        env_a = {
            **common,
            "SALESBOT_HOME": str(home / "a"),
            "RASA_URL": url["rasa_a"],
            "ACTION_SERVER_URL": url["actions_a"],
            "SALESBOT_BOT_PORT": str(ports["bot_a"]),
        }
        serve_log = home / "a" / "serve.log"
        with serve_log.open("wb") as log:
            serve = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve"],
                env=env_a,
                cwd=home / "a",
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        home_b = home / "b"
        endpoints = write_endpoints(
            home_b / "rasa" / "endpoints.yml",
            action_server_url=url["actions_b"],
            tracker_store_url=tracker_url,
            lock_store_url=REDIS_LOCKS,
            action_token=TOKENS.action_endpoint,
        )
        credentials = home_b / "rasa" / "credentials.yml"
        credentials.write_text("rest:\n", encoding="utf-8")
        env_b = {**common, "SALESBOT_HOME": str(home_b)}
        rasa_bin = Settings().rasa_executable  # type: ignore[call-arg]
        specs_b = [
            ChildSpec(
                name="actions",
                argv=[sys.executable, "-m", "actions.server", "--actions", "actions", "-p", str(ports["actions_b"])],
                health_url=url["actions_b"] + "/health",
                env={**env_b, "SANIC_HOST": "127.0.0.1"},
            ),
            ChildSpec(
                name="rasa",
                argv=[
                    str(rasa_bin), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(ports["rasa_b"]),
                    "-m", str(model), "--endpoints", str(endpoints), "--credentials", str(credentials),
                    "--auth-token", TOKENS.rasa_api,
                ],
                health_url=f"{url['rasa_b']}/status?token={TOKENS.rasa_api}",
                env={**env_b, **rasa_child_environment()},
            ),
            ChildSpec(
                name="bot",
                argv=[sys.executable, "-m", "bot"],
                health_url=url["bot_b"] + "/healthz",
                env={
                    **env_b,
                    "RASA_URL": url["rasa_b"],
                    "ACTION_SERVER_URL": url["actions_b"],
                    "SALESBOT_BOT_PORT": str(ports["bot_b"]),
                },
            ),
        ]  # fmt: skip
        children_b = [Child(spec=s, log_path=home_b / "logs" / f"{s.name}.log") for s in specs_b]
        for child in children_b:
            child.log_path.parent.mkdir(parents=True, exist_ok=True)
            child.start()
        cluster = Cluster(
            home=home,
            store_url=store_url,
            tracker_url=tracker_url,
            engine=engine,
            slack=slack,
            driver=SlackDriver(slack),
            a=Replica("a", url["actions_a"], url["rasa_a"], url["bot_a"], home / "a" / "logs"),
            b=Replica("b", url["actions_b"], url["rasa_b"], url["bot_b"], home_b / "logs"),
            env_a=env_a,
            serve=serve,
            serve_log=serve_log,
            children_b=children_b,
            databases=[store_db, tracker_db],
        )
        wait_healthy(children_b, timeout=START_TIMEOUT)
        cluster.wait_until_up()
        return cluster
    except BaseException:
        if cluster is not None:
            cluster.stop()
        else:
            slack.stop()
            engine.dispose()
            drop_databases([store_db, tracker_db])
        raise
