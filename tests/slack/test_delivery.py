"""Answers as Slack messages: limits, plain-text fallbacks, ephemeral answers, charts.

These call the delivery functions with a real AsyncWebClient against the fake Web API.
"""

from __future__ import annotations

import asyncio
import struct
import zlib

from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.slack.client import retry_handlers
from bot.slack.delivery import Place, post_answer, post_answers, upload_png
from bot.slack.render import message_kwargs, settle_alert, text_sections
from bot.slack.slash import parse_sales_command
from render import Answer
from render import blocks as bk

DM = Place(channel_id="DMARIA", user_id="UMARIA")
CHANNEL = Place(channel_id="C0SALES", user_id="UMARIA", thread_ts="1772463700.000300", shared=True)


def client_for(slack) -> AsyncWebClient:
    return AsyncWebClient(
        token="xoxb-test", base_url=slack.api_url, retry_handlers=retry_handlers()
    )


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def test_blocks_slack_rejects_are_resent_as_plain_text(fake_slack):
    fake_slack.fail("chat.postMessage", "invalid_blocks")
    answer = Answer(kind="slipping", text="2 accounts slipping", blocks=[bk.section("*Acme*")])
    asyncio.run(post_answer(client_for(fake_slack), DM, answer))
    first, second = fake_slack.calls_to("chat.postMessage")
    assert first.args["blocks"] == [bk.section("*Acme*")]
    assert "blocks" not in second.args
    assert second.args["text"] == "2 accounts slipping"


def test_too_many_blocks_are_cut_to_slacks_limit_with_a_note():
    answer = Answer(kind="list", text="60 rows", blocks=[bk.section(f"row {i}") for i in range(60)])
    blocks = message_kwargs(answer)["blocks"]
    assert len(blocks) == 50
    assert blocks[-1]["type"] == "context"
    assert "11 more" in blocks[-1]["elements"][0]["text"]


def test_invalid_blocks_become_text_sections_and_long_text_is_split():
    broken = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3500}}
    long_text = "\n".join(f"line {i} " + "y" * 90 for i in range(80))
    kwargs = message_kwargs(Answer(kind="report", text=long_text, blocks=[broken]))
    assert kwargs["text"] == long_text
    assert [b["type"] for b in kwargs["blocks"]] == ["section"] * len(kwargs["blocks"])
    assert len(kwargs["blocks"]) == 3
    assert all(len(b["text"]["text"]) <= 3000 for b in kwargs["blocks"])
    assert "".join(b["text"]["text"] + "\n" for b in kwargs["blocks"]).rstrip("\n") == long_text
    assert bk.validate_blocks(kwargs["blocks"]) == []


def test_short_text_answers_need_no_blocks():
    assert message_kwargs(Answer(kind="message", text="Hi Maria")) == {"text": "Hi Maria"}


def test_a_line_longer_than_a_section_is_split_too():
    blocks = text_sections("z" * 7000)
    assert [len(b["text"]["text"]) for b in blocks] == [3000, 3000, 1000]


def test_ephemeral_answers_in_a_shared_channel_reach_only_the_asker(fake_slack):
    answers = [
        Answer(
            kind="slipping", text="Acme is slipping", blocks=[bk.section("*Acme*")], ephemeral=True
        ),
        Answer(kind="message", text="Anything else?"),
    ]
    asyncio.run(post_answers(client_for(fake_slack), CHANNEL, answers))
    [private] = fake_slack.calls_to("chat.postEphemeral")
    assert (private.args["channel"], private.args["user"]) == ("C0SALES", "UMARIA")
    assert private.args["thread_ts"] == "1772463700.000300"
    assert private.args["blocks"][-1] == bk.context(messages.SLACK_PRIVATE_NOTE)
    [public] = fake_slack.calls_to("chat.postMessage")
    assert public.args["text"] == "Anything else?"
    assert public.args["thread_ts"] == "1772463700.000300"


def test_in_a_dm_ephemeral_answers_are_ordinary_messages(fake_slack):
    answer = Answer(kind="slipping", text="Acme is slipping", ephemeral=True)
    asyncio.run(post_answers(client_for(fake_slack), DM, [answer]))
    assert fake_slack.calls_to("chat.postEphemeral") == []
    assert fake_slack.calls_to("chat.postMessage")[0].args["text"] == "Acme is slipping"


def test_the_placeholder_is_replaced_by_the_first_answer(fake_slack):
    answers = [Answer(kind="a", text="first"), Answer(kind="b", text="second")]
    asyncio.run(
        post_answers(client_for(fake_slack), DM, answers, placeholder_ts="1772463000.000100")
    )
    [update] = fake_slack.calls_to("chat.update")
    assert (update.args["ts"], update.args["text"]) == ("1772463000.000100", "first")
    assert [c.args["text"] for c in fake_slack.calls_to("chat.postMessage")] == ["second"]


def test_charts_are_uploaded_with_files_upload_v2(fake_slack):
    png = tiny_png()
    file_id = asyncio.run(
        upload_png(
            client_for(fake_slack),
            channel_id="DMARIA",
            png=png,
            filename="pipeline.png",
            title="Pipeline by stage",
            thread_ts="1772463700.000300",
        )
    )
    assert fake_slack.methods() == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert fake_slack.uploads[file_id] == png
    [complete] = fake_slack.calls_to("files.completeUploadExternal")
    assert complete.args["channel_id"] == "DMARIA"
    assert complete.args["thread_ts"] == "1772463700.000300"
    assert complete.args["files"][0]["title"] == "Pipeline by stage"


def test_settling_an_alert_keeps_other_buttons_and_other_accounts():
    blocks = [
        bk.section("two accounts"),
        bk.actions(
            bk.contacted_button(1, 0), bk.snooze_button(1, 1), bk.send_button("Why", "why?", 2)
        ),
        bk.actions(bk.contacted_button(2, 3), bk.snooze_button(2, 4)),
    ]
    settled = settle_alert(blocks, account_id=1, note="done")
    assert [b["type"] for b in settled] == ["section", "actions", "context", "actions"]
    assert [e["action_id"] for e in settled[1]["elements"]] == ["sb_send:2"]
    assert [e["action_id"] for e in settled[3]["elements"]] == ["sb_contacted:3", "sb_snooze:4"]


def test_sales_words_become_questions():
    assert parse_sales_command("slipping").question == "which of my accounts are slipping?"
    assert (
        parse_sales_command("slipping  dairy").question
        == "which of my accounts are slipping in dairy?"
    )
    assert parse_sales_command("Pitch Acme Corp").question == "what should I pitch to Acme Corp?"
    assert parse_sales_command("digest").question == "send me the team digest"
    assert parse_sales_command("coach").question == "review my last call"
    assert parse_sales_command("coach Acme").question == "review my last call with Acme"
    assert parse_sales_command("forecast Q3").question == "what's my forecast for Q3?"
    assert parse_sales_command("what's my win rate?").question == "what's my win rate?"
    assert parse_sales_command("help").reply == messages.SLACK_HELP
    assert parse_sales_command("   ").reply == messages.SLACK_HELP
    assert parse_sales_command("pitch").reply == messages.SLACK_PITCH_NEEDS_ACCOUNT
