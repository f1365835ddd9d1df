"""Coaching prompts: what the rep sees when a tracker fires.

A prompt is the tracker's ``prompt`` template filled in (``{phrase}``, ``{competitor}``,
``{account}``, ``{speaker}``), its ``content`` (battlecard or playbook step) and, for
categories marked ``account_context: true``, one line about the account from the
store ("Acme: pricing tier Gold, $1.2M spent in the last 12 months, slipping").
The account arrives as plain data (:class:`AccountContext`): analytics never reads
the store itself.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from analytics.coaching.trackers import CategorySpec, TrackerSpec

__all__ = ["AccountContext", "Flag", "Prompt", "money", "render_prompt"]


def money(value: float | None, currency: str = "$") -> str:
    """$950, $14.2k, $1.3M (the same style as the rest of salesbot's answers)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1_000_000:
        return f"{sign}{currency}{value / 1e6:.1f}M"
    if value >= 10_000:
        return f"{sign}{currency}{value / 1e3:.0f}k"
    if value >= 1_000:
        return f"{sign}{currency}{value / 1e3:.1f}k"
    return f"{sign}{currency}{value:,.0f}"


@dataclass(frozen=True)
class AccountContext:
    """What the store knows about the account on the call (all optional but the name).

    ``annual_spend`` is the trailing-12-month spend; ``health_status`` and
    ``revenue_at_risk`` come from the insight tables when a scoring run wrote them;
    ``slipping_categories`` are categories flagged slipping or lapsed for the account.
    """

    name: str
    pricing_tier: str | None = None
    annual_spend: float | None = None
    health_status: str | None = None
    revenue_at_risk: float | None = None
    slipping_categories: tuple[str, ...] = ()
    currency: str = "$"

    def summary(self) -> str:
        parts = []
        if self.pricing_tier:
            parts.append(f"pricing tier {self.pricing_tier}")
        if self.annual_spend is not None:
            parts.append(f"{money(self.annual_spend, self.currency)} spent in the last 12 months")
        if self.health_status:
            status = f"status {self.health_status}"
            if self.revenue_at_risk:
                status += f" ({money(self.revenue_at_risk, self.currency)} at risk)"
            parts.append(status)
        if self.slipping_categories:
            parts.append("slipping in " + ", ".join(self.slipping_categories))
        return f"{self.name}: " + ", ".join(parts) if parts else self.name


@dataclass(frozen=True, slots=True)
class Flag:
    """One tracker firing on one utterance, with the coaching that goes with it."""

    seq: int
    category: str
    tracker: str
    phrase: str
    speaker: str
    is_rep: bool | None
    start: float | None
    quote: str
    prompt: str
    content: str
    account_note: str | None = None
    competitor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["timestamp"] = format_timestamp(self.start)
        return data


@dataclass(frozen=True, slots=True)
class Prompt:
    """A flag delivered live to the rep on ``call_id`` (after the cooldown let it through)."""

    call_id: str
    flag: Flag

    @property
    def category(self) -> str:
        return self.flag.category

    @property
    def text(self) -> str:
        return self.flag.prompt

    def message(self) -> str:
        """The prompt as one plain-text message (Slack DM, terminal)."""
        lines = [self.flag.prompt]
        if self.flag.content:
            lines.append(self.flag.content)
        if self.flag.account_note:
            lines.append(self.flag.account_note)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, **self.flag.to_dict(), "message": self.message()}


def format_timestamp(seconds: float | None) -> str | None:
    """62.0 -> "01:02", 3723 -> "1:02:03"; None stays None."""
    if seconds is None:
        return None
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:  # templates are validated at load; be safe anyway
        return "{" + key + "}"


def render_prompt(
    tracker: TrackerSpec,
    category: CategorySpec | None,
    *,
    phrase: str,
    speaker: str,
    account: AccountContext | None = None,
) -> tuple[str, str, str | None]:
    """(prompt, content, account note) for one firing of ``tracker``."""
    fields = _Fields(
        phrase=phrase,
        competitor=tracker.competitor or phrase,
        account=account.name if account else "the account",
        speaker=speaker,
    )
    prompt = tracker.prompt.format_map(fields)
    content = tracker.content.format_map(fields)
    note = None
    if account is not None and category is not None and category.account_context:
        note = account.summary()
    return prompt, content, note
