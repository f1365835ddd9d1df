"""An on-demand digest delivered to Slack carries its charts; ``salesbot digest`` renders the
same digest to files without sending anything."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from PIL import Image
from slack_sdk.web.async_client import AsyncWebClient
from typer.testing import CliRunner

from bot.cli import build_app
from bot.digests import compose_digest
from bot.settings import get_settings
from bot.slack.delivery import Place, post_answers
from render.blocks import validate_blocks
from tests.digests.seed import AS_OF, SINCE, seed_team


@pytest.fixture
def seeded(sqlite_engine):
    return seed_team(sqlite_engine)


def test_an_on_demand_digest_in_a_dm_is_followed_by_its_charts(sqlite_engine, seeded, fake_slack):
    answer = compose_digest(sqlite_engine, seeded.reps["vera"], as_of=AS_OF, since=SINCE)
    client = AsyncWebClient(token="xoxb-digest-test", base_url=fake_slack.api_url)
    asyncio.run(post_answers(client, Place(channel_id="DVERA", user_id="UVERA"), [answer]))
    assert fake_slack.methods()[0] == "chat.postMessage"
    [complete] = fake_slack.calls_to("files.completeUploadExternal")
    assert complete.args["channel_id"] == "DVERA"
    assert len(complete.args["files"]) == 3


def test_an_ephemeral_digest_in_a_shared_channel_gets_no_public_charts(
    sqlite_engine, seeded, fake_slack
):
    answer = compose_digest(sqlite_engine, seeded.reps["vera"], as_of=AS_OF, since=SINCE)
    answer.ephemeral = True
    client = AsyncWebClient(token="xoxb-digest-test", base_url=fake_slack.api_url)
    place = Place(channel_id="C0SALES", user_id="UVERA", shared=True)
    asyncio.run(post_answers(client, place, [answer]))
    assert fake_slack.methods() == ["chat.postEphemeral"]


def test_salesbot_digest_writes_block_kit_json_and_charts(
    sqlite_url, sqlite_engine, seeded, tmp_path, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.delenv("SALESBOT_AS_OF", raising=False)
    get_settings.cache_clear()
    out = tmp_path / "digest"
    try:
        result = CliRunner().invoke(
            build_app(),
            ["digest", "--manager", "vera@example.com", "--out", str(out), "--as-of", "2026-03-02"],
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Team digest: Vera Lind's team\nAs of Mar 2, 2026")
    message = json.loads((out / "digest.json").read_text())
    assert validate_blocks(message["blocks"]) == []
    assert message["data"]["slipping"]["total"] == 3
    assert (out / "digest.txt").read_text().startswith("Team digest: Vera Lind's team")
    for name in ("pipeline_by_stage", "revenue_at_risk_by_rep", "forecast_vs_quota"):
        image = Image.open(io.BytesIO((out / f"{name}.png").read_bytes()))
        assert (image.format, image.size) == ("PNG", (1200, 700))


def test_salesbot_digest_names_an_unknown_manager(sqlite_url, sqlite_engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(build_app(), ["digest", "--manager", "nobody@example.com"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "no rep with e-mail nobody@example.com" in result.output
