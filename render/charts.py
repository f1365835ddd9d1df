"""The digest's charts as PNG images, drawn from the digest's ``data["charts"]``.

Made to be read on a phone: 1200 x 700 pixels, large type, horizontal bars (long stage
and rep names stay readable), at most :data:`MAX_BARS` bars, every bar labelled with its
amount in dollars, and a subtitle that says the period. Matplotlib draws on its Agg
canvas chosen inside the functions (no pyplot, no global backend, nothing at import), so
charts can be drawn in worker threads beside each other.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from render import fmt
from render.pipeline import stage_name

Data = dict[str, Any]

WIDTH_PX = 1200
HEIGHT_PX = 700
DPI = 100
MAX_BARS = 8
MAX_LABEL_CHARS = 20
FONT = 20
TITLE_FONT = 28
SUBTITLE_FONT = 18
BAR = "#2F6FDE"
BAR_LIGHT = "#9DB9EE"
RISK = "#D9534F"
WON = "#2E9E5B"
QUOTA = "#222222"
MUTED = "#666666"


@dataclass(frozen=True)
class Chart:
    """A drawn chart: ``filename`` (``pipeline_by_stage.png``), ``title`` and the PNG bytes."""

    name: str
    title: str
    png: bytes

    @property
    def filename(self) -> str:
        return f"{self.name}.png"


def _date(value: str | None) -> str:
    return fmt.date(fmt.day(value))


def _axis_money(value: float, _position: float) -> str:
    return fmt.money(value)


def _figure(title: str, subtitle: str) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.text(0.03, 0.94, title, fontsize=TITLE_FONT, fontweight="bold", va="center")
    figure.text(0.03, 0.875, subtitle, fontsize=SUBTITLE_FONT, color=MUTED, va="center")
    axes = figure.add_axes((0.27, 0.12, 0.64, 0.65))
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.tick_params(axis="both", labelsize=FONT, length=0)
    axes.tick_params(axis="x", labelsize=FONT - 4, colors=MUTED)
    axes.grid(axis="x", color="#DDDDDD", linewidth=1)
    axes.set_axisbelow(True)
    return figure, axes


def _label(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _empty(figure: Any, axes: Any, message: str) -> bytes:
    axes.set_axis_off()
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=FONT + 4, color=MUTED)
    return _png(figure)


def _bars(
    axes: Any,
    labels: Sequence[str],
    values: Sequence[float],
    notes: Sequence[str],
    colors: Sequence[str] | str,
    *,
    xlabel: str,
    reference: float | None = None,
) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    positions = list(range(len(labels)))
    axes.barh(positions, values, color=colors, height=0.62)
    axes.set_yticks(positions, [_label(text) for text in labels])
    axes.invert_yaxis()
    top = max([*values, reference or 0.0, 1.0])
    axes.set_xlim(0, top * 1.4)
    axes.xaxis.set_major_locator(MaxNLocator(nbins=4))
    axes.xaxis.set_major_formatter(FuncFormatter(_axis_money))
    axes.set_xlabel(xlabel, fontsize=FONT - 4, color=MUTED)
    for position, value, note in zip(positions, values, notes, strict=True):
        axes.text(
            value + top * 0.015,
            position,
            note,
            va="center",
            fontsize=FONT,
            fontweight="bold",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5},
        )


def pipeline_by_stage_png(data: Data) -> bytes:
    """Open pipeline by stage (amount and deals), stages in order from the first."""
    chart = data["charts"]["pipeline_by_stage"]
    total = data["pipeline"]
    subtitle = (
        f"{data['scope']['label']} · open deals on {_date(chart['as_of'])} · "
        f"{fmt.money(total['total_value'])} in {total['open_deals']:,} deals"
    )
    figure, axes = _figure("Open pipeline by stage", subtitle)
    stages = [s for s in chart["stages"] if s["deals"]] or []
    if not stages:
        return _empty(figure, axes, "No open deals")
    if len(stages) > MAX_BARS:
        stages = sorted(stages, key=lambda s: -(s["value"] or 0.0))[:MAX_BARS]
        stages.sort(key=lambda s: s["position"])
    _bars(
        axes,
        [stage_name(s["stage"]) for s in stages],
        [float(s["value"] or 0.0) for s in stages],
        [f"{fmt.money(s['value'])} · {s['deals']:,} deals" for s in stages],
        BAR,
        xlabel="Open amount (USD)",
    )
    return _png(figure)


def revenue_at_risk_png(data: Data) -> bytes:
    """Revenue at risk a year by rep (slipping and lapsed accounts), largest first."""
    chart = data["charts"]["revenue_at_risk_by_rep"]
    scored = f"scored {_date(chart['as_of'])}" if chart["as_of"] else "not scored yet"
    subtitle = f"{data['scope']['label']} · slipping and lapsed accounts · USD a year · {scored}"
    figure, axes = _figure("Revenue at risk by rep", subtitle)
    reps = [r for r in chart["reps"] if (r["revenue_at_risk"] or 0.0) > 0][:MAX_BARS]
    if not reps:
        return _empty(figure, axes, "No slipping accounts")
    _bars(
        axes,
        [str(r["name"]) for r in reps],
        [float(r["revenue_at_risk"]) for r in reps],
        [f"{fmt.money(r['revenue_at_risk'])} · {r['accounts']} accts" for r in reps],
        RISK,
        xlabel="Revenue at risk (USD a year)",
    )
    return _png(figure)


def forecast_vs_quota_png(data: Data) -> bytes:
    """Closed won, commit, best case and the weighted forecast against the quota line."""
    f = data["charts"]["forecast_vs_quota"]
    period = f["period"]
    span = f"{_date(period['start'])} – {_date(period['end'])}"
    subtitle = f"{data['scope']['label']} · {span} · as of {_date(data['as_of'])}"
    figure, axes = _figure(f"Forecast vs quota, {period['label']}", subtitle)
    quota = f["quota"]
    rows = [("Closed won", f["closed_won"], WON), ("Commit", f["commit"], BAR)]
    rows.append(("Best case", f["best_case"], BAR_LIGHT))
    if f["weighted"] is not None:
        rows.append(("Weighted forecast", f["weighted"], BAR))
    values = [float(v or 0.0) for _, v, _ in rows]

    def note(value: float) -> str:
        return f"{fmt.money(value)} ({fmt.pct(value / quota)})" if quota else fmt.money(value)

    _bars(
        axes,
        [label for label, _, _ in rows],
        values,
        [note(v) for v in values],
        [color for _, _, color in rows],
        xlabel="USD (share of quota in brackets)"
        if quota
        else "USD (no quota set for this period)",
        reference=quota,
    )
    if quota:
        from matplotlib.transforms import blended_transform_factory

        axes.axvline(quota, color=QUOTA, linestyle="--", linewidth=2.5, zorder=1)
        axes.text(
            quota,
            1.02,
            f"Quota {fmt.money(quota)}",
            transform=blended_transform_factory(axes.transData, axes.transAxes),
            ha="center",
            va="bottom",
            fontsize=FONT - 2,
            fontweight="bold",
        )
    return _png(figure)


CHARTS = (
    ("pipeline_by_stage", "Open pipeline by stage", pipeline_by_stage_png),
    ("revenue_at_risk_by_rep", "Revenue at risk by rep", revenue_at_risk_png),
    ("forecast_vs_quota", "Forecast vs quota", forecast_vs_quota_png),
)


def digest_charts(data: Data) -> list[Chart]:
    """The three digest charts of ``data`` (a digest's data)."""
    return [Chart(name, title, draw(data)) for name, title, draw in CHARTS]
