"""The answer envelope that travels from the action server to every channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PAYLOAD_KEY = "salesbot"
PAYLOAD_VERSION = 1


@dataclass
class Answer:
    """One reply: plain text (always), Block Kit blocks (optional) and the structured
    data it was rendered from (for ``salesbot ask --json`` and other systems).

    ``ephemeral`` asks the channel to show the answer only to the asker (account data
    in a shared Slack channel).
    """

    kind: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    ephemeral: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {
            PAYLOAD_KEY: PAYLOAD_VERSION,
            "kind": self.kind,
            "text": self.text,
            "blocks": self.blocks,
            "data": self.data,
            "ephemeral": self.ephemeral,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Answer | None:
        """The answer inside a custom payload, or None if it is not one of ours."""
        if not isinstance(payload, dict) or payload.get(PAYLOAD_KEY) != PAYLOAD_VERSION:
            return None
        return cls(
            kind=str(payload.get("kind", "message")),
            text=str(payload.get("text", "")),
            blocks=list(payload.get("blocks") or []),
            data=dict(payload.get("data") or {}),
            ephemeral=bool(payload.get("ephemeral", False)),
        )
