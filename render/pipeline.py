"""Deal and lead answers (pipeline, stalled deals, forecast, metrics, lead priorities,
reorders due) as text and Block Kit, rendered from their ``data``.

Each function takes the JSON-safe ``data`` an action built from the analytics results and
returns an :class:`~render.answer.Answer` whose ``data`` is that same dict, so what
``salesbot ask --json`` prints is exactly what the text and blocks were made from. Every
answer says what it is based on (scope, period, counts, as-of day) and ends with buttons
for the next step ("why?", "show more", a related question).

Data contract
-------------
Common keys: ``as_of`` (ISO day the answer is computed for), ``scope`` (``label`` as the
answer names it, ``rep_ids`` sorted list or ``null`` for the whole company, ``rep_id``,
``is_team``), ``asked`` (``rep`` and ``period`` as the user said them, for the buttons),
``offset`` (first list row shown, 0-based) and ``page_size``. Money is in the store's
currency, shares are fractions (0.38), days are numbers, dates ISO strings; a value that
cannot be computed is ``null`` with a ``reason``.

``pipeline``
    ``period`` (the closing window: ``label``, ``start``, ``end``), ``open_deals``,
    ``total_value``, ``weighted_value`` (``null`` + ``weighted_reason`` without closed
    history), ``stages`` (``stage``, ``position``, ``deals``, ``value``,
    ``win_probability``, ``weighted``), ``closing_total`` (``deals``, ``value``,
    ``weighted``), ``closing`` (deals expected to close in ``period``, this page:
    ``opportunity_id``, ``name``, ``account_id``, ``account_name``, ``owner_id``,
    ``owner_name``, ``stage``, ``amount``, ``close_date``, ``win_probability``,
    ``weighted_amount``, ``forecast_category``), ``past_due`` (``deals``, ``value``),
    ``movement`` (``since``, ``until``, ``summary`` {kind: {``deals``,
    ``value``}} for new/advanced/slipped/won/lost, ``deals``: the first moved deals with
    ``movement``, ``stage_before``, ``stage_now``, ``amount``, ``reason``), ``by_rep``
    (teams: ``rep_id``, ``name``, ``open_deals``, ``open_amount``, ``weighted_amount``;
    else ``null``), ``weights`` (``closed_deals``, ``won_deals``, ``overall_win_rate``,
    ``as_of``: what the stage odds were learned from).
``stalled_deals``
    ``open_deals``, ``total``, ``total_value``, ``no_activity_days``, ``deals`` (this page:
    ``opportunity_id``, ``name``, ``account_id``, ``account_name``, ``owner_id``,
    ``owner_name``, ``stage``, ``amount``, ``close_date``, ``days_in_stage``,
    ``typical_days_in_stage``, ``days_since_activity``, ``last_activity_date``,
    ``stalled_by`` (list of ``stage_time`` / ``no_activity`` / ``past_close_date``),
    ``reason``, ``next_step``, ``buying_group``: ``coverage``, ``engaged_roles``,
    ``not_engaged_roles``, ``missing_roles``, ``lookback_days``, ``reason``,
    ``next_step``; ``null`` after the first three deals of a page).
``forecast``
    ``period``, ``closed_won``, ``closed_won_deals``, ``commit``, ``best_case``,
    ``pipeline``, ``open_deals``, ``weighted``, ``std``, ``p10``, ``p50``, ``p90``,
    ``quota``, ``attainment``, ``projected_attainment``, ``chance_of_quota``, ``reason``,
    ``quota_reason``, ``deals`` (in-period deals, this page: ``opportunity_id``, ``name``,
    ``account_name``, ``owner_id``, ``owner_name``, ``stage``, ``amount``,
    ``close_date``, ``win_probability``, ``weighted_amount``, ``category``), ``by_rep``
    (teams: ``rep_id``, ``name``, ``closed_won``, ``commit``, ``best_case``,
    ``weighted``, ``quota``, ``attainment``, ``projected_attainment``), ``weights``,
    ``thresholds`` (``commit_probability``, ``best_case_probability``).
``metric``
    ``metric``, ``label``, ``value``, ``numerator``, ``denominator``,
    ``numerator_label``, ``denominator_label``, ``unit`` (ratio/currency/days), ``kind``
    (ratio/mean/sum/estimate), ``reason``, ``details``, ``period``; for
    ``conversion_rate`` also ``by_source`` (``funnel_step``, ``source``, ``numerator``,
    ``denominator``, ``value``, ``reason``).
``lead_priorities``
    ``total`` (open leads in scope), ``method`` (model/rules), ``method_reason``,
    ``closed_leads``, ``converted_leads``, ``base_rate``, ``model_as_of``, ``icp``
    (``criteria``, ``segments``, ``industries``, ``regions``, ``min_employees``,
    ``max_employees``), ``leads`` (this page: ``lead_id``, ``company``, ``owner_id``,
    ``owner_name``, ``source``, ``segment``, ``size``, ``touches``, ``icp_fit``,
    ``score``, ``rank``, ``method``, ``reasons``).
``reorders_due``
    ``period``, ``total``, ``total_typical_amount``, ``rules`` (``min_order_days``,
    ``max_gaps``, ``max_spread``, ``lapse_factor``), ``accounts`` (this page:
    ``account_id``, ``account_name``, ``category``, ``last_order_date``, ``order_days``,
    ``cycle_days``, ``expected_date``, ``days_until_due``, ``typical_amount``,
    ``reason``).
``<skill>_why`` (the "why?" follow-ups)
    ``skill`` plus the numbers behind the answer: ``stage_weights`` (``stage``,
    ``closed_deals``, ``won_deals``, ``raw_rate``, ``win_probability``) with
    ``weights`` and ``prior_strength`` for pipeline and forecast (forecast adds
    ``thresholds`` and ``simulations``); ``stage_days`` (``stage``, ``won_visits``,
    ``median_days``, ``typical_days``) and ``typical_quantile`` for stalled deals; the
    metric's own keys plus ``definition``; the lead model's ``method``,
    ``method_reason``, ``base_rate`` and ``icp``; the reorder ``rules``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from render import blocks as bk
from render import fmt
from render.answer import Answer

Data = dict[str, Any]

MOVEMENT_WORDS = {
    "new": "new",
    "advanced": "advanced",
    "slipped": "slipped",
    "won": "won",
    "lost": "lost",
}
RULE_WORDS = {
    "stage_time": "stuck in stage",
    "no_activity": "gone quiet",
    "past_close_date": "past close date",
}
ROLE_WORDS = {
    "decision_maker": "decision maker",
    "champion": "champion",
    "finance": "finance",
    "technical": "technical",
    "procurement": "procurement",
}
METRIC_DEFINITIONS = {
    "win_rate": "deals won / deals closed (won or lost) with a close date in the period",
    "conversion_rate": (
        "leads created in the period that became an opportunity (status converted, a "
        "converted date or a deal created from the lead) / leads created in the period"
    ),
    "acv": "won amount / won deals, for deals won in the period",
    "clv": (
        "annual revenue per repeat-order account active in the period x margin x expected "
        "lifetime in years, where the lifetime is 1 / (1 - yearly retention) of repeat "
        "accounts, capped at 10 years"
    ),
    "cycle_length": "days from created to won, summed over deals won in the period / won deals",
    "pipeline_value": "the amounts of open deals (expected to close in the period, if one is named)",
    "quota_attainment": "won amount in the period / the quota of the reps in scope, pro-rated to the period",
    "new_pipeline": "the amounts of deals created in the period",
}
METRIC_BUTTONS: dict[str, list[tuple[str, str | None]]] = {
    "win_rate": [("Avg deal size", "acv"), ("Sales cycle", "cycle_length")],
    "conversion_rate": [("Win rate", "win_rate"), ("Leads to call", None)],
    "acv": [("Win rate", "win_rate"), ("Customer lifetime value", "clv")],
    "clv": [("Avg deal size", "acv"), ("Reorders due", None)],
    "cycle_length": [("Win rate", "win_rate"), ("Stalled deals", None)],
    "pipeline_value": [("Quota attainment", "quota_attainment"), ("Pipeline by stage", None)],
    "quota_attainment": [("Win rate", "win_rate"), ("Forecast", None)],
    "new_pipeline": [("Pipeline value", "pipeline_value"), ("Win rate", "win_rate")],
}
RELATED_INTENTS = {
    "Leads to call": "ask_lead_priorities",
    "Reorders due": "ask_reorders_due",
    "Stalled deals": "ask_stalled_deals",
    "Pipeline by stage": "ask_pipeline",
    "Forecast": "ask_forecast",
}


# ------------------------------------------------------------------------ helpers


def ask(intent: str, **entities: Any) -> str:
    """A button payload that asks ``intent`` with ``entities`` (Rasa's ``/intent{json}``)."""
    given = {k: v for k, v in entities.items() if v not in (None, "")}
    if not given:
        return f"/{intent}"
    return f"/{intent}" + json.dumps(given, separators=(",", ":"), sort_keys=True)


WHY = "/ask_why"
MORE = "/show_more"


def _day(value: str | None) -> dt.date | None:
    return fmt.day(value)


def _date(value: str | None) -> str:
    return fmt.date(_day(value))


def _short_date(value: str | None) -> str:
    day = _day(value)
    return "n/a" if day is None else f"{day:%b} {day.day}"


def _closes(value: str | None) -> str:
    """ "closes Mar 5", or "no close date" for a deal the CRM has none for."""
    day = _day(value)
    return "no close date" if day is None else f"closes {day:%b} {day.day}"


def _period(period: Data | None) -> str:
    if not period:
        return "no period"
    start, end = _day(period["start"]), _day(period["end"])
    assert start is not None and end is not None
    if start == end:
        return f"{period['label']} ({fmt.date(start)})"
    first = _short_date(period["start"]) if start.year == end.year else fmt.date(start)
    return f"{period['label']} ({first} – {fmt.date(end)})"


def _undated_note(undated: int) -> str:
    """What a count of deals closing in a period leaves out: open deals without a close date."""
    if not undated:
        return ""
    verb = "has" if undated == 1 else "have"
    return f" {count(undated, 'open deal')} {verb} no close date and {'is' if undated == 1 else 'are'} not counted."


def count(n: float, word: str, words: str | None = None) -> str:
    """``fmt.plural`` with thousands separators: "51,384 closed deals"."""
    whole = int(n)
    return f"{whole:,} {word if whole == 1 else (words or word + 's')}"


def stage_name(stage: str | None) -> str:
    """``needs_analysis`` -> ``Needs analysis``; names with capitals are kept as they are."""
    if not stage:
        return "(no stage)"
    if stage == stage.lower():
        words = stage.replace("_", " ").strip()
        return words[:1].upper() + words[1:]
    return stage


def _sentence(text: str | None) -> str:
    if not text:
        return ""
    text = text.strip()
    return text[:1].upper() + text[1:].rstrip(".") + "."


def _scope_is_own(data: Data) -> bool:
    return str(data["scope"]["label"]).startswith("your ")


def _buttons(items: list[tuple[str, str]]) -> bk.Block:
    return bk.actions(
        *(bk.send_button(label, payload, n) for n, (label, payload) in enumerate(items))
    )


def _shown(offset: int, count: int, total: int) -> str:
    if not total:
        return ""
    return f"{offset + 1}–{offset + count} of {total}"


def _deal_title(deal: Data) -> str:
    name = deal.get("name") or f"deal {deal['opportunity_id']}"
    account = deal.get("account_name")
    return f"{name} ({account})" if account and account not in name else str(name)


def _owner(deal: Data, data: Data) -> str:
    if data["scope"].get("is_team") and deal.get("owner_name"):
        return f" · {deal['owner_name']}"
    return ""


def _finish(kind: str, text_lines: list[str], blocks: list[bk.Block], data: Data) -> Answer:
    text = "\n".join(line for line in text_lines if line is not None)
    return Answer(
        kind=kind,
        text=bk.clip(text, bk.MAX_MESSAGE_TEXT),
        blocks=bk.fit_blocks(blocks),
        data=data,
    )


def _asked(data: Data) -> tuple[str | None, str | None]:
    asked = data.get("asked") or {}
    return asked.get("rep"), asked.get("period")


def _next_buttons(data: Data, *items: tuple[str, str] | None) -> list[tuple[str, str]]:
    return [item for item in items if item is not None]


def _page_answer(
    kind: str, title: str, lines: list[str], buttons: list[tuple[str, str]], data: Data
) -> Answer:
    """A further page of a list ("show more")."""
    blocks = [bk.section(f"*{title}*"), bk.section("\n".join(lines))]
    if buttons:
        blocks.append(_buttons(buttons))
    return _finish(kind, [title, *lines], blocks, data)


def _short_answer(kind: str, message: str, buttons: list[tuple[str, str]], data: Data) -> Answer:
    """A one-sentence answer (nothing to list, not enough data)."""
    blocks = [bk.section(message)]
    if buttons:
        blocks.append(_buttons(buttons))
    return _finish(kind, [message], blocks, data)


# ----------------------------------------------------------------------- pipeline


def _closing_line(deal: Data, data: Data) -> str:
    odds = deal.get("win_probability")
    odds_text = f" · {fmt.pct(odds)} odds" if odds is not None else ""
    return (
        f"*{_deal_title(deal)}* — {fmt.money(deal['amount'])}, {stage_name(deal['stage'])}, "
        f"{_closes(deal['close_date'])}{odds_text}{_owner(deal, data)}"
    )


def _movement_words(movement: Data) -> str:
    parts = []
    for kind, word in MOVEMENT_WORDS.items():
        counts = movement["summary"][kind]
        if counts["deals"]:
            parts.append(f"{counts['deals']} {word} ({fmt.money(counts['value'])})")
    return ", ".join(parts) if parts else "no deal moved"


def pipeline_answer(data: Data) -> Answer:
    """The pipeline of a scope (``offset`` > 0: a further page of the deals closing)."""
    asked = data["asked"]
    period = data["period"]
    closing_total = data["closing_total"]
    offset = data["offset"]
    shown = _shown(offset, len(data["closing"]), closing_total["deals"])
    more_left = offset + len(data["closing"]) < closing_total["deals"]
    if offset:
        return _page_answer(
            "pipeline",
            f"More deals closing in {period['label']} ({shown})",
            [f"• {_closing_line(d, data)}" for d in data["closing"]],
            _next_buttons(
                data, ("Show more", MORE) if more_left else None, ("Why these odds?", WHY)
            ),
            data,
        )

    scope = data["scope"]["label"]
    if not data["open_deals"]:
        headline = f"There are no open deals in {scope} as of {_date(data['as_of'])}."
    else:
        weighted = (
            f"weighted {fmt.money(data['weighted_value'])} with the stage odds learned from "
            f"{count(data['weights']['closed_deals'], 'closed deal')}"
            if data["weighted_value"] is not None
            else _sentence(data["weighted_reason"]).rstrip(".")
        )
        headline = (
            f"{scope[:1].upper() + scope[1:]}: {fmt.money(data['total_value'])} open in "
            f"{count(data['open_deals'], 'deal')}; {weighted}."
        )
    undated = int(data.get("undated_open_deals") or 0)
    if data["open_deals"] and not closing_total["deals"] and undated >= data["open_deals"]:
        which = (
            "The open deal has no close date"
            if data["open_deals"] == 1
            else f"None of the {count(data['open_deals'], 'open deal')} has a close date"
        )
        closing_text = (
            f"{which}, so I can't tell what is expected to close in {_period(period)}. "
            "Close dates in the CRM would show it."
        )
    else:
        closing_text = (
            f"{count(closing_total['deals'], 'deal')} ({fmt.money(closing_total['value'])}"
            + (
                f", weighted {fmt.money(closing_total['weighted'])}"
                if closing_total["weighted"] is not None
                else ""
            )
            + f") expected to close in {_period(period)}."
            + _undated_note(undated)
        )
    past_due = data["past_due"]
    past_due_text = (
        f"{count(past_due['deals'], 'open deal')} ({fmt.money(past_due['value'])}) "
        "already past the expected close date."
        if past_due["deals"]
        else ""
    )
    movement = data["movement"]
    movement_text = f"Since {_date(movement['since'])}: {_movement_words(movement)}."

    stage_lines = []
    for row in data["stages"]:
        if not row["deals"] and row["win_probability"] is None:
            continue
        odds = (
            f" · {fmt.pct(row['win_probability'])} odds → {fmt.money(row['weighted'])}"
            if row["win_probability"] is not None
            else ""
        )
        stage_lines.append(
            f"• {stage_name(row['stage'])}: {count(row['deals'], 'deal')}, "
            f"{fmt.money(row['value'])}{odds}"
        )
    closing_lines = [f"• {_closing_line(d, data)}" for d in data["closing"]]
    moved_lines = [
        f"• *{_deal_title(d)}* {d['movement']}: {d['reason']} ({fmt.money(d['amount'])})"
        for d in movement["deals"]
    ]
    rep_lines = [
        f"• {r['name']}: {count(r['open_deals'], 'deal')}, {fmt.money(r['open_amount'])}"
        + (
            f" (weighted {fmt.money(r['weighted_amount'])})"
            if r["weighted_amount"] is not None
            else ""
        )
        for r in (data["by_rep"] or [])
    ]
    based_on = (
        f"Open deals of {scope} as of {_date(data['as_of'])}; stage odds learned from "
        f"{count(data['weights']['closed_deals'], 'deal')} closed by "
        f"{_date(data['weights']['as_of'])} (overall win rate "
        f"{fmt.pct(data['weights']['overall_win_rate'])})."
    )

    text = [headline, closing_text]
    if past_due_text:
        text.append(past_due_text)
    text.append(movement_text)
    if stage_lines:
        text += ["By stage:", *stage_lines]
    if closing_lines:
        text += [f"Closing in {period['label']} ({shown}):", *closing_lines]
    if moved_lines:
        text += ["Moved:", *moved_lines]
    if rep_lines:
        text += ["By rep:", *rep_lines]
    text.append(based_on)

    blocks: list[bk.Block] = [
        bk.header(f"Pipeline — {scope}"),
        bk.section(
            f"*{headline}*\n{closing_text}" + (f"\n{past_due_text}" if past_due_text else "")
        ),
    ]
    if stage_lines:
        blocks.append(bk.section("*By stage*\n" + "\n".join(stage_lines)))
    if closing_lines:
        blocks.append(
            bk.section(f"*Closing in {period['label']}* ({shown})\n" + "\n".join(closing_lines))
        )
    blocks.append(
        bk.section(f"*{movement_text}*" + ("\n" + "\n".join(moved_lines) if moved_lines else ""))
    )
    if rep_lines:
        blocks.append(bk.section("*By rep*\n" + "\n".join(rep_lines)))
    blocks.append(bk.context(based_on))
    buttons = _next_buttons(
        data,
        ("Why these odds?", WHY) if data["weighted_value"] is not None else None,
        ("More deals closing", MORE) if more_left else None,
        ("Stalled deals", ask("ask_stalled_deals", rep=asked.get("rep"))),
        ("Forecast", ask("ask_forecast", rep=asked.get("rep"), period=asked.get("period"))),
    )
    blocks.append(_buttons(buttons))
    return _finish("pipeline", text, blocks, data)


def stage_weights_answer(data: Data) -> Answer:
    """ "Why?" after a pipeline or forecast answer: how the stage odds were learned."""
    weights = data["weights"]
    rows = list(data["stage_weights"])
    if weights["overall_win_rate"] is None:
        message = (
            f"No deal had closed by {_date(weights['as_of'])}, so there are no learned stage "
            "odds yet: the weighted numbers need closed deals to learn from."
        )
        return _short_answer(f"{data['skill']}_why", message, [], data)
    intro = (
        f"The odds are learned from the {count(weights['closed_deals'], 'deal')} closed by "
        f"{_date(weights['as_of'])} ({weights['won_deals']} won, overall win rate "
        f"{fmt.pct(weights['overall_win_rate'])}). For each stage: of the closed deals that "
        f"reached it, the share that was won, blended with the overall rate as if "
        f"{data['prior_strength']:g} more deals had closed, and kept rising from stage to stage."
    )
    lines = []
    for row in rows:
        raw = (
            f"{row['won_deals']} of {row['closed_deals']} won ({fmt.pct(row['raw_rate'])})"
            if row["closed_deals"]
            else "no closed deal reached it (overall rate used)"
        )
        lines.append(f"• {stage_name(row['stage'])}: {raw} → {fmt.pct(row['win_probability'])}")
    outro = "Weighted value = each open deal's amount x the odds of its stage, summed."
    if data["skill"] == "forecast":
        thresholds = data["thresholds"]
        outro += (
            f" Deals without a CRM forecast category count as commit from "
            f"{fmt.pct(thresholds['commit_probability'])} odds and as best case from "
            f"{fmt.pct(thresholds['best_case_probability'])}. The range (p10–p90) comes from "
            f"{data['simulations']:,} simulated quarters where each deal closes with its odds."
        )
    text = [intro, *lines, outro]
    rep_text, period_text = _asked(data)
    if data["skill"] == "forecast":
        follow = [
            ("Pipeline", ask("ask_pipeline", rep=rep_text, period=period_text)),
            (
                "Quota attainment",
                ask("ask_metric", metric="quota_attainment", rep=rep_text, period=period_text),
            ),
        ]
    else:
        follow = [
            ("Forecast", ask("ask_forecast", rep=rep_text, period=period_text)),
            ("Stalled deals", ask("ask_stalled_deals", rep=rep_text)),
        ]
    blocks = [
        bk.section(intro),
        bk.section("\n".join(lines)),
        bk.context(outro),
        _buttons(follow),
    ]
    return _finish(f"{data['skill']}_why", text, blocks, data)


# ------------------------------------------------------------------------ stalled


def _coverage_words(group: Data | None) -> str:
    if not group:
        return ""
    gaps = [ROLE_WORDS.get(r, r) for r in group["not_engaged_roles"] + group["missing_roles"]]
    engaged = len(group["engaged_roles"])
    total = engaged + len(gaps)
    text = f"buying group {engaged}/{total} engaged"
    if gaps:
        text += f" (missing: {', '.join(gaps)})"
    return text


def _stalled_lines(deal: Data, data: Data) -> tuple[str, str]:
    rules = ", ".join(RULE_WORDS.get(r, r) for r in deal["stalled_by"])
    title = (
        f"*{_deal_title(deal)}* — {fmt.money(deal['amount'])}, {stage_name(deal['stage'])}"
        f"{_owner(deal, data)} · _{rules}_"
    )
    detail = _sentence(deal["reason"])
    group = deal.get("buying_group")
    if group:
        detail += f" {_sentence(_coverage_words(group))}"
    step = deal["next_step"]
    if group and group.get("next_step"):
        step = f"{step}. {group['next_step']}"
    detail += f"\n→ {_sentence(step)}"
    return title, detail


def stalled_answer(data: Data) -> Answer:
    scope = data["scope"]["label"]
    offset = data["offset"]
    deals = data["deals"]
    shown = _shown(offset, len(deals), data["total"])
    more_left = offset + len(deals) < data["total"]
    asked = data["asked"]
    if not data["total"]:
        if data["open_deals"]:
            message = (
                f"None of the {count(data['open_deals'], 'open deal')} of {scope} looks "
                f"stuck as of {_date(data['as_of'])}: each is within the time won deals "
                f"usually spend in its stage, {_activity_words(data)}and is not past its "
                "expected close date."
            )
        else:
            message = f"There are no open deals in {scope} as of {_date(data['as_of'])}."
        return _short_answer(
            "stalled_deals",
            message,
            [("Pipeline", ask("ask_pipeline", rep=asked.get("rep")))],
            data,
        )
    if offset:
        headline = f"More stalled deals ({shown})"
    else:
        headline = (
            f"{count(data['total'], 'deal')} of {scope} "
            f"{'looks' if data['total'] == 1 else 'look'} stuck "
            f"({fmt.money(data['total_value'])} of {count(data['open_deals'], 'open deal')})"
        )
    text = [headline + ":"]
    blocks: list[bk.Block] = (
        [bk.section(f"*{headline}*")]
        if offset
        else [
            bk.header(f"Stalled deals — {scope}"),
            bk.section(f"*{headline}*"),
        ]
    )
    for deal in deals:
        title, detail = _stalled_lines(deal, data)
        text.append(f"• {title}\n  {detail}")
        blocks.append(bk.section(f"{title}\n{detail}"))
    quiet = (
        f"no activity for over {data['no_activity_days']} days, "
        if data["no_activity_days"] is not None
        else ""
    )
    based_on = (
        f"Open deals as of {_date(data['as_of'])}: stuck = longer in the stage than 75% of won "
        f"deals took, {quiet}or past the expected close date. Showing {shown}."
        + (
            ""
            if data["no_activity_days"] is not None
            else " No activities are logged in the sales database, so going quiet is not checked."
        )
    )
    text.append(based_on)
    blocks.append(bk.context(based_on))
    buttons = _next_buttons(
        data,
        ("Show more", MORE) if more_left else None,
        ("Why stuck?", WHY),
        ("Pipeline", ask("ask_pipeline", rep=asked.get("rep"))),
    )
    blocks.append(_buttons(buttons))
    return _finish("stalled_deals", text, blocks, data)


def _activity_words(data: Data) -> str:
    if data["no_activity_days"] is None:
        return ""
    return f"had activity in the last {data['no_activity_days']} days "


def stage_days_answer(data: Data) -> Answer:
    """ "Why?" after stalled deals: the typical days won deals spend in each stage."""
    quantile = fmt.pct(data["typical_quantile"])
    intro = (
        f"A deal is stuck in a stage when it has been there longer than {quantile} of the "
        f"won deals took to move on (learned from deals won by {_date(data['as_of'])}; a "
        f"stage needs {data['min_won_samples']} won deals to have a typical time). It has "
        f"gone quiet after {data['no_activity_days']} days without a logged activity on the "
        "deal or its account."
    )
    lines = []
    for row in data["stage_days"]:
        if row["typical_days"] is None:
            lines.append(
                f"• {stage_name(row['stage'])}: {count(row['won_visits'], 'won deal')}, "
                "too few for a typical time"
            )
        else:
            lines.append(
                f"• {stage_name(row['stage'])}: typical {fmt.days(row['typical_days'])} "
                f"(median {fmt.days(row['median_days'])}, "
                f"{count(row['won_visits'], 'won deal')})"
            )
    text = [intro, *lines]
    rep_text, _ = _asked(data)
    blocks = [
        bk.section(intro),
        bk.section("\n".join(lines) or "No stage has won deals yet."),
        _buttons([("Pipeline", ask("ask_pipeline", rep=rep_text))]),
    ]
    return _finish("stalled_deals_why", text, blocks, data)


# ----------------------------------------------------------------------- forecast


def _single_point_reason(data: Data) -> str:
    """Why a forecast has no range: nothing in the period is still uncertain."""
    undated = int(data.get("undated_open_deals") or 0)
    if not data["open_deals"]:
        why = (
            "There is no range: no open deal is expected to close in the period, so the "
            "forecast is what has closed won."
        )
        if undated:
            why += f" {count(undated, 'open deal')} without a close date could not be placed in it."
        return why
    return (
        "There is no range: every open deal in the period has stage odds of 0% or 100%, so "
        "nothing in it is uncertain."
    )


def _forecast_deal_line(deal: Data, data: Data) -> str:
    odds = deal.get("win_probability")
    odds_text = f", {fmt.pct(odds)} odds" if odds is not None else ""
    category = str(deal.get("category") or "pipeline").replace("_", " ")
    return (
        f"*{_deal_title(deal)}* — {fmt.money(deal['amount'])}, {stage_name(deal['stage'])}"
        f"{odds_text}, {category}, {_closes(deal['close_date'])}{_owner(deal, data)}"
    )


def forecast_answer(data: Data) -> Answer:
    scope = data["scope"]["label"]
    period = data["period"]
    offset = data["offset"]
    deals = data["deals"]
    asked = data["asked"]
    shown = _shown(offset, len(deals), data["open_deals"])
    more_left = offset + len(deals) < data["open_deals"]
    if offset:
        return _page_answer(
            "forecast",
            f"More deals in the {period['label']} forecast ({shown})",
            [f"• {_forecast_deal_line(d, data)}" for d in deals],
            _next_buttons(data, ("Show more", MORE) if more_left else None, ("Why?", WHY)),
            data,
        )

    headline = (
        f"Forecast for {scope}, {_period(period)}: commit {fmt.money(data['commit'])}, "
        f"best case {fmt.money(data['best_case'])}"
    )
    if data["weighted"] is not None and data["p10"] is not None and data["p10"] == data["p90"]:
        headline += f", weighted {fmt.money(data['weighted'])}. {_single_point_reason(data)}"
    elif data["weighted"] is not None:
        headline += (
            f", weighted {fmt.money(data['weighted'])} (likely range "
            f"{fmt.money(data['p10'])}–{fmt.money(data['p90'])})."
        )
    else:
        headline += f". {_sentence(data['reason'])}"
    closed = (
        f"Closed won so far: {fmt.money(data['closed_won'])} in "
        f"{count(data['closed_won_deals'], 'deal')}; "
        f"{count(data['open_deals'], 'open deal')} ({fmt.money(data['pipeline'] - data['closed_won'])}) "
        "expected to close in the period." + _undated_note(int(data.get("undated_open_deals") or 0))
    )
    if data["quota"] is not None:
        quota = f"Quota {fmt.money(data['quota'])}: {fmt.pct(data['attainment'])} attained" + (
            f", {fmt.pct(data['projected_attainment'])} projected with the weighted "
            f"forecast, {fmt.pct(data['chance_of_quota'])} chance of reaching it."
            if data["projected_attainment"] is not None
            else "."
        )
    else:
        quota = _sentence(data["quota_reason"] or "no quota is set for this period")
    lines = [f"• {_forecast_deal_line(d, data)}" for d in deals]
    rep_lines = [
        f"• {r['name']}: commit {fmt.money(r['commit'])}, weighted {fmt.money(r['weighted'])}"
        + (f", {fmt.pct(r['attainment'])} of quota" if r["attainment"] is not None else "")
        for r in (data["by_rep"] or [])
    ]
    based_on = (
        f"Deals of {scope} as of {_date(data['as_of'])}: commit = closed won + commit deals; "
        "best case adds best-case deals; weighted = closed won + each open deal x its stage "
        "odds learned from the team's closed deals."
    )
    text = [headline, closed, quota]
    if lines:
        text += [f"Deals in the period ({shown}):", *lines]
    if rep_lines:
        text += ["By rep:", *rep_lines]
    text.append(based_on)
    blocks: list[bk.Block] = [
        bk.header(f"Forecast — {period['label']}"),
        bk.section(f"*{headline}*"),
        bk.section(
            f"{closed}\n{quota}",
            fields=[
                f"*Closed won*\n{fmt.money(data['closed_won'])}",
                f"*Commit*\n{fmt.money(data['commit'])}",
                f"*Best case*\n{fmt.money(data['best_case'])}",
                f"*Weighted*\n{fmt.money(data['weighted'])}",
                f"*Pipeline*\n{fmt.money(data['pipeline'])}",
                f"*Quota*\n{fmt.money(data['quota'])}",
            ],
        ),
    ]
    if lines:
        blocks.append(bk.section(f"*Deals in the period* ({shown})\n" + "\n".join(lines)))
    if rep_lines:
        blocks.append(bk.section("*By rep*\n" + "\n".join(rep_lines)))
    blocks.append(bk.context(based_on))
    buttons = _next_buttons(
        data,
        ("How is it weighted?", WHY),
        ("More deals", MORE) if more_left else None,
        ("Pipeline", ask("ask_pipeline", rep=asked.get("rep"), period=asked.get("period"))),
        (
            "Quota attainment",
            ask(
                "ask_metric",
                metric="quota_attainment",
                rep=asked.get("rep"),
                period=asked.get("period"),
            ),
        ),
    )
    blocks.append(_buttons(buttons))
    return _finish("forecast", text, blocks, data)


# ------------------------------------------------------------------------- metric


def metric_value(data: Data) -> str:
    value = data["value"]
    if value is None:
        return "n/a"
    if data["unit"] == "ratio":
        return fmt.pct(value, digits=1 if value < 0.1 else 0)
    if data["unit"] == "days":
        return fmt.days(value)
    return fmt.money(value)


def _count(value: float, unit_is_money: bool) -> str:
    if unit_is_money:
        return fmt.money(value)
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _metric_basis(data: Data) -> str:
    money_numerator = data["unit"] == "currency" or data["numerator_label"].endswith("amount")
    numerator = _count(data["numerator"], money_numerator)
    denominator = _count(data["denominator"], False)
    if data["metric"] == "quota_attainment" or data["denominator_label"].endswith("amount"):
        denominator = fmt.money(data["denominator"])
    if data["kind"] == "sum":
        return (
            f"{numerator} {data['numerator_label']} over {denominator} {data['denominator_label']}"
        )
    return f"{numerator} {data['numerator_label']} / {denominator} {data['denominator_label']}"


def metric_answer(data: Data) -> Answer:
    scope = data["scope"]["label"]
    period = data["period"]
    label = data["label"]
    if data["value"] is None:
        headline = (
            f"Not enough data for the {label} of {scope} in {_period(period)}: {data['reason']}."
        )
    else:
        headline = (
            f"{label[:1].upper() + label[1:]} for {scope}, {_period(period)}: {metric_value(data)}."
        )
    basis = f"Based on {_metric_basis(data)}."
    extra = []
    details = data.get("details") or {}
    if data["metric"] == "clv" and details.get("retention_rate") is not None:
        extra.append(
            f"Yearly retention {fmt.pct(details['retention_rate'])} → expected lifetime "
            f"{details['expected_lifetime_years']:.1f} years; annual value per account "
            f"{fmt.money(details['annual_value_per_account'])}."
        )
    if details.get("still_open"):
        extra.append(f"{details['still_open']:,.0f} of them are still open.")
    source_lines = [
        f"• {row['source']} ({row['funnel_step'].replace('_', ' ')}): "
        + (
            f"{fmt.pct(row['value'])} ({row['numerator']} of {row['denominator']})"
            if row["value"] is not None
            else "no data"
        )
        for row in (data.get("by_source") or [])
    ]
    rep_summary, rep_lines = _metric_by_rep(data)
    if rep_summary:
        extra.append(rep_summary)
    text = [headline, basis, *extra]
    if source_lines:
        text += ["By source:", *source_lines]
    if rep_lines:
        text += ["By rep:", *rep_lines]
    text.append(f"As of {_date(data['as_of'])}.")
    blocks: list[bk.Block] = [
        bk.section(f"*{headline}*\n{basis}" + ("\n" + " ".join(extra) if extra else "")),
    ]
    if source_lines:
        blocks.append(bk.section("*By source*\n" + "\n".join(source_lines)))
    if rep_lines:
        blocks.append(bk.section("*By rep*\n" + "\n".join(rep_lines)))
    blocks.append(bk.context(f"{scope[:1].upper() + scope[1:]} · as of {_date(data['as_of'])}"))
    blocks.append(_buttons([("How is it computed?", WHY), *_related_metrics(data)]))
    return _finish("metric", text, blocks, data)


def _metric_by_rep(data: Data) -> tuple[str, list[str]]:
    """A team's metric rep by rep: a summary sentence (who is below quota) and one line per
    rep, the weakest first for quota attainment, else the largest first (no value last)."""
    rows = data.get("by_rep") or []
    if not rows:
        return "", []
    behind_first = data["metric"] in ("quota_attainment", "cycle_length")
    known = [r for r in rows if r["value"] is not None]
    known.sort(key=lambda r: (r["value"] if behind_first else -r["value"], r["name"]))
    unknown = sorted((r for r in rows if r["value"] is None), key=lambda r: r["name"])
    lines = [f"• {r['name']}: {metric_value({**data, 'value': r['value']})}" for r in known]
    missing = "no quota" if data["metric"] == "quota_attainment" else "no data"
    lines += [f"• {r['name']}: {missing}" for r in unknown]
    summary = ""
    if data["metric"] == "quota_attainment":
        behind = [r for r in known if r["value"] < 1.0]
        summary = (
            f"{len(behind)} of {fmt.plural(len(rows), 'rep')} below quota so far"
            + (": " + ", ".join(r["name"] for r in behind[:5]) if behind else "")
            + (f" and {len(behind) - 5} more" if len(behind) > 5 else "")
            + "."
            + (f" No quota for {fmt.plural(len(unknown), 'rep')}." if unknown else "")
        )
    return summary, lines


def _related_metrics(data: Data) -> list[tuple[str, str]]:
    rep_text, period_text = _asked(data)
    related = []
    for title, metric in METRIC_BUTTONS.get(data["metric"], []):
        if metric is None:
            related.append((title, ask(RELATED_INTENTS[title], rep=rep_text)))
        else:
            related.append(
                (title, ask("ask_metric", metric=metric, rep=rep_text, period=period_text))
            )
    return related


def metric_why(data: Data) -> Answer:
    definition = data["definition"]
    text = [
        f"The {data['label']} is {definition}.",
        f"For {data['scope']['label']} in {_period(data['period'])}: {_metric_basis(data)}"
        + (f" = {metric_value(data)}." if data["value"] is not None else f"; {data['reason']}."),
    ]
    blocks = [bk.section("\n".join(text)), _buttons(_related_metrics(data))]
    return _finish("metric_why", text, blocks, data)


# -------------------------------------------------------------------------- leads


def _lead_line(lead: Data, data: Data) -> tuple[str, str]:
    score = (
        f"{fmt.pct(lead['score'])} likely to convert"
        if data["method"] == "model"
        else f"score {lead['score']:.2f}"
    )
    title = (
        f"{lead['rank']}. *{lead['company'] or 'lead ' + str(lead['lead_id'])}* — {score}"
        f"{_owner(lead, data)}"
    )
    reasons = "; ".join(lead["reasons"]) if lead["reasons"] else "no strong signal"
    return title, reasons


def leads_answer(data: Data) -> Answer:
    scope = data["scope"]["label"]
    offset = data["offset"]
    leads = data["leads"]
    shown = _shown(offset, len(leads), data["total"])
    more_left = offset + len(leads) < data["total"]
    if not data["total"]:
        return _short_answer(
            "lead_priorities",
            f"There are no open leads in {scope} as of {_date(data['as_of'])}.",
            [("Pipeline", ask("ask_pipeline"))],
            data,
        )
    if data["method"] == "model":
        method = (
            f"Ranked by a calibrated model of conversion learned from "
            f"{data['closed_leads']:,} closed leads ({data['converted_leads']:,} converted, "
            f"{fmt.pct(data['base_rate'])})"
        )
    else:
        method = f"Ranked by rules: {data['method_reason']}"
    headline = (
        f"More leads ({shown})"
        if offset
        else f"Call these leads of {scope} first ({shown} of the open leads)"
    )
    text = [headline + ":"]
    blocks: list[bk.Block] = (
        [bk.section(f"*{headline}*")]
        if offset
        else [bk.header(f"Leads to call — {scope}"), bk.section(f"*{headline}*")]
    )
    lines = []
    for lead in leads:
        title, reasons = _lead_line(lead, data)
        lines.append(f"{title}\n   {reasons}")
        text.append(f"{title}\n   {reasons}")
    blocks.append(bk.section("\n".join(lines)))
    based_on = f"{method}; open leads as of {_date(data['as_of'])}."
    text.append(based_on)
    blocks.append(bk.context(based_on))
    blocks.append(
        _buttons(
            _next_buttons(
                data,
                ("Show more", MORE) if more_left else None,
                ("Why these leads?", WHY),
                ("Lead conversion", ask("ask_metric", metric="conversion_rate")),
            )
        )
    )
    return _finish("lead_priorities", text, blocks, data)


def leads_why(data: Data) -> Answer:
    icp = data["icp"]
    if icp["criteria"]:
        parts = []
        if icp["segments"]:
            parts.append("segment " + ", ".join(icp["segments"]))
        if icp["industries"]:
            parts.append("industry " + ", ".join(icp["industries"]))
        if icp["regions"]:
            parts.append("region " + ", ".join(icp["regions"]))
        if icp["min_employees"] is not None:
            parts.append(f"{icp['min_employees']:,.0f}–{icp['max_employees']:,.0f} employees")
        icp_text = (
            "The ideal customer profile, learned from converted leads: " + "; ".join(parts) + "."
        )
    else:
        icp_text = "There is no ideal customer profile yet (too few converted leads)."
    if data["method"] == "model":
        method = (
            f"Each lead's score is a conversion probability from a logistic model of source, "
            f"segment, industry, size, touches in its first days and fit to the ideal customer "
            f"profile, calibrated on {data['closed_leads']:,} closed leads "
            f"({data['converted_leads']:,} converted, base rate {fmt.pct(data['base_rate'])}). "
            "The reasons are the features that lift a lead most above an average closed lead."
        )
    else:
        method = (
            f"{_sentence(data['method_reason'])} Points: source (referral 3, inbound or partner "
            "2, event 1.5, other 0.5), ideal-customer fit x 3 and 0.4 per early touch (up to 2), "
            "out of 8."
        )
    text = [method, icp_text]
    blocks = [
        bk.section(method),
        bk.section(icp_text),
        _buttons([("Lead conversion", ask("ask_metric", metric="conversion_rate"))]),
    ]
    return _finish("lead_priorities_why", text, blocks, data)


# ----------------------------------------------------------------------- reorders


def _due_words(days: int) -> str:
    if days == 0:
        return "due today"
    if days < 0:
        return f"{-days} days overdue"
    return f"due in {count(days, 'day')}"


def reorders_answer(data: Data) -> Answer:
    scope = data["scope"]["label"]
    period = data["period"]
    offset = data["offset"]
    rows = data["accounts"]
    shown = _shown(offset, len(rows), data["total"])
    more_left = offset + len(rows) < data["total"]
    if not data["total"]:
        message = (
            f"No account of {scope} is due to reorder in {_period(period)}, judging by each "
            f"account's own buying cycle (regular buyers with at least "
            f"{data['rules']['min_order_days']} order days in a category)."
        )
        return _short_answer(
            "reorders_due", message, [("Slipping accounts", ask("ask_slipping_accounts"))], data
        )
    headline = (
        f"More reorders due ({shown})"
        if offset
        else (
            f"{count(data['total'], 'reorder')} due in {_period(period)} for {scope} "
            f"(usually {fmt.money(data['total_typical_amount'])} in all)"
        )
    )
    lines = [
        f"• *{row['account_name'] or 'account ' + str(row['account_id'])}* — {row['category']}, "
        f"{_due_words(row['days_until_due'])} ({_short_date(row['expected_date'])}), "
        f"usually {fmt.money(row['typical_amount'])}; every {fmt.days(row['cycle_days'])}, "
        f"last order {_short_date(row['last_order_date'])}"
        for row in rows
    ]
    based_on = (
        "Expected date = last order + the account's median gap between its last "
        f"{data['rules']['max_gaps']} orders in the category; irregular buyers and accounts "
        f"silent for over {data['rules']['lapse_factor']:g} cycles are left out. As of "
        f"{_date(data['as_of'])}; showing {shown}."
    )
    text = [headline + ":", *lines, based_on]
    blocks: list[bk.Block] = (
        [bk.section(f"*{headline}*")]
        if offset
        else [bk.header(f"Reorders due — {scope}"), bk.section(f"*{headline}*")]
    )
    blocks += [bk.section("\n".join(lines)), bk.context(based_on)]
    blocks.append(
        _buttons(
            _next_buttons(
                data,
                ("Show more", MORE) if more_left else None,
                ("How are cycles computed?", WHY),
                ("Slipping accounts", ask("ask_slipping_accounts")),
            )
        )
    )
    return _finish("reorders_due", text, blocks, data)


def reorders_why(data: Data) -> Answer:
    rules = data["rules"]
    text = (
        "Each account x category has its own cycle: the median of the gaps between its last "
        f"{rules['max_gaps']} order days in the category (it needs at least "
        f"{rules['min_order_days']} order days). Accounts whose gaps vary by more than "
        f"{fmt.pct(rules['max_spread'])} of that median are irregular and left out. The next "
        "order is expected one cycle after the last one; if that day falls in "
        f"{_period(data['period'])}, the account is due. Accounts silent for more than "
        f"{rules['lapse_factor']:g} cycles are lapsing, not running low, and show up in "
        "slipping accounts instead."
    )
    blocks = [bk.section(text), _buttons([("Slipping accounts", ask("ask_slipping_accounts"))])]
    return _finish("reorders_due_why", [text], blocks, data)
