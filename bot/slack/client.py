"""The Slack Web API client the bot uses: base URL from settings, retries from slack_sdk."""

from __future__ import annotations

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings

WEB_API_TIMEOUT_SECONDS = 30


def retry_handlers() -> list[AsyncRetryHandler]:
    """Rate limits (429, waiting ``Retry-After``), dropped connections and Slack 5xx."""
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]


def make_web_client(settings: Settings) -> AsyncWebClient:
    """A Web API client with the bot token, pointed at ``SLACK_API_URL``."""
    token = settings.slack_bot_token.get_secret_value().strip() if settings.slack_bot_token else ""
    base_url = (
        settings.slack_api_url
        if settings.slack_api_url.endswith("/")
        else settings.slack_api_url + "/"
    )
    return AsyncWebClient(
        token=token or None,
        base_url=base_url,
        timeout=WEB_API_TIMEOUT_SECONDS,
        retry_handlers=retry_handlers(),
    )
