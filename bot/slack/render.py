"""Answers as Slack API arguments: Block Kit within limits, always with plain text.

Every message carries ``text`` (notifications, screen readers, clients without
Block Kit). Blocks that would break Slack's limits are dropped in favour of the
text, split into sections so long answers still show in full.

Answers are words and numbers, never Slack markup: ``&``, ``<`` and ``>`` in their text
and mrkdwn blocks are escaped here (:func:`escape_mrkdwn`), so an account named
``<!channel>`` or a question echoed back cannot mention a channel, a user or hide a link.
Text typed in Slack arrives escaped the same way and is read back with :func:`unescape_mrkdwn`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from render import Answer
from render import blocks as bk

log = logging.getLogger(__name__)

MAX_PLAIN_TEXT = 3000
"""Longer text-only answers are split into sections (Slack truncates long ``text``)."""
ALERT_ACTIONS = (bk.ACTION_CONTACTED, bk.ACTION_SNOOZE)


def escape_mrkdwn(text: str) -> str:
    """``text`` shown as written in Slack: the three control characters as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape_mrkdwn(text: str) -> str:
    """What a Slack user typed, from the escaped text Slack sends (mentions stay markup)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape_blocks(value: Any) -> Any:
    """``value`` (blocks, a block, an element) with the text of every mrkdwn object escaped."""
    if isinstance(value, list):
        return [escape_blocks(item) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
        return {**value, "text": escape_mrkdwn(value["text"])}
    return {key: escape_blocks(item) for key, item in value.items()}


def text_sections(text: str, *, limit: int = bk.MAX_MESSAGE_BLOCKS) -> list[bk.Block]:
    """``text`` as section blocks of at most 3000 characters, cut at line breaks."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > bk.MAX_SECTION_TEXT:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[: bk.MAX_SECTION_TEXT])
            line = line[bk.MAX_SECTION_TEXT :]
        if len(current) + len(line) > bk.MAX_SECTION_TEXT:
            chunks.append(current)
            current = ""
        current += line
    if current.strip():
        chunks.append(current)
    return bk.fit_blocks([bk.section(c.rstrip("\n")) for c in chunks if c.strip()], limit=limit)


def blocks_text(blocks: list[bk.Block]) -> str:
    """The words in section and header blocks, one block per line."""
    parts = [
        str(block["text"].get("text", ""))
        for block in blocks
        if block.get("type") in ("section", "header") and isinstance(block.get("text"), dict)
    ]
    return "\n".join(p for p in parts if p)


def fallback_text(answer: Answer) -> str:
    """The answer's text, or the text of its sections when it has none."""
    return answer.text.strip() or blocks_text(answer.blocks) or "…"


def answer_blocks(answer: Answer, *, limit: int = bk.MAX_MESSAGE_BLOCKS) -> list[bk.Block]:
    """Blocks that Slack will accept for ``answer`` (maybe none: then text is enough),
    escaped."""
    text = escape_mrkdwn(fallback_text(answer))
    if answer.blocks:
        blocks = bk.fit_blocks(escape_blocks(list(answer.blocks)), limit=limit)
        problems = bk.validate_blocks(blocks, limit=limit)
        if not problems:
            return blocks
        log.warning(
            "answer %s: blocks dropped for plain text (%s)", answer.kind, "; ".join(problems)
        )
    if len(text) > MAX_PLAIN_TEXT:
        return text_sections(text, limit=limit)
    return []


def message_kwargs(answer: Answer) -> dict[str, Any]:
    """``text`` and (when useful) ``blocks`` for chat.postMessage / postEphemeral / update."""
    text = escape_mrkdwn(fallback_text(answer))
    kwargs: dict[str, Any] = {"text": bk.clip(text, bk.MAX_MESSAGE_TEXT)}
    blocks = answer_blocks(answer)
    if blocks:
        kwargs["blocks"] = blocks
    return kwargs


def home_view(blocks: list[bk.Block]) -> dict[str, Any]:
    """A ``views.publish`` view for the App Home tab (up to 100 blocks), escaped."""
    fitted = bk.fit_blocks(escape_blocks(blocks), limit=bk.MAX_HOME_BLOCKS)
    problems = bk.validate_blocks(fitted, limit=bk.MAX_HOME_BLOCKS)
    if problems:
        log.warning("home view shown as plain text (%s)", "; ".join(problems))
        fitted = text_sections(blocks_text(fitted), limit=bk.MAX_HOME_BLOCKS)
    return {"type": "home", "blocks": fitted}


def button_value(element: dict[str, Any]) -> dict[str, Any]:
    """The JSON object in a button's ``value`` ({} when it is not one)."""
    try:
        value = json.loads(element.get("value") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def settle_alert(blocks: list[bk.Block], *, account_id: int, note: str) -> list[bk.Block]:
    """``blocks`` after an alert was handled: the account's "Mark contacted" and "Snooze"
    buttons are removed (other buttons stay) and ``note`` says what happened."""
    settled: list[bk.Block] = []
    noted = False
    for block in blocks:
        if block.get("type") != "actions":
            settled.append(block)
            continue
        elements = list(block.get("elements") or [])
        kept = [
            e
            for e in elements
            if not (
                str(e.get("action_id", "")).split(":", 1)[0] in ALERT_ACTIONS
                and button_value(e).get("account_id") == account_id
            )
        ]
        if len(kept) == len(elements):
            settled.append(block)
            continue
        if kept:
            settled.append({**block, "elements": kept})
        settled.append(bk.context(note))
        noted = True
    if not noted:
        settled.append(bk.context(note))
    return bk.fit_blocks(settled)
