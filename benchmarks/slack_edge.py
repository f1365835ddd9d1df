"""What the Slack edge adds to a reply: signed event in -> ack, and -> reply at Slack.

    .venv/bin/python -m benchmarks.slack_edge [--events 200]

The bot's real web app and bolt AsyncApp run on loopback in HTTP mode against the local
fake Slack Web API (``tests/slack/fakeslack.py``) on a small seeded SQLite store. Rasa's
port is closed, so each DM goes through everything the edge does (signature check, the
event claim in the store, the rep lookup, the call to Rasa, rendering, ``chat.postMessage``)
except Rasa's own turn, which DESIGN measures separately (p50 116 ms).

Reported, p50 / p95 / max in ms:
- ``ack``: event POST -> HTTP 200 (Slack wants it within 3 s);
- ``reply``: event POST -> ``chat.postMessage`` received by the fake;
- baselines measured in the same run: ``GET /healthz`` on the same server (the aiohttp
  round trip) and one ``chat.postMessage`` from an AsyncWebClient to the fake (the Web API
  round trip); ``reply`` is also given as a ratio to their sum.
Results also go to ``benchmarks/results/slack_edge.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from store.db import make_engine
from store.migrate import upgrade
from tests.slack.conftest import seed_book
from tests.slack.fakeslack import FakeSlack, SlackCall
from tests.slack.harness import (
    BOT_TOKEN,
    bot_settings,
    dm_event,
    event_envelope,
    running_bot,
)

RESULTS = Path(__file__).resolve().parent / "results" / "slack_edge.md"


def summary(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1]


async def dm_reply(slack: FakeSlack, count: int) -> SlackCall:
    """The ``count``-th reply in Maria's DM (baseline posts go elsewhere)."""
    while True:
        replies = [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == "DMARIA"]
        if len(replies) >= count:
            return replies[count - 1]
        await asyncio.sleep(0.0005)


async def measure(events: int, home: Path, slack: FakeSlack) -> dict[str, list[float]]:
    engine = make_engine(f"sqlite:///{home / 'salesbot.db'}")
    upgrade(engine)
    seed_book(engine)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    timings: dict[str, list[float]] = {"ack": [], "reply": [], "healthz": [], "web_api": []}
    direct = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    async with running_bot(bot_settings(home, url, slack), slack) as bot:
        for i in range(events + 5):
            warm = i < 5
            ts = f"{1772470000 + i}.000100"
            body = json.dumps(
                event_envelope(dm_event("UMARIA", "which accounts are slipping?", ts=ts))
            )
            started = time.monotonic()
            status, _ = await bot.post(body, content_type="application/json")
            acked = time.monotonic()
            assert status == 200
            reply = await dm_reply(slack, count=i + 1)
            if warm:
                continue
            timings["ack"].append((acked - started) * 1000)
            timings["reply"].append((reply.at - started) * 1000)
            started = time.monotonic()
            async with bot.http.get(bot.url + "/healthz") as response:
                assert response.status == 200
            timings["healthz"].append((time.monotonic() - started) * 1000)
            started = time.monotonic()
            await direct.chat_postMessage(channel="DBASELINE", text="baseline")
            timings["web_api"].append((time.monotonic() - started) * 1000)
    return timings


def report(timings: dict[str, list[float]], events: int) -> str:
    lines = [
        f"# Slack edge latency ({events} DMs, Rasa's own turn excluded)",
        "",
        "| measure | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|",
    ]
    for name, samples in timings.items():
        p50, p95, top = summary(samples)
        lines.append(f"| {name} | {p50:.1f} | {p95:.1f} | {top:.1f} |")
    baseline = summary(timings["healthz"])[0] + summary(timings["web_api"])[0]
    ratio = summary(timings["reply"])[0] / baseline
    lines += ["", f"reply p50 / (healthz p50 + web_api p50) = {ratio:.1f}x", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeSlack(users={"UMARIA": "maria@example.com"}) as slack,
    ):
        timings = asyncio.run(measure(args.events, Path(tmp), slack))
    text = report(timings, args.events)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
