"""The bot's HTTP server (aiohttp): health, the terminal channel's API, the live-coaching
socket (``GET /live/{call_id}``, see :mod:`bot.live`) and, when configured, Slack
(``POST /slack/events`` in HTTP mode, or the Socket Mode connection); other features add
routes through ``setup_*``."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot import messages
from bot.conversation import Asker
from bot.runtime import Runtime
from bot.terminal import TERMINAL_HEADER
from render import Answer
from store.db import StoreUnavailableError, check_connection

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.slack import SlackMode

log = logging.getLogger(__name__)

RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)
SLACK_MODE: web.AppKey[str] = web.AppKey("slack_mode", str)
MAX_BODY_BYTES = 1_000_000


STORE_CHECK_SECONDS = 2.0
"""How long ``/healthz`` waits for the store before calling it not answering."""
STORE_CHECK: web.AppKey[dict[str, asyncio.Future[None]]] = web.AppKey("store_check", dict)


async def store_state(app: web.Application) -> str:
    """``ok``, ``down`` (refused or failed) or ``not answering`` (no reply within
    STORE_CHECK_SECONDS, e.g. a hung PostgreSQL or a locked SQLite file). A check still
    stuck from an earlier call is not repeated, so a hung store never piles up threads."""
    pending = app[STORE_CHECK]
    check = pending.get("check")
    if check is None or check.done():
        check = asyncio.ensure_future(asyncio.to_thread(check_connection, app[RUNTIME].engine))
        check.add_done_callback(lambda f: f.cancelled() or f.exception())
        pending["check"] = check
    try:
        await asyncio.wait_for(asyncio.shield(check), STORE_CHECK_SECONDS)
    except TimeoutError:
        return "not answering"
    except StoreUnavailableError:
        return "down"
    return "ok"


async def healthz(request: web.Request) -> web.Response:
    """Liveness (always 200 while the process serves) with the store's state: ``status``
    is ``degraded`` when the store is down or not answering."""
    store = await store_state(request.app)
    return web.json_response(
        {
            "status": "ok" if store == "ok" else "degraded",
            "store": store,
            "instance": request.app[RUNTIME].instance_id,
            "slack": request.app.get(SLACK_MODE, "off"),
        }
    )


async def api_ask(request: web.Request) -> web.Response:
    """Terminal channel: ``{"as": email, "text": ..., "sender": optional}`` -> answers."""
    runtime = request.app[RUNTIME]
    token = request.headers.get(TERMINAL_HEADER, "")
    if not hmac.compare_digest(token, runtime.terminal_token):
        return web.json_response({"error": "missing or wrong terminal token"}, status=401)
    try:
        body: Any = await request.json()
    except ValueError:
        return web.json_response({"error": "body must be JSON"}, status=400)
    email = str(body.get("as") or "").strip().lower() if isinstance(body, dict) else ""
    text = str(body.get("text") or "") if isinstance(body, dict) else ""
    if not email:
        return web.json_response({"error": "'as' (a rep e-mail) is required"}, status=400)
    try:
        rep = await runtime.assistant.rep_by_email(email)
    except StoreUnavailableError:
        return web.json_response(
            {"replies": [_error_payload(messages.STORE_DOWN, "StoreUnavailable")]}
        )
    if rep is None:
        text_out = messages.NOT_LINKED_TERMINAL.format(email=email)
        return web.json_response({"replies": [_error_payload(text_out, "NotLinked")]})
    sender = str(body.get("sender") or f"terminal:{rep.email}")
    asker = Asker(rep_id=rep.rep_id, sender=sender, channel="terminal")
    answers = await runtime.assistant.ask(asker, text)
    return web.json_response({"replies": [a.to_payload() for a in answers]})


def _error_payload(text: str, error: str) -> dict[str, Any]:
    return Answer(kind="error", text=text, data={"error": error}).to_payload()


def create_web_app(
    runtime: Runtime, *, slack_mode: SlackMode | None = None, slack_app: AsyncApp | None = None
) -> web.Application:
    """The bot's web app; with ``slack_mode``, Slack is served too (see :mod:`bot.slack`)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[RUNTIME] = runtime
    app[STORE_CHECK] = {}
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/ask", api_ask)
    prompt_sink = None
    if slack_mode is not None:
        from bot.slack import setup_slack  # Slack libraries load only when Slack is served

        served = setup_slack(app, runtime, slack_mode, slack_app=slack_app)
        app[SLACK_MODE] = slack_mode.value
        from bot.digests import setup_digest_scheduler  # scheduled digests need Slack

        setup_digest_scheduler(app, runtime, served.client)
        from bot.slack.prompts import SlackPromptSender  # live prompts also go to Slack

        prompt_sink = SlackPromptSender(served.client)
    from bot.live import setup_live  # the live-coaching socket (spaCy loads on first call)

    setup_live(app, runtime, sink=prompt_sink)

    from bot.nightly import setup_nightly_scoring

    setup_nightly_scoring(app, runtime)

    async def _close(app: web.Application) -> None:
        await app[RUNTIME].aclose()

    app.on_cleanup.append(_close)
    return app
