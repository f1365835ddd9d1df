"""A manager's team digest: how the team is doing and where to act, every number with its period.

:func:`build_digest` takes the frames of one team (the keyword names of
:meth:`store.team.TeamFrames.frames`: ``reps``, ``accounts``, ``opportunities``,
``stage_history``, ``activities``, ``targets``, ``account_health``, ``recommendations``,
``calls``, ``coaching_flags``; the columns of :mod:`store.frames` / :mod:`store.team`) and
returns a :class:`Digest`. It reads no clock: ``today`` and ``since`` are parameters.

Sections and their periods
--------------------------
Pipeline (``today``)
    :func:`analytics.pipeline.pipeline_summary` of the team's deals open on ``today``; deals
    closing in ``period`` (by default the calendar quarter of ``today``) and past due.
Forecast vs quota (``period``)
    :func:`analytics.forecast.forecast` for ``period`` with the team's quotas (``bookings``).
What moved (``since`` .. ``today``)
    :func:`analytics.pipeline.pipeline_movement`: new, advanced, slipped, won and lost deals
    since the last digest (``since``; a ``since`` on or after ``today`` becomes seven days
    before ``today``).
Slipping accounts (the insight tables' ``as_of``)
    Accounts of the team whose stored health status is slipping or lapsed, largest revenue
    at risk (a year) first, and the same totalled per rep.
Growth pitches not acted on (the insight tables' ``as_of``)
    The best stored pitch (lowest rank) of each team account with no ``contacted`` activity
    on that account since the pitch's ``as_of``, largest expected value (a year) first.
Stalled deals (``today``)
    :func:`analytics.pipeline.stalled_deals` with ``no_activity_days`` (14 by default).
Coaching themes (the ``coaching_days`` days ending on ``today`` vs the days before)
    Coaching flags of the team's calls per tracker category in both windows, the change in
    per cent (NaN, null in the data, when the earlier window had none), the most frequent
    tracker, and the calls in each window. Windows are calendar days of the calls' start time in UTC.
One line per rep (periods as above)
    Every team member with the ``rep`` role or with deals, accounts or quotas of their own:
    open pipeline, closed won and quota attainment in ``period``, moved deals, slipping
    accounts, stalled deals, open pitches and coaching flags.

The stage model (stage order, win odds, typical days in stage) is fitted on all the deals
passed in (the company's, as for the pipeline answers) unless a fitted ``model`` is given.
:meth:`Digest.to_data` turns the digest into the JSON-safe ``data`` the renderer and the
charts read (contract in :mod:`render.digest`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics.errors import require_columns
from analytics.forecast import Forecast, forecast, forecast_by_rep
from analytics.jsonable import json_value
from analytics.periods import Period, quarter_period
from analytics.pipeline import (
    STALLED_COLUMNS,
    PipelineSummary,
    StageModel,
    ensure_model,
    int_ids,
    is_member,
    movement_summary,
    pipeline_by_rep,
    pipeline_movement,
    pipeline_summary,
    stalled_deals,
    states_in_scope,
)

__all__ = [
    "CATEGORY_WORDS",
    "COACHING_DAYS",
    "DEFAULT_MOVEMENT_DAYS",
    "FLAGGED_STATUSES",
    "Digest",
    "build_digest",
    "coaching_themes",
    "open_pitches",
    "slipping_by_rep",
]

COACHING_DAYS = 7
DEFAULT_MOVEMENT_DAYS = 7
NO_ACTIVITY_DAYS = 14
TOP_ROWS = 5
FORECAST_SIMULATIONS = 2000
FLAGGED_STATUSES = ("slipping", "lapsed")
CONTACTED = "contacted"
CATEGORY_WORDS = {
    "pricing": "pricing objections",
    "budget": "budget concerns",
    "competitor": "competitor mentions",
    "decision_process": "decision-process questions",
    "timeline": "timeline concerns",
    "next_steps": "next steps agreed",
    "churn_risk": "churn-risk signals",
}
"""How the shipped tracker categories read in a sentence; other categories keep their name."""

REP_LINE_COLUMNS = [
    "rep_id", "name", "open_deals", "open_amount", "weighted_amount", "closed_won", "quota",
    "attainment", "new_deals", "advanced_deals", "slipped_deals", "won_deals", "won_amount",
    "lost_deals", "slipping_accounts", "revenue_at_risk", "stalled_deals", "stalled_amount",
    "open_pitches", "coaching_flags",
]  # fmt: skip
SLIPPING_COLUMNS = [
    "account_id", "name", "owner_id", "owner_name", "status", "revenue_at_risk",
    "days_since_last_order", "reason",
]  # fmt: skip
PITCH_COLUMNS = [
    "account_id", "name", "owner_id", "owner_name", "kind", "category", "product",
    "expected_value", "reason", "as_of",
]  # fmt: skip
MOVED_COLUMNS = [
    "opportunity_id", "name", "account_id", "account_name", "owner_id", "owner_name",
    "movement", "stage_before", "stage_now", "amount", "close_date", "reason",
]  # fmt: skip
STALLED_DATA_COLUMNS = [
    "opportunity_id", "name", "account_id", "account_name", "owner_id", "owner_name",
    "stage", "amount", "close_date", "days_in_stage", "typical_days_in_stage",
    "days_since_activity", "stalled_by", "reason", "next_step",
]  # fmt: skip
COACHING_COLUMNS = [
    "category", "label", "flags", "flags_before", "change", "calls", "top_tracker",
]  # fmt: skip


@dataclass(frozen=True, eq=False)
class Digest:
    """A team digest (definitions and periods in the module docstring)."""

    scope_label: str
    manager_id: int | None
    manager_name: str | None
    rep_ids: tuple[int, ...]
    as_of: dt.date
    since: dt.date
    period: Period
    coaching_period: Period
    coaching_previous: Period
    scored_as_of: dt.date | None
    pipeline: PipelineSummary
    forecast: Forecast
    movement: pd.DataFrame
    """``movement``, ``deals``, ``amount`` for new/advanced/slipped/won/lost."""
    moved_deals: pd.DataFrame
    """The largest moved deals: ``analytics.pipeline.MOVEMENT_COLUMNS`` + names."""
    slipping: pd.DataFrame
    """Top slipping accounts: ``account_id``, ``name``, ``owner_id``, ``owner_name``,
    ``status``, ``revenue_at_risk``, ``days_since_last_order``, ``reason``."""
    slipping_by_rep: pd.DataFrame
    """``rep_id``, ``name``, ``accounts``, ``revenue_at_risk``, largest risk first."""
    slipping_total: int
    slipping_revenue_at_risk: float
    accounts_in_book: int
    pitches: pd.DataFrame
    """Top pitches not acted on: ``account_id``, ``name``, ``owner_id``, ``owner_name``,
    ``kind``, ``category``, ``product``, ``expected_value``, ``reason``, ``as_of``."""
    pitches_open: int
    pitches_open_value: float
    pitches_acted_on: int
    stalled: pd.DataFrame
    """Top stalled deals: ``analytics.pipeline.STALLED_COLUMNS`` + names."""
    stalled_total: int
    stalled_value: float
    coaching: pd.DataFrame
    """``COACHING_COLUMNS``, most flags first."""
    calls_reviewed: int
    calls_reviewed_before: int
    rep_lines: pd.DataFrame
    """``REP_LINE_COLUMNS``, largest open pipeline first."""

    def to_data(self) -> dict[str, Any]:
        """The digest as JSON-safe data (contract in :mod:`render.digest`)."""
        return _digest_data(self)


# ------------------------------------------------------------------------ pieces


def slipping_by_rep(
    account_health: pd.DataFrame,
    accounts: pd.DataFrame,
    reps: pd.DataFrame,
    *,
    statuses: Collection[str] = FLAGGED_STATUSES,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flagged accounts (health ``status`` in ``statuses``) with their owner, largest revenue
    at risk first, and per owner: ``rep_id``, ``name``, ``accounts``, ``revenue_at_risk``.

    ``account_health``: ``account_id``, ``status``, ``revenue_at_risk`` (+ optional
    ``days_since_last_order``, ``reason``); ``accounts``: ``account_id``, ``name``,
    ``owner_id``; ``reps``: ``rep_id``, ``name``.
    """
    require_columns("account_health", account_health.columns, ["account_id", "status"])
    require_columns("accounts", accounts.columns, ["account_id", "name", "owner_id"])
    names = _names(reps)
    flagged = account_health[account_health["status"].isin(list(statuses)).to_numpy()].copy()
    book = accounts.set_index("account_id")
    flagged["name"] = flagged["account_id"].map(book["name"])
    flagged["owner_id"] = pd.array(flagged["account_id"].map(book["owner_id"]), dtype="Int64")
    flagged["owner_name"] = [
        names.get(int(o)) if pd.notna(o) else None for o in flagged["owner_id"]
    ]
    for column in ("days_since_last_order", "reason"):
        if column not in flagged.columns:
            flagged[column] = None
    flagged["revenue_at_risk"] = flagged["revenue_at_risk"].astype(float).fillna(0.0)
    flagged = flagged.sort_values(
        ["revenue_at_risk", "account_id"], ascending=[False, True], kind="stable", ignore_index=True
    )
    grouped = (
        flagged.dropna(subset=["owner_id"])
        .groupby("owner_id")["revenue_at_risk"]
        .agg(accounts="size", revenue_at_risk="sum")
        .reset_index()
        .rename(columns={"owner_id": "rep_id"})
    )
    grouped["rep_id"] = grouped["rep_id"].astype("int64")
    grouped.insert(1, "name", [names.get(int(r)) for r in grouped["rep_id"]])
    grouped["accounts"] = grouped["accounts"].astype("int64")
    grouped = grouped.sort_values(
        ["revenue_at_risk", "rep_id"], ascending=[False, True], kind="stable", ignore_index=True
    )
    return flagged[SLIPPING_COLUMNS], grouped


def open_pitches(
    recommendations: pd.DataFrame,
    activities: pd.DataFrame,
    accounts: pd.DataFrame,
    reps: pd.DataFrame,
) -> tuple[pd.DataFrame, int]:
    """The best pitch (lowest ``rank``) of each account nobody has contacted since the
    pitch's ``as_of``, largest ``expected_value`` first, and how many accounts' best pitch
    was acted on (a ``contacted`` activity on the account on or after that day).

    ``recommendations``: ``account_id``, ``rank``, ``kind``, ``category``, ``product``,
    ``expected_value``, ``reason``, ``as_of``; ``activities``: ``kind``, ``occurred_at``,
    ``account_id``.
    """
    require_columns(
        "recommendations",
        recommendations.columns,
        ["account_id", "rank", "kind", "category", "expected_value", "as_of"],
    )
    require_columns("activities", activities.columns, ["kind", "occurred_at", "account_id"])
    best = recommendations.sort_values(["account_id", "rank"], kind="stable").drop_duplicates(
        "account_id", keep="first"
    )
    contacted = activities[(activities["kind"] == CONTACTED).to_numpy()]
    contacted = contacted[contacted["account_id"].notna().to_numpy()]
    last_contact = contacted.groupby(int_ids(contacted["account_id"]))["occurred_at"].max()
    if len(last_contact):
        last = best["account_id"].map(last_contact).astype("datetime64[ns]")
    else:
        last = pd.Series(pd.NaT, index=best.index, dtype="datetime64[ns]")
    acted = last.notna().to_numpy() & (last >= pd.to_datetime(best["as_of"])).to_numpy()
    pending = best[~acted].copy()
    book = accounts.set_index("account_id")
    names = _names(reps)
    pending["name"] = pending["account_id"].map(book["name"])
    pending["owner_id"] = pd.array(pending["account_id"].map(book["owner_id"]), dtype="Int64")
    pending["owner_name"] = [names.get(o) for o in int_ids(pending["owner_id"]).tolist()]
    for column in ("product", "reason"):
        if column not in pending.columns:
            pending[column] = None
    pending["expected_value"] = pending["expected_value"].astype(float)
    pending = pending.sort_values(
        ["expected_value", "account_id"], ascending=[False, True], kind="stable", ignore_index=True
    )
    return pending[PITCH_COLUMNS], int(acted.sum())


def coaching_themes(
    coaching_flags: pd.DataFrame,
    calls: pd.DataFrame,
    *,
    current: Period,
    previous: Period,
) -> tuple[pd.DataFrame, int, int]:
    """Flags per category in ``current`` and ``previous`` (by the call's ``started_at``
    day): ``COACHING_COLUMNS``, most flags now first; plus the calls started in each window.

    ``coaching_flags``: ``call_id``, ``started_at``, ``category``, ``tracker``; ``calls``:
    ``call_id``, ``started_at``.
    """
    require_columns(
        "coaching_flags", coaching_flags.columns, ["call_id", "started_at", "category", "tracker"]
    )
    require_columns("calls", calls.columns, ["call_id", "started_at"])

    def within(frame: pd.DataFrame, period: Period) -> pd.DataFrame:
        day = pd.to_datetime(frame["started_at"]).dt.normalize()
        keep = (day >= pd.Timestamp(period.start)) & (day <= pd.Timestamp(period.end))
        return frame[keep.to_numpy()]

    now, before = within(coaching_flags, current), within(coaching_flags, previous)
    counts_now = now.groupby("category")["call_id"].agg(["size", "nunique"])
    counts_before = before.groupby("category").size()
    categories = sorted(set(counts_now.index) | set(counts_before.index))
    rows = []
    for category in categories:
        flags = int(counts_now["size"].get(category, 0))
        flags_before = int(counts_before.get(category, 0))
        trackers = now.loc[(now["category"] == category).to_numpy(), "tracker"]
        top = trackers.value_counts().sort_index().sort_values(ascending=False, kind="stable")
        rows.append(
            {
                "category": str(category),
                "label": CATEGORY_WORDS.get(str(category), str(category).replace("_", " ")),
                "flags": flags,
                "flags_before": flags_before,
                "change": (flags - flags_before) / flags_before if flags_before else None,
                "calls": int(counts_now["nunique"].get(category, 0)),
                "top_tracker": str(top.index[0]) if len(top) else None,
            }
        )
    table = pd.DataFrame(rows, columns=COACHING_COLUMNS)
    table = table.sort_values(
        ["flags", "flags_before", "category"], ascending=[False, False, True], ignore_index=True
    )
    return (
        table,
        within(calls, current)["call_id"].nunique(),
        within(calls, previous)["call_id"].nunique(),
    )


def _names(reps: pd.DataFrame) -> dict[int, str]:
    require_columns("reps", reps.columns, ["rep_id", "name"])
    return dict(zip(reps["rep_id"].astype("int64").tolist(), reps["name"].astype(str), strict=True))


def _with_names(
    frame: pd.DataFrame, accounts: Mapping[int, str], reps: Mapping[int, str]
) -> pd.DataFrame:
    out = frame.copy()
    out["account_name"] = [accounts.get(int(a)) if pd.notna(a) else None for a in out["account_id"]]
    out["owner_name"] = [reps.get(int(o)) if pd.notna(o) else None for o in out["owner_id"]]
    return out


def _line_members(
    team: Sequence[int],
    reps: pd.DataFrame,
    opportunities: pd.DataFrame,
    accounts: pd.DataFrame,
    targets: pd.DataFrame,
) -> list[int]:
    """Team members that get a line: reps, and anyone with deals, accounts or quotas."""
    role_values = reps["role"].astype(str) if "role" in reps.columns else ["rep"] * len(reps)
    roles = dict(zip(reps["rep_id"].astype("int64").tolist(), role_values, strict=True))
    owners = set(int_ids(opportunities["owner_id"]).tolist())
    owners |= set(int_ids(accounts["owner_id"]).tolist())
    owners |= set(int_ids(targets["rep_id"]).tolist()) if len(targets) else set()
    return [r for r in team if roles.get(r, "rep") == "rep" or r in owners]


# ------------------------------------------------------------------------ digest


def build_digest(
    *,
    reps: pd.DataFrame,
    accounts: pd.DataFrame,
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    activities: pd.DataFrame,
    targets: pd.DataFrame,
    account_health: pd.DataFrame,
    recommendations: pd.DataFrame,
    calls: pd.DataFrame,
    coaching_flags: pd.DataFrame,
    rep_ids: Collection[int] | None,
    today: dt.date,
    since: dt.date | None = None,
    period: Period | None = None,
    manager_id: int | None = None,
    scope_label: str | None = None,
    model: StageModel | None = None,
    coaching_days: int = COACHING_DAYS,
    no_activity_days: int = NO_ACTIVITY_DAYS,
    top: int = TOP_ROWS,
    n_simulations: int = FORECAST_SIMULATIONS,
) -> Digest:
    """The digest of the team ``rep_ids`` (``None``: every rep) on ``today`` (module docstring).

    ``accounts``, ``account_health``, ``recommendations``, ``activities``, ``calls`` and
    ``coaching_flags`` are expected to hold the team's rows (more rows are filtered out by
    owner); ``opportunities`` / ``stage_history`` may hold the whole company's.
    """
    names = _names(reps)
    team = (
        sorted(int(r) for r in rep_ids)
        if rep_ids is not None
        else sorted(int(r) for r in reps["rep_id"])
    )
    scope = frozenset(team) if rep_ids is not None else None
    if since is None or since >= today:
        since = today - dt.timedelta(days=DEFAULT_MOVEMENT_DAYS)
    period = period or quarter_period(today)
    model = ensure_model(model, opportunities, stage_history, today)
    # every section looks at the team's deals on today: their states are computed once
    states = states_in_scope(opportunities, stage_history, as_of=today, model=model, rep_ids=scope)
    accounts = _owned_rows(accounts, "owner_id", scope)
    team_ids = int_ids(accounts["account_id"])
    account_health = account_health[is_member(int_ids(account_health["account_id"]), team_ids)]
    recommendations = recommendations[is_member(int_ids(recommendations["account_id"]), team_ids)]
    account_names = dict(zip(team_ids.tolist(), accounts["name"].tolist(), strict=True))

    summary = pipeline_summary(
        opportunities,
        stage_history,
        today=today,
        model=model,
        rep_ids=scope,
        period=period,
        states=states,
    )
    team_targets = _owned_rows(targets, "rep_id", scope)
    outlook = forecast(
        opportunities,
        stage_history,
        period=period,
        today=today,
        model=model,
        rep_ids=scope,
        targets=team_targets,
        n_simulations=n_simulations,
        states=states,
    )
    moved = pipeline_movement(
        opportunities,
        stage_history,
        since=since,
        today=today,
        model=model,
        rep_ids=scope,
        states=states,
    )
    flagged, risk_by_rep = slipping_by_rep(account_health, accounts, reps)
    pending, acted_on = open_pitches(recommendations, activities, accounts, reps)
    if summary.open_deals:
        stalled = stalled_deals(
            opportunities,
            stage_history,
            activities,
            today=today,
            model=model,
            rep_ids=scope,
            no_activity_days=no_activity_days,
            states=states,
        )
    else:  # stalled_deals cannot map activities onto an empty set of open deals
        stalled = pd.DataFrame(columns=STALLED_COLUMNS)
    current = Period(
        today - dt.timedelta(days=coaching_days - 1), today, f"last {coaching_days} days"
    )
    previous = Period(
        current.start - dt.timedelta(days=coaching_days),
        current.start - dt.timedelta(days=1),
        f"the {coaching_days} days before",
    )
    team_calls = _owned_rows(calls, "rep_id", scope)
    team_flags = _owned_rows(coaching_flags, "rep_id", scope)
    themes, calls_now, calls_before = coaching_themes(
        team_flags, team_calls, current=current, previous=previous
    )
    team_deals = _owned_rows(opportunities, "owner_id", scope)
    members = _line_members(team, reps, team_deals, accounts, team_targets)
    lines = _rep_lines(
        members,
        reps=reps,
        opportunities=opportunities,
        stage_history=stage_history,
        model=model,
        today=today,
        period=period,
        targets=team_targets,
        moved=moved,
        risk_by_rep=risk_by_rep,
        stalled=stalled,
        pending=pending,
        flags=team_flags,
        coaching_period=current,
        states=states,
    )
    scored = pd.to_datetime(account_health["as_of"]).max() if len(account_health) else None
    manager_name = names.get(int(manager_id)) if manager_id is not None else None
    label = scope_label or (
        f"{manager_name}'s team"
        if manager_name
        else ("the company" if scope is None else "the team")
    )
    return Digest(
        scope_label=label,
        manager_id=manager_id,
        manager_name=manager_name,
        rep_ids=tuple(team),
        as_of=today,
        since=since,
        period=period,
        coaching_period=current,
        coaching_previous=previous,
        scored_as_of=None if scored is None or pd.isna(scored) else scored.date(),
        pipeline=summary,
        forecast=outlook,
        movement=movement_summary(moved),
        moved_deals=_with_names(moved.head(top), account_names, names),
        slipping=flagged.head(top),
        slipping_by_rep=risk_by_rep,
        slipping_total=len(flagged),
        slipping_revenue_at_risk=float(flagged["revenue_at_risk"].sum()),
        accounts_in_book=len(accounts),
        pitches=pending.head(top),
        pitches_open=len(pending),
        pitches_open_value=float(pending["expected_value"].sum()),
        pitches_acted_on=acted_on,
        stalled=_with_names(stalled.head(top), account_names, names),
        stalled_total=len(stalled),
        stalled_value=float(stalled["amount"].sum()),
        coaching=themes,
        calls_reviewed=int(calls_now),
        calls_reviewed_before=int(calls_before),
        rep_lines=lines,
    )


def _owned_rows(frame: pd.DataFrame, column: str, scope: frozenset[int] | None) -> pd.DataFrame:
    if scope is None:
        return frame
    return frame[np.isin(int_ids(frame[column]), np.fromiter(scope, dtype="int64"))]


def _rep_lines(
    members: Sequence[int],
    *,
    reps: pd.DataFrame,
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    model: StageModel,
    today: dt.date,
    period: Period,
    targets: pd.DataFrame,
    moved: pd.DataFrame,
    risk_by_rep: pd.DataFrame,
    stalled: pd.DataFrame,
    pending: pd.DataFrame,
    flags: pd.DataFrame,
    coaching_period: Period,
    states: pd.DataFrame | None = None,
) -> pd.DataFrame:
    if not members:
        return pd.DataFrame(columns=REP_LINE_COLUMNS)
    table = pipeline_by_rep(
        opportunities,
        stage_history,
        reps,
        today=today,
        model=model,
        rep_ids=members,
        states=states,
    ).set_index("rep_id")
    outlook = forecast_by_rep(
        opportunities,
        stage_history,
        reps,
        period=period,
        today=today,
        rep_ids=members,
        model=model,
        targets=targets,
        states=states,
    ).set_index("rep_id")
    owner = int_ids(moved["owner_id"])
    risk = risk_by_rep.set_index("rep_id")
    stalled_owner = int_ids(stalled["owner_id"])
    pitch_owner = int_ids(pending["owner_id"])
    day = pd.to_datetime(flags["started_at"]).dt.normalize()
    recent = flags[
        (
            (day >= pd.Timestamp(coaching_period.start))
            & (day <= pd.Timestamp(coaching_period.end))
        ).to_numpy()
    ]
    flag_owner = int_ids(recent["rep_id"])
    rows = []
    for rep_id in members:
        kinds = moved["movement"].to_numpy()[owner == rep_id]
        won = (owner == rep_id) & (moved["movement"] == "won").to_numpy()
        rows.append(
            {
                "rep_id": rep_id,
                "name": table.at[rep_id, "name"],
                "open_deals": int(table.at[rep_id, "open_deals"]),
                "open_amount": float(table.at[rep_id, "open_amount"]),
                "weighted_amount": float(table.at[rep_id, "weighted_amount"]),
                "closed_won": float(outlook.at[rep_id, "closed_won"]),
                "quota": float(outlook.at[rep_id, "quota"]),
                "attainment": float(outlook.at[rep_id, "attainment"]),
                "new_deals": int((kinds == "new").sum()),
                "advanced_deals": int((kinds == "advanced").sum()),
                "slipped_deals": int((kinds == "slipped").sum()),
                "won_deals": int(won.sum()),
                "won_amount": float(moved["amount"].to_numpy()[won].sum()),
                "lost_deals": int((kinds == "lost").sum()),
                "slipping_accounts": int(risk["accounts"].get(rep_id, 0)),
                "revenue_at_risk": float(risk["revenue_at_risk"].get(rep_id, 0.0)),
                "stalled_deals": int((stalled_owner == rep_id).sum()),
                "stalled_amount": float(
                    stalled["amount"].to_numpy()[stalled_owner == rep_id].sum()
                ),
                "open_pitches": int((pitch_owner == rep_id).sum()),
                "coaching_flags": int((flag_owner == rep_id).sum()),
            }
        )
    lines = pd.DataFrame(rows, columns=REP_LINE_COLUMNS)
    return lines.sort_values(
        ["open_amount", "rep_id"], ascending=[False, True], kind="stable", ignore_index=True
    )


# ------------------------------------------------------------------------- data


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    names = [c for c in columns if c in frame.columns]
    return [
        {name: json_value(v) for name, v in zip(names, row, strict=True)}
        for row in frame[names].itertuples(index=False, name=None)
    ]


def _period(period: Period) -> dict[str, str]:
    return {"label": period.label, "start": period.start.isoformat(), "end": period.end.isoformat()}


def _digest_data(d: Digest) -> dict[str, Any]:
    p, f = d.pipeline, d.forecast
    movement = {
        row.movement: {"deals": int(row.deals), "value": float(row.amount)}
        for row in d.movement.itertuples(index=False)
    }
    stages = d.pipeline.by_stage.rename(columns={"amount": "value", "weighted_amount": "weighted"})
    stage_rows = _records(
        stages, ["stage", "position", "deals", "value", "win_probability", "weighted"]
    )
    risk_rows = _records(d.slipping_by_rep, ["rep_id", "name", "accounts", "revenue_at_risk"])
    forecast_data = {
        "period": _period(f.period),
        "closed_won": json_value(f.closed_won),
        "closed_won_deals": f.closed_won_deals,
        "commit": json_value(f.commit),
        "best_case": json_value(f.best_case),
        "pipeline": json_value(f.pipeline),
        "weighted": json_value(f.weighted),
        "p10": json_value(f.p10),
        "p90": json_value(f.p90),
        "quota": json_value(f.quota),
        "attainment": json_value(f.attainment),
        "projected_attainment": json_value(f.projected_attainment),
        "chance_of_quota": json_value(f.chance_of_quota),
        "reason": f.reason,
        "quota_reason": f.quota_reason,
    }
    as_of = d.as_of.isoformat()
    scored = d.scored_as_of.isoformat() if d.scored_as_of else None
    return {
        "as_of": as_of,
        "scope": {
            "label": d.scope_label,
            "manager_id": d.manager_id,
            "manager_name": d.manager_name,
            "rep_ids": list(d.rep_ids),
        },
        "period": _period(d.period),
        "since": d.since.isoformat(),
        "scored_as_of": scored,
        "pipeline": {
            "as_of": as_of,
            "open_deals": p.open_deals,
            "total_value": json_value(p.open_amount),
            "weighted_value": json_value(p.weighted_amount),
            "weighted_reason": p.weighted_reason,
            "closing": {
                "period": _period(d.period),
                "deals": p.closing_deals,
                "value": json_value(p.closing_amount),
                "weighted": json_value(p.closing_weighted),
            },
            "past_due": {"deals": p.past_due_deals, "value": json_value(p.past_due_amount)},
            "stages": stage_rows,
        },
        "forecast": forecast_data,
        "movement": {
            "since": d.since.isoformat(),
            "until": as_of,
            "summary": movement,
            "deals": _records(
                d.moved_deals,
                MOVED_COLUMNS,
            ),
        },
        "slipping": {
            "as_of": scored,
            "total": d.slipping_total,
            "revenue_at_risk": json_value(d.slipping_revenue_at_risk),
            "accounts_in_book": d.accounts_in_book,
            "by_rep": risk_rows,
            "accounts": _records(
                d.slipping,
                SLIPPING_COLUMNS,
            ),
        },
        "pitches": {
            "as_of": scored,
            "open": d.pitches_open,
            "open_value": json_value(d.pitches_open_value),
            "acted_on": d.pitches_acted_on,
            "accounts": _records(
                d.pitches,
                PITCH_COLUMNS,
            ),
        },
        "stalled": {
            "as_of": as_of,
            "total": d.stalled_total,
            "value": json_value(d.stalled_value),
            "deals": _records(
                d.stalled,
                STALLED_DATA_COLUMNS,
            ),
        },
        "coaching": {
            "period": _period(d.coaching_period),
            "previous": _period(d.coaching_previous),
            "calls": d.calls_reviewed,
            "calls_before": d.calls_reviewed_before,
            "themes": _records(d.coaching, COACHING_COLUMNS),
        },
        "reps": _records(d.rep_lines, REP_LINE_COLUMNS),
        "charts": {
            "pipeline_by_stage": {"as_of": as_of, "stages": stage_rows},
            "revenue_at_risk_by_rep": {"as_of": scored, "reps": risk_rows},
            "forecast_vs_quota": forecast_data,
        },
    }
