"""Two bot processes (``python -m bot``, HTTP mode) against the same PostgreSQL store and the
fake Slack: a due digest is posted once, by one of them."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlmodel import Session

from store import digests
from store.db import make_engine
from store.migrate import upgrade
from tests.digests.seed import seed_team
from tests.slack.harness import BOT_TOKEN, SIGNING_SECRET
from tests.slack.test_bot_process import bot_process

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_two_bot_replicas_post_a_due_digest_once(tmp_path, postgres_url, fake_slack):
    engine = make_engine(postgres_url)
    upgrade(engine)
    seeded = seed_team(engine)
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as s:
        digests.subscribe(
            s, rep_id=seeded.reps["vera"], channel_id="C0MANAGERS",
            cron=f"{now.minute} {now.hour} * * *", timezone="UTC", now=now - dt.timedelta(days=1),
        )  # fmt: skip
        s.commit()
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        bot_process(tmp_path / "a", postgres_url, **env) as (_, log_a),
        bot_process(tmp_path / "b", postgres_url, **env) as (_, log_b),
    ):
        deadline = time.monotonic() + 120
        outcomes = ("sent", "claimed by another sender")
        while not all(any(word in log.read_text() for word in outcomes) for log in (log_a, log_b)):
            assert time.monotonic() < deadline, log_a.read_text() + log_b.read_text()
            time.sleep(0.5)
        fake_slack.wait_for("files.completeUploadExternal")
    [post] = fake_slack.calls_to("chat.postMessage")
    assert post.args["channel"] == "C0MANAGERS"
    assert post.args["text"].startswith("Team digest: Vera Lind's team")
    [row] = digests.sent_log(engine)
    assert row["sent_at"] is not None
    logs = log_a.read_text() + log_b.read_text()
    assert logs.count("claimed by another sender") == 1
    engine.dispose()
