"""Nightly scoring inside the bot process: at ``SALESBOT_SCORE_AT`` (local time in
``SALESBOT_TIMEZONE``) every account is scored again (health and pitch), so answers, the
App Home and digests start each day from fresh insight tables.

The run for a day is claimed in the store first (``store.jobs``), so with several bot
replicas it runs once. A replica that starts after the scoring time and finds the day not
yet claimed runs it then (a restart never skips a day, nor runs it twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from analytics.errors import AnalyticsError
from bot.runtime import Runtime
from store import jobs
from store.db import StoreUnavailableError

log = logging.getLogger(__name__)

JOB_NAME = "nightly-score"
TICK_SECONDS = 60.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class NightlyScorer:
    def __init__(
        self,
        engine: Engine,
        *,
        instance_id: str,
        at: dt.time,
        timezone: str = "UTC",
        clock: Callable[[], dt.datetime] = _utcnow,
        score: Callable[[Engine, dt.date], object] | None = None,
        models_dir: Path | None = None,
    ) -> None:
        self.models_dir = models_dir
        self.engine = engine
        self.instance_id = instance_id
        self.at = at
        self.zone = ZoneInfo(timezone)
        self.clock = clock
        self._score = score

    def due_day(self) -> dt.date | None:
        """The local day whose scoring time has passed (None before today's time)."""
        local = self.clock().astimezone(self.zone)
        return local.date() if local.time() >= self.at else None

    def _run_score(self, day: dt.date) -> None:
        if self._score is not None:
            self._score(self.engine, day)
            return
        from bot.cli.score import score_book

        score_book(self.engine, day, models_dir=self.models_dir)

    def tick(self) -> dt.date | None:
        """Score today if it is time and nobody has claimed today yet; returns the day scored."""
        day = self.due_day()
        if day is None:
            return None
        slot = day.isoformat()
        try:
            if not jobs.claim_job(
                self.engine, name=JOB_NAME, slot=slot, claimed_by=self.instance_id
            ):
                return None
        except StoreUnavailableError as exc:
            log.warning("nightly scoring skipped this minute: the store is unavailable (%s)", exc)
            return None
        log.info("nightly scoring for %s started by %s", slot, self.instance_id)
        error: str | None = None
        try:
            self._run_score(day)
        except (AnalyticsError, StoreUnavailableError, OperationalError) as exc:
            error = str(exc)
            log.error("nightly scoring for %s failed: %s", slot, exc)
        try:
            jobs.finish_job(self.engine, name=JOB_NAME, slot=slot, error=error)
        except StoreUnavailableError as exc:
            log.warning("could not record the end of nightly scoring for %s: %s", slot, exc)
        if error is None:
            log.info("nightly scoring for %s finished", slot)
        return day if error is None else None

    async def run(self) -> None:
        while True:
            await asyncio.to_thread(self.tick)
            await asyncio.sleep(TICK_SECONDS)


def setup_nightly_scoring(web_app: web.Application, runtime: Runtime) -> NightlyScorer | None:
    """Run a :class:`NightlyScorer` while the bot runs (unless ``SALESBOT_SCORE_AT`` is empty
    or ``SALESBOT_AS_OF`` pins the day)."""
    settings = runtime.settings
    if settings.score_at is None or settings.as_of is not None:
        # SALESBOT_AS_OF replays a fixed day: its scores come from an explicit `salesbot score`
        return None
    scorer = NightlyScorer(
        runtime.engine,
        instance_id=runtime.instance_id,
        at=settings.score_at,
        timezone=settings.timezone,
        models_dir=Path(settings.home) / "models",
    )

    async def run_scorer(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(scorer.run(), name="nightly-score")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    web_app.cleanup_ctx.append(run_scorer)
    return scorer
