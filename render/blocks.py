"""Block Kit building blocks with Slack's limits applied.

Limits (api.slack.com/reference/block-kit): 50 blocks per message (100 in a Home
tab), 3000 characters per section text, 10 fields of 2000 characters, 150 for a
header, 75 for a button label, 2000 for a button value, 255 for an action_id.
"""

from __future__ import annotations

import json
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_MESSAGE_TEXT = 40000

Block = dict[str, Any]


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT)}


def plain(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, MAX_HEADER_TEXT)}


def section(
    text: str, *, fields: list[str] | None = None, accessory: dict[str, Any] | None = None
) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if fields:
        block["fields"] = [
            {"type": "mrkdwn", "text": clip(f, MAX_FIELD_TEXT)} for f in fields[:MAX_FIELDS]
        ]
    if accessory:
        block["accessory"] = accessory
    return block


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:MAX_CONTEXT_ELEMENTS]]}


def divider() -> Block:
    return {"type": "divider"}


def button(
    label: str, action_id: str, value: dict[str, Any] | str, *, style: str | None = None
) -> dict[str, Any]:
    """A button whose ``value`` carries what the click needs (JSON, within limits)."""
    raw = (
        value
        if isinstance(value, str)
        else json.dumps(value, separators=(",", ":"), sort_keys=True)
    )
    if len(raw) > MAX_BUTTON_VALUE:
        raise ValueError(
            f"button value for {action_id!r} is {len(raw)} characters; Slack allows {MAX_BUTTON_VALUE}"
        )
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(label, MAX_BUTTON_TEXT),
        "action_id": action_id[:MAX_ACTION_ID],
        "value": raw,
    }
    if style in ("primary", "danger"):
        element["style"] = style
    return element


def actions(*elements: dict[str, Any], block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements[:MAX_ACTIONS_ELEMENTS])}
    if block_id:
        block["block_id"] = block_id[:255]
    return block


def image(url: str, alt_text: str, *, title: str | None = None) -> Block:
    block: Block = {"type": "image", "image_url": url, "alt_text": clip(alt_text, 2000)}
    if title:
        block["title"] = plain(title, 2000)
    return block


def fit_blocks(
    blocks: list[Block], *, limit: int = MAX_MESSAGE_BLOCKS, more_text: str | None = None
) -> list[Block]:
    """Keep at most ``limit`` blocks; when cut, the last one says how many were left out."""
    if len(blocks) <= limit:
        return blocks
    kept = blocks[: limit - 1]
    left = len(blocks) - len(kept)
    kept.append(context(more_text or f"_{left} more blocks not shown: ask to show more._"))
    return kept


def validate_blocks(blocks: list[Block], *, limit: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Problems that would make Slack reject ``blocks`` (empty list means fine)."""
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks (limit {limit})")
    action_ids: set[str] = set()
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "section":
            text = block.get("text", {}).get("text", "")
            if len(text) > MAX_SECTION_TEXT:
                problems.append(f"block {i}: section text {len(text)} > {MAX_SECTION_TEXT}")
            if not text and not block.get("fields"):
                problems.append(f"block {i}: section without text or fields")
            if len(block.get("fields", [])) > MAX_FIELDS:
                problems.append(f"block {i}: more than {MAX_FIELDS} fields")
        elif kind == "header":
            if len(block["text"]["text"]) > MAX_HEADER_TEXT:
                problems.append(f"block {i}: header longer than {MAX_HEADER_TEXT}")
        elif kind == "actions":
            for element in block.get("elements", []):
                aid = element.get("action_id", "")
                if aid in action_ids:
                    problems.append(f"block {i}: duplicate action_id {aid!r}")
                action_ids.add(aid)
                if len(element.get("text", {}).get("text", "")) > MAX_BUTTON_TEXT:
                    problems.append(f"block {i}: button label longer than {MAX_BUTTON_TEXT}")
                if len(element.get("value", "")) > MAX_BUTTON_VALUE:
                    problems.append(f"block {i}: button value longer than {MAX_BUTTON_VALUE}")
        elif kind == "context" and len(block.get("elements", [])) > MAX_CONTEXT_ELEMENTS:
            problems.append(f"block {i}: more than {MAX_CONTEXT_ELEMENTS} context elements")
    return problems


# Interactive elements. A message's action_ids must be unique, so each id is a
# prefix plus ":<n>"; listeners match the prefix. Values are JSON objects.
ACTION_SEND = "sb_send"
"""Send ``value["payload"]`` to the assistant as if the user typed it (show more, why, pitch…)."""
ACTION_CONTACTED = "sb_contacted"
"""Record that the rep contacted ``value["account_id"]`` (an activity in the store)."""
ACTION_SNOOZE = "sb_snooze"
"""Hide alerts for ``value["account_id"]`` for ``value["days"]`` days."""


def send_button(label: str, payload: str, n: int, *, style: str | None = None) -> dict[str, Any]:
    """A button that asks the assistant ``payload`` on the user's behalf."""
    return button(label, f"{ACTION_SEND}:{n}", {"payload": payload}, style=style)


def contacted_button(account_id: int, n: int) -> dict[str, Any]:
    return button("Mark contacted", f"{ACTION_CONTACTED}:{n}", {"account_id": account_id})


def snooze_button(account_id: int, n: int, days: int = 14) -> dict[str, Any]:
    return button(
        f"Snooze {days} days", f"{ACTION_SNOOZE}:{n}", {"account_id": account_id, "days": days}
    )
