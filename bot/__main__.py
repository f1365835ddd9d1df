"""``python -m bot``: run the bot process (what ``salesbot serve`` starts).

Slack is served in Socket Mode when ``SLACK_APP_TOKEN`` is set, in HTTP mode when
``SLACK_SIGNING_SECRET`` and ``SLACK_BOT_TOKEN`` are, and not at all otherwise (the
terminal channel works in every case).
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.runtime import Runtime
from bot.server import create_web_app
from bot.settings import get_settings
from bot.slack import SLACK_EVENTS_PATH, SlackMode, slack_config_problem, slack_mode

log = logging.getLogger("bot")


def main() -> None:
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    runtime = Runtime.create(settings)
    mode = slack_mode(settings)
    problem = slack_config_problem(settings)
    if problem:
        log.error("Slack is not started: %s (see docs/slack.md)", problem)
    if mode is SlackMode.socket:
        log.info("Slack: Socket Mode (Web API at %s)", settings.slack_api_url)
    elif mode is SlackMode.http:
        log.info(
            "Slack: HTTP mode, events at http://%s:%d%s",
            settings.host,
            settings.bot_port,
            SLACK_EVENTS_PATH,
        )
    elif not problem:
        log.info("Slack is not configured: terminal channel only")
    app = create_web_app(runtime, slack_mode=mode)
    web.run_app(app, host=settings.host, port=settings.bot_port, print=None, access_log=None)


if __name__ == "__main__":
    main()
