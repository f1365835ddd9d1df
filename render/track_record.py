"""The track record: how the last scoring run's slipping flags and pitches did on the
company's own history (the backtest stored with the run), next to the simple methods."""

from __future__ import annotations

from typing import Any

from render import blocks as bk
from render.answer import Answer

METHOD_WORDS = {
    "learnt model": "our learnt model",
    "blend": "a blend of our model and the best simple method",
    "recency": "days since the last order",
    "BG/NBD": "the BG/NBD buying model",
    "gradient-boosted RFM": "a gradient-boosted recency/frequency/spend model",
    "popularity": "category popularity",
    "item co-occurrence": "what buyers of the same categories buy",
}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{round(100 * value)}%"


def _slipping_lines(b: dict[str, Any]) -> list[str]:
    quality = b.get("quality", {})
    chosen = str(b.get("chosen", "learnt model"))
    used = quality.get(chosen, {})
    lines = [
        f"*Slipping flags*, checked on your own history: as of {b['as_of']}, scored with what "
        f"was known then, against who ordered in the next {b['horizon_days']} days "
        f"({b['accounts']} repeat customers, {b['positives']} did not order).",
        f"• The score in use ({METHOD_WORDS.get(chosen, chosen)}) ranked a customer who did "
        f"not order above one who did {_pct(used.get('roc_auc'))} of the time (ROC-AUC), and "
        f"{_pct(used.get('precision_at_10'))} of its top 10% did not order.",
    ]
    others = [
        f"{METHOD_WORDS.get(name, name)} {_pct(q.get('roc_auc'))} / {_pct(q.get('precision_at_10'))}"
        for name, q in quality.items()
        if name != chosen
    ]
    if others:
        lines.append(
            "• The same check for the alternatives (ROC-AUC / top 10%): " + "; ".join(others) + "."
        )
    flagged = int(b.get("flagged", 0))
    if flagged:
        lines.append(
            f"• Of {flagged} accounts it would have flagged slipping then, "
            f"{b.get('flagged_no_order', 0)} did not order again in those {b['horizon_days']} days."
        )
    else:
        lines.append("• It would have flagged no account as slipping on that day.")
    return lines


def _pitch_lines(p: dict[str, Any]) -> list[str]:
    recall = p.get("recall_at_k", {})
    chosen = str(p.get("chosen", "learnt model"))
    k = p.get("k", 5)
    lines = [
        f"*Pitches*, checked the same way as of {p['as_of']}: {p.get('first_purchases', 0)} "
        f"first purchases of a category by {p.get('accounts', 0)} accounts in the next "
        f"{p['horizon_days']} days.",
        f"• The ranking in use ({METHOD_WORDS.get(chosen, chosen)}) had "
        f"{_pct(recall.get(chosen))} of them among each account's top {k} ideas.",
    ]
    others = [f"{METHOD_WORDS.get(n, n)} {_pct(v)}" for n, v in recall.items() if n != chosen]
    if others:
        lines.append("• Alternatives: " + "; ".join(others) + ".")
    if p.get("pitched"):
        lines.append(
            f"• {p.get('pitched_adopted', 0)} of {p['pitched']} top-{k} pitches became first orders."
        )
    return lines


def answer(run: dict[str, Any] | None) -> Answer:
    """The track record of the newest scoring run (``run``: its id, as_of and backtest)."""
    backtest = (run or {}).get("backtest") or {}
    if run is None:
        text = "Nothing has been scored yet, so there is no track record to show. Run the nightly scoring first."
    elif not backtest:
        text = (
            f"The scoring run of {run['as_of']} could not check itself: the order history "
            "before it is too short to score one horizon back and see what happened next."
        )
    else:
        lines: list[str] = []
        if "slipping" in backtest:
            lines += _slipping_lines(backtest["slipping"])
        if "pitch" in backtest:
            lines += _pitch_lines(backtest["pitch"])
        lines.append(
            f"Based on the scoring run of {run['as_of']}; every run repeats this check on your data "
            "and uses whichever method did best."
        )
        text = "\n".join(lines)
    return Answer(
        kind="track_record",
        text=text,
        blocks=[bk.section(text)],
        data={"as_of": str((run or {}).get("as_of", "")), "backtest": backtest},
    )
