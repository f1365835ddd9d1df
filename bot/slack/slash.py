"""``/sales``: shortcuts for the common questions; anything else is asked as typed.

``SUBCOMMANDS`` maps the first word to what it means: a question for the assistant
(``SalesCommand.question``) or a reply the bot gives itself (``SalesCommand.reply``).
Other features add their words here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot import messages

SLASH_COMMAND = "/sales"


@dataclass(frozen=True)
class SalesCommand:
    question: str | None = None
    reply: str | None = None


def _slipping(rest: str) -> SalesCommand:
    suffix = f" in {rest}" if rest else ""
    return SalesCommand(question=f"which of my accounts are slipping{suffix}?")


def _pitch(rest: str) -> SalesCommand:
    if not rest:
        return SalesCommand(reply=messages.SLACK_PITCH_NEEDS_ACCOUNT)
    return SalesCommand(question=f"what should I pitch to {rest}?")


def _coach(rest: str) -> SalesCommand:
    return SalesCommand(
        question=f"review my last call with {rest}" if rest else "review my last call"
    )


def _pipeline(rest: str) -> SalesCommand:
    return SalesCommand(question=f"how does my pipeline look {rest or 'this quarter'}?")


def _forecast(rest: str) -> SalesCommand:
    return SalesCommand(question=f"what's my forecast for {rest or 'this quarter'}?")


def _help(_rest: str) -> SalesCommand:
    return SalesCommand(reply=messages.SLACK_HELP)


SUBCOMMANDS: dict[str, Callable[[str], SalesCommand]] = {
    "slipping": _slipping,
    "pitch": _pitch,
    "digest": lambda _rest: SalesCommand(question="send me the team digest"),
    "coach": _coach,
    "help": _help,
    "pipeline": _pipeline,
    "deals": lambda _rest: SalesCommand(question="which of my deals are stuck?"),
    "forecast": _forecast,
    "leads": lambda _rest: SalesCommand(question="which leads should I call first?"),
    "reorders": lambda _rest: SalesCommand(question="who's due to reorder this week?"),
}


def parse_sales_command(text: str) -> SalesCommand:
    """What ``/sales <text>`` asks for."""
    text = " ".join(text.split())
    if not text:
        return _help("")
    word, _, rest = text.partition(" ")
    handler = SUBCOMMANDS.get(word.lower())
    if handler is None:
        return SalesCommand(question=text)
    return handler(rest.strip())
