"""The Slack app against the real stack: Rasa and the action server running on a seeded
store (the session fixture ``stack``); only Slack's Web API is the local fake.

The asker is the rep who owns the account with the store's most valuable pitch, known
to Slack by e-mail, and asks what to pitch to it: each answer must name that account
and its first recommended category (read from the store). The last test asks for the
slipping accounts and clicks "Mark contacted" on the real answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlmodel import Session, select

from bot import messages
from bot.settings import Settings
from render import blocks as bk
from store import insights
from store.models import Account, Activity, Rep
from tests.slack.fakeslack import FakeSlack
from tests.slack.harness import (
    BOT_TOKEN,
    SIGNING_SECRET,
    block_actions,
    dm_event,
    mention_event,
    running_bot,
)

pytestmark = [pytest.mark.rasa, pytest.mark.xdist_group("stack")]

SLACK_USER = "USTACKREP"


@dataclass(frozen=True)
class Asker:
    email: str
    account: str
    """The rep's account with the most valuable pitch, and that pitch's category."""
    category: str

    @property
    def question(self) -> str:
        return f"what should I pitch to {self.account}?"


@pytest.fixture
def asker(stack) -> Asker:
    recommendations = insights.read_recommendations(stack.engine)
    assert len(recommendations), "the stack's store has no pitches to ask about"
    best = recommendations.sort_values(["expected_value", "account_id"], ascending=[False, True])
    account_id = int(best.iloc[0]["account_id"])
    first = recommendations[recommendations["account_id"] == account_id].sort_values("rank").iloc[0]
    with Session(stack.engine) as s:
        account = s.get(Account, account_id)
        assert account is not None and account.owner_id is not None
        rep = s.get(Rep, account.owner_id)
        assert rep is not None
        return Asker(email=rep.email, account=account.name, category=str(first["category"]))


@pytest.fixture
def slack(asker) -> Iterator[FakeSlack]:
    with FakeSlack(users={SLACK_USER: asker.email}) as fake:
        yield fake


def settings_for(stack, slack: FakeSlack) -> Settings:
    """The stack's bot settings, in HTTP mode against the fake Slack."""
    return stack.bot_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
    )


def assert_pitch(args: dict, asker: Asker) -> None:
    """The answer is the pitch for the asker's account, with blocks Slack accepts."""
    assert asker.account in args["text"]
    assert asker.category in args["text"]
    assert args["blocks"] and bk.validate_blocks(args["blocks"]) == []


def test_dm_question_is_answered_in_the_dm(stack, asker, slack):
    async def scenario() -> None:
        async with running_bot(settings_for(stack, slack), slack) as bot:
            await bot.event(dm_event(SLACK_USER, asker.question))
            await slack.wait_for_async("chat.postMessage")

    asyncio.run(scenario())
    [reply] = slack.calls_to("chat.postMessage")
    assert reply.args["channel"] == "DSTACKREP"
    assert "thread_ts" not in reply.args
    assert_pitch(reply.args, asker)
    assert slack.calls_to("chat.postEphemeral") == []


def test_mention_in_a_channel_is_answered_privately_in_the_thread(stack, asker, slack):
    async def scenario() -> None:
        async with running_bot(settings_for(stack, slack), slack) as bot:
            await bot.event(mention_event(SLACK_USER, asker.question))
            await slack.wait_for_async("chat.postEphemeral")

    asyncio.run(scenario())
    [private] = slack.calls_to("chat.postEphemeral")
    assert (private.args["channel"], private.args["user"]) == ("C0SALES", SLACK_USER)
    assert private.args["thread_ts"] == "1772463700.000300"
    assert_pitch(private.args, asker)
    assert private.args["blocks"][-1] == bk.context(messages.SLACK_PRIVATE_NOTE)
    assert slack.calls_to("chat.postMessage") == []


def test_sales_pitch_is_answered_only_to_the_user(stack, asker, slack):
    async def scenario() -> None:
        async with running_bot(settings_for(stack, slack), slack) as bot:
            status, _ = await bot.command(f"pitch {asker.account}", user=SLACK_USER)
            assert status == 200
            await slack.wait_for_async("response_url")

    asyncio.run(scenario())
    [reply] = slack.calls_to("response_url")
    assert reply.args["response_type"] == "ephemeral"
    assert_pitch(reply.args, asker)


def test_send_button_asks_as_the_user_in_the_same_thread(stack, asker, slack):
    button = {**bk.send_button("What to pitch", asker.question, 0), "block_id": "alerts"}
    message = {
        "type": "message",
        "ts": "1772464001.000100",
        "thread_ts": "1772464000.000100",
        "text": f"{asker.account} is slipping",
        "blocks": [bk.section(f"{asker.account} is slipping"), bk.actions(button)],
    }

    async def scenario() -> None:
        async with running_bot(settings_for(stack, slack), slack) as bot:
            await bot.interaction(block_actions(user=SLACK_USER, action=button, message=message))
            await slack.wait_for_async("chat.postEphemeral")

    asyncio.run(scenario())
    [reply] = slack.calls_to("chat.postEphemeral")
    assert (reply.args["channel"], reply.args["user"]) == ("C0SALES", SLACK_USER)
    assert reply.args["thread_ts"] == "1772464000.000100"
    assert_pitch(reply.args, asker)


def test_mark_contacted_on_a_real_slipping_answer_writes_the_activity(stack):
    health = insights.read_account_health(stack.engine, statuses=["slipping", "lapsed"])
    assert len(health), "the stack's store has no slipping accounts"
    with Session(stack.engine) as s:
        top = s.get(Account, int(health.iloc[0]["account_id"]))
        assert top is not None and top.owner_id is not None
        rep = s.get(Rep, top.owner_id)
        assert rep is not None
        own = {a for a in s.exec(select(Account.id).where(Account.owner_id == rep.id))}
    flagged = {int(a) for a in health["account_id"]} & own

    with FakeSlack(users={"USLIPREP": rep.email}) as slack:

        async def scenario() -> None:
            async with running_bot(settings_for(stack, slack), slack) as bot:
                await bot.event(dm_event("USLIPREP", "which of my accounts are slipping?"))
                [answer] = await slack.wait_for_async("chat.postMessage")
                message = {
                    "type": "message",
                    "ts": answer.args.get("ts", "1772464001.000100"),
                    "text": answer.args["text"],
                    "blocks": answer.args["blocks"],
                }
                button = next(
                    {**e, "block_id": b["block_id"]}
                    for b in message["blocks"]
                    if b["type"] == "actions"
                    for e in b["elements"]
                    if e["action_id"].startswith(bk.ACTION_CONTACTED)
                )
                click = block_actions(
                    user="USLIPREP", action=button, channel="DSLIPREP", message=message
                )
                await bot.interaction(click)
                await slack.wait_for_async("chat.update")

        asyncio.run(scenario())
        [answer] = slack.calls_to("chat.postMessage")
        [update] = slack.calls_to("chat.update")

    assert bk.validate_blocks(answer.args["blocks"]) == []
    with Session(stack.engine) as s:
        activity = s.exec(
            select(Activity).where(
                Activity.external_id == "slack:contacted:USLIPREP:1772463800.123456"
            )
        ).one()
    assert activity.kind == "contacted" and activity.rep_id == rep.id
    assert activity.account_id in flagged
    assert f"account:{activity.account_id}" in {b.get("block_id") for b in answer.args["blocks"]}
    assert update.args["channel"] == "DSLIPREP"
    settled = [
        json.loads(e["value"]).get("account_id")
        for b in update.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith(bk.ACTION_CONTACTED)
    ]
    assert activity.account_id not in settled
