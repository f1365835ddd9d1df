"""Run actions in-process the way the action server does: a Tracker built like the one
Rasa sends (with a signed identity in the message metadata) and a real
CollectingDispatcher."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from render import Answer
from store.identity import METADATA_KEY, Identity, sign_identity

SECRET = "action-test-secret"


def tracker_for(
    *,
    rep_id: int | None,
    text: str,
    intent: str,
    entities: list[dict[str, Any]] | None = None,
    slots: dict[str, Any] | None = None,
    sender: str = "test-conversation",
    channel: str = "terminal",
    secret: str = SECRET,
    token: str | None = None,
    issued_at: float | None = None,
    active_loop: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> Tracker:
    """A tracker whose latest message says ``text`` with ``intent``; signed as ``rep_id``
    unless ``token`` is given (``rep_id=None`` and no token: no identity at all)."""
    metadata: dict[str, Any] = {}
    if token is not None:
        metadata[METADATA_KEY] = token
    elif rep_id is not None:
        identity = Identity(
            rep_id=rep_id, sender=sender, issued_at=issued_at or time.time(), channel=channel
        )
        metadata[METADATA_KEY] = sign_identity(identity, secret=secret)
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.99},
        "entities": entities or [],
        "metadata": metadata,
    }
    return Tracker(
        sender_id=sender,
        slots=dict(slots or {}),
        latest_message=latest,
        events=[
            *list(events or []),
            {"event": "user", "text": text, "parse_data": latest, "metadata": metadata},
        ],
        paused=False,
        followup_action=None,
        active_loop=active_loop or {},
        latest_action_name="action_listen",
    )


@dataclass
class Result:
    messages: list[dict[str, Any]]
    events: list[dict[str, Any]]

    @property
    def answers(self) -> list[Answer]:
        out = []
        for message in self.messages:
            answer = Answer.from_payload(message.get("custom") or {})
            if answer is not None:
                out.append(answer)
        return out

    @property
    def responses(self) -> list[str]:
        return [m["response"] for m in self.messages if m.get("response")]

    def slot(self, name: str) -> Any:
        values = [
            e["value"] for e in self.events if e.get("event") == "slot" and e.get("name") == name
        ]
        return values[-1] if values else None

    @property
    def text(self) -> str:
        return "\n".join(a.text for a in self.answers)


def run_action(action: Action, tracker: Tracker, domain: dict[str, Any] | None = None) -> Result:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain or {}))
    return Result(messages=dispatcher.messages, events=[dict(e) for e in events or []])
