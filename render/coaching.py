"""Call reviews: coaching flags by category with quotes and timestamps, the call's
metrics and what to do next; and the answer when there is no reviewed call yet.

Data contract (``Answer.data`` of a ``call_review``; built by
``analytics.coaching.records.review_data``)::

    {"call": {"id", "external_id", "title", "account", "account_summary", "rep",
              "started_at", "source", "format", "speakers", "rep_speakers", "rep_side"},
     "categories": [{"category", "title", "flags"}],           # playbook order
     "flags": [{"seq", "category", "tracker", "phrase", "speaker", "is_rep", "start",
                "timestamp", "quote", "prompt", "content", "account_note", "competitor"}],
     "metrics": {"utterances", "rep_utterances", "words", "rep_words", "talk_ratio",
                 "longest_monologue_words", "longest_monologue_seconds",
                 "longest_monologue_speaker", "questions_asked", "customer_questions",
                 "next_steps_agreed", "duration_seconds"},
     "next_steps": ["..."]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from render import blocks as bk
from render import fmt
from render.answer import Answer

QUOTES_PER_CATEGORY = 3
"""Quotes shown per category (the rest are counted; all are in ``data``)."""
PROMPTS_PER_CATEGORY = 2
QUOTE_WIDTH = 180

UPLOAD_HINT = (
    "Share the transcript file (text, Markdown, WebVTT, SRT or JSON) with me in a DM, or post "
    "it in the call-review channel, and I'll review it in a thread. During a call, "
    "`/sales coach live` gives you a link for live prompts."
)


def excerpt(quote: str, phrase: str, width: int = QUOTE_WIDTH) -> str:
    """``quote`` cut to about ``width`` characters around ``phrase``."""
    quote = " ".join(quote.split())
    if len(quote) <= width:
        return quote
    at = quote.lower().find(phrase.lower()) if phrase else -1
    if at < 0:
        return quote[: width - 1].rstrip() + "…"
    start = max(0, at - width // 3)
    end = min(len(quote), start + width)
    return ("…" if start else "") + quote[start:end].strip() + ("…" if end < len(quote) else "")


def _when(flag: Mapping[str, Any]) -> str:
    stamp = flag.get("timestamp")
    return f"[{stamp}]" if stamp else f"#{int(flag.get('seq') or 0) + 1}"


def _call_line(call: Mapping[str, Any]) -> str:
    parts = []
    if call.get("account"):
        parts.append(str(call["account"]))
    started = fmt.day(call.get("started_at"))
    if started is not None:
        parts.append(fmt.date(started))
    if call.get("rep"):
        parts.append(f"rep {call['rep']}")
    elif call.get("rep_side"):
        parts.append(str(call["rep_side"]))
    return " · ".join(parts)


def _metrics_lines(m: Mapping[str, Any]) -> list[str]:
    lines = []
    if m.get("talk_ratio") is not None:
        lines.append(f"Talk ratio (rep share of the words): {fmt.pct(m['talk_ratio'])}")
    monologue = fmt.plural(int(m.get("longest_monologue_words") or 0), "word")
    if m.get("longest_monologue_seconds") is not None:
        monologue += f", {m['longest_monologue_seconds']:.0f} s"
    lines.append(f"Longest monologue: {monologue}")
    lines.append(
        f"Questions the rep asked: {m.get('questions_asked', 0)} "
        f"(customer: {m.get('customer_questions', 0)})"
    )
    lines.append(f"Next step agreed: {'yes' if m.get('next_steps_agreed') else 'no'}")
    return lines


def _category_text(
    title: str, flags: Sequence[Mapping[str, Any]], *, quote_width: int = QUOTE_WIDTH
) -> tuple[str, str]:
    """(mrkdwn for Slack, plain text) of one category: quotes, then its prompts."""
    md = [f"*{title}* ({len(flags)})"]
    plain = [f"{title} ({len(flags)})"]
    for flag in flags[:QUOTES_PER_CATEGORY]:
        side = " (rep)" if flag.get("is_rep") else ""
        quote = excerpt(str(flag.get("quote") or ""), str(flag.get("phrase") or ""), quote_width)
        md.append(f"> {_when(flag)} *{flag.get('speaker')}*{side}: “{quote}”")
        plain.append(f"  {_when(flag)} {flag.get('speaker')}{side}: “{quote}”")
    if len(flags) > QUOTES_PER_CATEGORY:
        more = len(flags) - QUOTES_PER_CATEGORY
        md.append(f"_…and {fmt.plural(more, 'more moment')}_")
        plain.append(f"  …and {fmt.plural(more, 'more moment')}")
    shown: list[str] = []
    for flag in flags:
        prompt = str(flag.get("prompt") or "")
        if prompt and prompt not in shown:
            shown.append(prompt)
        if len(shown) == PROMPTS_PER_CATEGORY:
            break
    for prompt in shown:
        md.append(f"→ {prompt}")
        plain.append(f"  → {prompt}")
    return "\n".join(md), "\n".join(plain)


def call_review(data: Mapping[str, Any]) -> Answer:
    """A review of one call as text, Block Kit and ``data`` (see the module docstring)."""
    call = data.get("call") or {}
    flags: list[Mapping[str, Any]] = list(data.get("flags") or [])
    categories = list(data.get("categories") or [])
    metrics = data.get("metrics") or {}
    next_steps = [str(s) for s in data.get("next_steps") or []]
    title = str(call.get("title") or call.get("file") or "your call")
    heading = f"Call review: {title}"
    line = _call_line(call)

    text = [heading]
    if line:
        text.append(line)
    blocks: list[bk.Block] = [bk.header(heading)]
    context = [line] if line else []
    context.append(f"{fmt.plural(int(metrics.get('utterances') or 0), 'utterance')} reviewed")
    blocks.append(bk.context(" · ".join(context)))
    if call.get("account_summary"):
        blocks.append(bk.context(str(call["account_summary"])))

    if not flags:
        none = "No tracker fired on this call: no objection, competitor or next step was heard."
        text.append(none)
        blocks.append(bk.section(none))
    else:
        summary = ", ".join(f"{c['title']} {c['flags']}" for c in categories)
        text.append(f"Flags: {summary}")
        for category in categories:
            in_category = [f for f in flags if f.get("category") == category["category"]]
            md, plain = _category_text(str(category["title"]), in_category)
            if len(md) > bk.MAX_SECTION_TEXT:
                md, plain = _category_text(str(category["title"]), in_category, quote_width=80)
            text.append(plain)
            blocks.append(bk.section(md))

    blocks.append(bk.divider())
    metric_lines = _metrics_lines(metrics)
    text.append("Metrics: " + "; ".join(metric_lines))
    blocks.append(bk.section("*Metrics*", fields=metric_lines))
    if next_steps:
        numbered = [f"{i}. {step}" for i, step in enumerate(next_steps, start=1)]
        text.append("What to do next:\n" + "\n".join(numbered))
        blocks.append(bk.section("*What to do next*\n" + "\n".join(numbered)))
    if call.get("external_id"):
        blocks.append(bk.context(f"Call {call['external_id']} · flags are kept for team digests"))
    return Answer(
        kind="call_review",
        text="\n".join(text),
        blocks=bk.fit_blocks(blocks),
        data=dict(data),
    )


def no_call_review(account: str | None = None) -> Answer:
    """There is no reviewed call (with ``account``) yet: how to get one reviewed."""
    which = f" with {account}" if account else ""
    text = f"I have no reviewed call of yours{which} yet. {UPLOAD_HINT}"
    return Answer(
        kind="no_call_review",
        text=text,
        blocks=[bk.section(text)],
        data={"account": account, "call": None},
    )


def live_prompt(prompt: Mapping[str, Any]) -> Answer:
    """A live coaching prompt for the rep, as the WebSocket sends it (``Prompt.to_dict``
    plus ``title``, the category's title): what was heard, what to do, the playbook
    content and the account's context."""
    title = str(prompt.get("title") or str(prompt.get("category") or "").replace("_", " "))
    heard = excerpt(str(prompt.get("quote") or ""), str(prompt.get("phrase") or ""), 140)
    when = f"{prompt['timestamp']} " if prompt.get("timestamp") else ""
    lead = f"*{title}* · {when}{prompt.get('speaker')}: “{heard}”"
    text_lines = [f"{title}: {prompt.get('prompt')}"]
    blocks: list[bk.Block] = [bk.section(f"{lead}\n→ {prompt.get('prompt')}")]
    extra = [str(prompt[k]) for k in ("content", "account_note") if prompt.get(k)]
    text_lines += extra
    if extra:
        blocks.append(bk.context(*extra))
    return Answer(
        kind="live_prompt",
        text="\n".join(text_lines),
        blocks=blocks,
        data=dict(prompt),
        ephemeral=True,
    )
