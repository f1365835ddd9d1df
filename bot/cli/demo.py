"""``salesbot demo-data``: write the synthetic demo distributor into the store."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import typer
from sqlalchemy.engine import Engine

from bot.cli.common import fail, store_engine
from bot.settings import get_settings
from store import calls
from store.bulk import BulkLoadError
from store.db import session_scope
from store.demo import (
    DEMO_MANAGER_EMAIL,
    DEMO_REP_EMAIL,
    PLANTED_KINDS,
    DemoDataError,
    DemoParams,
    StoreNotEmptyError,
    generate_demo,
    tables_with_data,
    write_demo,
    write_planted_truth,
)


def register(app: typer.Typer) -> None:
    app.command(
        "demo-data",
        help=(
            "Write a deterministic synthetic B2B distributor (reps, accounts, years of orders, "
            "deals, leads, activities, quotas, calls) into the store, and the planted truth "
            "to OUT/planted_truth.csv."
        ),
    )(demo_data)


def demo_data(
    accounts: int = typer.Option(2000, "--accounts", help="number of accounts (50 to 2,000,000)."),
    seed: int = typer.Option(7, "--seed", help="random seed; same inputs give the same data."),
    end_date: dt.datetime | None = typer.Option(
        None,
        "--end-date",
        formats=["%Y-%m-%d"],
        help="last day of history (YYYY-MM-DD); default today.",
    ),
    years: int = typer.Option(3, "--years", help="years of order history (1 to 10)."),
    out: Path | None = typer.Option(
        None, "--out", help="folder for planted_truth.csv; default $SALESBOT_HOME/demo."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="delete the store's existing business data first."
    ),
) -> None:
    last_day = end_date.date() if end_date is not None else dt.date.today()
    try:
        params = DemoParams(end_date=last_day, accounts=accounts, seed=seed, years=years)
    except DemoDataError as exc:
        fail(str(exc))
    engine = store_engine()
    present = tables_with_data(engine)
    if present and not replace:
        fail(
            "the store already holds business data ("
            + ", ".join(present)
            + "). Run with --replace to delete it and write the demo data instead."
        )
    typer.echo(
        f"generating {accounts:,} accounts, {years} year(s) of history to {last_day}, seed {seed} ..."
    )
    data = generate_demo(params)
    rows = data.rows()
    typer.echo(
        f"generated in {data.seconds:.1f} s: {rows['order_line']:,} order lines, "
        f"{rows['sales_order']:,} orders, {rows['opportunity']:,} deals, {rows['lead']:,} leads, "
        f"{rows['activity']:,} activities"
    )
    started = time.perf_counter()
    try:
        report = write_demo(engine, data, replace=replace)
    except StoreNotEmptyError as exc:
        fail(str(exc))
    except BulkLoadError as exc:
        fail(f"writing the demo data failed, the store is unchanged: {exc}")
    written = time.perf_counter() - started
    lines_per_second = rows["order_line"] / report.seconds.get("order_line", written or 1.0)
    typer.echo(
        f"written to {engine.url.render_as_string(hide_password=True)} in {written:.1f} s "
        f"({lines_per_second:,.0f} order lines/s)"
    )
    review_demo_calls(engine)
    folder = out if out is not None else get_settings().home / "demo"
    path = write_planted_truth(data.planted_truth, folder)
    counts = data.planted_truth["kind"].value_counts()
    summary = ", ".join(f"{kind} {int(counts.get(kind, 0))}" for kind in PLANTED_KINDS)
    typer.echo(f"planted truth: {path} ({summary})")
    typer.echo(f"demo logins: rep {DEMO_REP_EMAIL}, manager {DEMO_MANAGER_EMAIL}")


def review_demo_calls(engine: Engine) -> None:
    """The generated calls come with transcripts but no coaching flags: review them with
    the trackers in force and store their flags and metrics, so digests show coaching
    themes on demo data."""
    from bot.coaching import Coaching  # spaCy loads only here

    with session_scope(engine) as session:
        call_ids = calls.call_ids_without_flags(session)
    started = time.perf_counter()
    flags = Coaching(engine).review_stored_calls(call_ids)
    themes = ", ".join(f"{category} {count}" for category, count in flags.most_common())
    typer.echo(
        f"coaching: {len(call_ids)} calls reviewed in {time.perf_counter() - started:.1f} s, "
        f"{sum(flags.values())} flags ({themes or 'none'})"
    )
