"""``salesbot serve`` and ``salesbot status``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import typer

from bot import rasa_project
from bot.cli.common import fail, store_engine
from bot.rasa_endpoints import InternalTokens, write_endpoints
from bot.runtime import identity_secret
from bot.settings import Settings, get_settings
from bot.supervisor import ChildSpec, Supervisor, is_healthy

DEFAULT_SCORE_AT = "02:00"
"""When the supervised bot rescores every account each night, unless SALESBOT_SCORE_AT says otherwise."""


def register(app: typer.Typer) -> None:
    app.command(
        "serve", help="Start and supervise the action server, Rasa and the bot (Ctrl-C stops all)."
    )(serve)
    app.command("status", help="Say which parts of the stack are up.")(status)


def _port(url: str, default: int) -> int:
    return urlparse(url).port or default


def current_model(settings: Settings) -> Path | None:
    """The trained Rasa model ``salesbot train`` points at, if it is on disk."""
    info = rasa_project.current_model(rasa_project.RasaProject.default(Path(settings.home)))
    return info.path if info is not None and info.path.exists() else None


def rasa_config_files(
    settings: Settings, *, action_url: str, action_token: str | None = None
) -> tuple[Path, Path]:
    """Write the endpoints and credentials Rasa runs with into ``<home>/rasa/``."""
    folder = Path(settings.home).resolve() / "rasa"
    endpoints = write_endpoints(
        folder / "endpoints.yml",
        action_server_url=action_url,
        action_token=action_token,
        tracker_store_url=settings.rasa_tracker_store_url,
        lock_store_url=settings.rasa_lock_store_url,
        tracker_file=folder / "tracker.db",
    )
    credentials = folder / "credentials.yml"
    credentials.write_text("rest:\n", encoding="utf-8")
    return endpoints, credentials


LOOPBACK = "127.0.0.1"
"""Where Rasa and the action server listen: only the bot is reached from outside, whatever
``SALESBOT_HOST`` says. On loopback too, Rasa's HTTP API needs its token and the action
server only answers Rasa (see :class:`bot.rasa_endpoints.InternalTokens`)."""


def child_specs(settings: Settings, *, model: Path, secret: str) -> list[ChildSpec]:
    host = LOOPBACK
    python = sys.executable
    action_port = _port(settings.action_server_url, 5055)
    rasa_port = _port(settings.rasa_url, 5005)
    common_env = {
        "SALESBOT_HOME": str(Path(settings.home).resolve()),
        "SALESBOT_IDENTITY_SECRET": secret,
    }
    if settings.database_url:
        common_env["DATABASE_URL"] = settings.database_url
    tokens = InternalTokens.derive(secret)
    endpoints, credentials = rasa_config_files(
        settings, action_url=f"http://{host}:{action_port}", action_token=tokens.action_endpoint
    )
    return [
        ChildSpec(
            name="actions",
            argv=[python, "-m", "actions.server", "--actions", "actions", "-p", str(action_port)],
            health_url=f"http://{host}:{action_port}/health",
            env={**common_env, "SANIC_HOST": host},
            start_timeout=60,
        ),
        ChildSpec(
            name="rasa",
            argv=[
                str(settings.rasa_executable),
                "run",
                "--enable-api",
                "-i",
                host,
                "-p",
                str(rasa_port),
                "-m",
                str(model),
                "--endpoints",
                str(endpoints),
                "--credentials",
                str(credentials),
                # Rasa's HTTP API reads and writes every conversation: only our processes
                "--auth-token",
                tokens.rasa_api,
            ],
            health_url=f"http://{host}:{rasa_port}/status?token={tokens.rasa_api}",
            env={**common_env, **rasa_project.rasa_child_environment()},
            start_timeout=180,
        ),
        ChildSpec(
            name="bot",
            argv=[python, "-m", "bot"],
            health_url=f"http://{settings.host}:{settings.bot_port}/healthz",
            env={
                **common_env,
                "SALESBOT_SCORE_AT": os.environ.get("SALESBOT_SCORE_AT", DEFAULT_SCORE_AT),
            },
            start_timeout=60,
        ),
    ]


def serve() -> None:
    settings = get_settings()
    store_engine(migrate=True).dispose()
    model = current_model(settings)
    if model is None:
        fail("no trained Rasa model: run `salesbot train` (or `make setup`) first")
    if not settings.rasa_executable.exists():
        fail(f"Rasa is not installed at {settings.rasa_executable}: run `make setup`")
    specs = child_specs(settings, model=model, secret=identity_secret(settings))
    supervisor = Supervisor(specs, log_dir=Path(settings.home) / "logs")

    def ready() -> None:
        typer.secho(
            f"salesbot is ready: bot on http://{settings.host}:{settings.bot_port} "
            f"(try `salesbot ask --as <rep e-mail> 'which of my accounts are slipping?'`)",
            fg=typer.colors.GREEN,
            err=True,
        )

    raise typer.Exit(supervisor.run(on_ready=ready))


def status() -> None:
    settings = get_settings()
    checks = {
        "actions": f"http://{LOOPBACK}:{_port(settings.action_server_url, 5055)}/health",
        "rasa": f"http://{LOOPBACK}:{_port(settings.rasa_url, 5005)}/status?token="
        + InternalTokens.derive(identity_secret(settings)).rasa_api,
        "bot": f"http://{settings.host}:{settings.bot_port}/healthz",
    }
    down = []
    for name, url in checks.items():
        up = is_healthy(url)
        typer.echo(f"{name:8} {'up' if up else 'down':5} {url.split('?')[0]}")
        if not up:
            down.append(name)
    raise typer.Exit(1 if down else 0)
