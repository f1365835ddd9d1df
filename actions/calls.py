"""Call reviews in chat: "review my last call", "review my last call with Acme".

The answer is the review of the latest stored, reviewed call: the asker's own, or for a
manager (admin) with none of their own, the latest of their team's (the company's).
With an account named, only calls on that account count, and the account must be in
the asker's book. The review shows the flags stored on the call (quotes from its
utterances), its metrics, and what to do next under the current playbook; the account
line (spend, status, revenue at risk) only when the asker may see the account.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import SlotSet
from rasa_sdk.types import DomainDict

from actions.accounts import Resolved, account_in_context
from actions.base import Context, Outcome, SalesAction, last_answer
from analytics.coaching.records import compiled_trackers, stored_review_data
from render import coaching as render
from store import calls
from store.db import session_scope
from store.models import Call


def _latest_call(ctx: Context, account_id: int | None) -> Call | None:
    with session_scope(ctx.engine) as session:
        return calls.latest_call_for(
            session,
            rep_id=ctx.asker.rep_id,
            visible_rep_ids=ctx.asker.visible_rep_ids,
            account_id=account_id,
        )


class ActionReviewCall(SalesAction):
    action_name = "action_review_call"
    skill = "review_call"

    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        tracker = ctx.tracker
        account: Resolved | None = None
        if tracker.get_slot("account_id") is not None or tracker.get_slot("account"):
            account = account_in_context(ctx)
        call = _latest_call(ctx, account.account_id if account else None)
        if call is None or call.id is None:
            return Outcome().say(render.no_call_review(account.name if account else None))
        with session_scope(ctx.engine) as session:
            records = calls.call_records(session, call_id=call.id)
            custom = calls.custom_tracker_rows(session)
            competitors = calls.competitor_rows(session)
            account_id = records["call"]["account_id"]
            context = None
            if account_id is not None and ctx.asker.can_see_account(
                account_id, records["call"]["account_owner_id"]
            ):
                context = calls.account_context(session, account_id=account_id, as_of=ctx.today)
        trackers = compiled_trackers(custom, competitors)
        answer = render.call_review(stored_review_data(records, trackers, account=context))
        events: list[Any] = [
            last_answer(self.skill or "", params={}, focus={"call_id": call.id}),
        ]
        if account is not None:
            events[:0] = [
                SlotSet("account", account.name),
                SlotSet("account_id", account.account_id),
            ]
        return Outcome(answers=[answer], events=events)
