"""The digest skills through the real action classes (signed trackers, a real dispatcher, the
store on SQLite and PostgreSQL): the digest on demand, subscribing and unsubscribing."""

from __future__ import annotations

import time

import pytest
from sqlmodel import Session

from actions.digests import REP_INTRO, ActionDigest, ActionSubscribeDigest, ActionUnsubscribeDigest
from render.blocks import validate_blocks
from store import digests
from store.identity import Identity, sign_identity
from tests.actions.harness import SECRET, run_action, tracker_for
from tests.digests.seed import QUOTA, TEAM_RISK, seed_team


@pytest.fixture
def seeded(digest_actions):
    return seed_team(digest_actions)


def ask_digest(rep_id: int, rep: str | None = None, **kwargs):
    entities = [{"entity": "rep", "value": rep}] if rep else []
    tracker = tracker_for(
        rep_id=rep_id, text="send me the team digest", intent="request_digest", entities=entities,
        **kwargs,
    )  # fmt: skip
    return run_action(ActionDigest(), tracker)


def subscribe(rep_id: int | None, schedule: str | None, **kwargs):
    entities = [{"entity": "schedule", "value": schedule}] if schedule else []
    tracker = tracker_for(
        rep_id=rep_id, text=f"send me that {schedule or ''}", intent="subscribe_digest",
        entities=entities, **kwargs,
    )  # fmt: skip
    return run_action(ActionSubscribeDigest(), tracker)


def slack_token(rep_id: int, *, channel: str, channel_id: str, sender: str = "test-conversation"):
    identity = Identity(
        rep_id=rep_id, sender=sender, issued_at=time.time(), channel=channel,
        slack_user_id="UVERA", slack_channel_id=channel_id,
    )  # fmt: skip
    return sign_identity(identity, secret=SECRET)


def active(engine, rep_id):
    with Session(engine) as s:
        return [
            (a.channel_id, a.cron, a.timezone)
            for a in digests.active_subscriptions(s, rep_id=rep_id)
        ]


def test_a_manager_gets_the_team_digest_with_its_chart_data(digest_actions, seeded):
    result = ask_digest(seeded.reps["vera"])
    [answer] = result.answers
    assert answer.kind == "digest"
    data = answer.data
    assert data["as_of"] == "2026-03-02"
    assert data["scope"]["label"] == "Vera Lind's team"
    assert sorted(data["scope"]["rep_ids"]) == sorted(seeded.team)
    assert data["slipping"]["total"] == 3 and data["slipping"]["revenue_at_risk"] == TEAM_RISK
    assert data["pipeline"]["total_value"] == 80_000.0
    assert data["forecast"]["quota"] == pytest.approx(QUOTA)
    assert set(data["charts"]) == {
        "pipeline_by_stage",
        "revenue_at_risk_by_rep",
        "forecast_vs_quota",
    }
    assert validate_blocks(answer.blocks) == []
    assert result.slot("last_answer")["skill"] == "digest"


def test_a_manager_may_ask_for_a_team_below_them_and_nothing_outside(digest_actions, seeded):
    [answer] = ask_digest(seeded.reps["vera"], rep="Max Ortega").answers
    assert answer.data["scope"]["label"] == "Max Ortega's team"
    assert sorted(answer.data["scope"]["rep_ids"]) == sorted(
        seeded.reps[k] for k in ("max", "ann", "bob")
    )
    assert answer.data["slipping"]["total"] == 2
    refused = ask_digest(seeded.reps["vera"], rep="Zed Quinn")
    assert refused.answers == [] and refused.responses == ["utter_rep_not_visible"]


def test_a_rep_gets_their_own_line_and_no_team_numbers(digest_actions, seeded):
    [answer] = ask_digest(seeded.reps["ann"]).answers
    assert answer.kind == "digest_rep_line"
    assert answer.text.startswith(REP_INTRO)
    assert "*Ann Kowalski* — $30k open (2 deals)" in answer.text
    assert "Bob" not in answer.text and "Cy" not in answer.text
    assert answer.data["scope"]["rep_ids"] == [seeded.reps["ann"]]


def test_subscribing_stores_the_schedule_in_the_managers_time_zone(digest_actions, seeded):
    vera = seeded.reps["vera"]
    result = subscribe(vera, "every Monday at 8")
    [message] = result.messages
    assert message["response"] == "utter_digest_subscribed"
    assert message["schedule"] == "every Monday at 08:00"
    assert message["timezone"] == "Europe/Berlin"
    assert message["destination"] == "in a direct message"
    assert message["next_time"].startswith("Monday ") and message["next_time"].endswith("at 08:00")
    assert active(digest_actions, vera) == [(digests.DM, "0 8 * * 1", "Europe/Berlin")]

    token = slack_token(vera, channel="im", channel_id="DVERA")
    changed = subscribe(vera, "daily at 9am", token=token)
    assert changed.messages[0]["destination"] == "here"
    assert active(digest_actions, vera) == [("DVERA", "0 9 * * *", "Europe/Berlin")]

    from_channel = subscribe(
        vera, "fridays 4pm", token=slack_token(vera, channel="channel", channel_id="C0TEAM")
    )
    assert from_channel.messages[0]["destination"] == "in a direct message"
    assert active(digest_actions, vera) == [("DVERA", "0 16 * * 5", "Europe/Berlin")]


def test_unreadable_or_missing_schedules_and_reps_store_nothing(digest_actions, seeded):
    vera, ann = seeded.reps["vera"], seeded.reps["ann"]
    unknown = subscribe(vera, "every other friday")
    [message] = unknown.messages
    assert message["response"] == "utter_unknown_schedule"
    assert message["schedule"] == "every other friday"
    assert "try 'every Monday at 8'" in message["problem"]
    assert subscribe(vera, None).responses == ["utter_ask_schedule"]
    assert subscribe(ann, "every Monday at 8").responses == ["utter_digest_managers_only"]
    assert active(digest_actions, vera) == [] and active(digest_actions, ann) == []


def test_unsubscribing_stops_every_digest_of_the_asker(digest_actions, seeded):
    vera = seeded.reps["vera"]
    subscribe(vera, "every Monday at 8")
    tracker = tracker_for(rep_id=vera, text="stop the digest", intent="unsubscribe_digest")
    result = run_action(ActionUnsubscribeDigest(), tracker)
    [message] = result.messages
    assert message["response"] == "utter_digest_unsubscribed"
    assert (message["schedule"], message["count"]) == ("every Monday at 08:00", 1)
    assert active(digest_actions, vera) == []
    again = run_action(ActionUnsubscribeDigest(), tracker)
    assert again.responses == ["utter_no_digest_subscription"]


def test_without_a_signed_identity_nothing_is_stored(digest_actions, seeded):
    result = subscribe(None, "every Monday at 8")
    assert result.responses == ["utter_identity_refused"]
    with Session(digest_actions) as s:
        assert digests.active_subscriptions(s) == []
