"""`salesbot coach`, `salesbot tracker`, `salesbot import transcripts` and store.calls,
on the shared sample transcripts and a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from bot.cli import build_app
from bot.settings import get_settings
from store import calls
from store.models import (
    Account,
    Call,
    CoachingFlag,
    Order,
    OrderLine,
    Product,
    Rep,
    RepRole,
    Utterance,
)

SHARED = Path(__file__).resolve().parents[2] / "samples" / "transcripts"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "transcripts"
HEADER_WORDS = ("Call ID", "Participants", "Outcome", "Call Notes", "Duration", "Sales Call")


def coach_json(*args: str) -> dict:
    result = CliRunner().invoke(build_app(), ["coach", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def categories_by_side(review: dict) -> set[tuple[str, bool]]:
    return {(f["category"], f["is_rep"]) for f in review["flags"]}


@pytest.fixture
def store_url(db_url, monkeypatch) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


# ------------------------------------------------------------------ shared transcripts


@pytest.mark.parametrize("path", sorted(SHARED.glob("*.md")), ids=lambda p: p.stem)
def test_no_flag_on_header_or_notes_lines(path):
    review = coach_json(str(path), "--no-store")
    assert review["rep_side_source"] == "participants"
    for flag in review["flags"]:
        assert not any(word in flag["quote"] for word in HEADER_WORDS), flag
        assert flag["speaker"] in review["speakers"]


def test_pricing_objection_call():
    review = coach_json(str(SHARED / "tribeai_objection-pricing-01.md"), "--no-store")
    assert review["rep_speakers"] == ["Nicole"]
    by_category = {}
    for flag in review["flags"]:
        by_category.setdefault(flag["category"], []).append(flag)
    # Kevin: "the price is higher than what we budgeted for" / "thinking more like $50-60K"
    assert {f["speaker"] for f in by_category["pricing"]} == {"Kevin"}
    assert {f["speaker"] for f in by_category["budget"]} == {"Kevin"}
    assert by_category["pricing"][0]["seq"] == 0 and by_category["budget"][0]["seq"] == 0
    assert "budgeted" in by_category["budget"][0]["phrase"]
    assert review["metrics"]["next_steps_agreed"] is True  # "Send me the pilot proposal"
    assert review["review"]["next_actions"][0].startswith("Pricing:")


def test_closing_call_has_next_steps_approvals_and_exit_questions():
    review = coach_json(str(SHARED / "tribeai_closing-call-01.md"), "--no-store")
    pairs = categories_by_side(review)
    assert ("next_steps", False) in pairs and ("next_steps", True) in pairs
    approvals = [f for f in review["flags"] if f["category"] == "decision_process"]
    assert [f["speaker"] for f in approvals] == ["James", "Susan"]  # "need to approve", "approving"
    exits = [f for f in review["flags"] if f["category"] == "churn_risk"]
    assert [f["tracker"] for f in exits] == ["exit_terms", "exit_terms"]
    assert "cancellation" in exits[0]["quote"]
    assert review["metrics"]["next_steps_agreed"] is True


def test_unsuccessful_cold_call_has_no_agreed_next_step():
    review = coach_json(str(SHARED / "tribeai_cold-call-unsuccessful-01.md"), "--no-store")
    assert categories_by_side(review) == {
        ("next_steps", True)
    }  # Brian's "send you some information"
    assert review["metrics"]["next_steps_agreed"] is False
    actions = review["review"]["next_actions"]
    assert actions[0].startswith("No next step was agreed")
    assert any(a.startswith("You talked") for a in actions)


def test_follow_up_and_demo_calls():
    follow_up = coach_json(str(SHARED / "tribeai_follow-up-success-01.md"), "--no-store")
    competitor = [f for f in follow_up["flags"] if f["category"] == "competitor"]
    assert {f["speaker"] for f in competitor} == {"Chris"}
    assert any("one other vendor" in f["quote"] for f in competitor)

    demo = coach_json(str(SHARED / "tribeai_demo-call-success-01.md"), "--no-store")
    assert demo["rep_speakers"] == ["Alex", "Lisa"]
    pricing = [f for f in demo["flags"] if f["category"] == "pricing"]
    assert [(f["speaker"], f["quote"]) for f in pricing] == [
        ("Robert", "What's the investment look like for a team our size?")
    ]
    assert ("timeline", False) in categories_by_side(demo)
    # the rep's own price quote ("about $12,000 per month") is not a pricing flag
    assert all(not f["is_rep"] for f in demo["flags"] if f["category"] != "next_steps")


def test_text_review_and_flags_from_the_command_line():
    result = CliRunner().invoke(
        build_app(),
        [
            "coach",
            str(FIXTURES / "markdown.md"),
            "--no-store",
            "--rep-speaker",
            "Dana",
            "--competitor",
            "Rollout",
        ],
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Call review: Renewal call: Acme Logistics (ACME-2024-007)" in out
    assert 'Omar: "Honestly, the price is too high for what we use."' in out
    assert "competitor:rollout" not in out  # Dana (the rep) says "rollout": rep side
    assert "What to do next" in out and "next steps agreed: yes" in out


def test_coach_errors_are_clear(tmp_path):
    runner = CliRunner()
    binary = tmp_path / "call.md"
    binary.write_bytes(b"\x00\x01\x02binary")
    result = runner.invoke(build_app(), ["coach", str(binary), "--no-store"])
    assert result.exit_code == 1 and "not a text file" in result.stderr
    result = runner.invoke(
        build_app(), ["coach", str(FIXTURES / "plain.txt"), "--no-store", "--rep-speaker", "Zed"]
    )
    assert result.exit_code == 1 and "no speaker called 'Zed'" in result.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "trackers:\n  - {name: broken, category: pricing, prompt: x, patterns: [[{LOWR: a}]]}\n"
    )
    result = runner.invoke(
        build_app(), ["coach", str(FIXTURES / "plain.txt"), "--no-store", "--trackers", str(bad)]
    )
    assert result.exit_code == 1 and "tracker 'broken'" in result.stderr
    result = runner.invoke(
        build_app(), ["coach", str(FIXTURES / "plain.txt"), "--no-store", "--save"]
    )
    assert result.exit_code == 1 and "need the store" in result.stderr


# ------------------------------------------------------------------------------ store


def _seed(url: str) -> None:
    from store.db import make_engine
    from store.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        manager = Rep(
            external_id="R1", name="Mona Manager", email="mona@x.com", role=RepRole.manager
        )
        dana = Rep(external_id="R2", name="Dana Seller", email="dana@x.com")
        session.add_all([manager, dana])
        session.flush()
        account = Account(
            external_id="A1", name="Acme Logistics", pricing_tier="Gold", owner_id=dana.id
        )
        product = Product(external_id="P1", name="Pallets", category="Packaging")
        session.add_all([account, product])
        session.flush()
        for number, (day, amount) in enumerate(
            [
                (dt.date(2024, 1, 10), 1000.0),
                (dt.date(2023, 6, 1), 500.0),
                (dt.date(2022, 1, 1), 99.0),
            ]
        ):
            order = Order(external_id=f"O{number}", account_id=account.id, order_date=day)
            session.add(order)
            session.flush()
            session.add(
                OrderLine(
                    order_id=order.id,
                    line_key="1",
                    account_id=account.id,
                    product_id=product.id,
                    order_date=day,
                    quantity=1,
                    unit_price=amount,
                    amount=amount,
                )
            )
        session.commit()
    engine.dispose()


def test_store_trackers_competitors_account_and_save(store_url, engine, tmp_path):
    _seed(store_url)
    runner = CliRunner()
    added = runner.invoke(
        build_app(),
        ["tracker", "add", "data_residency", "--category", "security", "--phrase",
         "hosted in the EU", "--prompt", "Data residency ({phrase}): send the EU hosting sheet.",
         "--as", "mona@x.com"],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    refused = runner.invoke(
        build_app(),
        ["tracker", "add", "other", "--category", "pricing", "--phrase", "x",
         "--prompt", "y", "--as", "dana@x.com"],
    )  # fmt: skip
    assert refused.exit_code == 1 and "not a manager" in refused.stderr
    duplicate = runner.invoke(
        build_app(),
        ["tracker", "add", "data_residency", "--category", "security", "--phrase", "EU",
         "--prompt", "y", "--as", "mona@x.com"],
    )  # fmt: skip
    assert duplicate.exit_code == 1 and "--replace" in duplicate.stderr
    with Session(engine) as session:
        calls.upsert_competitor(
            session, name="Rivalry", aliases=["Rival Co"], battlecard="Win on X."
        )
        session.commit()

    listed = runner.invoke(build_app(), ["tracker", "list", "--json"])
    assert {"name": "data_residency", "source": "store"}.items() <= next(
        row for row in json.loads(listed.stdout) if row["name"] == "data_residency"
    ).items()

    transcript = FIXTURES / "call.json"
    text = transcript.read_text().replace(
        "We're also talking to CloudScale.", "Rival Co pitched us."
    )
    text = text.replace("Price isn't the only thing, though.", "Is the data hosted in the EU?")
    target = tmp_path / "call.json"
    target.write_text(text)
    review = coach_json(
        str(target), "--account", "Acme Logistics", "--rep", "dana@x.com", "--save",
        "--today", "2024-03-01",
    )  # fmt: skip
    assert review["rep_speakers"] == ["Dana"]  # from the stored rep's name
    flags = {f["category"]: f for f in review["flags"]}
    assert flags["competitor"]["tracker"] == "competitor:rivalry"
    assert flags["competitor"]["content"] == "Win on X."
    assert (
        flags["security"]["prompt"]
        == "Data residency (hosted in the EU): send the EU hosting sheet."
    )
    # spend in the 365 days to 2024-03-01: 1000 + 500
    assert flags["pricing"]["account_note"] == (
        "Acme Logistics: pricing tier Gold, $1.5k spent in the last 12 months"
    )
    with Session(engine) as session:
        call = session.exec(select(Call)).one()
        assert call.id == review["saved_call_id"]
        assert (call.rep_id, call.source, call.rep_speaker) == (2, "upload", "Dana")
        assert call.account_id == 1 and call.metrics["next_steps_agreed"] is True
        assert len(session.exec(select(Utterance).where(Utterance.call_id == call.id)).all()) == 7
        stored = session.exec(select(CoachingFlag).order_by(CoachingFlag.id)).all()
        assert [f.category for f in stored] == [f["category"] for f in review["flags"]]
    # saving again replaces, never duplicates
    coach_json(str(target), "--account", "A1", "--rep", "dana@x.com", "--save")
    with Session(engine) as session:
        assert len(session.exec(select(Call)).all()) == 1
        assert len(session.exec(select(Utterance)).all()) == 7


def test_import_transcripts_folder_is_idempotent(store_url, engine, tmp_path):
    for path in sorted(SHARED.glob("*.md")):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "broken.json").write_text("[{")
    runner = CliRunner()
    first = runner.invoke(build_app(), ["import", "transcripts", str(tmp_path), "--json"])
    assert first.exit_code == 1  # the broken file is reported; the others are imported
    report = json.loads(first.stdout)
    assert [r["error"] is None for r in report["transcripts"]].count(True) == 7
    assert "not valid JSON" in next(r["error"] for r in report["transcripts"] if r["error"])
    (tmp_path / "broken.json").unlink()
    second = runner.invoke(build_app(), ["import", "transcripts", str(tmp_path)])
    assert second.exit_code == 0, second.output
    with Session(engine) as session:
        stored = session.exec(select(Call).order_by(Call.external_id)).all()
        assert [c.external_id for c in stored] == [
            "CC-2024-001", "CC-2024-078", "CLOSE-2024-023", "DEMO-2024-089",
            "DISC-2024-012", "FU-2024-156", "OBJ-2024-034",
        ]  # fmt: skip
        assert {c.source for c in stored} == {"import"}
        closing = next(c for c in stored if c.external_id == "CLOSE-2024-023")
        assert closing.started_at.date() == dt.date(2024, 2, 15)
        assert closing.rep_speaker == "Maria"
        flags = session.exec(select(CoachingFlag).where(CoachingFlag.call_id == closing.id)).all()
        assert "next_steps" in {f.category for f in flags}


def test_store_calls_crud(session):
    with pytest.raises(calls.InvalidTrackerError):
        calls.add_custom_tracker(session, name="t", category="pricing", phrases=[" "], prompt="p")
    calls.add_custom_tracker(session, name="t", category="pricing", phrases=["a b"], prompt="p")
    with pytest.raises(calls.DuplicateTrackerError):
        calls.add_custom_tracker(session, name="t", category="pricing", phrases=["c"], prompt="p")
    calls.add_custom_tracker(
        session,
        name="t",
        category="budget",
        phrases=["c"],
        prompt="q",
        side="customer",
        replace=True,
    )
    assert calls.custom_tracker_rows(session) == [
        {"name": "t", "category": "budget", "phrases": ["c"], "side": "customer", "prompt": "q"}
    ]
    calls.upsert_competitor(session, name="Rival", aliases=["R1"])
    calls.upsert_competitor(session, name="rival", aliases=["R2", "R1"], battlecard="card")
    assert calls.competitor_rows(session) == [
        {"name": "Rival", "aliases": ["R1", "R2"], "battlecard": "card"}
    ]
    with pytest.raises(LookupError):
        calls.account_context(session, account_id=999, as_of=dt.date(2024, 1, 1))
