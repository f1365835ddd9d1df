"""The live-coaching WebSocket (``GET /live/{call_id}``) on the bot's real web app, with
the real trackers (spaCy), the real store and Slack faked: utterances in, prompts out on
the socket and at the fake Slack Web API, the per-call cooldown, the token check, bad
frames, and the call stored with its flags at the end."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from analytics.coaching import read_transcript
from bot.cli import build_app
from bot.live import LiveGrant, mint_live_token
from bot.settings import get_settings
from store.db import make_engine
from store.models import Call, CoachingFlag, Utterance
from tests.slack.conftest import seed_book, url_of
from tests.slack.harness import IDENTITY_SECRET, BotUnderTest, bot_settings, running_bot

ROOT = Path(__file__).resolve().parents[2]
PRICING_SAMPLE = ROOT / "samples" / "transcripts" / "tribeai_objection-pricing-01.md"

# A short call: the pricing objection comes twice within the cooldown (1 utterance and
# 4 seconds apart; the cooldown is 3 utterances and 60 s), then a competitor is named.
SHORT_CALL = [
    {"speaker": "Maria", "text": "Thanks for joining, Susan. How did the trial go?", "start": 0},
    {"speaker": "Susan", "text": "Honestly, the price is too high for us.", "start": 6},
    {"speaker": "Susan", "text": "Like I said, the price is too high.", "start": 10},
    {"speaker": "Maria", "text": "I hear you. What are you comparing it with?", "start": 15},
    {"speaker": "Susan", "text": "We are also looking at CloudScale.", "start": 21},
]


def token_for(
    call_id: str,
    rep_id: int,
    *,
    secret: str = IDENTITY_SECRET,
    expires_in: float = 600,
    channel: str | None = "C0SALES",
    account_id: int | None = None,
) -> str:
    grant = LiveGrant(
        call_id=call_id,
        rep_id=rep_id,
        expires_at=time.time() + expires_in,
        account_id=account_id,
        slack_user_id="UMARIA",
        slack_channel_id=channel,
    )
    return mint_live_token(grant, secret=secret)


def ws_url(bot: BotUnderTest, call_id: str) -> str:
    return f"{bot.url}/live/{call_id}"


async def connect(bot: BotUnderTest, call_id: str, token: str) -> aiohttp.ClientWebSocketResponse:
    ws = await bot.http.ws_connect(
        ws_url(bot, call_id), headers={"Authorization": f"Bearer {token}"}
    )
    ready = await ws.receive_json(timeout=30)
    assert ready["type"] == "ready", ready
    return ws


async def stream(
    ws: aiohttp.ClientWebSocketResponse, utterances: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Send every utterance, then ``end``; returns everything the bot sent back (the
    last message is ``ended``)."""
    for utterance in utterances:
        await ws.send_json(utterance)
    await ws.send_json({"type": "end"})
    received = []
    async for message in ws:
        assert message.type is WSMsgType.TEXT
        received.append(json.loads(message.data))
    return received


async def refused(bot: BotUnderTest, call_id: str, **kwargs: Any) -> tuple[int | None, str]:
    """Connect and return the close code and reason the bot answers with."""
    async with bot.http.ws_connect(ws_url(bot, call_id), **kwargs) as ws:
        message = await ws.receive(timeout=30)
        assert message.type is WSMsgType.CLOSE, message
        return ws.close_code, str(message.extra or "")


def stored_call(url: str, external_id: str) -> tuple[Call, list[CoachingFlag], int]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            call = session.exec(select(Call).where(Call.external_id == external_id)).one()
            flags = session.exec(
                select(CoachingFlag)
                .where(CoachingFlag.call_id == call.id)
                .order_by(col(CoachingFlag.utterance_seq), col(CoachingFlag.id))
            ).all()
            utterances = len(
                session.exec(select(Utterance).where(Utterance.call_id == call.id)).all()
            )
            return call, list(flags), utterances
    finally:
        engine.dispose()


def test_prompts_reach_the_socket_and_slack_once_per_cooldown_and_the_call_is_stored(
    tmp_path, engine, fake_slack
):
    book = seed_book(engine)
    url = url_of(engine)

    async def scenario() -> list[dict[str, Any]]:
        async with running_bot(bot_settings(tmp_path, url, fake_slack), fake_slack) as bot:
            ws = await connect(
                bot, "call-7", token_for("call-7", book.maria_id, account_id=book.acme_id)
            )
            return await stream(ws, SHORT_CALL)

    received = asyncio.run(scenario())
    prompts = [m for m in received if m["type"] == "prompt"]
    # one pricing prompt for the two objections, then the competitor
    assert [(p["category"], p["seq"], p["speaker"]) for p in prompts] == [
        ("pricing", 1, "Susan"),
        ("competitor", 4, "Susan"),
    ]
    assert prompts[0]["timestamp"] == "00:06" and prompts[0]["title"] == "Pricing"
    assert prompts[1]["competitor"] == "CloudScale"
    assert "CloudScale" in prompts[1]["message"]
    # pricing carries Acme's context from the store (slipping, $12k at risk)
    assert prompts[0]["account_note"] == "Acme Corp: status slipping ($12k at risk)"
    ended = received[-1]
    assert ended["type"] == "ended" and ended["utterances"] == 5 and ended["prompts"] == 2

    # the same two prompts, ephemeral to Maria in the channel the call was started from
    posts = fake_slack.calls_to("chat.postEphemeral")
    assert [(p.args["channel"], p.args["user"]) for p in posts] == [("C0SALES", "UMARIA")] * 2
    assert "Price came up" in posts[0].args["text"]
    assert "CloudScale" in posts[1].args["text"]
    assert fake_slack.calls_to("chat.postMessage") == []

    # stored with every flag, including the objection the cooldown held back
    call, flags, utterances = stored_call(url, "call-7")
    assert call.id == ended["saved_call_id"]
    assert (call.source, call.status, call.rep_id, call.account_id) == (
        "live",
        "reviewed",
        book.maria_id,
        book.acme_id,
    )
    assert utterances == 5
    assert [(f.category, f.utterance_seq) for f in flags] == [
        ("pricing", 1),
        ("pricing", 2),
        ("competitor", 4),
    ]
    assert call.metrics is not None and call.metrics["questions_asked"] == 2


def test_a_sample_transcript_streamed_live_prompts_by_the_cooldown(
    tmp_path, store_url, book, fake_slack
):
    """The pricing-objection sample, one utterance every 10 s, prompts to Maria's DM."""
    transcript = read_transcript(PRICING_SAMPLE)
    utterances = [
        {"speaker": u.speaker, "text": u.text, "start": 10.0 * u.seq} for u in transcript.utterances
    ]

    async def scenario() -> list[dict[str, Any]]:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            ws = await connect(bot, "obj-live", token_for("obj-live", book.maria_id, channel=None))
            await ws.send_json({"type": "start", "rep_speakers": ["Nicole"]})
            return await stream(ws, utterances)

    received = asyncio.run(scenario())
    prompts = [(m["category"], m["seq"]) for m in received if m["type"] == "prompt"]
    # Kevin's objection (#0) fires pricing and budget; "Your quote came in at $110K" (#2)
    # is within the cooldown; "justify the cost" (#14, 140 s later) prompts again; the
    # pilot proposal (#22) is the next step, Nicole's "I'll get that over" (#23) is held back
    assert prompts == [("pricing", 0), ("budget", 0), ("pricing", 14), ("next_steps", 22)]
    dms = fake_slack.calls_to("chat.postMessage")
    assert [d.args["channel"] for d in dms] == ["DMARIA"] * 4
    assert len(fake_slack.calls_to("conversations.open")) == 1  # opened once per rep
    assert received[-1]["type"] == "ended"


def test_tokens_are_checked_and_refusals_are_clear(tmp_path, store_url, book, fake_slack):
    async def scenario() -> dict[str, tuple[int | None, str]]:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            results = {
                "none": await refused(bot, "c-1"),
                "forged": await refused(
                    bot,
                    "c-1",
                    headers={
                        "Authorization": "Bearer "
                        + token_for("c-1", book.maria_id, secret="not-the-secret")
                    },
                ),
                "garbage": await refused(bot, "c-1", params={"token": "lv1.abc.def"}),
                "other call": await refused(
                    bot, "c-2", params={"token": token_for("c-1", book.maria_id)}
                ),
                "expired": await refused(
                    bot, "c-1", params={"token": token_for("c-1", book.maria_id, expires_in=-5)}
                ),
            }
            ws = await connect(bot, "c-3", token_for("c-3", book.maria_id))
            await stream(ws, SHORT_CALL[:1])
            results["ended"] = await refused(
                bot, "c-3", params={"token": token_for("c-3", book.maria_id)}
            )
            async with bot.http.get(ws_url(bot, "c-1")) as plain:
                results["plain http"] = (plain.status, await plain.text())
        return results

    results = asyncio.run(scenario())
    assert results["none"] == (
        4401,
        "missing token: send 'Authorization: Bearer <token>' or ?token=",
    )
    assert results["forged"] == (4401, "token signature does not match")
    assert results["garbage"][0] == 4401
    assert results["other call"] == (4403, "token is for another call")
    assert results["expired"] == (4401, "token expired: ask for a new one")
    assert results["ended"] == (4410, "this call has ended and is stored")
    assert results["plain http"][0] == 400 and "WebSocket" in results["plain http"][1]
    assert fake_slack.calls_to("chat.postEphemeral") == []


def test_bad_frames_close_the_socket_with_a_reason_and_the_bot_stays_up(
    tmp_path, store_url, book, fake_slack
):
    async def closed_after(bot: BotUnderTest, call_id: str, send: Any) -> tuple[int | None, str]:
        ws = await connect(bot, call_id, token_for(call_id, book.maria_id))
        await send(ws)
        message = await ws.receive(timeout=30)
        while message.type is WSMsgType.TEXT:
            message = await ws.receive(timeout=30)
        await ws.close()
        return ws.close_code, str(message.extra or "")

    async def scenario() -> dict[str, Any]:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            results: dict[str, Any] = {
                "not json": await closed_after(bot, "b-1", lambda ws: ws.send_str("price?")),
                "not an object": await closed_after(bot, "b-2", lambda ws: ws.send_str("[1, 2]")),
                "binary": await closed_after(bot, "b-3", lambda ws: ws.send_bytes(b"\x00\x01")),
                "huge": await closed_after(
                    bot,
                    "b-4",
                    lambda ws: ws.send_json({"speaker": "Susan", "text": "price " * 20_000}),
                ),
            }
            # a JSON message that is not a valid utterance is answered, the socket stays open
            ws = await connect(bot, "b-5", token_for("b-5", book.maria_id))
            await ws.send_json({"speaker": "Susan"})
            results["missing text"] = await ws.receive_json(timeout=30)
            await ws.send_json({"speaker": "Susan", "text": "ok", "start": "soon"})
            results["bad start"] = await ws.receive_json(timeout=30)
            await ws.send_json({"type": "pause"})
            results["unknown type"] = await ws.receive_json(timeout=30)
            results["after"] = await stream(ws, SHORT_CALL[1:2])
            async with bot.http.get(bot.url + "/healthz") as health:
                results["health"] = health.status
        return results

    results = asyncio.run(scenario())
    assert results["not json"] == (1007, "frame is not JSON")
    assert results["not an object"] == (1007, "each frame must be a JSON object")
    assert results["binary"] == (1003, "send utterances as JSON text frames")
    assert results["huge"][0] == 1009  # message too big (frames are limited to 64 KB)
    assert results["missing text"] == {"type": "error", "error": "an utterance needs 'text' (text)"}
    assert results["bad start"]["type"] == "error" and "timestamp" in results["bad start"]["error"]
    assert results["unknown type"] == {"type": "error", "error": "unknown message type 'pause'"}
    assert [m["category"] for m in results["after"] if m["type"] == "prompt"] == ["pricing"]
    assert results["health"] == 200


def test_a_dropped_socket_resumes_and_an_abandoned_call_is_stored(
    tmp_path, store_url, book, fake_slack
):
    settings = bot_settings(tmp_path, store_url, fake_slack, SALESBOT_LIVE_RESUME_SECONDS=0.2)

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with running_bot(settings, fake_slack) as bot:
            token = token_for("r-1", book.maria_id)
            first = await connect(bot, "r-1", token)
            for utterance in SHORT_CALL[:2]:
                await first.send_json(utterance)
            assert (await first.receive_json(timeout=30))["category"] == "pricing"
            await first.close()  # dropped without "end"
            second = await bot.http.ws_connect(ws_url(bot, "r-1"), params={"token": token})
            ready = await second.receive_json(timeout=30)
            after = await stream(second, SHORT_CALL[2:])
            abandoned = await connect(bot, "r-2", token_for("r-2", book.maria_id))
            await abandoned.send_json(SHORT_CALL[1])
            await abandoned.receive_json(timeout=30)
            await abandoned.close()
            await asyncio.sleep(1.0)  # past the resume window: r-2 is stored as it stands
            return ready, after

    ready, after = asyncio.run(scenario())
    assert ready["resumed"] is True and ready["utterances"] == 2
    # the cooldown carried over the reconnect: the repeated objection stays quiet
    assert [m["category"] for m in after if m["type"] == "prompt"] == ["competitor"]
    _, flags, utterances = stored_call(store_url, "r-1")
    assert utterances == 5 and [f.category for f in flags] == ["pricing", "pricing", "competitor"]
    call, flags, utterances = stored_call(store_url, "r-2")
    assert (call.source, utterances, [f.category for f in flags]) == ("live", 1, ["pricing"])


@pytest.mark.parametrize("account", ["Initech", "Nowhere Ltd"])
def test_start_names_an_account_only_from_the_reps_book(
    tmp_path, store_url, book, fake_slack, account
):
    async def scenario() -> dict[str, Any]:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            ws = await connect(bot, "a-1", token_for("a-1", book.maria_id))
            await ws.send_json({"type": "start", "account": account})
            reply = await ws.receive_json(timeout=30)
            await stream(ws, SHORT_CALL[1:2])
            return reply

    reply = asyncio.run(scenario())
    # Initech is Tom's account: Maria's call goes on without it, and without its numbers
    assert reply == {
        "type": "error",
        "error": f"no account called {account!r} in your book; coaching goes on without it",
    }
    call, _, _ = stored_call(store_url, "a-1")
    assert call.account_id is None
    ephemeral = fake_slack.calls_to("chat.postEphemeral")
    assert len(ephemeral) == 1 and "Initech" not in json.dumps(ephemeral[0].args)


def test_salesbot_live_token_mints_a_token_the_bot_accepts(
    tmp_path, store_url, book, fake_slack, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", store_url)
    monkeypatch.setenv("SALESBOT_IDENTITY_SECRET", IDENTITY_SECRET)
    monkeypatch.setenv("SALESBOT_LIVE_URL", "wss://bot.example.com/")
    get_settings.cache_clear()
    try:
        minted = CliRunner().invoke(
            build_app(),
            ["live-token", "--rep", "maria@example.com", "--call-id", "dialer-42",
             "--account", "Acme Corp", "--json"],
        )  # fmt: skip
        outside = CliRunner().invoke(
            build_app(), ["live-token", "--rep", "maria@example.com", "--account", "Initech"]
        )
    finally:
        get_settings.cache_clear()
    assert minted.exit_code == 0, minted.output
    issued = json.loads(minted.output)
    assert issued["url"] == "wss://bot.example.com/live/dialer-42"
    assert outside.exit_code == 1 and "no account called 'Initech' in Maria Lopez's book" in (
        outside.output
    )

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            ws = await bot.http.ws_connect(
                ws_url(bot, "dialer-42"), headers={"Authorization": f"Bearer {issued['token']}"}
            )
            ready = await ws.receive_json(timeout=30)
            return ready, await stream(ws, SHORT_CALL[1:2])

    ready, received = asyncio.run(scenario())
    assert (ready["account"], ready["rep_speakers"]) == ("Acme Corp", ["Maria Lopez", "Maria"])
    assert [m["category"] for m in received if m["type"] == "prompt"] == ["pricing"]
    # minted outside Slack: the prompt goes to the rep's DM (her Slack id is in the store)
    [dm] = fake_slack.calls_to("chat.postMessage")
    assert dm.args["channel"] == "DMARIA" and "Acme Corp" in dm.args["text"]


def test_store_down_refuses_the_call_with_a_reason_and_the_bot_stays_up(tmp_path, fake_slack):
    down = "postgresql://postgres@127.0.0.1:1/salesbot"

    async def scenario() -> tuple[tuple[int | None, str], int]:
        async with running_bot(bot_settings(tmp_path, down, fake_slack), fake_slack) as bot:
            closed = await refused(bot, "d-1", params={"token": token_for("d-1", 1)})
            async with bot.http.get(bot.url + "/healthz") as health:
                return closed, health.status

    closed, health = asyncio.run(scenario())
    assert closed == (1011, "the sales database is not answering")
    assert health == 200


def test_one_rep_cannot_flood_slack_or_fill_memory_through_the_live_socket(
    tmp_path, store_url, book, fake_slack
):
    """Per-rep quotas: a prompt on every utterance (no cooldown) reaches the socket every time
    but Slack at most six times a minute; an oversized utterance is refused and not kept; a
    fourth open call of one rep is refused."""
    settings = bot_settings(
        tmp_path,
        store_url,
        fake_slack,
        SALESBOT_LIVE_COOLDOWN_SECONDS=0,
        SALESBOT_LIVE_COOLDOWN_UTTERANCES=0,
    )
    objection = {"speaker": "Susan", "text": "Honestly, the price is too high for us."}

    async def scenario() -> tuple[list[dict[str, Any]], tuple[int | None, str]]:
        async with running_bot(settings, fake_slack) as bot:
            ws = await connect(bot, "flood-1", token_for("flood-1", book.maria_id))
            others = [
                await connect(bot, f"flood-{i}", token_for(f"flood-{i}", book.maria_id))
                for i in (2, 3)
            ]
            fourth = await refused(
                bot,
                "flood-4",
                headers={"Authorization": f"Bearer {token_for('flood-4', book.maria_id)}"},
            )
            huge = {"speaker": "Susan", "text": "word " * 2_000}
            received = await stream(ws, [objection] * 20 + [huge, objection])
            for other in others:
                await other.close()
            await listeners_idle()
            return received, fourth

    received, fourth = asyncio.run(scenario())
    prompts = [m for m in received if m["type"] == "prompt"]
    errors = [m["error"] for m in received if m["type"] == "error"]
    assert len(prompts) == 21  # every objection prompted on the socket
    assert errors == [
        "an utterance is at most 5,000 characters; send long speech as several utterances"
    ]
    assert received[-1]["utterances"] == 21  # the oversized one was not kept
    assert len(fake_slack.calls_to("chat.postEphemeral")) == 6
    assert fourth[0] == 1013 and "3 live calls open" in fourth[1]


async def listeners_idle() -> None:
    """Let the prompt senders (tasks) post what they queued."""
    for _ in range(50):
        pending = [t for t in asyncio.all_tasks() if t.get_name().startswith("live-prompts-")]
        if not any(not t.done() for t in pending):
            return
        await asyncio.sleep(0.05)
