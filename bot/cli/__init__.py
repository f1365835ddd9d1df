"""``salesbot`` command line. Each command group lives in its own module with a
``register(app)`` function; this module only assembles them."""

from __future__ import annotations

import importlib
import sys

import typer

COMMAND_MODULES = (
    "bot.cli.data",
    "bot.cli.imports",
    "bot.cli.chat",
    "bot.cli.serve",
    "bot.cli.score",
    "bot.cli.demo",
    "bot.cli.coach",
    "bot.cli.live",
    "bot.cli.digest",
    "bot.cli.train",
)


COMMANDS = {
    "migrate": "bot.cli.data",
    "import": "bot.cli.imports",
    "ask": "bot.cli.chat",
    "chat": "bot.cli.chat",
    "serve": "bot.cli.serve",
    "status": "bot.cli.serve",
    "score": "bot.cli.score",
    "demo-data": "bot.cli.demo",
    "coach": "bot.cli.coach",
    "tracker": "bot.cli.coach",
    "live-token": "bot.cli.live",
    "digest": "bot.cli.digest",
    "train": "bot.cli.train",
}
"""Command name -> module, so running one command imports only its module (``salesbot ask``
starts in a fraction of a second instead of loading every analytics library)."""


def build_app(modules: tuple[str, ...] = COMMAND_MODULES) -> typer.Typer:
    app = typer.Typer(
        name="salesbot",
        help="Predictive sales analytics for B2B sales teams, in Slack and in the terminal.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def _root() -> None:
        """Predictive sales analytics for B2B sales teams, in Slack and in the terminal."""

    for name in modules:
        importlib.import_module(name).register(app)
    return app


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    module = COMMANDS.get(command)
    build_app((module,) if module else COMMAND_MODULES)()
