"""Account answers: slipping accounts, what to pitch, an account's overview.

Each function takes plain rows (dicts with the insight columns, as the actions read
them from the store) and returns an :class:`Answer` whose ``data`` is JSON-safe and
carries every number the text shows.

Data contracts
--------------
slipping: ``{"as_of", "scope", "category", "accounts": [{"account_id", "external_id", "name",
"owner", "status", "score", "revenue_at_risk", "annual_revenue", "cycle_days",
"days_since_last_order", "spend_change", "reason"}], "categories": [{"account_id", "name",
"category", "status", "revenue_at_risk", "days_since_last_order", "reason"}], "total_flagged",
"total_revenue_at_risk", "accounts_in_book", "shown", "offset"}``
pitch: ``{"as_of", "account": {"account_id", "name", "segment"}, "recommendations": [{"rank",
"kind", "category", "product", "expected_value", "peer_share", "reason"}], "total_expected_value"}``
overview: ``{"as_of", "account": {...}, "health": {...} | None, "categories": [...],
"recommendations": [...], "open_deals": [...], "open_pipeline"}``
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from render import blocks as bk
from render import fmt
from render.answer import Answer
from render.pipeline import stage_name

STATUS_WORDS = {
    "lapsed": "lapsed",
    "slipping": "slipping",
    "watch": "worth a look",
    "healthy": "healthy",
    "new": "new",
    "one_off": "one-off buyer",
    "short_history": "too little history to judge",
}
STATUS_ICON = {
    "lapsed": "🔴",
    "slipping": "🟠",
    "watch": "🟡",
    "healthy": "🟢",
    "new": "🆕",
    "one_off": "⚪",
    "short_history": "⚪",
}


def clean(value: Any) -> Any:
    """JSON-safe scalars: NaN -> None, numpy numbers -> Python, dates -> ISO strings."""
    if fmt.missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def clean_row(row: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: clean(row.get(k)) for k in keys}


def _as_of_text(as_of: Any) -> str:
    day = fmt.day(as_of)
    if day is None:
        return "not scored yet"
    return f"as of {fmt.date(day)}"


SLIPPING_KEYS = [
    "account_id", "external_id", "name", "owner", "status", "score", "revenue_at_risk",
    "annual_revenue", "cycle_days", "days_since_last_order", "spend_change", "reason",
]  # fmt: skip
CATEGORY_KEYS = [
    "account_id",
    "name",
    "category",
    "status",
    "revenue_at_risk",
    "days_since_last_order",
    "reason",
]


def slipping(
    *,
    accounts: Sequence[Mapping[str, Any]],
    categories: Sequence[Mapping[str, Any]],
    total_flagged: int,
    total_revenue_at_risk: float,
    accounts_in_book: int,
    scope_label: str,
    scope_rep_ids: Sequence[int] | None,
    as_of: Any,
    category: str | None = None,
    offset: int = 0,
    show_owner: bool = False,
) -> Answer:
    """Slipping and lapsed accounts (one page), then categories slipping in healthy accounts."""
    shown = len(accounts)
    what = f"{category} buyers" if category else "accounts"
    if total_flagged == 0 and not categories:
        text = (
            f"No {what} in {scope_label} are slipping ({_as_of_text(as_of)}; {fmt.plural(accounts_in_book, 'account')} "
            "checked against their own buying rhythm). Ask *what should I pitch to <account>?* to grow instead."
        )
        data = {
            "as_of": clean(as_of), "scope": {"label": scope_label, "rep_ids": scope_rep_ids},
            "category": category, "accounts": [], "categories": [], "total_flagged": 0,
            "total_revenue_at_risk": 0.0, "accounts_in_book": accounts_in_book, "shown": 0, "offset": offset,
        }  # fmt: skip
        return Answer(kind="slipping", text=text, blocks=[bk.section(text)], data=data)

    head = (
        f"{fmt.plural(total_flagged, 'account')} in {scope_label} "
        f"{'is' if total_flagged == 1 else 'are'} slipping or lapsed, "
        f"{fmt.money(total_revenue_at_risk)} a year at risk ({_as_of_text(as_of)}, "
        f"out of {fmt.plural(accounts_in_book, 'account')})."
        if total_flagged
        else f"No whole accounts in {scope_label} are slipping ({_as_of_text(as_of)})."
    )
    if category:
        head = (
            f"{fmt.plural(total_flagged, 'account')} in {scope_label} slipping on {category}, "
            f"{fmt.money(total_revenue_at_risk)} a year at risk ({_as_of_text(as_of)})."
        )
    lines = [head]
    blocks: list[dict[str, Any]] = [bk.section(f"*{head}*")]
    for i, row in enumerate(accounts):
        n = offset + i + 1
        owner = f" · {row.get('owner')}" if show_owner and row.get("owner") else ""
        title = (
            f"{n}. {row['name']} — {STATUS_WORDS.get(str(row['status']), row['status'])}, "
            f"{fmt.money(row.get('revenue_at_risk'))} a year at risk{owner}"
        )
        lines.append(f"{title}\n   {row.get('reason', '')}")
        blocks.append(
            bk.section(
                f"{STATUS_ICON.get(str(row['status']), '')} *{title}*\n{row.get('reason', '')}"
            )
        )
        account_id = int(row["account_id"])
        blocks.append(
            bk.actions(
                bk.send_button("What to pitch", f"what should I pitch to {row['name']}?", 3 * i),
                bk.contacted_button(account_id, 3 * i + 1),
                bk.snooze_button(account_id, 3 * i + 2),
                block_id=f"account:{account_id}",
            )
        )
    if categories:
        lines.append("Categories slipping while the account still buys:")
        cat_lines = []
        for row in categories:
            line = f"• {row['name']} — {row['category']}: {row.get('reason', '')}"
            lines.append(line)
            cat_lines.append(line)
        blocks.append(
            bk.section(
                "*Categories slipping while the account still buys*\n" + "\n".join(cat_lines)
            )
        )
    remaining = total_flagged - offset - shown
    follow = []
    if remaining > 0:
        follow.append(bk.send_button(f"Show {min(remaining, 5)} more", "show more", 900))
    follow.append(bk.send_button("Why these?", "why?", 901))
    blocks.append(bk.actions(*follow, block_id="slipping_followups"))
    next_step = (
        f"{remaining} more: say *show more*. " if remaining > 0 else ""
    ) + "Ask *why?* for how the flags are decided, or *what should I pitch to <account>?*"
    lines.append(next_step)
    blocks.append(bk.context(next_step))
    data = {
        "as_of": clean(as_of),
        "scope": {
            "label": scope_label,
            "rep_ids": list(scope_rep_ids) if scope_rep_ids is not None else None,
        },
        "category": category,
        "accounts": [clean_row(r, SLIPPING_KEYS) for r in accounts],
        "categories": [clean_row(r, CATEGORY_KEYS) for r in categories],
        "total_flagged": total_flagged,
        "total_revenue_at_risk": clean(float(total_revenue_at_risk)),
        "accounts_in_book": accounts_in_book,
        "shown": shown,
        "offset": offset,
    }
    return Answer(kind="slipping", text="\n".join(lines), blocks=bk.fit_blocks(blocks), data=data)


PITCH_KEYS = ["rank", "kind", "category", "product", "expected_value", "peer_share", "reason"]


def pitch(
    *,
    account: Mapping[str, Any],
    recommendations: Sequence[Mapping[str, Any]],
    as_of: Any,
    limit: int = 5,
) -> Answer:
    """What to pitch to one account, best expected value first."""
    name = str(account["name"])
    recs = list(recommendations)[:limit]
    account_data = clean_row(account, ["account_id", "name", "segment"])
    if not recs:
        text = (
            f"Nothing to pitch to {name} right now ({_as_of_text(as_of)}): it already buys what similar "
            "accounts buy, and no category it used to buy has lapsed. Ask *how is "
            f"{name} doing?* for its buying rhythm."
        )
        data = {
            "as_of": clean(as_of),
            "account": account_data,
            "recommendations": [],
            "total_expected_value": 0.0,
        }
        return Answer(kind="pitch", text=text, blocks=[bk.section(text)], data=data)
    total = float(sum(float(r.get("expected_value") or 0.0) for r in recs))
    head = f"What to pitch to {name}: {fmt.plural(len(recs), 'idea')} worth about {fmt.money(total)} a year ({_as_of_text(as_of)})."
    lines = [head]
    blocks: list[dict[str, Any]] = [bk.section(f"*{head}*")]
    for r in recs:
        label = "Win back" if r.get("kind") == "win_back" else "Cross-sell"
        product = f" — start with *{r['product']}*" if r.get("product") else ""
        title = f"{r['rank']}. {label}: {r['category']}, about {fmt.money(r.get('expected_value'))} a year"
        lines.append(f"{title}{product.replace('*', '')}\n   {r.get('reason', '')}")
        blocks.append(bk.section(f"*{title}*{product}\n{r.get('reason', '')}"))
    next_step = (
        f"Ask *why?* for how these were picked, or *how is {name} doing?* for its buying rhythm."
    )
    lines.append(next_step)
    blocks.append(bk.context(next_step))
    data = {
        "as_of": clean(as_of),
        "account": account_data,
        "recommendations": [clean_row(r, PITCH_KEYS) for r in recs],
        "total_expected_value": clean(total),
    }
    return Answer(kind="pitch", text="\n".join(lines), blocks=bk.fit_blocks(blocks), data=data)


GROWTH_KEYS = ["account_id", "name", "kind", "category", "product", "expected_value", "reason"]


def growth(
    *,
    scope: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    accounts_with_ideas: int,
    total_expected_value: float,
    as_of: Any,
) -> Answer:
    """The biggest growth opportunities of a book: each account's best idea, the largest
    expected yearly value first, and what all of them add up to."""
    shown = list(rows)
    label = str(scope["label"])
    data = {
        "as_of": clean(as_of),
        "scope": dict(scope),
        "opportunities": [clean_row(r, GROWTH_KEYS) for r in shown],
        "accounts_with_ideas": accounts_with_ideas,
        "total_expected_value": clean(total_expected_value),
    }
    if not shown:
        text = (
            f"No growth ideas stored for {label} yet ({_as_of_text(as_of)}): the nightly scoring "
            "has not found an account missing what its peers buy, or has not run."
        )
        return Answer(kind="growth", text=text, blocks=[bk.section(text)], data=data)
    head = (
        f"Biggest growth opportunities in {label} ({_as_of_text(as_of)}): the best idea of "
        f"{fmt.plural(accounts_with_ideas, 'account')} is worth about "
        f"{fmt.money(total_expected_value)} a year in all (chance of a first order times what "
        f"peers spend); the top {len(shown)}:"
    )
    lines = [head]
    blocks: list[dict[str, Any]] = [bk.section(f"*{head}*")]
    for i, r in enumerate(shown, start=1):
        move = "win back" if r.get("kind") == "win_back" else "cross-sell"
        product = f" (start with {r['product']})" if r.get("product") else ""
        title = (
            f"{i}. {r['name']}: {move} {r['category']}{product}, about "
            f"{fmt.money(r.get('expected_value'))} a year"
        )
        lines.append(f"{title}\n   {r.get('reason', '')}")
        blocks.append(bk.section(f"*{title}*\n{r.get('reason', '')}"))
    return Answer(kind="growth", text="\n".join(lines), blocks=bk.fit_blocks(blocks), data=data)


HEALTH_KEYS = [
    "status", "score", "revenue_at_risk", "annual_revenue", "cycle_days", "days_since_last_order",
    "spend_change", "reason", "as_of",
]  # fmt: skip
DEAL_KEYS = ["opportunity_id", "name", "stage", "amount", "close_date"]


def overview(
    *,
    account: Mapping[str, Any],
    health: Mapping[str, Any] | None,
    categories: Sequence[Mapping[str, Any]],
    recommendations: Sequence[Mapping[str, Any]],
    open_deals: Sequence[Mapping[str, Any]],
    owner_name: str | None,
) -> Answer:
    """How one account is doing: health and its reason, categories, open deals, best pitch."""
    name = str(account["name"])
    segment = account.get("segment") or "no segment"
    lines: list[str] = []
    if health is None:
        head = f"{name} ({segment}, owner {owner_name or 'unassigned'}) has not been scored yet: it has no orders in the scored history."
    else:
        status = STATUS_WORDS.get(str(health["status"]), str(health["status"]))
        head = (
            f"{name} ({segment}, owner {owner_name or 'unassigned'}) is {status}: "
            f"{fmt.money(health.get('annual_revenue'))} a year, {_as_of_text(health.get('as_of'))}."
        )
    lines.append(head)
    blocks: list[dict[str, Any]] = [bk.header(name[: bk.MAX_HEADER_TEXT]), bk.section(f"*{head}*")]
    if health is not None and health.get("reason"):
        lines.append(str(health["reason"]))
        blocks.append(bk.section(str(health["reason"])))
    flagged = [c for c in categories if c.get("status") in ("slipping", "lapsed", "watch")]
    if flagged:
        cat_text = "\n".join(f"• {c['category']}: {c.get('reason', '')}" for c in flagged[:5])
        lines.append("Categories to watch:\n" + cat_text)
        blocks.append(bk.section("*Categories to watch*\n" + cat_text))
    if open_deals:
        total = float(sum(float(d.get("amount") or 0.0) for d in open_deals))
        deal_text = "\n".join(
            f"• {d['name']} — {stage_name(d.get('stage'))}, {fmt.money(d.get('amount'))}"
            + (
                f", closes {fmt.date(_as_date(d.get('close_date')))}"
                if _as_date(d.get("close_date")) is not None
                else ", no close date"
            )
            for d in open_deals[:5]
        )
        lines.append(f"Open deals ({fmt.money(total)}):\n{deal_text}")
        blocks.append(bk.section(f"*Open deals ({fmt.money(total)})*\n{deal_text}"))
    else:
        total = 0.0
    if recommendations:
        best = recommendations[0]
        pitch_text = f"Best pitch: {best['category']}, about {fmt.money(best.get('expected_value'))} a year. {best.get('reason', '')}"
        lines.append(pitch_text)
        blocks.append(bk.section(pitch_text))
    next_step = f"Ask *what should I pitch to {name}?* for every idea, or *why?* for the numbers behind the status."
    lines.append(next_step)
    blocks.append(
        bk.actions(
            bk.send_button("What to pitch", f"what should I pitch to {name}?", 0),
            block_id="overview",
        )
    )
    blocks.append(bk.context(next_step))
    data = {
        "account": clean_row(
            account, ["account_id", "external_id", "name", "segment", "industry", "region", "size"]
        ),
        "owner": owner_name,
        "health": clean_row(health, HEALTH_KEYS) if health is not None else None,
        "categories": [
            clean_row(
                c, ["category", "status", "revenue_at_risk", "days_since_last_order", "reason"]
            )
            for c in categories
        ],
        "recommendations": [clean_row(r, PITCH_KEYS) for r in recommendations],
        "open_deals": [clean_row(d, DEAL_KEYS) for d in open_deals],
        "open_pipeline": clean(total),
    }
    return Answer(
        kind="account_overview", text="\n".join(lines), blocks=bk.fit_blocks(blocks), data=data
    )


def _as_date(value: Any) -> dt.date | None:
    return fmt.day(value)


def clarify_account(said: str, candidates: Sequence[Mapping[str, Any]]) -> Answer:
    """ "Which Acme do you mean?" with one button per candidate."""
    text = f"I found several accounts like “{said}”. Which one do you mean?"
    buttons = [
        {
            "title": str(c["name"]),
            "payload": f'/inform{{"account": "{_json_escape(str(c["name"]))}"}}',
        }
        for c in candidates
    ]
    lines = [text] + [f"  • {c['name']}" for c in candidates]
    blocks = [
        bk.section(text),
        bk.actions(
            *(bk.send_button(b["title"], b["payload"], i) for i, b in enumerate(buttons)),
            block_id="clarify",
        ),
    ]
    return Answer(
        kind="clarify",
        text="\n".join(lines),
        blocks=blocks,
        data={
            "said": said,
            "candidates": [clean_row(c, ["account_id", "name"]) for c in candidates],
            "buttons": buttons,
        },
    )


def _json_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def explain_slipping(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> Answer:
    """Why accounts are flagged: the method in one paragraph, then each account's numbers."""
    method = (
        "How I decide: every account is compared with its own buying rhythm, not a fixed rule. "
        "I take the usual gap between its orders (the median, so one odd gap does not count), "
        "widen the tolerance for irregular buyers, check whether the same weeks last year were quiet too "
        "(a seasonal lull is not an alarm), and compare its last quarter's spend with its usual quarter and "
        "the same quarter last year. One-off buyers and accounts younger than two months are never flagged. "
        "The score is the probability of no order in the next 90 days, learned from this company's own history. "
        "Revenue at risk is the larger of two figures: the account's annual spend weighted by that probability, "
        "and the yearly spend it has already lost against its usual quarter."
    )
    lines = [method]
    blocks: list[dict[str, Any]] = [bk.section(method)]
    data_rows = []
    for name, health in rows:
        details = health.get("details") or {}
        facts = [
            f"usual gap {fmt.days(health.get('cycle_days'))}"
            if health.get("cycle_days") is not None
            else None,
            f"{fmt.days(health.get('days_since_last_order'))} since the last order"
            if health.get("days_since_last_order") is not None
            else None,
            f"spend {fmt.pct(health.get('spend_change'), signed=True)} vs its usual quarter"
            if health.get("spend_change") is not None
            else None,
            f"{fmt.pct(details.get('spend_change_ly'), signed=True)} vs the same quarter last year"
            if details.get("spend_change_ly") is not None
            else None,
            f"score {float(health.get('score') or 0):.2f}",
            f"{fmt.money(health.get('annual_revenue'))} a year, {fmt.money(health.get('revenue_at_risk'))} at risk",
        ]
        line = f"• {name}: " + "; ".join(f for f in facts if f) + "."
        lines.append(line)
        blocks.append(bk.section(line))
        data_rows.append({"name": name, **clean_row(health, HEALTH_KEYS)})
    return Answer(
        kind="explain",
        text="\n".join(lines),
        blocks=bk.fit_blocks(blocks),
        data={"accounts": data_rows},
    )


def explain_pitch(as_of: Any) -> Answer:
    text = (
        "How I pick pitches: I place the account among its peers — the nearest accounts of its segment by "
        "category mix and size — and weight the better customers among them more. For each category the "
        "account has never bought I look at how many peers buy it, how much peers of its size spend on it, and "
        "how often buyers of the account's own categories also buy it; a model learned on this company's history "
        "turns that into the chance the account starts buying it. Expected value = that chance × what similar "
        "peers spend a year. Categories it used to buy and stopped are offered as win-backs, valued at its former "
        f"spend. Categories it buys steadily are never suggested ({_as_of_text(as_of)})."
    )
    return Answer(
        kind="explain", text=text, blocks=[bk.section(text)], data={"method": "peer_recommender"}
    )
