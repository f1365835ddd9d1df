"""A real salesbot stack for integration tests: the action server and Rasa started as
processes on free loopback ports over a seeded store, as ``salesbot serve`` starts them.

Only the network edge beyond our processes (Slack's Web API) is faked in tests; Rasa,
the action server and the store are real.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from bot.cli.serve import current_model
from bot.rasa_endpoints import InternalTokens, write_endpoints
from bot.rasa_project import rasa_child_environment
from bot.settings import Settings
from bot.supervisor import Child, ChildSpec, is_healthy
from store.db import make_engine
from store.migrate import upgrade

SECRET = "integration-test-identity-secret"
TOKENS = InternalTokens.derive(SECRET)
"""What ``salesbot serve`` derives from the secret: Rasa's API token, the action endpoint's."""


class StackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    home: Path
    db_url: str
    engine: Engine
    rasa_url: str
    action_server_url: str
    bot_port: int
    as_of: str | None
    children: list[Child] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """Environment under which ``salesbot`` commands talk to this stack's bot and store."""
        env = {
            "SALESBOT_HOME": str(self.home),
            "DATABASE_URL": self.db_url,
            "RASA_URL": self.rasa_url,
            "ACTION_SERVER_URL": self.action_server_url,
            "SALESBOT_IDENTITY_SECRET": SECRET,
            "SALESBOT_BOT_PORT": str(self.bot_port),
            "SALESBOT_HOST": "127.0.0.1",
        }
        if self.as_of:
            env["SALESBOT_AS_OF"] = self.as_of
        return env

    @property
    def settings(self) -> Settings:
        """Bot settings pointing at this stack, for a bot started by the test (on a free port)."""
        return self.bot_settings()

    def bot_settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = {**self.env(), "SALESBOT_BOT_PORT": free_port()}
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.spec.name == name)

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()


def wait_healthy(children: list[Child], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(children)
    while pending and time.monotonic() < deadline:
        for child in list(pending):
            if not child.running:
                log = (
                    child.log_path.read_text(errors="replace")[-3000:]
                    if child.log_path.exists()
                    else ""
                )
                raise StackError(f"{child.spec.name} exited during start-up:\n{log}")
            if is_healthy(child.spec.health_url):
                pending.remove(child)
        time.sleep(0.5)
    if pending:
        names = ", ".join(c.spec.name for c in pending)
        raise StackError(f"{names} did not become healthy within {timeout:.0f}s")


def start_stack(
    home: Path,
    *,
    seed: Callable[[Engine], None],
    db_url: str | None = None,
    as_of: str | None = None,
    model: Path | None = None,
) -> Stack:
    """Migrate and seed a store, then start the action server and Rasa on it."""
    home.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{home / 'salesbot.db'}"
    engine = make_engine(db_url)
    upgrade(engine)
    seed(engine)
    model = model or current_model(Settings(SALESBOT_HOME=str(Path("var").resolve())))  # type: ignore[call-arg]
    if model is None:
        raise StackError(
            "no trained Rasa model: run `salesbot train` (make setup does) before the integration tests"
        )
    rasa_bin = Settings().rasa_executable  # type: ignore[call-arg]
    action_port, rasa_port, bot_port = free_port(), free_port(), free_port()
    action_url = f"http://127.0.0.1:{action_port}"
    rasa_url = f"http://127.0.0.1:{rasa_port}"
    endpoints = write_endpoints(
        home / "rasa" / "endpoints.yml",
        action_server_url=action_url,
        action_token=TOKENS.action_endpoint,
    )
    credentials = home / "rasa" / "credentials.yml"
    credentials.write_text("rest:\n", encoding="utf-8")
    env = {
        "SALESBOT_HOME": str(home),
        "DATABASE_URL": db_url,
        "SALESBOT_IDENTITY_SECRET": SECRET,
        "PYTHONUNBUFFERED": "1",
    }
    if as_of:
        env["SALESBOT_AS_OF"] = as_of
    bot_env = {
        **env,
        "RASA_URL": rasa_url,
        "ACTION_SERVER_URL": action_url,
        "SALESBOT_BOT_PORT": str(bot_port),
        "SALESBOT_HOST": "127.0.0.1",
        "SLACK_BOT_TOKEN": "",
        "SLACK_APP_TOKEN": "",
        "SLACK_SIGNING_SECRET": "",
        "SALESBOT_SCORE_AT": "",
    }
    specs = [
        ChildSpec(
            name="actions",
            argv=[
                sys.executable,
                "-m",
                "actions.server",
                "--actions",
                "actions",
                "-p",
                str(action_port),
            ],
            health_url=f"{action_url}/health",
            env={**env, "SANIC_HOST": "127.0.0.1"},
        ),
        ChildSpec(
            name="rasa",
            argv=[
                str(rasa_bin),
                "run",
                "--enable-api",
                "-i",
                "127.0.0.1",
                "-p",
                str(rasa_port),
                "-m",
                str(model),
                "--endpoints",
                str(endpoints),
                "--credentials",
                str(credentials),
                "--auth-token",
                TOKENS.rasa_api,
            ],
            health_url=f"{rasa_url}/status?token={TOKENS.rasa_api}",
            env={**env, **rasa_child_environment()},
        ),
        ChildSpec(
            name="bot",
            argv=[sys.executable, "-m", "bot"],
            health_url=f"http://127.0.0.1:{bot_port}/healthz",
            env=bot_env,
        ),
    ]
    stack = Stack(
        home=home,
        db_url=db_url,
        engine=engine,
        rasa_url=rasa_url,
        action_server_url=action_url,
        bot_port=bot_port,
        as_of=as_of,
        children=[Child(spec=s, log_path=home / "logs" / f"{s.name}.log") for s in specs],
    )
    for child in stack.children:
        child.start()
    try:
        wait_healthy(
            stack.children, timeout=float(os.environ.get("SALESBOT_TEST_STACK_TIMEOUT", "300"))
        )
    except StackError:
        stack.stop()
        raise
    return stack
