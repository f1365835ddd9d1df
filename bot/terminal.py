"""The terminal channel: ``salesbot ask`` and ``salesbot chat`` talk to the running
bot's local API and print what Slack would show."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import httpx

from bot import messages
from bot.settings import Settings
from store.identity import load_or_create_secret

TERMINAL_HEADER = "X-Salesbot-Terminal-Token"


def terminal_token(settings: Settings) -> str:
    """Token the terminal channel presents to the bot (``<home>/terminal.key``, mode 0600)."""
    return load_or_create_secret(Path(settings.home) / "terminal.key")


class StackNotRunningError(RuntimeError):
    """No bot answers on the configured address."""


class TerminalClient:
    def __init__(self, settings: Settings, *, timeout: float = 60.0) -> None:
        self.base_url = f"http://{settings.host}:{settings.bot_port}"
        self._headers = {TERMINAL_HEADER: terminal_token(settings)}
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def ask(self, email: str, text: str, *, sender: str | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"as": email, "text": text}
        if sender:
            body["sender"] = sender
        try:
            response = self._http.post(f"{self.base_url}/api/ask", json=body, headers=self._headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise StackNotRunningError(
                messages.STACK_NOT_RUNNING.format(url=self.base_url)
            ) from exc
        if response.status_code == 401:
            raise StackNotRunningError(
                f"the bot at {self.base_url} rejected this terminal's token: is it a salesbot from another data folder?"
            )
        response.raise_for_status()
        replies = response.json().get("replies", [])
        return replies if isinstance(replies, list) else []


def buttons_of(reply: dict[str, Any]) -> list[dict[str, str]]:
    data = reply.get("data") or {}
    return [b for b in data.get("buttons", []) if isinstance(b, dict)]


def format_reply(reply: dict[str, Any], *, width: int = 100) -> str:
    """A reply as terminal text: the text, then numbered buttons if any."""
    text = str(reply.get("text") or "")
    lines = [
        textwrap.fill(p, width=width, replace_whitespace=False) if len(p) > width else p
        for p in text.split("\n")
    ]
    out = "\n".join(lines)
    for i, button in enumerate(buttons_of(reply), start=1):
        out += f"\n  [{i}] {button.get('title')}"
    return out


def format_json(replies: list[dict[str, Any]]) -> str:
    return json.dumps(replies, indent=2, ensure_ascii=False, default=str)
