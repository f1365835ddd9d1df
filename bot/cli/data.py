"""Store maintenance commands: ``migrate``."""

from __future__ import annotations

import typer

from bot.cli.common import store_engine
from store.migrate import current_revision


def register(app: typer.Typer) -> None:
    app.command("migrate", help="Create or upgrade the database schema to the newest version.")(
        migrate
    )


def migrate() -> None:
    engine = store_engine(migrate=True)
    typer.echo(
        f"database {engine.url.render_as_string(hide_password=True)} at revision {current_revision(engine)}"
    )
