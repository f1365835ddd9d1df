"""Bad input at every door: a clear answer or error, nothing partly written, still up.

- Names and messages that look like SQL, Slack markup (``<!channel>``, ``<@U…>``, links)
  or Block Kit breakers: asked about in-process (refused or not found, no error, the
  store unchanged); stored as account names and shown in Slack (Home tab, answers, the
  "marked contacted" note) as the words they are, never as a mention or a link.
- Through the real stack: a 40,000-character question, markup and SQL in questions,
  malformed bodies to the terminal API; every process answers its health check after.
- Files: a 10 MB transcript, binary files, malformed CSVs and unknown enum values through
  ``salesbot import`` / ``salesbot coach``: exit code 1, an error that says what is wrong
  (no traceback) and the same row counts as before.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from sqlmodel import select as sqlmodel_select
from typer.testing import CliRunner

from actions.accounts import ActionAccountOverview, ActionPitch, ValidateAccountForm
from bot import messages
from bot.cli import build_app
from bot.conversation import MAX_MESSAGE_CHARS
from bot.settings import get_settings
from bot.slack.render import message_kwargs
from bot.terminal import TERMINAL_HEADER, terminal_token
from render import accounts as render_accounts
from render import blocks as bk
from store.models import TABLES, Account
from tests.actions.harness import run_action, tracker_for
from tests.reliability.leaks import REFUSALS, book_of, walk
from tests.slack.conftest import Book, seed_book, url_of
from tests.slack.harness import (
    block_actions,
    bot_settings,
    dm_event,
    listeners_done,
    running_bot,
)
from tests.slack.test_buttons import alert_message, element
from tests.stack import TOKENS

NASTY_NAMES = [
    "Robert'); DROP TABLE account;--",
    "' OR '1'='1",
    "<!channel> urgent",
    "<!here|here> & <!everyone>",
    "<@U0ADMIN> please approve",
    "<https://evil.example/login|Acme Corp>",
    "*Acme* _Foods_ ~Inc~ `x` ```block```",
    "Acme\nFoods\r\n\t& Sons",
    "\u202eevil\u202c Foods",
    "{account} %s %(name)s ${HOME}",
    "Ünïcødé Fööds 😀 株式会社",
    "x" * 300,
]
"""Account names (and things said as account names) that must stay plain words."""
SLACK_MARKUP = re.compile(r"<[!@#]|<https?:")


def table_counts(engine: Engine, *, skip: tuple[str, ...] = ()) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            model.__tablename__: conn.execute(
                select(func.count()).select_from(model.__table__)
            ).scalar_one()
            for model in TABLES
            if model.__tablename__ not in skip
        }


NOT_SHOWN = ("value", "action_id", "block_id", "image_url", "url")
"""Keys of Block Kit elements whose strings Slack does not render (button values…)."""


def markup_in(payload: Any) -> list[str]:
    """Slack control sequences (mentions, links) in any string Slack would render."""
    return [
        value
        for key, value in walk(payload)
        if isinstance(value, str) and key not in NOT_SHOWN and SLACK_MARKUP.search(value)
    ]


# --------------------------------------------------------------- in-process actions


@pytest.mark.parametrize("said", NASTY_NAMES)
def test_nasty_account_names_are_answered_in_words_and_write_nothing(actions_env, said):
    store = actions_env
    before = table_counts(store.engine)
    own = book_of(store.engine, [store.reps["jordan"]]).accounts
    for action, intent in (
        (ActionPitch, "ask_pitch"),
        (ActionAccountOverview, "ask_account_overview"),
        (ValidateAccountForm, "ask_pitch"),
    ):
        result = run_action(
            action(),
            tracker_for(
                rep_id=store.reps["jordan"],
                text=f"how is {said} doing?",
                intent=intent,
                slots={"account": said},
            ),
        )
        assert result.messages or result.slot("account_id") in own, action.action_name
        assert set(result.responses) <= REFUSALS | {
            "utter_account_not_visible",
            "utter_ask_account",
        }, result.responses
        for answer in result.answers:  # "which one?", or a fuzzy match in the own book
            assert answer.kind in ("clarify", "pitch", "account_overview"), answer.kind
            if answer.kind != "clarify":
                assert answer.data["account"]["account_id"] in own
            assert bk.validate_blocks(answer.blocks) == []
    assert table_counts(store.engine) == before


# ---------------------------------------------------------------- shown in Slack


def rename(engine: Engine, account_id: int, name: str) -> None:
    with Session(engine) as s:
        account = s.get(Account, account_id)
        assert account is not None
        account.name = name
        s.add(account)
        s.commit()


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_a_nasty_account_name_in_an_answer_is_shown_as_words(name):
    answer = render_accounts.slipping(
        accounts=[
            {"account_id": 7, "name": name, "status": "slipping", "revenue_at_risk": 1200.0,
             "reason": f"{name} stopped ordering"}
        ],
        categories=[{"account_id": 7, "name": name, "category": "<!here>", "status": "lapsed",
                     "revenue_at_risk": 300.0, "reason": "no <!here> orders"}],
        total_flagged=1, total_revenue_at_risk=1200.0, accounts_in_book=3,
        scope_label="your book", scope_rep_ids=[1], as_of=dt.date(2026, 3, 1),
    )  # fmt: skip
    kwargs = message_kwargs(answer)
    assert markup_in(kwargs) == []
    assert bk.validate_blocks(kwargs.get("blocks") or []) == []
    assert len(kwargs["text"]) <= bk.MAX_MESSAGE_TEXT
    if "&" in name or "<" in name:
        shown = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert shown.split("\n")[0] in kwargs["text"]


def test_nasty_names_in_the_home_tab_and_in_the_contacted_note(tmp_path, sqlite_engine, fake_slack):
    book: Book = seed_book(sqlite_engine)
    rename(sqlite_engine, book.acme_id, "<!channel> Acme & Co")
    rename(sqlite_engine, book.globex_id, "<https://evil.example|Globex>")
    message = alert_message(book.acme_id, "Acme")
    click = block_actions(user="UMARIA", action=element(message, "sb_contacted"), message=message)

    async def scenario() -> None:
        settings = bot_settings(tmp_path, url_of(sqlite_engine), fake_slack)
        async with running_bot(settings, fake_slack) as bot:
            home = {"type": "app_home_opened", "user": "UMARIA", "tab": "home"}
            from tests.slack.harness import event_envelope

            body = json.dumps(event_envelope(home))
            assert (await bot.post(body, content_type="application/json"))[0] == 200
            assert (await bot.interaction(click))[0] == 200
            await fake_slack.wait_for_async("views.publish")
            await fake_slack.wait_for_async("chat.update")
            await listeners_done()

    asyncio.run(scenario())
    [home] = fake_slack.calls_to("views.publish")
    [update] = fake_slack.calls_to("chat.update")
    shown = json.dumps(home.args["view"]) + json.dumps(update.args["blocks"])
    assert "&lt;!channel&gt; Acme &amp; Co" in shown
    assert "&lt;https://evil.example|Globex&gt;" in shown
    assert markup_in(home.args["view"]) == []
    assert [
        s for s in markup_in(update.args["blocks"]) if s != "<@UMARIA>" and "<@UMARIA>" not in s
    ] == []


def test_text_typed_in_slack_is_read_back_as_typed(tmp_path, store_url, fake_slack):
    """Slack sends ``AT&T <3`` as ``AT&amp;T &lt;3``: the assistant is asked ``AT&T <3``."""
    asked: list[str] = []

    async def scenario() -> None:
        settings = bot_settings(tmp_path, store_url, fake_slack)
        async with running_bot(settings, fake_slack) as bot:

            async def record(asker: Any, text: str) -> list[Any]:
                asked.append(text)
                return []

            bot.runtime.assistant.ask = record  # type: ignore[method-assign]
            await bot.event(dm_event("UMARIA", "how is AT&amp;T &lt;3 doing?"))
            await listeners_done()

    asyncio.run(scenario())
    assert asked == ["how is AT&T <3 doing?"]


# ------------------------------------------------------------------- the real stack


def stack_health(stack) -> dict[str, int]:
    return {
        name: httpx.get(url, timeout=10).status_code
        for name, url in {
            "bot": f"http://127.0.0.1:{stack.bot_port}/healthz",
            "rasa": f"{stack.rasa_url}/status?token={TOKENS.rasa_api}",
            "actions": stack.action_server_url + "/health",
        }.items()
    }


@pytest.mark.rasa
@pytest.mark.xdist_group("stack")
def test_bad_requests_to_the_terminal_api_get_clear_errors(stack):
    from store.demo import DEMO_REP_EMAIL

    url = f"http://127.0.0.1:{stack.bot_port}/api/ask"
    headers = {TERMINAL_HEADER: terminal_token(stack.settings)}
    before = table_counts(stack.engine, skip=("processed_slack_event",))
    sender = f"bad-{uuid.uuid4().hex[:8]}"
    cases: list[tuple[Any, int, str]] = [
        ("{not json", 400, "body must be JSON"),
        ([1, 2, 3], 400, "'as' (a rep e-mail) is required"),
        ({"text": "hi"}, 400, "'as' (a rep e-mail) is required"),
        ({"as": 42, "text": {"a": 1}}, 200, "No rep with the e-mail 42"),
        ({"as": DEMO_REP_EMAIL, "text": "x" * 40_000, "sender": sender}, 200, "40,000 characters"),
        ({"as": DEMO_REP_EMAIL, "text": "\x00\x01\x02", "sender": sender}, 200, ""),
        ({"as": DEMO_REP_EMAIL, "text": "   ", "sender": sender}, 200, "Ask me about"),
    ]
    for body, status, words in cases:
        content = body if isinstance(body, str) else json.dumps(body)
        response = httpx.post(url, content=content, headers=headers, timeout=120)
        assert response.status_code == status, (body, response.text)
        assert words in response.text, (body, response.text)
        assert "Traceback" not in response.text
    too_big = httpx.post(url, content=b"x" * 2_000_000, headers=headers, timeout=60)
    assert too_big.status_code == 413
    assert httpx.post(url, json={"as": DEMO_REP_EMAIL, "text": "hi"}, timeout=30).status_code == 401
    assert table_counts(stack.engine, skip=("processed_slack_event",)) == before
    assert stack_health(stack) == {"bot": 200, "rasa": 200, "actions": 200}


@pytest.mark.rasa
@pytest.mark.xdist_group("stack")
def test_markup_sql_and_huge_questions_from_slack_through_the_stack(stack):
    """Questions as Slack delivers them (mentions and links are markup in the event text):
    every reply is plain words within Slack's limits, the store is unchanged."""
    from store.demo import DEMO_REP_EMAIL
    from tests.slack.fakeslack import FakeSlack
    from tests.slack.harness import BOT_TOKEN, SIGNING_SECRET

    user = f"U{uuid.uuid4().hex[:8].upper()}"
    questions = [
        "how is <!channel> doing?",
        "what should I pitch to <@U0ADMIN>?",
        "how is <https://evil.example|Acme Corp> doing?",
        "how is Robert'); DROP TABLE account;-- doing?",
        "what should I pitch to ' OR '1'='1",
        "which of my accounts are slipping? " + "🙂" * 20 + " ```*_~",
        "y" * 40_000,
    ]
    before = table_counts(stack.engine, skip=("processed_slack_event",))
    with FakeSlack(users={user: DEMO_REP_EMAIL}) as slack:
        settings = stack.bot_settings(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.api_url,
        )

        async def scenario() -> None:
            async with running_bot(settings, slack) as bot:
                for i, text in enumerate(questions):
                    ts = f"{1772480000 + i}.000100"
                    assert await bot.event(dm_event(user, text, ts=ts)) == 200
                    await listeners_done(timeout=120)

        asyncio.run(scenario())
        replies = [c.args for c in slack.calls if c.method in ("chat.postMessage", "chat.update")]
    texts = [r["text"] for r in replies if r["text"] != messages.WORKING]
    assert len(texts) >= len(questions), texts
    assert markup_in(replies) == []
    for reply in replies:
        assert len(reply["text"]) <= bk.MAX_MESSAGE_TEXT
        assert bk.validate_blocks(reply.get("blocks") or []) == []
        assert "Traceback" not in json.dumps(reply)
    assert any(f"{MAX_MESSAGE_CHARS:,}" in t for t in texts)
    assert not any(
        t in (messages.RASA_DOWN, messages.ACTIONS_DOWN, messages.NO_REPLY) for t in texts
    )
    assert table_counts(stack.engine, skip=("processed_slack_event",)) == before
    assert stack_health(stack) == {"bot": 200, "rasa": 200, "actions": 200}


# ------------------------------------------------------------------------- files


def run_cli(args: list[str], db_url: str, home: Path, monkeypatch) -> tuple[int, str]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SALESBOT_HOME", str(home))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(build_app(), args)
    finally:
        get_settings.cache_clear()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


BAD_IMPORT = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "bad"


def bad_files(folder: Path) -> dict[str, tuple[str, Path, str]]:
    """Name -> (kind, file, a word the error must contain)."""
    binary = folder / "accounts.csv"
    binary.write_bytes(bytes(range(256)) * 64)
    partial = folder / "partly_good_accounts.csv"
    rows = [f"A{i},Good Account {i}" for i in range(500)]
    partial.write_text("external_id,name\n" + "\n".join(rows) + '\nA9999,"never closed\n')
    enum = folder / "reps.csv"
    enum.write_text("external_id,name,email,role\nR77,Eve,eve@example.com,overlord\n")
    return {
        "binary-file": ("accounts", binary, "line"),
        "500-good-rows-then-an-unclosed-quote": ("accounts", partial, "line 502"),
        "unknown-role": ("reps", enum, "overlord"),
        "unknown-lead-source": ("leads", BAD_IMPORT / "leads_unknown_source.csv", "source"),
        "unknown-buying-role": ("contacts", BAD_IMPORT / "contacts_unknown_buying_role.csv", "buying_role"),
        "ragged-row": ("accounts", BAD_IMPORT / "accounts_wrong_field_count.csv", "line"),
    }  # fmt: skip


def test_bad_files_are_rejected_whole_with_a_clear_error(
    tmp_path, sqlite_url, sqlite_engine, monkeypatch
):
    seed_book(sqlite_engine)
    before = table_counts(sqlite_engine)
    for name, (kind, path, word) in bad_files(tmp_path).items():
        code, output = run_cli(["import", kind, str(path)], sqlite_url, tmp_path, monkeypatch)
        assert code == 1, (name, output)
        assert word in output, (name, output)
        assert "Traceback" not in output, name
        assert table_counts(sqlite_engine) == before, name


def test_huge_and_binary_transcripts_are_refused_and_nothing_is_stored(
    tmp_path, sqlite_url, sqlite_engine, monkeypatch
):
    seed_book(sqlite_engine)
    before = table_counts(sqlite_engine)
    huge = tmp_path / "calls" / "huge.txt"
    huge.parent.mkdir()
    line = "Maria: we should talk about pricing and the budget for next quarter.\n"
    huge.write_text(line * (10 * 1_048_576 // len(line) + 1))
    assert huge.stat().st_size > 10 * 1_048_576
    binary = tmp_path / "calls" / "binary.txt"
    binary.write_bytes(os.urandom(4096) + b"\x00" * 64)
    for path, word in ((huge, "MB"), (binary, "binary")):
        code, output = run_cli(["coach", str(path)], sqlite_url, tmp_path, monkeypatch)
        assert code == 1 and word in output and "Traceback" not in output, output
    code, output = run_cli(
        ["import", "transcripts", str(huge.parent)], sqlite_url, tmp_path, monkeypatch
    )
    assert code == 1, output
    assert "huge.txt" in output and "binary.txt" in output and "0 transcript(s) imported" in output
    assert table_counts(sqlite_engine) == before


def test_nasty_account_names_import_as_plain_text(tmp_path, sqlite_url, sqlite_engine, monkeypatch):
    seed_book(sqlite_engine)
    path = tmp_path / "accounts.csv"
    quoted = ['"' + n.replace('"', '""') + '"' for n in NASTY_NAMES]
    path.write_text(
        "external_id,name\n" + "\n".join(f"N{i},{q}" for i, q in enumerate(quoted)) + "\n"
    )
    code, output = run_cli(["import", "accounts", str(path)], sqlite_url, tmp_path, monkeypatch)
    assert code == 0, output
    with Session(sqlite_engine) as s:
        stored = {a.external_id: a.name for a in s.exec(sqlmodel_select(Account))}
    for i, name in enumerate(NASTY_NAMES):
        assert stored[f"N{i}"] == name.replace("\r\n", "\n").strip() or stored[f"N{i}"] == name
    assert len(stored) == 3 + len(NASTY_NAMES)  # the account table is still there
