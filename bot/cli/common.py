"""Helpers shared by the CLI commands: the store engine and error output."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from sqlalchemy.engine import Engine

from bot.settings import get_settings
from store.db import StoreUnavailableError, check_connection, make_engine
from store.migrate import upgrade


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def store_engine(*, migrate: bool = True) -> Engine:
    """The configured store, migrated to the newest schema."""
    url = get_settings().store_url
    engine = make_engine(url)
    try:
        check_connection(engine)
        if migrate:
            upgrade(engine)
    except StoreUnavailableError as exc:
        fail(
            f"the database at {engine.url.render_as_string(hide_password=True)} is not reachable: {exc}"
        )
    return engine


def echo_err(message: str) -> None:
    print(message, file=sys.stderr)
