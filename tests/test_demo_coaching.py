"""``salesbot demo-data`` reviews the calls it generates: every demo call is stored with
coaching flags from the real trackers, and the manager digest shows coaching themes."""

from __future__ import annotations

from sqlmodel import Session, col, select
from typer.testing import CliRunner

from bot.cli import build_app
from bot.settings import get_settings
from store.db import make_engine
from store.demo import DEMO_MANAGER_EMAIL, DEMO_REP_EMAIL
from store.models import Call, CoachingFlag, Competitor, Rep

END = "2025-06-30"


def test_demo_calls_get_coaching_flags_and_the_digest_shows_themes(tmp_path, db_url, monkeypatch):
    monkeypatch.setenv("SALESBOT_HOME", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("SALESBOT_AS_OF", raising=False)
    get_settings.cache_clear()
    args = ["demo-data", "--accounts", "120", "--seed", "3", "--years", "1", "--end-date", END]
    try:
        demo = CliRunner().invoke(build_app(), args)
        digest = CliRunner().invoke(
            build_app(), ["digest", "--manager", DEMO_MANAGER_EMAIL, "--as-of", END]
        )
    finally:
        get_settings.cache_clear()
    assert demo.exit_code == 0, demo.output

    engine = make_engine(db_url)
    with Session(engine) as session:
        calls = session.exec(select(Call).order_by(col(Call.id))).all()
        flags = session.exec(select(CoachingFlag)).all()
        competitors = {c.name for c in session.exec(select(Competitor)).all()}
        demo_rep = session.exec(select(Rep).where(Rep.email == DEMO_REP_EMAIL)).one()
    engine.dispose()
    by_call: dict[int, set[str]] = {}
    for flag in flags:
        by_call.setdefault(flag.call_id, set()).add(flag.category)
    # every generated call is reviewed (flags and metrics), none left without coaching
    assert set(by_call) == {c.id for c in calls}
    assert all(c.metrics is not None and c.metrics["utterances"] > 0 for c in calls)
    categories = set().union(*by_call.values())
    assert {"pricing", "competitor", "decision_process", "next_steps"} <= categories
    # the competitor named in a call is one of the demo company's stored competitors
    named = {f.phrase.casefold() for f in flags if f.tracker.startswith("competitor:")}
    assert named and named <= {n.casefold() for n in competitors}
    assert any(c.rep_id == demo_rep.id for c in calls if c.id in by_call)
    assert "coaching: 14 calls reviewed in" in demo.output and f"{len(flags)} flags" in demo.output

    assert digest.exit_code == 0, digest.output
    themes = next(line for line in digest.output.splitlines() if "Coaching themes" in line)
    assert "no coaching flags" not in themes
    assert "pricing objections" in themes and "competitor mentions" in themes
