"""Nightly scoring runs once per day at the local time, across replicas and restarts."""

from __future__ import annotations

import datetime as dt

from bot.nightly import JOB_NAME, NightlyScorer
from store import book, jobs
from tests.seed import AS_OF, seed_book


def scorer(engine, instance: str, now: dt.datetime, calls: list) -> NightlyScorer:
    def score(engine, day):
        from bot.cli.score import score_book

        calls.append((instance, day))
        score_book(engine, AS_OF)

    return NightlyScorer(
        engine,
        instance_id=instance,
        at=dt.time(2, 0),
        timezone="Europe/Berlin",
        clock=lambda: now,
        score=score,
    )


def test_runs_at_local_time_once_across_two_replicas(engine):
    seed_book(engine, filler_accounts=4)
    calls: list = []
    before = dt.datetime(2026, 1, 12, 0, 59, tzinfo=dt.UTC)  # 01:59 in Berlin (UTC+1 in winter)
    assert scorer(engine, "a", before, calls).tick() is None
    assert calls == [] and book.last_scored(engine) is None
    after = dt.datetime(2026, 1, 12, 1, 0, 30, tzinfo=dt.UTC)  # 02:00:30 in Berlin
    first, second = scorer(engine, "a", after, calls), scorer(engine, "b", after, calls)
    assert first.tick() == dt.date(2026, 1, 12)
    assert second.tick() is None
    assert first.tick() is None  # the same replica a minute later
    assert calls == [("a", dt.date(2026, 1, 12))]
    assert book.last_scored(engine) is not None
    [run] = jobs.job_runs(engine, name=JOB_NAME)
    assert run["slot"] == "2026-01-12" and run["finished_at"] is not None and run["error"] is None


def test_a_restart_after_the_time_runs_the_missed_day_and_the_next_day_runs_again(engine):
    seed_book(engine, filler_accounts=4)
    calls: list = []
    late = dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.UTC)
    assert scorer(engine, "restarted", late, calls).tick() == dt.date(2026, 7, 1)
    next_day = dt.datetime(2026, 7, 2, 0, 30, tzinfo=dt.UTC)  # 02:30 in Berlin (UTC+2 in summer)
    assert scorer(engine, "restarted", next_day, calls).tick() == dt.date(2026, 7, 2)
    assert [day for _, day in calls] == [dt.date(2026, 7, 1), dt.date(2026, 7, 2)]


def test_a_store_outage_skips_the_minute_without_stopping_the_scorer():
    from store.db import make_engine

    down = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    calls: list = []
    assert scorer(down, "a", dt.datetime(2026, 1, 12, 3, 0, tzinfo=dt.UTC), calls).tick() is None
    assert calls == []
