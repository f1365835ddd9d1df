"""Customer skills outside the deal pipeline: which leads to call first and which accounts
are due to reorder.

Both read the scope's rows of company-wide values kept by :mod:`actions.data` (the lead
ranking of the company-fitted :class:`~analytics.leads.LeadScorer`; each account's own
purchase cycles) and render with :mod:`render.pipeline`, whose docstring holds the data
contract.
"""

from __future__ import annotations

from typing import Any, ClassVar

from actions.base import Context, Outcome
from actions.data import (
    REORDER_MAX_GAPS,
    REORDER_MIN_ORDER_DAYS,
    Page,
    account_book,
    json_value,
    lead_book,
    order_history,
    period_json,
    records,
    rep_names,
    reps,
)
from actions.deals import ScopedListAction, with_names
from actions.scope import Scope, resolve_period, resolve_scope, scope_json
from analytics.leads import IdealCustomerProfile
from analytics.reorders import reorders_due
from render import Answer
from render import pipeline as view

REORDERS_DEFAULT_PERIOD = "next 7 days"
REORDER_MAX_SPREAD = 0.5
REORDER_LAPSE_FACTOR = 3.0
LEAD_COLUMNS = [
    "lead_id",
    "company",
    "owner_id",
    "source",
    "segment",
    "size",
    "touches",
    "icp_fit",
    "score",
    "rank",
    "method",
    "reasons",
]


# -------------------------------------------------------------------------- leads


def icp_json(icp: IdealCustomerProfile) -> dict[str, Any]:
    return {
        "criteria": list(icp.criteria),
        "segments": sorted(icp.segments),
        "industries": sorted(icp.industries),
        "regions": sorted(icp.regions),
        "min_employees": json_value(icp.min_employees),
        "max_employees": json_value(icp.max_employees),
    }


def leads_data(
    ctx: Context, scope: Scope, *, offset: int, size: int
) -> tuple[dict[str, Any], Page]:
    book = lead_book(ctx.engine, ctx.today)
    scorer = book.scorer
    ranked = book.ranked(scope.rep_ids)
    rows = records(ranked.iloc[offset : offset + size], LEAD_COLUMNS)
    page = Page(offset=offset, size=size, total=len(ranked), rows=rows)
    with_names(page.rows, owners=rep_names(reps(ctx.engine)))
    data = {
        "as_of": ctx.today.isoformat(),
        "scope": scope_json(scope),
        "total": len(ranked),
        "method": scorer.method_,
        "method_reason": scorer.method_reason_,
        "closed_leads": int(scorer.closed_leads_),
        "converted_leads": int(scorer.converted_leads_),
        "base_rate": json_value(scorer.base_rate_),
        "model_as_of": book.as_of.isoformat(),
        "icp": icp_json(scorer.icp_),
        "leads": page.rows,
        "offset": offset,
        "page_size": size,
    }
    return data, page


class ActionLeadPriorities(ScopedListAction):
    """ "Which leads should I call first?" """

    action_name: ClassVar[str] = "action_lead_priorities"
    skill: ClassVar[str | None] = "lead_priorities"

    def list_data(
        self, ctx: Context, scope: Scope, period_text: str | None, *, offset: int, size: int
    ) -> tuple[dict[str, Any], Page]:
        return leads_data(ctx, scope, offset=offset, size=size)

    def render(self, data: dict[str, Any]) -> Answer:
        return view.leads_answer(data)

    def focus(self, page_of_rows: Page) -> dict[str, Any] | None:
        return {"lead_ids": [row["lead_id"] for row in page_of_rows.rows]}

    def explain(self, ctx: Context, last: dict[str, Any]) -> Outcome:
        data, _page = self._reply(ctx, last["params"], 0)
        data["skill"] = "lead_priorities"
        return Outcome().say(view.leads_why(data))


# ----------------------------------------------------------------------- reorders


def reorder_rules() -> dict[str, Any]:
    return {
        "min_order_days": REORDER_MIN_ORDER_DAYS,
        "max_gaps": REORDER_MAX_GAPS,
        "max_spread": REORDER_MAX_SPREAD,
        "lapse_factor": REORDER_LAPSE_FACTOR,
    }


def reorders_data(
    ctx: Context, scope: Scope, period_text: str | None, *, offset: int, size: int
) -> tuple[dict[str, Any], Page]:
    period = resolve_period(period_text, ctx.today, default=REORDERS_DEFAULT_PERIOD)
    assert period is not None
    book = account_book(ctx.engine, ctx.today)
    accounts = book.owned_by(scope.rep_ids)
    account_ids = [int(a) for a in accounts["account_id"]]
    history = order_history(ctx.engine, ctx.today, account_ids)
    due = history.remember(
        ("reorders", period, ctx.today),
        lambda: reorders_due(
            None,
            today=ctx.today,
            period=period,
            account_ids=account_ids,
            cycles=history.cycles,
            min_order_days=REORDER_MIN_ORDER_DAYS,
            max_gaps=REORDER_MAX_GAPS,
            max_spread=REORDER_MAX_SPREAD,
            lapse_factor=REORDER_LAPSE_FACTOR,
        ),
    )
    rows = records(due.iloc[offset : offset + size])
    page = Page(offset=offset, size=size, total=len(due), rows=rows)
    with_names(page.rows, accounts=book.names(row["account_id"] for row in page.rows))
    data = {
        "as_of": ctx.today.isoformat(),
        "scope": scope_json(scope),
        "period": period_json(period),
        "total": len(due),
        "total_typical_amount": json_value(float(due["typical_amount"].astype(float).sum())),
        "rules": reorder_rules(),
        "accounts": page.rows,
        "offset": offset,
        "page_size": size,
    }
    return data, page


class ActionReordersDue(ScopedListAction):
    """ "Who's due to reorder this week?" """

    action_name: ClassVar[str] = "action_reorders_due"
    skill: ClassVar[str | None] = "reorders_due"
    takes_period: ClassVar[bool] = True

    def list_data(
        self, ctx: Context, scope: Scope, period_text: str | None, *, offset: int, size: int
    ) -> tuple[dict[str, Any], Page]:
        return reorders_data(ctx, scope, period_text, offset=offset, size=size)

    def render(self, data: dict[str, Any]) -> Answer:
        return view.reorders_answer(data)

    def focus(self, page_of_rows: Page) -> dict[str, Any] | None:
        """The first account shown, so "what should I pitch to them?" follows on."""
        if not page_of_rows.rows:
            return None
        first = page_of_rows.rows[0]
        return {"account_id": first["account_id"], "account": first["account_name"]}

    def explain(self, ctx: Context, last: dict[str, Any]) -> Outcome:
        scope = resolve_scope(ctx.engine, ctx.asker, last["params"].get("rep"))
        period = resolve_period(
            last["params"].get("period"), ctx.today, default=REORDERS_DEFAULT_PERIOD
        )
        data = {
            "skill": "reorders_due",
            "as_of": ctx.today.isoformat(),
            "scope": scope_json(scope),
            "period": period_json(period),
            "rules": reorder_rules(),
            "asked": {"rep": last["params"].get("rep"), "period": last["params"].get("period")},
        }
        return Outcome().say(view.reorders_why(data))
