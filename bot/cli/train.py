"""``salesbot train``: train the Rasa model when its data or the store's names changed."""

from __future__ import annotations

import typer

from bot.cli.common import fail, store_engine
from bot.rasa_project import (
    DEFAULT_MAX_ACCOUNT_NAMES,
    RasaProject,
    RasaProjectError,
    ensure_model,
    vocabulary_from_store,
)
from bot.settings import get_settings
from store.db import StoreUnavailableError


def register(app: typer.Typer) -> None:
    app.command(
        "train",
        help=(
            "Train the Rasa model when config.yml, nlu/ or the store's account, rep and "
            "category names changed since the last training (fingerprint check)."
        ),
    )(train)


def train(
    force: bool = typer.Option(False, "--force", help="Train even when the model is current."),
    max_account_names: int = typer.Option(
        DEFAULT_MAX_ACCOUNT_NAMES,
        "--max-account-names",
        min=0,
        help="How many account names (largest accounts first) go into the NLU lookup table.",
    ),
) -> None:
    project = RasaProject.default(get_settings().home)
    engine = store_engine(migrate=True)
    try:
        vocabulary = vocabulary_from_store(engine, max_account_names=max_account_names)
    except StoreUnavailableError as exc:
        fail(f"could not read account and rep names from the store: {exc}")
    typer.echo(
        f"checking the Rasa model ({len(vocabulary.account_names)} account names, "
        f"{len(vocabulary.rep_names)} rep names, {len(vocabulary.categories)} categories "
        "from the store); training takes about two minutes when needed"
    )
    try:
        outcome = ensure_model(project, vocabulary, force=force)
    except RasaProjectError as exc:
        fail(str(exc))
    model = outcome.model
    if outcome.trained:
        typer.echo(f"trained {model.path} in {model.training_seconds:.0f} s")
    else:
        typer.echo(f"model is up to date: {model.path}")
