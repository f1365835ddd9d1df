"""The bot's side of the conversation: forwards text to Rasa's REST channel with a
signed identity and turns Rasa's replies into :class:`render.Answer` objects."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bot import messages
from render import Answer
from render import blocks as bk
from store.identity import METADATA_KEY, Identity, sign_identity

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4000


class ConversationError(RuntimeError):
    """The conversation could not be carried out; ``user_message`` says so in words."""

    def __init__(self, user_message: str, detail: str = "") -> None:
        super().__init__(detail or user_message)
        self.user_message = user_message


class RasaUnavailableError(ConversationError):
    pass


@dataclass(frozen=True)
class Asker:
    """Who is asking and where: enough to sign an identity."""

    rep_id: int
    sender: str
    channel: str = "terminal"
    slack_user_id: str | None = None
    slack_channel_id: str | None = None


def text_reply_to_answer(reply: dict[str, Any]) -> Answer:
    """A plain Rasa response (text, maybe buttons) as an :class:`Answer`."""
    text = str(reply.get("text") or "")
    blocks: list[dict[str, Any]] = [bk.section(text)] if text else []
    buttons = reply.get("buttons") or []
    if buttons:
        elements = [
            bk.send_button(str(b.get("title", "?")), str(b.get("payload", "")), i)
            for i, b in enumerate(buttons[: bk.MAX_ACTIONS_ELEMENTS])
        ]
        blocks.append(bk.actions(*elements, block_id="rasa_buttons"))
    data = (
        {"buttons": [{"title": b.get("title"), "payload": b.get("payload")} for b in buttons]}
        if buttons
        else {}
    )
    return Answer(kind="message", text=text, blocks=blocks, data=data)


def replies_to_answers(replies: list[dict[str, Any]]) -> list[Answer]:
    answers: list[Answer] = []
    for reply in replies:
        custom = reply.get("custom")
        if custom is not None:
            answer = Answer.from_payload(custom)
            if answer is not None:
                answers.append(answer)
                continue
            log.warning("dropping a custom payload that is not a salesbot answer")
            continue
        if reply.get("text") or reply.get("buttons"):
            answers.append(text_reply_to_answer(reply))
        elif reply.get("image"):
            answers.append(Answer(kind="message", text=str(reply["image"])))
    return answers


class RasaClient:
    """Sends user messages to Rasa's REST channel."""

    def __init__(
        self,
        base_url: str,
        *,
        secret: str,
        timeout: float = 10.0,
        http: httpx.AsyncClient | None = None,
    ):
        self._url = base_url.rstrip("/") + "/webhooks/rest/webhook"
        self._secret = secret
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def metadata_for(self, asker: Asker) -> dict[str, Any]:
        identity = Identity(
            rep_id=asker.rep_id,
            sender=asker.sender,
            issued_at=time.time(),
            channel=asker.channel,
            slack_user_id=asker.slack_user_id,
            slack_channel_id=asker.slack_channel_id,
        )
        return {METADATA_KEY: sign_identity(identity, secret=self._secret)}

    async def ask(self, asker: Asker, text: str) -> list[Answer]:
        """Send ``text`` as ``asker``; raise :class:`ConversationError` with user words on failure."""
        text = text.strip()
        if not text:
            return [Answer(kind="message", text=messages.EMPTY_MESSAGE)]
        if len(text) > MAX_MESSAGE_CHARS:
            return [
                Answer(
                    kind="error",
                    text=messages.TOO_LONG.format(length=len(text), limit=MAX_MESSAGE_CHARS),
                )
            ]
        body = {"sender": asker.sender, "message": text, "metadata": self.metadata_for(asker)}
        try:
            response = await self._http.post(self._url, json=body)
        except httpx.TransportError as exc:  # refused, reset (a Rasa that died), timed out
            raise RasaUnavailableError(messages.RASA_DOWN, f"Rasa at {self._url}: {exc!r}") from exc
        if response.status_code >= 500:
            raise RasaUnavailableError(messages.RASA_DOWN, f"Rasa answered {response.status_code}")
        if response.status_code != 200:
            raise ConversationError(
                messages.NO_REPLY, f"Rasa answered {response.status_code}: {response.text[:200]}"
            )
        try:
            replies = response.json()
        except ValueError as exc:
            raise ConversationError(messages.NO_REPLY, "Rasa returned invalid JSON") from exc
        answers = replies_to_answers(replies if isinstance(replies, list) else [])
        return answers or [Answer(kind="message", text=messages.NO_REPLY)]
