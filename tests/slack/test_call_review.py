"""Call reviews in Slack, through signed requests into the real bolt app, with real
trackers (spaCy), the real store and the fake Slack Web API serving the shared files:
a transcript shared in a DM or in the call-review channel gets a threaded review and is
stored with its flags; files that are no transcript get a clear sentence; managers add
trackers with ``/sales tracker add`` (reps are refused) and the next review and live call
use them; ``/sales coach live`` hands out a working live link."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sqlmodel import Session, col, select

from bot import messages
from store.db import make_engine
from store.models import Call, CoachingFlag, CustomTracker, Rep, RepRole
from tests.slack.conftest import Book
from tests.slack.fakeslack import FakeSlack
from tests.slack.harness import bot_settings, listeners_done, running_bot

ROOT = Path(__file__).resolve().parents[2]
FOLLOW_UP = ROOT / "samples" / "transcripts" / "tribeai_follow-up-success-01.md"
FILE_TS = "1772463900.000500"


def file_share(
    slack: FakeSlack,
    name: str,
    content: bytes,
    *,
    user: str = "UMARIA",
    channel: str | None = None,
    mimetype: str = "text/markdown",
    ts: str = FILE_TS,
) -> dict[str, Any]:
    """The ``message`` event Slack sends when ``user`` shares a file."""
    shared = slack.add_file(name, content, mimetype=mimetype, filetype="markdown", user=user)
    in_dm = channel is None
    return {
        "type": "message",
        "subtype": "file_share",
        "channel": channel or "D" + user[1:],
        "channel_type": "im" if in_dm else "channel",
        "user": user,
        "text": "",
        "ts": ts,
        "event_ts": ts,
        "upload": False,
        "files": [{k: shared[k] for k in ("id", "name", "mimetype", "size", "url_private")}],
    }


def thread_replies(slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [
        c.args
        for c in slack.calls_to("chat.postMessage")
        if c.args["channel"] == channel and c.args.get("thread_ts") == FILE_TS
    ]


def unescaped(text: str) -> str:
    """Slack mrkdwn as read (``&gt;`` at a line start is Slack's block quote)."""
    return text.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [unescaped(b["text"]["text"]) for b in blocks if b["type"] == "section" and "text" in b]


def add_manager(url: str) -> None:
    engine = make_engine(url)
    with Session(engine) as session:
        session.add(
            Rep(
                external_id="M1",
                name="Kim Park",
                email="kim@example.com",
                role=RepRole.manager,
                slack_user_id="UKIM",
            )
        )
        session.commit()
    engine.dispose()


def test_transcript_shared_in_a_dm_gets_a_threaded_review_and_is_stored(
    tmp_path, store_url, book: Book, fake_slack
):
    event = file_share(fake_slack, FOLLOW_UP.name, FOLLOW_UP.read_bytes())

    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            assert await bot.event(event) == 200
            await fake_slack.wait_for_async("chat.postMessage")
            await listeners_done()

    asyncio.run(scenario())
    # the file was read through files.info and its url_private, with the bot token
    [info] = fake_slack.calls_to("files.info")
    assert info.args["file"] == event["files"][0]["id"]
    [download] = fake_slack.calls_to("file.download")
    assert download.token == "xoxb-test-bot-token"

    [review] = thread_replies(fake_slack, "DMARIA")
    sections = section_texts(review["blocks"])
    assert (
        review["blocks"][0]["text"]["text"] == "Call review: Sales Call Transcript: Follow-Up Call"
    )
    # flags by category, playbook order, with counts
    headings = [s.split("\n")[0] for s in sections[:4]]
    assert headings == [
        "*Pricing* (3)",
        "*Competitors* (2)",
        "*Decision process* (1)",
        "*Next steps* (4)",
    ]
    competitors = sections[1]
    assert (
        "> #4 *Chris*: “So we've narrowed it down to TribeAI and one other vendor." in competitors
    )
    assert "→ They are looking at alternatives (narrowed it down)." in competitors
    assert "*Rachel* (rep)" in sections[3]  # "I'll send over the contract today"
    metrics = next(b for b in review["blocks"] if b.get("text", {}).get("text") == "*Metrics*")
    fields = [f["text"] for f in metrics["fields"]]
    assert "Talk ratio (rep share of the words): 67%" in fields
    assert "Next step agreed: yes" in fields
    next_steps = next(s for s in sections if s.startswith("*What to do next*"))
    assert "1. Pricing: Follow up on price with value" in next_steps
    assert "Competitors: Ask what they like about the alternative" in next_steps
    assert review["text"].startswith("Call review: Sales Call Transcript: Follow-Up Call")

    engine = make_engine(store_url)
    with Session(engine) as session:
        call = session.exec(select(Call).where(Call.external_id == "FU-2024-156")).one()
        flags = session.exec(
            select(CoachingFlag.category).where(CoachingFlag.call_id == call.id)
        ).all()
    engine.dispose()
    assert (call.rep_id, call.source, call.rep_speaker) == (book.maria_id, "slack", "Rachel")
    assert sorted(flags) == sorted(
        ["pricing"] * 3 + ["competitor"] * 2 + ["decision_process"] + ["next_steps"] * 4
    )


def test_review_channel_gets_threaded_reviews_and_other_channels_are_left_alone(
    tmp_path, store_url, book, fake_slack
):
    settings = bot_settings(
        tmp_path, store_url, fake_slack, SALESBOT_CALL_REVIEW_CHANNEL="C0REVIEW"
    )
    content = FOLLOW_UP.read_bytes()

    async def scenario() -> None:
        async with running_bot(settings, fake_slack) as bot:
            await bot.event(file_share(fake_slack, "other.md", content, channel="C0OTHER"))
            await listeners_done()
            await bot.event(file_share(fake_slack, FOLLOW_UP.name, content, channel="C0REVIEW"))
            await fake_slack.wait_for_async("chat.postMessage")
            await listeners_done()

    asyncio.run(scenario())
    assert [c.args["file"] for c in fake_slack.calls_to("files.info")] == ["F000002"]
    [review] = thread_replies(fake_slack, "C0REVIEW")
    assert "*Competitors* (2)" in json.dumps(review["blocks"], ensure_ascii=False)
    assert fake_slack.calls_to("chat.postEphemeral") == []


def test_files_that_are_not_transcripts_get_a_clear_sentence(tmp_path, store_url, book, fake_slack):
    events = [
        file_share(fake_slack, "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ts="1.1"),
        file_share(fake_slack, "call.mp3", b"ID3" + bytes(500), mimetype="audio/mpeg", ts="1.2"),
        file_share(fake_slack, "huge.txt", b"Rep: hi\n" * 700_000, mimetype="text/plain", ts="1.3"),
        file_share(fake_slack, "notes.md", b"# Notes\n- call went well\n- send deck", ts="1.4"),
    ]

    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            for event in events:
                await bot.event(event)
            await fake_slack.wait_for_async("chat.postMessage", count=4)
            await listeners_done()

    asyncio.run(scenario())
    replies = {
        c.args["thread_ts"]: unescaped(c.args["text"])
        for c in fake_slack.calls_to("chat.postMessage")
    }
    assert replies["1.1"].startswith("I couldn't review *logo.png*: logo.png is not a text file")
    assert replies["1.2"] == messages.COACH_FILE_RECORDING.format(name="call.mp3")
    assert replies["1.3"] == messages.COACH_FILE_TOO_LARGE.format(
        name="huge.txt", size=5_600_000 / 1_048_576, limit=5.0
    )
    assert replies["1.4"].startswith("I couldn't review *notes.md*: no dialogue found in notes.md")
    # neither the recording nor the oversized file was downloaded
    downloaded = [c.path for c in fake_slack.calls_to("file.download")]
    assert len(downloaded) == 2 and not any("call.mp3" in p or "huge.txt" in p for p in downloaded)
    engine = make_engine(store_url)
    with Session(engine) as session:
        assert session.exec(select(Call)).all() == []
    engine.dispose()


def test_manager_tracker_applies_to_later_reviews_and_live_calls_and_reps_are_refused(
    tmp_path, store_url, book, fake_slack
):
    add_manager(store_url)
    fake_slack.add_user("UKIM", "kim@example.com")
    content = FOLLOW_UP.read_bytes()
    add = 'tracker add implementation "rollout" Ask how their last rollout went.'

    async def scenario() -> list[dict[str, Any]]:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.event(file_share(fake_slack, FOLLOW_UP.name, content, ts="2.1"))
            await fake_slack.wait_for_async("chat.postMessage")
            await bot.command(add, user="UMARIA")  # a rep: refused
            await fake_slack.wait_for_async("response_url")
            await bot.command(add, user="UKIM")
            await fake_slack.wait_for_async("response_url", count=2)
            await bot.command("tracker list", user="UKIM")
            await fake_slack.wait_for_async("response_url", count=3)
            await bot.event(file_share(fake_slack, FOLLOW_UP.name, content, ts="2.2"))
            await fake_slack.wait_for_async("chat.postMessage", count=2)
            await bot.command("coach live", user="UMARIA", channel="DMARIA")
            [*_, link] = await fake_slack.wait_for_async("response_url", count=4)
            url = re.search(r"`(ws://[^`]+)`", link.args["text"]).group(1)  # type: ignore[union-attr]
            token = re.search(r"Bearer ([^`]+)`", link.args["text"]).group(1)  # type: ignore[union-attr]
            # the link names the configured address (SALESBOT_LIVE_URL, else host:port)
            assert url.startswith("ws://127.0.0.1:3000/live/live-")
            path = urlparse(url).path
            ws = await bot.http.ws_connect(
                bot.url + path, headers={"Authorization": f"Bearer {token}"}
            )
            await ws.receive_json(timeout=30)
            await ws.send_json({"speaker": "Chris", "text": "Our last rollout was a disaster."})
            prompt = await ws.receive_json(timeout=30)
            await ws.send_json({"type": "end"})
            await ws.receive_json(timeout=30)
            await ws.close()
            await listeners_done()
            return [prompt]

    [prompt] = asyncio.run(scenario())
    refused, added, listed, link = (c.args["text"] for c in fake_slack.calls_to("response_url"))
    assert refused == messages.TRACKER_MANAGERS_ONLY
    assert added.startswith("Tracker added: *implementation* listens for “rollout” (customer side)")
    assert "Ask how their last rollout went." in added
    assert "*implementation* “rollout” (customer side): Ask how their last rollout went." in listed
    assert "Live coaching is ready" in link and "in our DM" in link

    first, second = (
        unescaped(json.dumps(c.args["blocks"], ensure_ascii=False))
        for c in fake_slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") in ("2.1", "2.2")
    )
    assert "Implementation" not in first
    # the later review flags Chris's "Our last software rollout was a disaster" (#6), not
    # Rachel's "your rollout" (the tracker listens to the customer side)
    assert "*Implementation* (1)" in second
    assert "> #6 *Chris*: “I think it comes down to implementation and support." in second
    assert (prompt["category"], prompt["prompt"]) == (
        "implementation",
        "Ask how their last rollout went.",
    )
    engine = make_engine(store_url)
    with Session(engine) as session:
        [tracker] = session.exec(select(CustomTracker)).all()
        flags = session.exec(select(CoachingFlag.category).order_by(col(CoachingFlag.id))).all()
    engine.dispose()
    assert (tracker.name, tracker.side, tracker.phrases) == (
        "implementation-rollout",
        "customer",
        ["rollout"],
    )
    assert flags.count("implementation") == 2  # the re-reviewed upload and the live call


def test_coach_help_and_live_link_for_an_account_outside_the_book(
    tmp_path, store_url, book, fake_slack
):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.command("coach help", user="UGUEST")
            await fake_slack.wait_for_async("response_url")
            await bot.command("coach live Initech", user="UMARIA")
            await fake_slack.wait_for_async("response_url", count=2)
            await bot.command("coach live acme corp", user="UMARIA")
            await fake_slack.wait_for_async("response_url", count=3)

    asyncio.run(scenario())
    help_text, refused, link = (c.args["text"] for c in fake_slack.calls_to("response_url"))
    assert help_text == messages.COACH_HELP
    assert refused == messages.COACH_LIVE_ACCOUNT_NOT_FOUND.format(account="Initech")
    assert link.startswith("Live coaching is ready for your call with Acme Corp.")
    assert "here (only to you)" in link  # asked in a shared channel: prompts are ephemeral there
    assert all(c.args["response_type"] == "ephemeral" for c in fake_slack.calls_to("response_url"))


def test_sales_coach_shows_the_last_review_or_how_to_get_one(tmp_path, store_url, book, fake_slack):
    async def scenario() -> None:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            await bot.command("coach", user="UMARIA")
            await fake_slack.wait_for_async("response_url")
            await bot.event(file_share(fake_slack, FOLLOW_UP.name, FOLLOW_UP.read_bytes()))
            await fake_slack.wait_for_async("chat.postMessage")
            await bot.command("coach", user="UMARIA")
            await fake_slack.wait_for_async("response_url", count=2)

    asyncio.run(scenario())
    before, after = (c.args for c in fake_slack.calls_to("response_url"))
    assert before["text"] == messages.COACH_NO_CALL and before["response_type"] == "ephemeral"
    assert after["response_type"] == "ephemeral"
    sections = section_texts(after["blocks"])
    assert [s.split("\n")[0] for s in sections[:4]] == [
        "*Pricing* (3)",
        "*Competitors* (2)",
        "*Decision process* (1)",
        "*Next steps* (4)",
    ]
    # the same quotes as the threaded review, read back from the store
    assert "> #4 *Chris*: “So we've narrowed it down" in sections[1]
