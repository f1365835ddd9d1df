"""``salesbot score``: batch scoring of every account (health and pitch) into the insight tables."""

from __future__ import annotations

import datetime as dt
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import typer
from sqlalchemy.engine import Engine

from analytics.activity import track_record
from analytics.errors import AnalyticsError
from analytics.health import HealthModel, HealthResult
from analytics.recommend import PeerRecommender
from bot.cli.common import fail, store_engine
from bot.settings import get_settings
from render.export import write_csvs
from store import frames, insights

HEALTH_CSV_COLUMNS = [
    "account_id", "external_id", "name", "owner", "status", "score", "revenue_at_risk", "reason",
]  # fmt: skip
PITCH_CSV_COLUMNS = [
    "account_id", "external_id", "rank", "category", "product", "expected_value", "reason",
]  # fmt: skip


@dataclass
class ScoreOutcome:
    """What one scoring run produced (frames with the analytics' columns)."""

    run_id: int
    as_of: dt.date
    health: HealthResult
    recommendations: pd.DataFrame
    accounts: pd.DataFrame
    products: pd.DataFrame
    reps: pd.DataFrame
    seconds: dict[str, float]


def load_order_lines(
    engine: Engine, as_of: dt.date, accounts: pd.DataFrame, products: pd.DataFrame
) -> pd.DataFrame:
    """All order lines up to ``as_of`` (store.frames columns), streamed from the store a chunk
    at a time (``frames.order_lines``), with the category over every product category."""
    categories = sorted(products["category"].dropna().astype(str).unique())
    lines = frames.order_lines(engine, end=as_of)
    lines["category"] = lines["category"].cat.set_categories(categories)
    return lines


MODEL_FILES = {"health": "health-model.pkl", "pitch": "pitch-model.pkl"}
"""The fitted models, kept beside the store so the action server can judge one account's
newest orders on demand (``actions.models`` reads them)."""


def save_models(folder: Path, *, as_of: dt.date, run_id: int, models: dict[str, object]) -> None:
    """Pickle each fitted model as ``{"as_of", "run_id", "model"}``, replacing files atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, model in models.items():
        target = folder / MODEL_FILES[name]
        tmp = target.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            pickle.dump({"as_of": as_of, "run_id": run_id, "model": model}, handle, protocol=5)
        tmp.replace(target)


def score_book(engine: Engine, as_of: dt.date, *, models_dir: Path | None = None) -> ScoreOutcome:
    """Score every account with orders on or before ``as_of`` and replace the insight tables;
    with ``models_dir``, also keep the fitted models there for on-demand answers."""
    started = time.perf_counter()
    accounts = frames.accounts(engine)
    products = frames.products(engine)
    reps = frames.reps(engine)
    lines = load_order_lines(engine, as_of, accounts, products)
    loaded = time.perf_counter()
    health_model = HealthModel().fit(lines, accounts, as_of=as_of)
    health = health_model.assess(lines, accounts, as_of=as_of)
    recommender = PeerRecommender().fit(lines, accounts, as_of=as_of)
    recommendations = recommender.recommend()
    del lines
    scored = time.perf_counter()
    run_id = insights.start_run(engine, as_of)
    insights.replace_account_health(engine, health.accounts, as_of=as_of, run_id=run_id)
    insights.replace_category_health(engine, health.categories, as_of=as_of, run_id=run_id)
    insights.replace_recommendations(engine, recommendations, as_of=as_of, run_id=run_id)
    insights.finish_run(
        engine,
        run_id,
        accounts_scored=len(health.accounts),
        recommendations=len(recommendations),
        backtest=track_record(health_model.backtest_, recommender.backtest_),
    )
    if models_dir is not None:
        save_models(
            models_dir,
            as_of=as_of,
            run_id=run_id,
            models={"health": health_model, "pitch": recommender},
        )
    stored = time.perf_counter()
    return ScoreOutcome(
        run_id=run_id,
        as_of=as_of,
        health=health,
        recommendations=recommendations,
        accounts=accounts,
        products=products,
        reps=reps,
        seconds={"load": loaded - started, "score": scored - loaded, "store": stored - scored},
    )


def health_csv_frame(outcome: ScoreOutcome) -> pd.DataFrame:
    """health.csv rows: HEALTH_CSV_COLUMNS, by revenue at risk (largest first); ``owner`` is
    the owning rep's e-mail."""
    acc = outcome.accounts.set_index("account_id")
    owner_email = outcome.reps.set_index("rep_id")["email"]
    frame = outcome.health.accounts.copy()
    frame["external_id"] = frame["account_id"].map(acc["external_id"])
    frame["name"] = frame["account_id"].map(acc["name"])
    frame["owner"] = frame["account_id"].map(acc["owner_id"]).map(owner_email)
    return frame[HEALTH_CSV_COLUMNS]


def pitch_csv_frame(outcome: ScoreOutcome) -> pd.DataFrame:
    """pitch.csv rows: PITCH_CSV_COLUMNS by account and rank; ``product`` is the product name."""
    acc = outcome.accounts.set_index("account_id")
    product_name = outcome.products.set_index("product_id")["name"]
    frame = outcome.recommendations.copy()
    frame["external_id"] = frame["account_id"].map(acc["external_id"])
    frame["product"] = frame["product_id"].map(product_name)
    return frame[PITCH_CSV_COLUMNS].sort_values(["account_id", "rank"], ignore_index=True)


def register(app: typer.Typer) -> None:
    app.command(
        "score",
        help="Score every account (slipping and what to pitch) and store the insight tables.",
    )(score)


def score(
    as_of: str = typer.Option(
        None, "--as-of", help="the day to score as of, YYYY-MM-DD (default: today)"
    ),
    out: Path = typer.Option(None, "--out", help="also write health.csv and pitch.csv here"),
) -> None:
    if as_of is None:
        day = dt.datetime.now(dt.UTC).date()
    else:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            fail(f"--as-of must be a date like 2025-03-31, not {as_of!r}")
    engine = store_engine()
    try:
        outcome = score_book(engine, day, models_dir=Path(get_settings().home) / "models")
    except AnalyticsError as exc:
        fail(str(exc))
    counts = outcome.health.accounts["status"].value_counts()
    summary = ", ".join(
        f"{counts.get(s, 0)} {s}"
        for s in ("lapsed", "slipping", "watch", "healthy", "new", "one_off")
    )
    typer.echo(
        f"scored {len(outcome.health.accounts)} accounts as of {day} ({summary}); "
        f"{len(outcome.recommendations)} recommendations; run {outcome.run_id} in "
        + ", ".join(f"{what} {sec:.1f} s" for what, sec in outcome.seconds.items())
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_csvs(
            out, {"health.csv": health_csv_frame(outcome), "pitch.csv": pitch_csv_frame(outcome)}
        )
        typer.echo(f"wrote {out / 'health.csv'} and {out / 'pitch.csv'}")
