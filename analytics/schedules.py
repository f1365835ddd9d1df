"""Digest schedules: a phrase as a manager says it -> a cron expression, and its fire times.

:func:`parse_schedule` reads "every Monday at 8", "daily at 9am", "weekdays at 7:30",
"fridays 4pm", "every morning", "monthly on the 1st" and the like into a
:class:`Schedule` (a five-field cron expression in the subscriber's *local* time, and a
description in words). Phrases a cron expression cannot say ("every other Friday") or
that hold words it cannot read raise :class:`ScheduleError` with a sentence that says
what to write instead.

Fire times (:func:`last_slot`, :func:`next_slot`) are computed on the local wall clock of
the subscriber's time zone and converted to UTC, so "Monday 08:00 Europe/Berlin" fires at
07:00 UTC in winter and 06:00 UTC in summer. On the night clocks go forward, a time that
does not exist locally (02:30) fires at the same instant one hour later on the local clock
(03:30); on the night they go back, a time that exists twice fires once, at its first
occurrence.

Defaults: no time given -> 08:00; "morning" 08:00, "afternoon" 14:00, "evening" 18:00,
"night" 20:00; an hour without am/pm from 1 to 6 is read as the afternoon (nobody wants a
team digest at 4 in the morning), 7 to 11 as the morning; "weekly" alone is Mondays;
"monthly" alone is the 1st of the month.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from analytics.errors import AnalyticsError

__all__ = [
    "DEFAULT_HOUR",
    "Schedule",
    "ScheduleError",
    "describe_cron",
    "last_slot",
    "next_slot",
    "parse_schedule",
    "time_zone",
]

DEFAULT_HOUR = 8
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
"""Cron day-of-week numbers: 0 = Sunday ... 6 = Saturday."""
_DAY_WORDS: dict[str, int] = {}
for _number, _name in enumerate(DAY_NAMES):
    _lower = _name.lower()
    for _word in {_lower, _lower + "s", _lower[:3], _lower[:3] + "s"}:
        _DAY_WORDS[_word] = _number
_DAY_WORDS.update({"tues": 2, "weds": 3, "thur": 4, "thurs": 4})
_PARTS_OF_DAY = {"morning": 8, "mornings": 8, "afternoon": 14, "afternoons": 14, "evening": 18}
_PARTS_OF_DAY.update({"evenings": 18, "night": 20, "nights": 20, "tonight": 20})
_EVERY_DAY = {"daily", "day", "days", "everyday"}
_WEEKDAYS = {"weekday", "weekdays", "workday", "workdays", "business"}
_WEEKEND = {"weekend", "weekends"}
_WEEKLY = {"weekly", "week"}
_MONTHLY = {"monthly", "month"}
_NOT_CRON = {"other", "alternate", "biweekly", "fortnightly", "fortnight", "two", "2", "second"}
_FILLER = {
    "every", "each", "on", "at", "the", "a", "an", "in", "of", "and", "please", "pls", "plz",
    "send", "me", "it", "this", "that", "digest", "report", "summary", "o'clock", "oclock",
    "around", "by", "from", "to", "through", "thru", "until", "till", "mon-fri", "h", "hrs",
    "first", "st", "nd", "rd", "th", "start", "beginning", "lt", "local", "time", "my",
}  # fmt: skip
_TIME = re.compile(r"^(?P<hour>\d{1,2})(?:[:.h](?P<minute>\d{2}))?(?P<ampm>am|pm)?$")
_ORDINAL = re.compile(r"^(?P<day>\d{1,2})(?:st|nd|rd|th)$")


class ScheduleError(AnalyticsError):
    """A schedule phrase that cannot be read, or a time zone that does not exist."""


@dataclass(frozen=True)
class Schedule:
    """A digest schedule: ``cron`` (minute hour day-of-month month day-of-week, local time)
    and ``description`` ("every Monday at 08:00")."""

    cron: str
    description: str


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Berlin``); :class:`ScheduleError` if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"{name!r} is not a time zone I know; use an IANA name such as Europe/Berlin "
            "or America/New_York"
        ) from exc


def _tokens(text: str) -> list[str]:
    text = text.lower().strip()
    text = re.sub(r"\b([ap])\.m\.?", r"\1m", text)  # "a.m." -> "am"
    text = re.sub(r"(\d)\s+([ap]m)\b", r"\1\2", text)  # "8 am" -> "8am"
    text = text.replace("mon-fri", " weekdays ").replace("monday to friday", " weekdays ")
    text = text.replace("monday through friday", " weekdays ")
    text = re.sub(r"\bmidday\b|\bnoon\b", " 12:00pm ", text)
    text = re.sub(r"\bmidnight\b", " 12:00am ", text)
    return [t for t in re.split(r"[\s,;!?()]+|(?<!\d)[.](?!\d)", text) if t]


def _hour_minute(token: str) -> tuple[int, int, bool] | None:
    """``(hour, minute, explicit_am_pm)`` of a time token, or None when it is not one."""
    match = _TIME.match(token)
    if match is None:
        return None
    hour = int(match["hour"])
    minute = int(match["minute"] or 0)
    ampm = match["ampm"] or ""
    if minute > 59 or hour > 23 or (ampm and not 1 <= hour <= 12):
        raise ScheduleError(f"{token!r} is not a time of day; write it like 8am, 16:00 or 7:30")
    if ampm == "pm" and hour != 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    return hour, minute, bool(ampm) or hour >= 13 or hour == 0


def parse_schedule(text: str) -> Schedule:
    """Read a schedule phrase (see the module docstring); raises :class:`ScheduleError`."""
    said = (text or "").strip()
    if not said:
        raise ScheduleError("say when to send it, for example 'every Monday at 8'")
    days: set[int] = set()
    month_day: int | None = None
    every_day = weekly = monthly = False
    part_hour: int | None = None
    time: tuple[int, int, bool] | None = None
    unknown: list[str] = []
    tokens = _tokens(said)
    for i, token in enumerate(tokens):
        if token in _NOT_CRON and (
            token not in {"two", "2", "second"}
            or (i + 1 < len(tokens) and tokens[i + 1] in {"weeks", "week", "wks"})
        ):
            raise ScheduleError(
                f"I can send digests daily, on chosen weekdays or monthly, but not {said!r}; "
                "try 'every Monday at 8' or 'weekdays at 7:30'"
            )
        if token in _DAY_WORDS:
            days.add(_DAY_WORDS[token])
        elif token in _EVERY_DAY:
            every_day = True
        elif token in _WEEKDAYS:
            days.update(range(1, 6))
        elif token in _WEEKEND:
            days.update({0, 6})
        elif token in _WEEKLY:
            weekly = True
        elif token in _MONTHLY:
            monthly = True
        elif token in _PARTS_OF_DAY:
            part_hour = _PARTS_OF_DAY[token]
        elif (ordinal := _ORDINAL.match(token)) is not None:
            month_day = int(ordinal["day"])
        elif (found := _hour_minute(token)) is not None:
            if time is not None:
                raise ScheduleError(f"{said!r} names two times of day; give one")
            time = found
        elif token not in _FILLER:
            unknown.append(token)
    if unknown:
        raise ScheduleError(
            f"I could not read {' '.join(unknown)!r} in {said!r}; try 'every Monday at 8', "
            "'daily at 9am', 'weekdays at 7:30' or 'fridays 4pm'"
        )
    if not (days or every_day or weekly or monthly or month_day or time or part_hour):
        raise ScheduleError(
            f"{said!r} does not say when; try 'every Monday at 8' or 'daily at 9am'"
        )
    if month_day is not None and not 1 <= month_day <= 28:
        raise ScheduleError(
            f"the digest can go out on days 1 to 28 of the month (every month has them), not on "
            f"day {month_day}"
        )
    if (month_day is not None or monthly) and days:
        raise ScheduleError(f"{said!r} mixes weekdays and days of the month; pick one")
    hour, minute = _time_of_day(time, part_hour)
    at = f"{hour:02d}:{minute:02d}"
    if month_day is not None or monthly:
        day = month_day or 1
        return Schedule(f"{minute} {hour} {day} * *", f"on day {day} of every month at {at}")
    if every_day or not (days or weekly):
        return Schedule(f"{minute} {hour} * * *", f"every day at {at}")
    if not days:
        days = {1}
    return Schedule(f"{minute} {hour} * * {_cron_days(days)}", f"{_day_words(days)} at {at}")


def _time_of_day(time: tuple[int, int, bool] | None, part_hour: int | None) -> tuple[int, int]:
    if time is None:
        return (part_hour if part_hour is not None else DEFAULT_HOUR), 0
    hour, minute, explicit = time
    later_part = part_hour is not None and part_hour >= 12
    if not explicit and ((later_part and hour < 12) or (part_hour is None and 1 <= hour <= 6)):
        hour += 12
    return hour, minute


def _cron_days(days: set[int]) -> str:
    ordered = sorted(days)
    if ordered == [1, 2, 3, 4, 5]:
        return "1-5"
    return ",".join(str(d) for d in ordered)


def _day_words(days: set[int]) -> str:
    ordered = sorted(days, key=lambda d: (d == 0, d))  # Monday first, Sunday last
    if sorted(days) == [1, 2, 3, 4, 5]:
        return "weekdays"
    if sorted(days) == [0, 6]:
        return "weekends"
    if len(days) == 7:
        return "every day"
    names = [DAY_NAMES[d] for d in ordered]
    if len(names) == 1:
        return f"every {names[0]}"
    return "every " + ", ".join(names[:-1]) + f" and {names[-1]}"


_SIMPLE_CRON = re.compile(
    r"^(?P<minute>\d{1,2}) (?P<hour>\d{1,2}) (?P<dom>\*|\d{1,2}) \* (?P<dow>\*|[0-6](?:[-,][0-6])*)$"
)


def describe_cron(cron: str) -> str:
    """Words for a cron expression made by :func:`parse_schedule` ("every Monday at 08:00");
    other expressions are shown as they are."""
    match = _SIMPLE_CRON.match(cron.strip())
    if match is None:
        return f"on the cron schedule {cron!r}"
    at = f"{int(match['hour']):02d}:{int(match['minute']):02d}"
    if match["dom"] != "*":
        if match["dow"] != "*":
            return f"on the cron schedule {cron!r}"
        return f"on day {int(match['dom'])} of every month at {at}"
    if match["dow"] == "*":
        return f"every day at {at}"
    days: set[int] = set()
    for part in match["dow"].split(","):
        if "-" in part:
            first, last = (int(p) for p in part.split("-"))
            days.update(range(first, last + 1))
        else:
            days.add(int(part))
    return f"{_day_words(days)} at {at}"


def _check(cron: str) -> None:
    if not croniter.is_valid(cron):
        raise ScheduleError(f"{cron!r} is not a valid cron expression")


def _utc(local: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return local.replace(tzinfo=zone).astimezone(dt.UTC)


def last_slot(cron: str, timezone: str, now: dt.datetime) -> dt.datetime:
    """The latest fire time at or before ``now`` (tz-aware), in UTC."""
    _check(cron)
    zone = time_zone(timezone)
    local_now = now.astimezone(zone).replace(tzinfo=None)
    start = local_now.replace(microsecond=0) + dt.timedelta(seconds=1)
    slot = _utc(croniter(cron, start).get_prev(dt.datetime), zone)
    while slot > now:  # a local time skipped by a DST jump can land after ``now``
        start -= dt.timedelta(hours=1)
        slot = _utc(croniter(cron, start).get_prev(dt.datetime), zone)
    return slot


def next_slot(cron: str, timezone: str, after: dt.datetime) -> dt.datetime:
    """The first fire time strictly after ``after`` (tz-aware), in UTC."""
    _check(cron)
    zone = time_zone(timezone)
    local = after.astimezone(zone).replace(tzinfo=None)
    slot = _utc(croniter(cron, local).get_next(dt.datetime), zone)
    while slot <= after:  # the repeated hour when clocks go back
        local += dt.timedelta(hours=1)
        slot = _utc(croniter(cron, local).get_next(dt.datetime), zone)
    return slot
