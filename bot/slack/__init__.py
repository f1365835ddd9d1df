"""The Slack app: one bolt ``AsyncApp`` shared by HTTP mode and Socket Mode.

``create_slack_app(runtime)`` builds it (nothing happens at import); listener
packages in ``LISTENER_MODULES`` each add their listeners with ``register(app)``.
``setup_slack`` attaches it to the bot's aiohttp server: a signed ``POST /slack/events``
route in HTTP mode, or a Socket Mode connection opened on start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from enum import StrEnum
from typing import Any

from aiohttp import web
from pydantic import SecretStr
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack import errors, middleware
from bot.slack.client import make_web_client
from bot.slack.edge import (
    CONTEXT_KEY,
    EVENT_ID_KEY,
    WORKING_AFTER_SECONDS,
    SlackEdge,
    utc_now,
)

log = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
LISTENER_MODULES = [
    "bot.slack.listeners.calls",
    "bot.slack.listeners.events",
    "bot.slack.listeners.commands",
    "bot.slack.listeners.actions",
]
"""Listener packages, registered in this order (the first matching listener answers);
a feature adds its package here (for example a ``file_share`` message listener)."""

SLACK_APP: web.AppKey[AsyncApp] = web.AppKey("slack_app", AsyncApp)
SOCKET_HANDLER: web.AppKey[AsyncSocketModeHandler] = web.AppKey(
    "slack_socket_handler", AsyncSocketModeHandler
)


class SlackConfigError(RuntimeError):
    """The Slack settings do not allow the requested mode."""


class SlackMode(StrEnum):
    socket = "socket"
    http = "http"


def secret_value(secret: SecretStr | None) -> str | None:
    """The secret's value; None when unset or empty (``SLACK_APP_TOKEN=`` in a .env file)."""
    value = secret.get_secret_value().strip() if secret is not None else ""
    return value or None


def slack_mode(settings: Settings) -> SlackMode | None:
    """Socket Mode when ``SLACK_APP_TOKEN`` (and the bot token) are set, HTTP mode when
    ``SLACK_SIGNING_SECRET`` and ``SLACK_BOT_TOKEN`` are, else None (terminal only)."""
    if secret_value(settings.slack_bot_token) is None:
        return None
    if secret_value(settings.slack_app_token) is not None:
        return SlackMode.socket
    if secret_value(settings.slack_signing_secret) is not None:
        return SlackMode.http
    return None


def slack_config_problem(settings: Settings) -> str | None:
    """What is missing when Slack settings are half set (None when complete or absent)."""
    bot = secret_value(settings.slack_bot_token) is not None
    app = secret_value(settings.slack_app_token) is not None
    secret = secret_value(settings.slack_signing_secret) is not None
    if app and not bot:
        return "SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not: Socket Mode needs both"
    if secret and not bot:
        return "SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not: HTTP mode needs both"
    if bot and not (app or secret):
        return (
            "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) nor "
            "SLACK_SIGNING_SECRET (HTTP mode) is"
        )
    return None


def _same_token_notice(record: logging.LogRecord) -> bool:
    """Drop bolt's notice that ``SLACK_BOT_TOKEN`` from the environment is unused: our
    client is built from that same setting."""
    return "`token` will be unused" not in record.getMessage()


def create_slack_app(
    runtime: Runtime,
    *,
    client: AsyncWebClient | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
    working_after_seconds: float = WORKING_AFTER_SECONDS,
) -> AsyncApp:
    """The bolt app with salesbot's middleware, listeners and error handler."""
    settings = runtime.settings
    secret = secret_value(settings.slack_signing_secret) or ""
    logger = logging.getLogger("bot.slack.bolt")
    logger.addFilter(_same_token_notice)
    app = AsyncApp(
        client=client or make_web_client(settings),
        signing_secret=secret,
        request_verification_enabled=bool(secret),
        process_before_response=False,
        logger=logger,
    )
    edge = SlackEdge(runtime=runtime, clock=clock, working_after_seconds=working_after_seconds)
    EDGES[app] = edge
    middleware.register(app, edge)
    errors.register(app)
    for name in LISTENER_MODULES:
        importlib.import_module(name).register(app)
    app.event("message")(ignore_other_messages)
    return app


async def ignore_other_messages(context: AsyncBoltContext) -> None:
    """Message events no listener answers (edits, deletions, the bot's own posts) are
    acknowledged and left alone: without a listener bolt would answer 404 and Slack would
    send them again. Registered after every module in ``LISTENER_MODULES``. Nothing to
    answer, so nothing to pick up after a restart either."""
    edge = context.get(CONTEXT_KEY)
    if isinstance(edge, SlackEdge):
        await edge.mark_answered(context.get(EVENT_ID_KEY))


EDGES: weakref.WeakKeyDictionary[AsyncApp, SlackEdge] = weakref.WeakKeyDictionary()
"""The edge each bolt app made by :func:`create_slack_app` hands its listeners."""
RECOVER_EVERY_SECONDS = 60.0


def recover_acked_questions(slack_app: AsyncApp) -> Callable[[web.Application], Any]:
    """A background job of the bot's web app: at start-up and then every minute, answer the
    Slack questions some bot acked and died on (see :meth:`SlackEdge.recover_unanswered`)."""

    async def job(_app: web.Application) -> AsyncIterator[None]:
        edge = EDGES.get(slack_app)

        async def loop() -> None:
            while edge is not None:
                try:
                    await edge.recover_unanswered(slack_app)
                except Exception:  # never let one bad pass stop the job
                    log.exception("picking up unanswered Slack questions failed")
                await asyncio.sleep(RECOVER_EVERY_SECONDS)

        task = asyncio.create_task(loop(), name="slack-recover-acked-questions")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return job


def _http_handler(slack_app: AsyncApp, signing_secret: str) -> Callable[[web.Request], Any]:
    verifier = SignatureVerifier(signing_secret)

    async def slack_events(request: web.Request) -> web.StreamResponse:
        # The signature is checked before the body is parsed: bolt parses first, so an
        # unsigned request with a malformed body or timestamp reached bolt's error handler
        # (a 500, a traceback, and an error notice posted to whoever the body named).
        try:
            body = await request.text()
        except UnicodeDecodeError:
            return web.Response(status=400, text="the body is not UTF-8")
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not timestamp.isdigit() or not verifier.is_valid(body, timestamp, signature):
            return web.Response(status=401, text="invalid request signature")
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, AttributeError):  # signed, but not a payload Slack sends
            return web.Response(status=400, text="unreadable Slack payload")
        bolt_response = await slack_app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    return slack_events


def setup_slack(
    web_app: web.Application,
    runtime: Runtime,
    mode: SlackMode,
    *,
    slack_app: AsyncApp | None = None,
) -> AsyncApp:
    """Serve Slack from the bot's web app in ``mode``; returns the bolt app."""
    slack_app = slack_app or create_slack_app(runtime)
    web_app[SLACK_APP] = slack_app
    web_app.cleanup_ctx.append(recover_acked_questions(slack_app))
    if mode is SlackMode.http:
        signing_secret = secret_value(runtime.settings.slack_signing_secret)
        if signing_secret is None:
            raise SlackConfigError("HTTP mode needs SLACK_SIGNING_SECRET to verify requests")
        web_app.router.add_post(SLACK_EVENTS_PATH, _http_handler(slack_app, signing_secret))
        return slack_app
    settings = runtime.settings
    app_token = secret_value(settings.slack_app_token)
    if app_token is None:
        raise SlackConfigError("Socket Mode needs SLACK_APP_TOKEN")

    async def socket_mode(app: web.Application) -> AsyncIterator[None]:
        # The handler's aiohttp session needs the running loop; connect() retries until
        # Slack answers, so it runs beside the rest of the bot instead of before it.
        handler = AsyncSocketModeHandler(slack_app, app_token)
        app[SOCKET_HANDLER] = handler
        task = asyncio.create_task(handler.connect_async(), name="slack-socket-mode-connect")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await handler.close_async()

    web_app.cleanup_ctx.append(socket_mode)
    return slack_app
