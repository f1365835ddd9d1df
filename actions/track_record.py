"""``action_track_record``: "how accurate are your slipping flags?", "why should I trust
this?" — the backtest the newest scoring run stored (store.insights.latest_run), rendered by
:mod:`render.track_record`. The figures are the company's own, not per account, so the answer
carries no account data."""

from __future__ import annotations

from typing import ClassVar

from rasa_sdk.types import DomainDict

from actions.base import Context, Outcome, SalesAction
from render import track_record as view
from store import insights


class ActionTrackRecord(SalesAction):
    action_name: ClassVar[str] = "action_track_record"
    shares_account_data: ClassVar[bool] = False

    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        return Outcome().say(view.answer(insights.latest_run(ctx.engine)))
