"""Deal skills: pipeline, stalled deals, forecast and metrics.

Each action reads what was asked (rep, period, metric), resolves whose deals the answer
covers (refusing names the asker may not see before any number is computed), calls the
analytics on that scope's slice of the company data (:mod:`actions.data`) and renders the
result (:mod:`render.pipeline`). The ``data`` of each answer holds the same numbers the
analytics return for that scope; its contract is documented in :mod:`render.pipeline`.
"""

from __future__ import annotations

import abc
import datetime as dt
from typing import Any, ClassVar

import pandas as pd
from rasa_sdk.types import DomainDict

from actions.base import Context, Outcome, SalesAction, last_answer, said
from actions.data import (
    DealBook,
    Page,
    account_book,
    activities_about,
    any_activity_logged,
    contacts,
    deal_book,
    json_value,
    lead_rows,
    order_history,
    period_json,
    records,
    rep_names,
    reps,
    targets,
)
from actions.scope import Scope, rep_said, resolve_period, resolve_scope, scope_json
from analytics.buying_group import buying_group_coverage
from analytics.forecast import forecast, forecast_by_rep
from analytics.metrics import METRICS, MetricFrames, MetricResult, compute_metric
from analytics.metrics import conversion_by_source as conversion_table
from analytics.periods import Period
from analytics.pipeline import (
    DEAL_COLUMNS,
    STALLED_COLUMNS,
    deals_closing,
    movement_summary,
    pipeline_by_rep,
    pipeline_movement,
    pipeline_summary,
    stalled_deals,
    states_in_scope,
)
from render import Answer
from render import pipeline as view

PIPELINE_DEFAULT_PERIOD = "this quarter"
FORECAST_DEFAULT_PERIOD = "this quarter"
MOVEMENT_DEFAULT_DAYS = 7
NO_ACTIVITY_DAYS = 14
FORECAST_SIMULATIONS = 5000
COMMIT_PROBABILITY = 0.6
BEST_CASE_PROBABILITY = 0.3
COVERAGE_LOOKBACK_DAYS = 90
COVERAGE_DEALS = 3
"""Buying-group coverage is shown for the first deals of each page of stalled deals."""


# ------------------------------------------------------------------- what was asked


def undated_open_deals(deals: pd.DataFrame) -> int:
    """Open deals without a close date: no period can count them as expected to close."""
    if not len(deals):
        return 0
    undated = ~deals["is_closed"].to_numpy(dtype=bool) & deals["close_date"].isna().to_numpy()
    return int(undated.sum())


def team_rep_ids(scope: Scope, reps_frame: pd.DataFrame) -> list[int]:
    """The reps a team scope lists one by one (every rep for the whole company)."""
    if scope.rep_ids is not None:
        return sorted(scope.rep_ids)
    return sorted(int(r) for r in reps_frame["rep_id"])


def with_names(
    rows: list[dict[str, Any]],
    *,
    accounts: dict[int, str] | None = None,
    owners: dict[int, str] | None = None,
) -> list[dict[str, Any]]:
    """Rows with ``account_name`` / ``owner_name`` added from their ids."""
    for row in rows:
        if accounts is not None:
            row["account_name"] = accounts.get(row.get("account_id") or -1)
        if owners is not None:
            row["owner_name"] = owners.get(row.get("owner_id") or -1)
    return rows


def weights_json(book: DealBook) -> dict[str, Any]:
    model = book.model
    return {
        "closed_deals": int(model.closed_deals_),
        "won_deals": int(model.won_deals_),
        "overall_win_rate": json_value(model.overall_win_rate_),
        "as_of": book.as_of.isoformat(),
    }


def stage_weights_data(ctx: Context, scope: Scope, skill: str) -> dict[str, Any]:
    """The numbers behind the learned stage odds (the "why?" of pipeline and forecast)."""
    book = deal_book(ctx.engine, ctx.today)
    table = book.model.win_probabilities_
    return {
        "skill": skill,
        "as_of": ctx.today.isoformat(),
        "scope": scope_json(scope),
        "weights": weights_json(book),
        "prior_strength": float(book.model.prior_strength),
        "stage_weights": records(
            table, ["stage", "closed_deals", "won_deals", "raw_rate", "win_probability"]
        ),
        "thresholds": {
            "commit_probability": COMMIT_PROBABILITY,
            "best_case_probability": BEST_CASE_PROBABILITY,
        },
        "simulations": FORECAST_SIMULATIONS,
    }


def answered(
    answer: Answer,
    skill: str,
    params: dict[str, Any],
    shown: int,
    focus: dict[str, Any] | None = None,
    slots: dict[str, Any] | None = None,
) -> Outcome:
    outcome = Outcome().say(answer)
    for slot, value in (slots or {}).items():
        outcome.set(slot, value)
    outcome.events.append(last_answer(skill, params=params, shown=shown, focus=focus))
    return outcome


def more_or_nothing(
    last: dict[str, Any], page_of_rows: Page, render: Any, data: dict[str, Any], skill: str
) -> Outcome:
    if not page_of_rows.rows:
        return Outcome().respond("utter_nothing_more")
    return answered(render(data), skill, last["params"], page_of_rows.shown)


class ScopedListAction(SalesAction):
    """A paged list for the asker, a rep or a team ("my pipeline", "Sarah's stalled deals"),
    for a period when the skill takes one. The question's intent is ``ask_<skill>``; its
    ``rep`` (and ``period``) are kept in the last answer, so "show more" pages on with them.
    Subclasses say how the list is made (:meth:`list_data`) and shown (:meth:`render`)."""

    takes_period: ClassVar[bool] = False

    @abc.abstractmethod
    def list_data(
        self, ctx: Context, scope: Scope, period_text: str | None, *, offset: int, size: int
    ) -> tuple[dict[str, Any], Page]:
        """The answer's data and the page of rows shown, from ``offset``."""

    @abc.abstractmethod
    def render(self, data: dict[str, Any]) -> Answer:
        """The answer as the rep reads it."""

    def focus(self, page_of_rows: Page) -> dict[str, Any] | None:
        """What "it"/"them" refers to after this answer: the deals shown."""
        return {"opportunity_ids": [row["opportunity_id"] for row in page_of_rows.rows]}

    def _reply(
        self, ctx: Context, params: dict[str, Any], offset: int
    ) -> tuple[dict[str, Any], Page]:
        scope = resolve_scope(ctx.engine, ctx.asker, params.get("rep"))
        data, page_of_rows = self.list_data(
            ctx, scope, params.get("period"), offset=offset, size=ctx.settings.list_size
        )
        data["asked"] = {"rep": params.get("rep"), "period": params.get("period")}
        return data, page_of_rows

    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        skill = str(self.skill)
        params = {"rep": rep_said(ctx, f"ask_{skill}")}
        if self.takes_period:
            params["period"] = said(ctx, "period", f"ask_{skill}")
        data, page_of_rows = self._reply(ctx, params, 0)
        return answered(
            self.render(data),
            skill,
            params,
            page_of_rows.shown,
            focus=self.focus(page_of_rows),
            slots=params,
        )

    def more(self, ctx: Context, last: dict[str, Any]) -> Outcome:
        data, page_of_rows = self._reply(ctx, last["params"], int(last["shown"]))
        return more_or_nothing(last, page_of_rows, self.render, data, str(self.skill))


# ----------------------------------------------------------------------- pipeline


def movement_since(period: Period | None, named: bool, today: dt.date) -> dt.date:
    """The day movement is counted from: the day before a named period began (so its first
    day counts), else (or for a period not begun yet) the last seven days."""
    if named and period is not None and period.start <= today:
        since = period.start - dt.timedelta(days=1)
        if since < today:
            return since
    return today - dt.timedelta(days=MOVEMENT_DEFAULT_DAYS)


def pipeline_data(
    ctx: Context, scope: Scope, period: Period, *, named_period: bool, offset: int, size: int
) -> tuple[dict[str, Any], Page]:
    book = deal_book(ctx.engine, ctx.today)
    model, today, rep_ids = book.model, ctx.today, scope.rep_ids
    open_deals, open_history = book.scope(rep_ids, closed_after=today)
    open_states = states_in_scope(
        open_deals, open_history, as_of=today, model=model, rep_ids=rep_ids
    )
    summary = pipeline_summary(
        open_deals,
        open_history,
        today=today,
        model=model,
        rep_ids=rep_ids,
        period=period,
        states=open_states,
    )
    closing_deals, closing_history = book.scope(rep_ids, closed_after=today, closing_in=period)
    closing = deals_closing(
        closing_deals, closing_history, period=period, today=today, model=model, rep_ids=rep_ids
    )
    since = movement_since(period, named_period, today)
    moving, moving_history = book.scope(rep_ids, closed_after=since)
    movement = pipeline_movement(
        moving, moving_history, since=since, today=today, model=model, rep_ids=rep_ids
    )
    people = reps(ctx.engine)
    owners = rep_names(people)
    by_rep = None
    if scope.is_team:
        table = pipeline_by_rep(
            open_deals,
            open_history,
            people,
            today=today,
            model=model,
            rep_ids=team_rep_ids(scope, people),
            states=open_states,
        )
        by_rep = records(table, ["rep_id", "name", "open_deals", "open_amount", "weighted_amount"])
    moved_rows = movement.head(size)
    closing_page = closing.iloc[offset : offset + size]
    names = account_book(ctx.engine, today).names(
        list(closing_page["account_id"]) + list(moved_rows["account_id"])
    )
    page = Page(
        offset=offset,
        size=size,
        total=len(closing),
        rows=with_names(records(closing_page, DEAL_COLUMNS), accounts=names, owners=owners),
    )
    counts = movement_summary(movement).set_index("movement")
    stages = summary.by_stage.rename(columns={"amount": "value", "weighted_amount": "weighted"})
    data = {
        "as_of": today.isoformat(),
        "scope": scope_json(scope),
        "period": period_json(period),
        "open_deals": summary.open_deals,
        "total_value": json_value(summary.open_amount),
        "weighted_value": json_value(summary.weighted_amount),
        "weighted_reason": summary.weighted_reason,
        "stages": records(
            stages, ["stage", "position", "deals", "value", "win_probability", "weighted"]
        ),
        "closing_total": {
            "deals": summary.closing_deals,
            "value": json_value(summary.closing_amount),
            "weighted": json_value(summary.closing_weighted),
        },
        "closing": page.rows,
        "undated_open_deals": undated_open_deals(open_deals),
        "past_due": {
            "deals": summary.past_due_deals,
            "value": json_value(summary.past_due_amount),
        },
        "movement": {
            "since": since.isoformat(),
            "until": today.isoformat(),
            "summary": {
                kind: {
                    "deals": int(counts.loc[kind, "deals"]),
                    "value": json_value(counts.loc[kind, "amount"]),
                }
                for kind in counts.index
            },
            "deals": with_names(
                records(
                    moved_rows,
                    [
                        "opportunity_id",
                        "name",
                        "account_id",
                        "owner_id",
                        "movement",
                        "stage_before",
                        "stage_now",
                        "amount",
                        "close_date",
                        "reason",
                    ],
                ),
                accounts=names,
                owners=owners,
            ),
        },
        "by_rep": by_rep,
        "weights": weights_json(book),
        "offset": offset,
        "page_size": size,
    }
    return data, page


class ActionPipeline(ScopedListAction):
    """ "How does my pipeline look this quarter?" """

    action_name: ClassVar[str] = "action_pipeline"
    skill: ClassVar[str | None] = "pipeline"
    takes_period: ClassVar[bool] = True

    def list_data(
        self, ctx: Context, scope: Scope, period_text: str | None, *, offset: int, size: int
    ) -> tuple[dict[str, Any], Page]:
        period = resolve_period(period_text, ctx.today, default=PIPELINE_DEFAULT_PERIOD)
        assert period is not None
        return pipeline_data(
            ctx, scope, period, named_period=period_text is not None, offset=offset, size=size
        )

    def render(self, data: dict[str, Any]) -> Answer:
        return view.pipeline_answer(data)

    def explain(self, ctx: Context, last: dict[str, Any]) -> Outcome:
        params = last["params"]
        scope = resolve_scope(ctx.engine, ctx.asker, params.get("rep"))
        data = stage_weights_data(ctx, scope, "pipeline")
        data["asked"] = {"rep": params.get("rep"), "period": params.get("period")}
        return Outcome().say(view.stage_weights_answer(data))


# ------------------------------------------------------------------------ stalled


def coverage_json(result: Any) -> dict[str, Any]:
    return {
        "coverage": json_value(result.coverage),
        "engaged_roles": list(result.engaged_roles),
        "not_engaged_roles": list(result.not_engaged_roles),
        "missing_roles": list(result.missing_roles),
        "lookback_days": result.lookback_days,
        "reason": result.reason,
        "next_step": result.next_step,
    }


def stalled_data(
    ctx: Context, scope: Scope, *, offset: int, size: int
) -> tuple[dict[str, Any], Page]:
    book = deal_book(ctx.engine, ctx.today)
    model, today, rep_ids = book.model, ctx.today, scope.rep_ids
    deals, history = book.scope(rep_ids, closed_after=today)
    states = states_in_scope(deals, history, as_of=today, model=model, rep_ids=rep_ids)
    open_count = int((states["state"] == "open").sum())
    # a store without a single activity (an opportunity export alone) cannot tell a quiet
    # deal from one whose calls were never logged: the activity rule is left out then
    logged = any_activity_logged(ctx.engine, today)
    if open_count:
        activities = activities_about(
            ctx.engine, today, deal_ids=deals["opportunity_id"], account_ids=deals["account_id"]
        )
        stalled = stalled_deals(
            deals,
            history,
            activities if logged else None,
            today=today,
            model=model,
            rep_ids=rep_ids,
            no_activity_days=NO_ACTIVITY_DAYS if logged else None,
            states=states,
        )
    else:
        # stalled_deals fails on a scope without open deals when given activities
        stalled = pd.DataFrame(columns=STALLED_COLUMNS)
    owners = rep_names(reps(ctx.engine))
    shown = stalled.iloc[offset : offset + size]
    names = account_book(ctx.engine, today).names(shown["account_id"])
    rows = with_names(
        records(
            shown,
            [
                "opportunity_id",
                "name",
                "account_id",
                "owner_id",
                "stage",
                "amount",
                "close_date",
                "days_in_stage",
                "typical_days_in_stage",
                "days_since_activity",
                "last_activity_date",
                "stalled_by",
                "reason",
                "next_step",
            ],
        ),
        accounts=names,
        owners=owners,
    )
    page = Page(offset=offset, size=size, total=len(stalled), rows=rows)
    covered = page.rows[:COVERAGE_DEALS]
    if covered:
        people = contacts(ctx.engine, [row["account_id"] for row in covered])
        engaged = activities_about(ctx.engine, today, contact_ids=people["contact_id"])
        for row in page.rows:
            row["buying_group"] = None
        known = set(people["account_id"].astype(int)) if len(people) else set()
        for row in covered:
            if not logged or row["account_id"] not in known:
                continue  # no contacts or no activities: engagement cannot be told
            result = buying_group_coverage(
                row["opportunity_id"],
                deals,
                people,
                engaged,
                today=today,
                lookback_days=COVERAGE_LOOKBACK_DAYS,
            )
            row["buying_group"] = coverage_json(result)
    data = {
        "as_of": today.isoformat(),
        "scope": scope_json(scope),
        "open_deals": open_count,
        "total": len(stalled),
        "total_value": json_value(float(stalled["amount"].sum())),
        "no_activity_days": NO_ACTIVITY_DAYS if logged else None,
        "deals": page.rows,
        "offset": offset,
        "page_size": size,
    }
    return data, page


class ActionStalledDeals(ScopedListAction):
    """ "Which of my deals are stuck?" """

    action_name: ClassVar[str] = "action_stalled_deals"
    skill: ClassVar[str | None] = "stalled_deals"

    def list_data(
        self, ctx: Context, scope: Scope, period_text: str | None, *, offset: int, size: int
    ) -> tuple[dict[str, Any], Page]:
        return stalled_data(ctx, scope, offset=offset, size=size)

    def render(self, data: dict[str, Any]) -> Answer:
        return view.stalled_answer(data)

    def explain(self, ctx: Context, last: dict[str, Any]) -> Outcome:
        scope = resolve_scope(ctx.engine, ctx.asker, last["params"].get("rep"))
        book = deal_book(ctx.engine, ctx.today)
        data = {
            "skill": "stalled_deals",
            "as_of": book.as_of.isoformat(),
            "scope": scope_json(scope),
            "typical_quantile": float(book.model.typical_quantile),
            "min_won_samples": int(book.model.min_won_samples),
            "no_activity_days": NO_ACTIVITY_DAYS,
            "stage_days": records(
                book.model.stage_days_, ["stage", "won_visits", "median_days", "typical_days"]
            ),
            "asked": {"rep": last["params"].get("rep"), "period": None},
        }
        return Outcome().say(view.stage_days_answer(data))


# ----------------------------------------------------------------------- forecast


def forecast_data(
    ctx: Context, scope: Scope, period: Period, *, offset: int, size: int
) -> tuple[dict[str, Any], Page]:
    book = deal_book(ctx.engine, ctx.today)
    model, today, rep_ids = book.model, ctx.today, scope.rep_ids
    cutoff = min(period.start - dt.timedelta(days=1), today)
    deals, history = book.scope(rep_ids, closed_after=cutoff)
    states = states_in_scope(deals, history, as_of=today, model=model, rep_ids=rep_ids)
    quotas = targets(ctx.engine, rep_ids)
    result = forecast(
        deals,
        history,
        period=period,
        today=today,
        model=model,
        rep_ids=rep_ids,
        targets=quotas,
        commit_probability=COMMIT_PROBABILITY,
        best_case_probability=BEST_CASE_PROBABILITY,
        n_simulations=FORECAST_SIMULATIONS,
        states=states,
    )
    people = reps(ctx.engine)
    owners = rep_names(people)
    by_rep = None
    if scope.is_team:
        table = forecast_by_rep(
            deals,
            history,
            people,
            period=period,
            today=today,
            rep_ids=team_rep_ids(scope, people),
            model=model,
            targets=quotas,
            states=states,
        )
        by_rep = records(table)
    accounts_of = dict(
        zip(deals["opportunity_id"].astype(int), deals["account_id"].astype(int), strict=True)
    )
    page = Page(
        offset=offset,
        size=size,
        total=len(result.deals),
        rows=records(result.deals.iloc[offset : offset + size]),
    )
    names = account_book(ctx.engine, today).names(
        accounts_of.get(row["opportunity_id"]) for row in page.rows
    )
    for row in page.rows:
        row["account_name"] = names.get(accounts_of.get(row["opportunity_id"], -1))
        row["owner_name"] = owners.get(row.get("owner_id") or -1)
    data = {
        "as_of": today.isoformat(),
        "scope": scope_json(scope),
        "period": period_json(period),
        "closed_won": json_value(result.closed_won),
        "closed_won_deals": result.closed_won_deals,
        "commit": json_value(result.commit),
        "best_case": json_value(result.best_case),
        "pipeline": json_value(result.pipeline),
        "open_deals": result.open_deals,
        "undated_open_deals": undated_open_deals(deals),
        "weighted": json_value(result.weighted),
        "std": json_value(result.std),
        "p10": json_value(result.p10),
        "p50": json_value(result.p50),
        "p90": json_value(result.p90),
        "quota": json_value(result.quota),
        "attainment": json_value(result.attainment),
        "projected_attainment": json_value(result.projected_attainment),
        "chance_of_quota": json_value(result.chance_of_quota),
        "reason": result.reason,
        "quota_reason": result.quota_reason,
        "deals": page.rows,
        "by_rep": by_rep,
        "weights": weights_json(book),
        "thresholds": {
            "commit_probability": COMMIT_PROBABILITY,
            "best_case_probability": BEST_CASE_PROBABILITY,
        },
        "offset": offset,
        "page_size": size,
    }
    return data, page


class ActionForecast(ScopedListAction):
    """ "What's my forecast for Q3?" """

    action_name: ClassVar[str] = "action_forecast"
    skill: ClassVar[str | None] = "forecast"
    takes_period: ClassVar[bool] = True

    def list_data(
        self, ctx: Context, scope: Scope, period_text: str | None, *, offset: int, size: int
    ) -> tuple[dict[str, Any], Page]:
        period = resolve_period(period_text, ctx.today, default=FORECAST_DEFAULT_PERIOD)
        assert period is not None
        return forecast_data(ctx, scope, period, offset=offset, size=size)

    def render(self, data: dict[str, Any]) -> Answer:
        return view.forecast_answer(data)

    def explain(self, ctx: Context, last: dict[str, Any]) -> Outcome:
        params = last["params"]
        scope = resolve_scope(ctx.engine, ctx.asker, params.get("rep"))
        data = stage_weights_data(ctx, scope, "forecast")
        data["asked"] = {"rep": params.get("rep"), "period": params.get("period")}
        return Outcome().say(view.stage_weights_answer(data))


# ------------------------------------------------------------------------- metric


def metric_json(result: MetricResult) -> dict[str, Any]:
    return {
        "metric": result.metric,
        "label": result.label,
        "value": json_value(result.value),
        "numerator": json_value(result.numerator),
        "denominator": json_value(result.denominator),
        "numerator_label": result.numerator_label,
        "denominator_label": result.denominator_label,
        "unit": result.unit,
        "kind": result.kind,
        "reason": result.reason,
        "details": json_value(dict(result.details)),
        "period": period_json(result.period),
    }


BY_REP_METRICS = frozenset(
    {"win_rate", "acv", "cycle_length", "pipeline_value", "quota_attainment", "new_pipeline"}
)
"""Metrics a team's answer also gives rep by rep ("new pipeline per rep", "who is behind
quota?"): each is one pass over the team's deals or quotas."""


def metric_data(ctx: Context, scope: Scope, metric: str, period: Period | None) -> dict[str, Any]:
    """``compute_metric`` for the scope, reading only the frames the metric needs."""
    today, rep_ids = ctx.today, scope.rep_ids
    book = deal_book(ctx.engine, today)
    leads = order_lines = accounts = quotas = None
    history = None
    if metric == "conversion_rate":
        leads = lead_rows(ctx.engine, today).owned_by(rep_ids)
    if metric == "clv":
        accounts = account_book(ctx.engine, today).owned_by(rep_ids)
        history = order_history(ctx.engine, today, accounts["account_id"])
        order_lines = history.order_days
    if metric == "quota_attainment":
        quotas = targets(ctx.engine, rep_ids)
        # compute_metric resolves the owned accounts before it branches, so it asks for
        # the accounts even for bookings attainment, which does not use them
        accounts = account_book(ctx.engine, today).owned_by(rep_ids)
    frames = MetricFrames(
        opportunities=book.opportunities,
        leads=leads,
        order_lines=order_lines,
        accounts=accounts,
        targets=quotas,
    )

    def compute() -> MetricResult:
        return compute_metric(metric, frames, today=today, period=period, rep_ids=rep_ids)

    result = history.remember(("clv", period, today), compute) if history is not None else compute()
    data = metric_json(result)
    data.update({"as_of": today.isoformat(), "scope": scope_json(scope)})
    if scope.is_team and metric in BY_REP_METRICS:
        people = reps(ctx.engine)
        names = rep_names(people)
        rows = []
        for rep_id in team_rep_ids(scope, people):
            one = compute_metric(
                metric, frames, today=today, period=result.period, rep_ids=[rep_id]
            )
            rows.append(
                {
                    "rep_id": rep_id,
                    "name": names.get(rep_id, f"rep {rep_id}"),
                    "value": json_value(one.value),
                    "numerator": json_value(one.numerator),
                    "denominator": json_value(one.denominator),
                }
            )
        data["by_rep"] = rows
    if metric == "conversion_rate":
        table = conversion_table(
            leads, book.opportunities, period=result.period, today=today, rep_ids=rep_ids
        )
        data["by_source"] = records(table)
    return data


class ActionMetric(SalesAction):
    """ "What's my win rate?", "average deal size this year", "CLV of my accounts"."""

    action_name: ClassVar[str] = "action_metric"
    skill: ClassVar[str | None] = "metric"

    def _reply(self, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        scope = resolve_scope(ctx.engine, ctx.asker, params.get("rep"))
        period = resolve_period(params.get("period"), ctx.today)
        data = metric_data(ctx, scope, params["metric"], period)
        data["asked"] = {"rep": params.get("rep"), "period": params.get("period")}
        return data

    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        metric = said(ctx, "metric", "ask_metric")
        if metric is None or metric not in METRICS:
            return Outcome().respond("utter_ask_metric")
        params = {
            "metric": metric,
            "rep": rep_said(ctx, "ask_metric"),
            "period": said(ctx, "period", "ask_metric"),
        }
        data = self._reply(ctx, params)
        return answered(
            view.metric_answer(data),
            "metric",
            params,
            0,
            slots={"metric": metric, "rep": params["rep"], "period": params["period"]},
        )

    def explain(self, ctx: Context, last: dict[str, Any]) -> Outcome:
        data = self._reply(ctx, last["params"])
        data["skill"] = "metric"
        data["definition"] = view.METRIC_DEFINITIONS[data["metric"]]
        return Outcome().say(view.metric_why(data))
