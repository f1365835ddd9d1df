"""A signed ``/sales`` request that names no user gets a clear answer, not a traceback."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from bot import messages
from tests.slack.harness import bot_settings, running_bot


def test_signed_command_without_user_id_is_answered_with_a_clear_error(
    tmp_path, store_url, fake_slack
):
    response_url = fake_slack.response_url("nouser")
    form = {
        "team_id": "T0SALES",
        "channel_id": "C0SALES",
        "command": "/sales",
        "text": "slipping",
        "api_app_id": "A0SALES",
        "response_url": response_url,
        "trigger_id": "1337.42.abcd",
    }

    async def scenario() -> tuple[int, str]:
        async with running_bot(bot_settings(tmp_path, store_url, fake_slack), fake_slack) as bot:
            ack = await bot.post(urlencode(form), content_type="application/x-www-form-urlencoded")
            await fake_slack.wait_for_async("response_url")
            return ack

    status, _ = asyncio.run(scenario())
    assert status == 200
    [reply] = fake_slack.calls_to("response_url")
    assert reply.args["text"] == messages.SLACK_NO_USER
    assert reply.args["response_type"] == "ephemeral"
    assert fake_slack.calls_to("chat.postMessage") == []
