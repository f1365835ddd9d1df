"""Schedule phrases become cron expressions, and fire at the right local time, in UTC."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.schedules import (
    ScheduleError,
    describe_cron,
    last_slot,
    next_slot,
    parse_schedule,
    time_zone,
)


@pytest.mark.parametrize(
    ("said", "cron", "words"),
    [
        ("every Monday at 8", "0 8 * * 1", "every Monday at 08:00"),
        ("daily at 9am", "0 9 * * *", "every day at 09:00"),
        ("weekdays at 7:30", "30 7 * * 1-5", "weekdays at 07:30"),
        ("fridays 4pm", "0 16 * * 5", "every Friday at 16:00"),
        ("fridays 4 p.m.", "0 16 * * 5", "every Friday at 16:00"),
        ("every Friday at 5", "0 17 * * 5", "every Friday at 17:00"),
        ("every weekday morning", "0 8 * * 1-5", "weekdays at 08:00"),
        ("every thursday afternoon", "0 14 * * 4", "every Thursday at 14:00"),
        ("every sunday night at 6pm", "0 18 * * 0", "every Sunday at 18:00"),
        ("weekly", "0 8 * * 1", "every Monday at 08:00"),
        ("weekly on Fridays", "0 8 * * 5", "every Friday at 08:00"),
        ("each Monday at 9:00", "0 9 * * 1", "every Monday at 09:00"),
        ("at 8 every Monday", "0 8 * * 1", "every Monday at 08:00"),
        ("mondays and thursdays at 9:15", "15 9 * * 1,4", "every Monday and Thursday at 09:15"),
        ("on the 1st of every month", "0 8 1 * *", "on day 1 of every month at 08:00"),
        ("noon on fridays", "0 12 * * 5", "every Friday at 12:00"),
        ("every day at 16:45", "45 16 * * *", "every day at 16:45"),
    ],
)
def test_phrases_become_cron_in_local_time(said, cron, words):
    schedule = parse_schedule(said)
    assert (schedule.cron, schedule.description) == (cron, words)
    assert describe_cron(schedule.cron) == words


@pytest.mark.parametrize(
    ("said", "hint"),
    [
        ("every other friday", "not 'every other friday'"),
        ("every two weeks on Monday", "not 'every two weeks on Monday'"),
        ("whenever you like", "could not read 'whenever you like'"),
        ("at 25:00", "'25:00' is not a time of day"),
        ("monday 8 and 9", "names two times of day"),
        ("every 31st", "days 1 to 28"),
        ("", "say when to send it"),
    ],
)
def test_unreadable_schedules_say_what_to_write_instead(said, hint):
    with pytest.raises(ScheduleError, match=hint.replace("(", r"\(")):
        parse_schedule(said)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_monday_eight_in_berlin_is_seven_utc_in_winter_and_six_in_summer():
    cron = parse_schedule("every Monday at 8").cron
    assert last_slot(cron, "Europe/Berlin", utc(2026, 1, 5, 7, 0, 5)) == utc(2026, 1, 5, 7, 0)
    assert last_slot(cron, "Europe/Berlin", utc(2026, 1, 5, 6, 59)) == utc(2025, 12, 29, 7, 0)
    assert last_slot(cron, "Europe/Berlin", utc(2026, 6, 1, 6, 0)) == utc(2026, 6, 1, 6, 0)
    assert next_slot(cron, "Europe/Berlin", utc(2026, 3, 23, 7, 0)) == utc(2026, 3, 30, 6, 0)


def test_daylight_saving_nights_fire_once():
    cron = "30 2 * * *"  # 02:30 does not exist on 2026-03-29 in Berlin and exists twice on 10-25
    assert next_slot(cron, "Europe/Berlin", utc(2026, 3, 28, 23, 0)) == utc(2026, 3, 29, 1, 30)
    first = next_slot(cron, "Europe/Berlin", utc(2026, 10, 24, 23, 0))
    assert first == utc(2026, 10, 25, 0, 30)
    assert next_slot(cron, "Europe/Berlin", first) == utc(2026, 10, 26, 1, 30)
    # during the repeated hour the latest slot is still the first 02:30
    assert last_slot(cron, "Europe/Berlin", utc(2026, 10, 25, 1, 45)) == first


def test_unknown_time_zone_is_a_clear_error():
    with pytest.raises(ScheduleError, match="not a time zone"):
        time_zone("Mars/Olympus")
    with pytest.raises(ScheduleError, match="not a valid cron"):
        last_slot("61 8 * * *", "UTC", utc(2026, 1, 1))
