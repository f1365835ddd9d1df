"""Forecast backtest on demo data: stage weights learned from history vs fixed vendor percentages.

    .venv/bin/python -m benchmarks.forecast_backtest [--accounts 10000] [--end-date 2025-06-30]
        [--seed 7] [--store-url URL] [--out benchmarks/results/forecast.md]

Data: the demo distributor of ``salesbot demo-data`` (generated in memory with the same
generator, or read from a store it filled with ``--store-url``).

For every complete quarter that has at least a year of history before it, a forecast is made
on the day before the quarter starts, with only what was known that day: deals created by
then, their stage on that day (from the stage history) and the amount recorded with it, and
stage-to-win probabilities learned from deals closed by then
(:class:`analytics.pipeline.StageModel`). The same open deals are weighted two ways in the
same run: by the learned probabilities and by fixed vendor percentages (10/20/40/60/80% for
the five stages, the "naive weighted pipeline"). Scopes: the company, each manager's team
and each rep.

Two views of "what actually closed":

* **quarter** - the deals open on the forecast day whose close date falls in the quarter;
  the actual is their won amount in the quarter. The store keeps one close date per deal
  (the expected one while open, the real one once closed), so for deals that closed later
  the selection uses the real close date: both methods get the same (optimistic) deal list,
  the comparison of the weights stays fair. Also reported: the 80% interval (p10-p90 of
  the Bernoulli simulation) coverage of the learned forecast.
* **pipeline** - every deal open on the forecast day, no close dates involved; the actual
  is the amount of those deals won by the end of the data. Only forecast days whose open
  pipeline has since closed for at least 90% of its amount are scored.

Errors: MAE, WAPE (sum of absolute errors / sum of actuals) and bias (sum of signed errors /
sum of actuals), and how often the learned forecast is closer than the vendor one. Results go
to ``benchmarks/results/forecast.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from analytics.forecast import CloseTimingModel, forecast
from analytics.periods import Period, quarter_period
from analytics.pipeline import StageModel, deal_states, team_rep_ids
from benchmarks.pipeline_speed import Company, demo_company, load_company

VENDOR_PERCENTAGES = (0.1, 0.2, 0.4, 0.6, 0.8)
RESULTS = Path(__file__).resolve().parent / "results" / "forecast.md"


def vendor_probabilities(stage_order: tuple[str, ...]) -> dict[str, float]:
    """10/20/40/60/80% along the stage order (stretched when there are not five stages)."""
    if len(stage_order) == len(VENDOR_PERCENTAGES):
        return dict(zip(stage_order, VENDOR_PERCENTAGES, strict=True))
    grid = np.linspace(0, 1, len(VENDOR_PERCENTAGES))
    where = np.linspace(0, 1, len(stage_order)) if len(stage_order) > 1 else np.array([0.0])
    return dict(zip(stage_order, np.interp(where, grid, VENDOR_PERCENTAGES), strict=True))


@dataclass(frozen=True)
class Scope:
    level: str
    name: str
    rep_ids: frozenset[int] | None


def scopes(company: Company) -> list[Scope]:
    reps = company.reps
    out = [Scope("company", "company", None)]
    for row in reps.itertuples(index=False):
        if row.role == "manager" and not pd.isna(row.manager_id):
            out.append(Scope("team", str(row.name), team_rep_ids(reps, int(row.rep_id))))
    owners = set(company.opportunities["owner_id"].dropna().astype(int))
    for row in reps.itertuples(index=False):
        if int(row.rep_id) in owners:
            out.append(Scope("rep", str(row.name), frozenset({int(row.rep_id)})))
    return out


def in_scope(frame: pd.DataFrame, rep_ids: Collection[int] | None) -> pd.DataFrame:
    if rep_ids is None:
        return frame
    return frame[frame["owner_id"].isin(list(rep_ids)).fillna(False).to_numpy(dtype=bool)]


def quarter_rows(
    company: Company, quarters: list[Period], weight: Literal["count", "amount"]
) -> pd.DataFrame:
    opps, history = company.opportunities, company.stage_history
    final_amount = opps.set_index("opportunity_id")["amount"]
    rows = []
    for quarter in quarters:
        as_of = quarter.start - dt.timedelta(days=1)
        model = StageModel(weight=weight).fit(opps, history, as_of=as_of)
        timing = CloseTimingModel(weight=weight).fit(opps, history, as_of=as_of, model=model)
        vendor = vendor_probabilities(model.stage_order_)
        states = deal_states(opps, history, as_of=as_of, closed_stages=model.closed_stages_)
        open_then = set(states.loc[states["state"] == "open", "opportunity_id"])
        won_in_quarter = opps[
            opps["is_won"].to_numpy(dtype=bool)
            & opps["close_date"].between(pd.Timestamp(quarter.start), pd.Timestamp(quarter.end))
        ]
        for scope in scopes(company):
            learned = forecast(
                opps, history, period=quarter, today=as_of, model=model, rep_ids=scope.rep_ids,
                n_simulations=4000, seed=1, timing=timing,
            )  # fmt: skip
            fixed = forecast(
                opps, history, period=quarter, today=as_of, model=model, rep_ids=scope.rep_ids,
                stage_probabilities=vendor, n_simulations=1,
            )  # fmt: skip
            won = in_scope(won_in_quarter, scope.rep_ids)
            from_pipeline = won[won["opportunity_id"].isin(open_then)]
            rows.append(
                {
                    "quarter": quarter.label,
                    "level": scope.level,
                    "scope": scope.name,
                    "deals": learned.open_deals,
                    "pipeline": learned.pipeline,
                    "learned": learned.weighted,
                    "vendor": fixed.weighted,
                    "p10": learned.p10,
                    "p90": learned.p90,
                    "timed": learned.timed,
                    "timed_p10": (learned.timed or 0.0) - 1.2816 * (learned.timed_std or 0.0),
                    "timed_p90": (learned.timed or 0.0) + 1.2816 * (learned.timed_std or 0.0),
                    "actual": float(final_amount.reindex(from_pipeline["opportunity_id"]).sum()),
                    "actual_all": float(won["amount"].sum()),
                }
            )
    return pd.DataFrame(rows)


def pipeline_rows(
    company: Company, days: list[dt.date], last_day: dt.date, weight: Literal["count", "amount"]
) -> pd.DataFrame:
    opps, history = company.opportunities, company.stage_history
    final = opps.set_index("opportunity_id")
    rows = []
    for as_of in days:
        model = StageModel(weight=weight).fit(opps, history, as_of=as_of)
        vendor = vendor_probabilities(model.stage_order_)
        states = deal_states(opps, history, as_of=as_of, closed_stages=model.closed_stages_)
        open_then = states[states["state"] == "open"]
        ids = open_then["opportunity_id"]
        closed = (
            final["is_closed"].reindex(ids).to_numpy(dtype=bool)
            & (final["close_date"].reindex(ids) <= pd.Timestamp(last_day)).to_numpy()
        )
        won = closed & final["is_won"].reindex(ids).to_numpy(dtype=bool)
        amount = open_then["amount"].to_numpy(dtype=float)
        probability = model.win_probability(open_then["stage"]).to_numpy()
        frame = pd.DataFrame(
            {
                "owner_id": open_then["owner_id"].to_numpy(),
                "amount": amount,
                "learned": amount * probability,
                "variance": amount**2 * probability * (1 - probability),
                "vendor": open_then["amount"].to_numpy(dtype=float)
                * open_then["stage"].map(vendor).fillna(0.0).to_numpy(dtype=float),
                "closed_amount": np.where(closed, open_then["amount"].to_numpy(dtype=float), 0.0),
                "actual": np.where(won, final["amount"].reindex(ids).to_numpy(dtype=float), 0.0),
            }
        )
        for scope in scopes(company):
            part = in_scope(frame, scope.rep_ids)
            total = float(part["amount"].sum())
            learned = float(part["learned"].sum())
            spread = 1.2816 * float(np.sqrt(part["variance"].sum()))  # normal 10%/90% points
            rows.append(
                {
                    "as_of": as_of.isoformat(),
                    "level": scope.level,
                    "scope": scope.name,
                    "deals": len(part),
                    "pipeline": total,
                    "resolved": float(part["closed_amount"].sum()) / total if total else 1.0,
                    "learned": learned,
                    "vendor": float(part["vendor"].sum()),
                    "p10": learned - spread,
                    "p90": learned + spread,
                    "actual": float(part["actual"].sum()),
                }
            )
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    out = []
    for level, group in rows.groupby("level", sort=False):
        actual = group["actual"].to_numpy(dtype=float)
        total = actual.sum()
        line: dict[str, object] = {"level": level, "points": len(group)}
        for method in ("learned", "timed", "vendor"):
            if method not in group.columns:
                continue
            error = group[method].to_numpy(dtype=float) - actual
            line[f"{method}_mae"] = float(np.abs(error).mean())
            line[f"{method}_wape"] = float(np.abs(error).sum() / total) if total else np.nan
            line[f"{method}_bias"] = float(error.sum() / total) if total else np.nan
        closer = np.abs(group["learned"] - group["actual"]) < np.abs(
            group["vendor"] - group["actual"]
        )
        line["learned_closer"] = float(closer.mean())
        if "p10" in group.columns:
            inside = (group["actual"] >= group["p10"]) & (group["actual"] <= group["p90"])
            line["interval_80_coverage"] = float(inside.mean())
        if "timed" in group.columns:
            closer = np.abs(group["timed"] - group["actual"]) < np.abs(
                group["vendor"] - group["actual"]
            )
            line["timed_closer"] = float(closer.mean())
            inside = (group["actual"] >= group["timed_p10"]) & (
                group["actual"] <= group["timed_p90"]
            )
            line["timed_interval_80_coverage"] = float(inside.mean())
        out.append(line)
    return pd.DataFrame(out)


def money(value: float) -> str:
    return f"{value:,.0f}"


def header(source: str, seconds: float) -> list[str]:
    return [
        "# Forecast backtest: learned stage weights vs fixed vendor percentages",
        "",
        f"Data: {source}. Produced by `python -m benchmarks.forecast_backtest` in {seconds:.0f} s; "
        "method and caveats in the module docstring of `benchmarks/forecast_backtest.py`.",
        "",
        "Each forecast is made on the day before the quarter starts with only what was known "
        "that day. *learned*: stage-to-win probabilities learned from the deals closed by then "
        "(`analytics.pipeline.StageModel`); *vendor*: fixed 10/20/40/60/80% by stage. Same deals, "
        "same run. WAPE = sum of absolute errors / sum of actuals; bias = sum of signed errors / "
        "sum of actuals; *closer* = share of forecasts nearer to the actual than the vendor one. "
        "Both ways of learning the win rates are run: by deal count (the default) and by amount "
        '(`weight="amount"`).',
        "",
    ]


def markdown(
    title: str,
    quarters: pd.DataFrame,
    quarter_summary: pd.DataFrame,
    pipeline: pd.DataFrame,
    pipeline_summary: pd.DataFrame,
) -> str:
    lines = [
        f"## {title}",
        "",
        "### Quarter view (bookings in the quarter from the deals open at its start)",
        "",
        "*learned* and *vendor* weight the deals whose close date falls in the quarter (see the "
        "caveat on close dates in the docstring); *timed* weights every open deal by the learned "
        "chance that it is won inside the quarter (`analytics.forecast.CloseTimingModel`) and "
        "uses no close dates at all. Coverage: share of actuals inside the 80% interval.",
        "",
        "| level | forecasts | learned WAPE | timed WAPE | vendor WAPE | learned bias "
        "| timed bias | vendor bias | learned closer than vendor | timed closer than vendor "
        "| learned 80% coverage | timed 80% coverage |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in quarter_summary.itertuples(index=False):
        lines.append(
            f"| {row.level} | {row.points} | {row.learned_wape:.1%} | {row.timed_wape:.1%} "
            f"| {row.vendor_wape:.1%} | {row.learned_bias:+.1%} | {row.timed_bias:+.1%} "
            f"| {row.vendor_bias:+.1%} | {row.learned_closer:.0%} | {row.timed_closer:.0%} "
            f"| {row.interval_80_coverage:.0%} | {row.timed_interval_80_coverage:.0%} |"
        )
    lines += [
        "",
        "Company forecasts by quarter:",
        "",
        "| quarter | open deals dated in it | learned (p10 - p90) | timed (p10 - p90) | vendor "
        "| actual (from that pipeline) | all bookings |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in quarters[quarters["level"] == "company"].itertuples(index=False):
        lines.append(
            f"| {row.quarter} | {row.deals} | {money(row.learned)} ({money(row.p10)} - "
            f"{money(row.p90)}) | {money(row.timed)} ({money(row.timed_p10)} - "
            f"{money(row.timed_p90)}) | {money(row.vendor)} | {money(row.actual)} "
            f"| {money(row.actual_all)} |"
        )
    lines += [
        "",
        "### Pipeline view (every deal open on the day, outcome by the end of the data)",
        "",
        "| level | forecasts | learned WAPE | vendor WAPE | learned bias | vendor bias "
        "| learned closer | 80% interval coverage |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in pipeline_summary.itertuples(index=False):
        lines.append(
            f"| {row.level} | {row.points} | {row.learned_wape:.1%} | {row.vendor_wape:.1%} "
            f"| {row.learned_bias:+.1%} | {row.vendor_bias:+.1%} | {row.learned_closer:.0%} "
            f"| {row.interval_80_coverage:.0%} |"
        )
    lines += [
        "",
        "Company pipeline by forecast day:",
        "",
        "| day | open deals | resolved | learned | vendor | actual won |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in pipeline[pipeline["level"] == "company"].itertuples(index=False):
        lines.append(
            f"| {row.as_of} | {row.deals} | {row.resolved:.0%} | {money(row.learned)} "
            f"| {money(row.vendor)} | {money(row.actual)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date(2025, 6, 30))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--store-url", help="read the demo data from this store instead")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    end: dt.date = args.end_date

    started = time.perf_counter()
    if args.store_url:
        company = load_company(args.store_url, end)
        source = f"demo store {args.store_url}"
    else:
        company = demo_company(end, args.accounts, args.seed)
        source = (
            f"`salesbot demo-data` generator, {args.accounts:,} accounts, seed {args.seed}, "
            f"history to {end}"
        )
    first_day = pd.Timestamp(company.opportunities["created_date"].min()).date()
    source += (
        f" ({len(company.opportunities):,} opportunities, "
        f"{len(company.stage_history):,} stage entries)"
    )
    print(f"data: {source}")

    learn_from = first_day + dt.timedelta(days=365)
    quarters = []
    quarter = quarter_period(learn_from, 1)
    while quarter.end <= end:
        quarters.append(quarter)
        quarter = quarter_period(quarter.start, 1)
    sections = []
    runs: list[tuple[Literal["count", "amount"], str]] = [
        ("count", "Win rates learned by deal count (default)"),
        ("amount", 'Win rates learned by amount (weight="amount")'),
    ]
    for weight, title in runs:
        quarter_table = quarter_rows(company, quarters, weight)
        quarter_summary = summarise(quarter_table)
        days = [q.start - dt.timedelta(days=1) for q in quarters]
        pipeline_table = pipeline_rows(company, days, end, weight)
        resolved_days = pipeline_table.loc[
            (pipeline_table["level"] == "company") & (pipeline_table["resolved"] >= 0.9), "as_of"
        ]
        scored = pipeline_table[pipeline_table["as_of"].isin(resolved_days)]
        pipeline_summary = summarise(scored)
        print(f"\n{title}\nquarter view:")
        print(quarter_summary.to_string(index=False, float_format=fmt, line_width=160))
        print("pipeline view (forecast days with >= 90% of the pipeline resolved):")
        print(pipeline_summary.to_string(index=False, float_format=fmt, line_width=160))
        sections.append(markdown(title, quarter_table, quarter_summary, scored, pipeline_summary))
    seconds = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(header(source, seconds)) + "\n" + "\n".join(sections))
    print(f"\nwritten to {args.out} ({seconds:.0f} s)")
    return 0


def fmt(value: float) -> str:
    return f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
