"""``salesbot digest``: render a manager's digest (Block Kit JSON and PNG charts) without sending it.

``salesbot digest --manager EMAIL`` prints the digest's text; with ``--out DIR`` it also
writes ``DIR/digest.json`` (the message as the bot posts it: ``text``, ``blocks``, and the
``data`` it was rendered from), ``DIR/digest.txt`` and the three charts
(``pipeline_by_stage.png``, ``revenue_at_risk_by_rep.png``, ``forecast_vs_quota.png``).
It is the digest the scheduler sends and ``send me the team digest`` answers with: a
manager's team, the company for an admin, a rep's own book.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer
from sqlmodel import Session

from analytics.errors import AnalyticsError
from analytics.schedules import ScheduleError, time_zone
from bot.cli.common import fail, store_engine
from bot.digests import compose_digest
from bot.settings import get_settings
from render.blocks import validate_blocks
from render.charts import digest_charts
from store import digests
from store.crud import get_rep_by_email


def register(app: typer.Typer) -> None:
    app.command(
        "digest",
        help=(
            "Render a manager's team digest (text, Block Kit JSON and PNG charts) without "
            "sending it."
        ),
    )(digest_command)


def _local_today(zone_name: str) -> dt.date:
    try:
        zone = time_zone(zone_name)
    except ScheduleError:
        return dt.datetime.now(dt.UTC).date()
    return dt.datetime.now(zone).date()


def digest_command(
    manager: str = typer.Option(..., "--manager", help="e-mail of the manager (or any rep)"),
    out: Path | None = typer.Option(
        None, "--out", help="write digest.json, digest.txt and the PNG charts to this folder"
    ),
    as_of: dt.datetime | None = typer.Option(
        None,
        "--as-of",
        formats=["%Y-%m-%d"],
        help="the day of the digest (default: SALESBOT_AS_OF, else today in the manager's time zone)",
    ),
    since: dt.datetime | None = typer.Option(
        None,
        "--since",
        formats=["%Y-%m-%d"],
        help="count moves from this day (default: the last digest sent, else 7 days before)",
    ),
) -> None:
    engine = store_engine()
    with Session(engine) as session:
        rep = get_rep_by_email(session, email=manager)
    if rep is None or rep.id is None:
        fail(f"no rep with e-mail {manager} in the store")
    day = as_of.date() if as_of else (get_settings().as_of or _local_today(rep.timezone))
    start = since.date() if since else None
    if start is None:
        last = digests.last_sent_at(engine, rep_id=rep.id)
        start = last.date() if last is not None and last.date() < day else None
    try:
        answer = compose_digest(engine, rep.id, as_of=day, since=start)
    except AnalyticsError as exc:
        fail(str(exc))
    typer.echo(answer.text)
    if out is None:
        return
    problems = validate_blocks(answer.blocks)
    if problems:
        fail("the digest's blocks break Slack's limits: " + "; ".join(problems))
    out.mkdir(parents=True, exist_ok=True)
    message = {"text": answer.text, "blocks": answer.blocks, "data": answer.data}
    (out / "digest.json").write_text(json.dumps(message, indent=2, ensure_ascii=False) + "\n")
    (out / "digest.txt").write_text(answer.text + "\n", encoding="utf-8")
    written = ["digest.json", "digest.txt"]
    for chart in digest_charts(answer.data):
        (out / chart.filename).write_bytes(chart.png)
        written.append(chart.filename)
    typer.echo(f"\nwrote {', '.join(written)} to {out} ({len(answer.blocks)} blocks)")
