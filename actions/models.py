"""The fitted health and pitch models of the last scoring run, for on-demand answers.

``salesbot score`` (and the nightly run) pickle the fitted :class:`~analytics.health.HealthModel`
and :class:`~analytics.recommend.PeerRecommender` into ``<home>/models/``. With them, one
account's newest orders are judged in milliseconds (its own rhythm against the company's
learned seasonality, spreads and peers), so an account's overview or pitch is fresh even
between nightly runs. Without them, answers come from the insight tables.
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from analytics.errors import AnalyticsError
from analytics.health import HealthModel
from analytics.recommend import PeerRecommender
from store import frames

log = logging.getLogger(__name__)

MODEL_FILES = {"health": "health-model.pkl", "pitch": "pitch-model.pkl"}
"""Kept in step with ``bot.cli.score.MODEL_FILES`` (the writer)."""


@dataclass(frozen=True)
class Fitted:
    as_of: dt.date
    run_id: int
    model: Any


_cache: dict[Path, tuple[float, Fitted]] = {}
_lock = threading.Lock()


def fitted(home: Path, name: str) -> Fitted | None:
    """The model ``name`` ("health" or "pitch") of the last run, reloaded when its file changes."""
    path = Path(home) / "models" / MODEL_FILES[name]
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            with path.open("rb") as handle:
                # written by our own scoring run into the data folder, as trusted as the store
                raw = pickle.load(handle)
            loaded = Fitted(as_of=raw["as_of"], run_id=int(raw["run_id"]), model=raw["model"])
        except (
            OSError,
            pickle.UnpicklingError,
            EOFError,
            KeyError,
            TypeError,
            AttributeError,
            ImportError,
        ) as exc:
            log.warning(
                "cannot read the fitted %s model at %s (%s); answering from the insight tables",
                name,
                path,
                exc,
            )
            return None
        _cache[path] = (mtime, loaded)
        return loaded


@dataclass(frozen=True)
class FreshAccount:
    """One account judged now: its health row, category rows and recommendations."""

    health: dict[str, Any] | None
    categories: pd.DataFrame | None
    recommendations: pd.DataFrame | None


def judge_account(engine: Engine, home: Path, account_id: int, today: dt.date) -> FreshAccount:
    """Health and pitch of one account from its orders up to ``today`` with the fitted models;
    parts without a model (or without orders) are None."""
    health_model = fitted(home, "health")
    pitch_model = fitted(home, "pitch")
    if health_model is None and pitch_model is None:
        return FreshAccount(None, None, None)
    lines = frames.order_lines(engine, account_ids=[account_id], end=today)
    if lines.empty:
        return FreshAccount(None, None, None)
    account = frames.accounts(engine, account_ids=[account_id])
    health: dict[str, Any] | None = None
    categories: pd.DataFrame | None = None
    recommendations: pd.DataFrame | None = None
    try:
        if health_model is not None and isinstance(health_model.model, HealthModel):
            result = health_model.model.assess(lines, account, as_of=today)
            if len(result.accounts):
                health = {**result.accounts.iloc[0].to_dict(), "as_of": today}
                categories = result.categories.assign(as_of=today)
        if pitch_model is not None and isinstance(pitch_model.model, PeerRecommender):
            recs = pitch_model.model.recommend_for(lines, account, as_of=today)
            names = frames.products(engine).set_index("product_id")["name"]
            recommendations = recs.assign(product=recs["product_id"].map(names), as_of=today)
    except AnalyticsError as exc:
        log.info(
            "on-demand scoring of account %s fell back to the insight tables: %s", account_id, exc
        )
        return FreshAccount(None, None, None)
    return FreshAccount(health, categories, recommendations)
