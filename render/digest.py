"""The manager digest as text and Block Kit, rendered from its ``data``.

:func:`digest_answer` takes the JSON-safe data of :meth:`analytics.digest.Digest.to_data`
and returns an :class:`~render.answer.Answer` (kind ``digest``) whose ``data`` is that same
dict; the PNG charts are drawn from ``data["charts"]`` by :mod:`render.charts` (the bot
uploads them beside the message in Slack; the terminal shows the text). Every number
says its period: the pipeline and stalled deals are as of ``as_of``, moves are since
``since``, forecast and quota are for ``period`` (the quarter), slipping accounts and pitches
are as of the last scoring run (``scored_as_of``), coaching themes for the last seven days
against the seven before.

Data contract
-------------
``as_of``, ``since`` (ISO days), ``period`` and ``coaching.period`` / ``coaching.previous``
(``label``, ``start``, ``end``), ``scored_as_of`` (ISO day or null), ``scope`` (``label``,
``manager_id``, ``manager_name``, ``rep_ids``);
``pipeline``: ``open_deals``, ``total_value``, ``weighted_value`` (null + ``weighted_reason``),
``closing`` (``period``, ``deals``, ``value``, ``weighted``), ``past_due`` (``deals``,
``value``), ``stages`` (``stage``, ``position``, ``deals``, ``value``, ``win_probability``,
``weighted``);
``forecast``: ``period``, ``closed_won``, ``closed_won_deals``, ``commit``, ``best_case``,
``pipeline``, ``weighted``, ``p10``, ``p90``, ``quota``, ``attainment``,
``projected_attainment``, ``chance_of_quota``, ``reason``, ``quota_reason``;
``movement``: ``since``, ``until``, ``summary`` ({new|advanced|slipped|won|lost: {``deals``,
``value``}}), ``deals`` (the largest moves: ``opportunity_id``, ``name``, ``account_name``,
``owner_name``, ``movement``, ``stage_before``, ``stage_now``, ``amount``, ``reason``, ...);
``slipping``: ``as_of``, ``total``, ``revenue_at_risk`` (a year), ``accounts_in_book``,
``by_rep`` (``rep_id``, ``name``, ``accounts``, ``revenue_at_risk``), ``accounts`` (top:
``account_id``, ``name``, ``owner_name``, ``status``, ``revenue_at_risk``,
``days_since_last_order``, ``reason``);
``pitches``: ``as_of``, ``open``, ``open_value`` (a year), ``acted_on``, ``accounts`` (top:
``account_id``, ``name``, ``owner_name``, ``kind``, ``category``, ``product``,
``expected_value``, ``reason``);
``stalled``: ``total``, ``value``, ``deals`` (top: ``name``, ``account_name``, ``owner_name``,
``stage``, ``amount``, ``stalled_by``, ``reason``, ``next_step``, ...);
``coaching``: ``calls``, ``calls_before``, ``themes`` (``category``, ``label``, ``flags``,
``flags_before``, ``change`` (fraction, null when there were none before), ``calls``,
``top_tracker``);
``reps``: one row per rep (``rep_id``, ``name``, ``open_deals``, ``open_amount``,
``weighted_amount``, ``closed_won``, ``quota``, ``attainment``, ``new_deals``,
``advanced_deals``, ``slipped_deals``, ``won_deals``, ``won_amount``, ``lost_deals``,
``slipping_accounts``, ``revenue_at_risk``, ``stalled_deals``, ``stalled_amount``,
``open_pitches``, ``coaching_flags``);
``charts``: ``pipeline_by_stage`` (``as_of``, ``stages``), ``revenue_at_risk_by_rep``
(``as_of``, ``reps``), ``forecast_vs_quota`` (the ``forecast`` dict).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from render import blocks as bk
from render import fmt
from render.answer import Answer
from render.pipeline import ask, count, stage_name

Data = dict[str, Any]

KIND = "digest"
REP_LINE_KIND = "digest_rep_line"
STATUS_ICON = {"lapsed": "🔴", "slipping": "🟠"}
MOVE_WORDS = (
    ("new", "new"),
    ("advanced", "advanced"),
    ("slipped", "slipped"),
    ("won", "won"),
    ("lost", "lost"),
)
REASON_CHARS = 140
SHOWN = {"moves": 3, "slipping": 5, "pitches": 3, "stalled": 3}
"""List rows shown per section (the data keeps up to five): short enough to read on a phone."""
REPS_PER_SECTION_CHARS = 2800


def _day(value: str | None) -> dt.date | None:
    return fmt.day(value)


def _date(value: str | None) -> str:
    return fmt.date(_day(value))


def _short(value: str | None) -> str:
    day = _day(value)
    return "n/a" if day is None else f"{day:%b} {day.day}"


def _span(period: Data) -> str:
    start, end = _day(period["start"]), _day(period["end"])
    assert start is not None and end is not None
    first = _short(period["start"]) if start.year == end.year else fmt.date(start)
    return f"{first} – {fmt.date(end)}"


def _period(period: Data) -> str:
    return f"{period['label']} ({_span(period)})"


def _clip(text: str | None, limit: int = REASON_CHARS) -> str:
    return bk.clip((text or "").strip().rstrip("."), limit)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _days_between(since: str, until: str) -> int:
    first, last = _day(since), _day(until)
    assert first is not None and last is not None
    return (last - first).days


# --------------------------------------------------------------------- sections


def pipeline_line(data: Data) -> str:
    p = data["pipeline"]
    if not p["open_deals"]:
        head = f"no open deals on {_date(data['as_of'])}"
    else:
        weighted = (
            f", {fmt.money(p['weighted_value'])} weighted"
            if p["weighted_value"] is not None
            else ""
        )
        head = (
            f"{fmt.money(p['total_value'])} open in {count(p['open_deals'], 'deal')}{weighted} "
            f"(on {_date(data['as_of'])})"
        )
    closing = p["closing"]
    closing_text = (
        f"closing in {closing['period']['label']}: {count(closing['deals'], 'deal')}, "
        f"{fmt.money(closing['value'])}"
    )
    if closing["weighted"] is not None and closing["deals"]:
        closing_text += f" ({fmt.money(closing['weighted'])} weighted)"
    past = p["past_due"]
    past_text = (
        f"; past their close date: {count(past['deals'], 'deal')}, {fmt.money(past['value'])}"
        if past["deals"]
        else ""
    )
    return f"*Pipeline*: {head}; {closing_text}{past_text}."


def forecast_line(data: Data) -> str:
    f = data["forecast"]
    won = f"closed won {fmt.money(f['closed_won'])} ({count(f['closed_won_deals'], 'deal')})"
    if f["quota"]:
        won += f" of a {fmt.money(f['quota'])} quota ({fmt.pct(f['attainment'])})"
    elif f["quota_reason"]:
        won += f"; {f['quota_reason']}"
    parts = [won, f"commit {fmt.money(f['commit'])}", f"best case {fmt.money(f['best_case'])}"]
    if f["weighted"] is not None:
        weighted = f"weighted forecast {fmt.money(f['weighted'])}"
        if f["projected_attainment"] is not None:
            weighted += f" ({fmt.pct(f['projected_attainment'])} of quota)"
        if f["p10"] is not None and f["p90"] is not None:
            weighted += f", 80% range {fmt.money(f['p10'])}–{fmt.money(f['p90'])}"
        parts.append(weighted)
        if f["chance_of_quota"] is not None:
            parts.append(f"{fmt.pct(f['chance_of_quota'])} chance of making quota")
    elif f["reason"]:
        parts.append(_clip(f["reason"]))
    return f"*Forecast vs quota* for {_period(f['period'])}: " + "; ".join(parts) + "."


def movement_lines(data: Data) -> list[str]:
    m = data["movement"]
    days = _days_between(m["since"], m["until"])
    window = f"since {_date(m['since'])} ({count(days, 'day')})"
    parts = [
        f"{m['summary'][kind]['deals']} {word} ({fmt.money(m['summary'][kind]['value'])})"
        for kind, word in MOVE_WORDS
        if m["summary"][kind]["deals"]
    ]
    head = f"*What moved* {window}: " + (", ".join(parts) if parts else "no deal moved") + "."
    lines = [head]
    for deal in m["deals"][: SHOWN["moves"]]:
        title = deal.get("name") or f"deal {deal['opportunity_id']}"
        who = f" · {deal['owner_name']}" if deal.get("owner_name") else ""
        lines.append(
            f"• {_cap(deal['movement'])}: *{title}* {fmt.money(deal['amount'])} — "
            f"{_clip(deal['reason'])}{who}"
        )
    return lines


def slipping_lines(data: Data) -> list[str]:
    s = data["slipping"]
    scored = f"scored {_date(s['as_of'])}" if s["as_of"] else "not scored yet"
    if not s["total"]:
        return [
            f"*Slipping accounts* ({scored}): none of {count(s['accounts_in_book'], 'account')} "
            "is slipping or lapsed."
        ]
    by_rep = " · ".join(
        f"{r['name']} {fmt.money(r['revenue_at_risk'])} ({r['accounts']})" for r in s["by_rep"][:6]
    )
    lines = [
        f"*Slipping accounts* ({scored}): {count(s['total'], 'account')} of "
        f"{s['accounts_in_book']:,}, {fmt.money(s['revenue_at_risk'])} a year at risk. "
        f"By rep: {by_rep}."
    ]
    for a in s["accounts"][: SHOWN["slipping"]]:
        icon = STATUS_ICON.get(a["status"], "•")
        owner = f" ({a['owner_name']})" if a.get("owner_name") else ""
        lines.append(
            f"{icon} *{a['name']}*{owner} — {fmt.money(a['revenue_at_risk'])} a year at risk: "
            f"{_clip(a['reason'])}"
        )
    return lines


def pitch_lines(data: Data) -> list[str]:
    p = data["pitches"]
    scored = f"scored {_date(p['as_of'])}" if p["as_of"] else "not scored yet"
    acted = f"; {count(p['acted_on'], 'account')} contacted since" if p["acted_on"] else ""
    if not p["open"]:
        return [f"*Growth pitches not yet acted on* ({scored}): none{acted}."]
    lines = [
        f"*Growth pitches not yet acted on* ({scored}): {count(p['open'], 'account')}, "
        f"{fmt.money(p['open_value'])} a year expected{acted}."
    ]
    for a in p["accounts"][: SHOWN["pitches"]]:
        what = a["category"] + (f" ({a['product']})" if a.get("product") else "")
        verb = "win back" if a["kind"] == "win_back" else "pitch"
        owner = f" ({a['owner_name']})" if a.get("owner_name") else ""
        lines.append(
            f"• *{a['name']}*{owner} — {verb} {what}: {fmt.money(a['expected_value'])} a year "
            f"expected; {_clip(a['reason'], 100)}"
        )
    return lines


def stalled_lines(data: Data) -> list[str]:
    s = data["stalled"]
    if not s["total"]:
        return [f"*Stalled deals* (on {_date(data['as_of'])}): none."]
    lines = [
        f"*Stalled deals* (on {_date(data['as_of'])}): {count(s['total'], 'deal')}, "
        f"{fmt.money(s['value'])}."
    ]
    for deal in s["deals"][: SHOWN["stalled"]]:
        title = deal.get("name") or f"deal {deal['opportunity_id']}"
        owner = f" ({deal['owner_name']})" if deal.get("owner_name") else ""
        lines.append(
            f"• *{title}*{owner} — {fmt.money(deal['amount'])}, {stage_name(deal['stage'])}: "
            f"{_clip(deal['reason'])}"
        )
    return lines


def track_record_lines(data: Data) -> list[str]:
    """How the last scoring run's own backtest turned out: flags that did not order again and
    pitches that became first orders (empty when the run could not check itself)."""
    record = data.get("track_record") or {}
    lines = []
    slipping = record.get("slipping")
    if slipping and slipping.get("flagged"):
        lines.append(
            f"*Track record*: of {slipping['flagged']} accounts the model would have flagged on "
            f"{_date(slipping['as_of'])}, {slipping['flagged_no_order']} did not order again in "
            f"the next {slipping['horizon_days']} days."
        )
    pitch = record.get("pitch")
    if pitch and pitch.get("pitched"):
        lines.append(
            f"{'Pitches' if lines else '*Track record*: pitches'} made on {_date(pitch['as_of'])}: "
            f"{pitch['pitched_adopted']} of {pitch['pitched']} became first orders within "
            f"{pitch['horizon_days']} days. Ask *how accurate are you?* for the details."
        )
    return lines


def theme_words(theme: Data) -> str:
    """ "pricing objections up 40% (7 vs 5)" """
    now, before, change = theme["flags"], theme["flags_before"], theme["change"]
    if change is None:
        trend = "new"
    elif change > 0:
        trend = f"up {fmt.pct(change)}"
    elif change < 0:
        trend = f"down {fmt.pct(-change)}"
    else:
        trend = "steady"
    return f"{theme['label']} {trend} ({now} vs {before})"


def coaching_line(data: Data) -> str:
    c = data["coaching"]
    window = (
        f"{c['period']['label']}, {_span(c['period'])}: {count(c['calls'], 'call')}; "
        f"{c['calls_before']} the {_days_between(c['previous']['start'], c['period']['start'])} "
        "days before"
    )
    if not c["themes"]:
        return f"*Coaching themes* ({window}): no coaching flags on the team's calls."
    themes = [t for t in c["themes"] if t["flags"] or t["flags_before"]]
    words = " · ".join(theme_words(t) for t in themes[:5])
    return f"*Coaching themes* ({window}): {words}."


def rep_line(rep: Data, data: Data) -> str:
    """One rep's line: pipeline, quota, moves, revenue at risk, stalled deals, coaching flags
    (zero counts are left out; ``open_pitches`` stays in the data only: nearly every account
    has a pitch, so its count says little in a line)."""
    quarter = data["forecast"]["period"]["label"]
    parts = [f"{fmt.money(rep['open_amount'])} open ({count(rep['open_deals'], 'deal')})"]
    won = f"won {fmt.money(rep['closed_won'])}"
    if rep["quota"]:
        won += f" of {fmt.money(rep['quota'])} ({fmt.pct(rep['attainment'])})"
    parts.append(f"{won} in {quarter}")
    moves = [
        f"{rep[key]} {word}"
        for key, word in (
            ("new_deals", "new"),
            ("advanced_deals", "advanced"),
            ("won_deals", "won"),
            ("lost_deals", "lost"),
            ("slipped_deals", "slipped"),
        )
        if rep[key]
    ]
    if moves:
        parts.append("moves: " + ", ".join(moves))
    if rep["slipping_accounts"]:
        parts.append(
            f"{count(rep['slipping_accounts'], 'slipping account')} "
            f"({fmt.money(rep['revenue_at_risk'])}/yr)"
        )
    if rep["stalled_deals"]:
        parts.append(count(rep["stalled_deals"], "stalled deal"))
    if rep["coaching_flags"]:
        parts.append(count(rep["coaching_flags"], "coaching flag"))
    return f"*{rep['name']}* — " + " · ".join(parts)


def _rep_sections(lines: list[str]) -> list[bk.Block]:
    blocks: list[bk.Block] = []
    current: list[str] = []
    for line in lines:
        if current and len("\n".join([*current, line])) > REPS_PER_SECTION_CHARS:
            blocks.append(bk.section("\n".join(current)))
            current = []
        current.append(line)
    if current:
        blocks.append(bk.section("\n".join(current)))
    return blocks


# ------------------------------------------------------------------------ answers


def digest_title(data: Data) -> str:
    label = data["scope"]["label"]
    return f"Team digest: {label}" if label else "Team digest"


def digest_answer(data: Data) -> Answer:
    """The whole digest: headline numbers, what moved, where to act, one line per rep."""
    as_of = _date(data["as_of"])
    scope_line = (
        f"As of {as_of} · moves since {_date(data['since'])} · quarter {_period(data['period'])}"
        + (
            f" · accounts scored {_date(data['scored_as_of'])}"
            if data["scored_as_of"]
            else " · accounts not scored yet"
        )
    )
    reps = [rep_line(rep, data) for rep in data["reps"]]
    reps_head = (
        f"*One line per rep* (pipeline on {as_of}; won and quota in "
        f"{data['forecast']['period']['label']}; moves since {_short(data['since'])}; "
        f"coaching flags in the {data['coaching']['period']['label']})"
    )
    sections = [
        [pipeline_line(data)],
        [forecast_line(data)],
        movement_lines(data),
        slipping_lines(data),
        pitch_lines(data),
        stalled_lines(data),
        [coaching_line(data)],
    ]
    record = track_record_lines(data)
    if record:
        sections.append(record)
    blocks: list[bk.Block] = [bk.header(digest_title(data)), bk.context(scope_line)]
    for i, lines in enumerate(sections):
        if i == 3:
            blocks.append(bk.divider())
        blocks.append(bk.section("\n".join(lines)))
    blocks.append(bk.divider())
    blocks.append(bk.section(reps_head))
    blocks.extend(_rep_sections(reps or ["No reps in this team."]))
    team = "my team"
    blocks.append(
        bk.actions(
            *(
                bk.send_button(label, payload, n)
                for n, (label, payload) in enumerate(
                    [
                        ("Pipeline", ask("ask_pipeline", rep=team)),
                        ("Stalled deals", ask("ask_stalled_deals", rep=team)),
                        ("Forecast", ask("ask_forecast", rep=team)),
                        ("Slipping accounts", ask("ask_slipping_accounts")),
                    ]
                )
            )
        )
    )
    blocks.append(
        bk.context(
            "Charts: pipeline by stage, revenue at risk by rep, forecast vs quota. "
            "Say *stop the digest* to unsubscribe."
        )
    )
    text_lines = [digest_title(data), scope_line, ""]
    for lines in sections:
        text_lines.extend([*lines, ""])
    text_lines.append(reps_head)
    text_lines.extend(f"• {line}" for line in reps)
    return Answer(
        kind=KIND,
        text=bk.clip("\n".join(text_lines), bk.MAX_MESSAGE_TEXT),
        blocks=bk.fit_blocks(blocks),
        data=data,
    )


def rep_line_answer(data: Data, *, intro: str) -> Answer:
    """A rep's own line of the digest, after ``intro`` (why they get only their line)."""
    lines = [rep_line(rep, data) for rep in data["reps"]] or [
        f"No deals, accounts or quota in your book as of {_date(data['as_of'])}."
    ]
    context_line = (
        f"Pipeline on {_date(data['as_of'])}; won and quota in {_period(data['period'])}; "
        f"moves since {_date(data['since'])}."
    )
    blocks = [bk.section(intro), bk.section("\n".join(lines)), bk.context(context_line)]
    return Answer(
        kind=REP_LINE_KIND,
        text="\n".join([intro, *lines, context_line]),
        blocks=blocks,
        data=data,
    )
