"""Socket Mode: the same listeners over a WebSocket to a local fake Slack.

``apps.connections.open`` on the fake Web API returns ``ws://127.0.0.1:<port>/link/``;
the fake sends ``hello``, then envelopes, and records the client's acks.
"""

from __future__ import annotations

import asyncio

from bot import messages
from bot.slack import SlackMode
from tests.slack.harness import (
    APP_TOKEN,
    bot_settings,
    dm_event,
    event_envelope,
    listeners_done,
    running_bot,
)


def socket_settings(tmp_path, store_url, fake_slack):
    return bot_settings(
        tmp_path, store_url, fake_slack, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=None
    )


def test_event_envelope_is_acked_and_answered_once(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        settings = socket_settings(tmp_path, store_url, fake_slack)
        async with running_bot(settings, fake_slack, mode=SlackMode.socket):
            await fake_slack.wait_for_async("socket.connect")
            payload = event_envelope(
                dm_event("UMARIA", "which of my accounts are slipping?"), event_id="Ev0SOCKET1"
            )
            envelope_id = fake_slack.send_envelope(payload)
            ack = await fake_slack.wait_for_ack_async(envelope_id)
            assert ack == {"envelope_id": envelope_id}
            await fake_slack.wait_for_async("chat.postMessage")
            retry_id = fake_slack.send_envelope(payload, retry_attempt=1, retry_reason="timeout")
            assert await fake_slack.wait_for_ack_async(retry_id) == {"envelope_id": retry_id}
            await listeners_done()

    asyncio.run(scenario())
    [opened] = fake_slack.calls_to("apps.connections.open")
    assert opened.token == APP_TOKEN
    [reply] = fake_slack.calls_to("chat.postMessage")
    assert reply.args["channel"] == "DMARIA"
    assert reply.args["text"] == messages.RASA_DOWN
    assert reply.token == "xoxb-test-bot-token"


def test_slash_command_envelope_is_acked_and_answered(tmp_path, store_url, fake_slack):
    async def scenario() -> None:
        settings = socket_settings(tmp_path, store_url, fake_slack)
        async with running_bot(settings, fake_slack, mode=SlackMode.socket):
            await fake_slack.wait_for_async("socket.connect")
            command = {
                "token": "legacy",
                "team_id": "T0SALES",
                "channel_id": "C0SALES",
                "user_id": "UMARIA",
                "command": "/sales",
                "text": "help",
                "api_app_id": "A0SALES",
                "response_url": fake_slack.response_url("socket"),
                "trigger_id": "1.2.3",
            }
            envelope_id = fake_slack.send_envelope(command, envelope_type="slash_commands")
            assert (await fake_slack.wait_for_ack_async(envelope_id))["envelope_id"] == envelope_id
            await fake_slack.wait_for_async("response_url")

    asyncio.run(scenario())
    [reply] = fake_slack.calls_to("response_url")
    assert reply.args["text"] == messages.SLACK_HELP
