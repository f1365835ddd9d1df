"""Account skills: slipping accounts, what to pitch, how an account is doing, and the
account form's validation (fuzzy resolution, clarifying question, visibility)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rapidfuzz import fuzz, process, utils
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.types import DomainDict
from sqlalchemy.engine import Engine

from actions.base import SKILLS, Context, Outcome, Refusal, SalesAction, last_answer, said
from actions.data import account_book
from actions.models import judge_account
from actions.scope import own_scope, rep_said, resolve_name, resolve_scope, scope_json
from render import accounts as render
from store import book, crud, frames
from store.db import session_scope

ACCOUNT_NOT_VISIBLE = "utter_account_not_visible"
"""The one refusal for an account name: the same words whether the account exists outside
the asker's book or not at all, and no numbers."""
CLEAR_MATCH = 90.0
"""A fuzzy score at which one candidate is taken without asking (when clearly ahead)."""


# ------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class Resolved:
    account_id: int
    name: str


def resolve_account(engine: Engine, ctx: Context, said: str) -> Resolved | list[dict[str, Any]]:
    """The visible account ``said`` names, or candidates to ask about.

    Raises :class:`Refusal` when nothing matches, or when the only match is outside the
    asker's book (saying so, without any of its data).
    """
    said = said.strip().strip("?.!,'\"").removesuffix("'s").removesuffix("’s").strip()
    if not said:
        raise Refusal("utter_ask_account")
    visible = ctx.asker.visible_rep_ids
    shared = ctx.asker.shared_account_ids
    # the names kept in the action server (crud.match_accounts reads them per question)
    matcher = account_book(engine, ctx.today).matcher
    whole = matcher.exactly_named(
        said, visible_owner_ids=visible, visible_account_ids=shared, limit=5
    )
    if whole is not None:  # what the fuzzy ranking below would resolve, without scoring all
        return Resolved(whole.account_id, whole.name)
    matches = matcher.match(said, visible_owner_ids=visible, visible_account_ids=shared, limit=5)
    seen = [m for m in matches if m.visible]
    if not seen:
        named = resolve_name(ctx, said)
        if named.kind == "rep":  # "how is Carson Sterling doing?": a person, not an account
            raise Refusal("utter_name_is_a_rep", rep=named.name)
        raise Refusal(ACCOUNT_NOT_VISIBLE, account=said)
    exact = [m for m in seen if utils.default_process(m.name) == utils.default_process(said)]
    if len(exact) == 1:
        return Resolved(exact[0].account_id, exact[0].name)
    best = seen[0]
    runner_up = seen[1].score if len(seen) > 1 else 0.0
    if best.score >= CLEAR_MATCH and best.score - runner_up >= 5:
        return Resolved(best.account_id, best.name)
    if len(seen) == 1 and best.score >= 80:
        return Resolved(best.account_id, best.name)
    return [{"account_id": m.account_id, "name": m.name} for m in seen[:5]]


class AlreadyRefused(Refusal):
    """The account form refused the name this turn and ended; the skill that the form's
    rule runs next has nothing to add."""

    def __init__(self) -> None:
        super().__init__("")


def refused_in_this_turn(ctx: Context) -> bool:
    """Whether the account form was ended by a refusal since the user's last message (its
    validation returned ``ActiveLoop(None)`` with no account resolved)."""
    if ctx.tracker.get_slot("account_id") is not None:
        return False
    for event in reversed(ctx.tracker.events or []):
        if event.get("event") == "user":
            return False
        if event.get("event") == "active_loop" and event.get("name") is None:
            return True
    return False


def account_in_context(ctx: Context) -> Resolved:
    """The account the conversation is about (``account_id`` slot), checked for visibility."""
    account_id = ctx.tracker.get_slot("account_id")
    said = ctx.tracker.get_slot("account")
    if account_id is None:
        if refused_in_this_turn(ctx):
            raise AlreadyRefused()
        if not said:
            raise Refusal("utter_ask_account")
        resolved = resolve_account(ctx.engine, ctx, str(said))
        if isinstance(resolved, list):
            raise Refusal("utter_ask_account")
        return resolved
    with session_scope(ctx.engine) as session:
        account = crud.get_account(session, account_id=int(account_id))
        if account is None:
            raise Refusal(ACCOUNT_NOT_VISIBLE, account=said or "that account")
        if not ctx.asker.can_see_account(account.id, account.owner_id):
            # named by id only (a stale or forged slot): say nothing about it, not even its name
            raise Refusal(ACCOUNT_NOT_VISIBLE, account=said or "that account")
        assert account.id is not None
        return Resolved(account.id, account.name)


class ValidateAccountForm(SalesAction):
    """Resolves the ``account`` slot of ``account_form`` against the asker's book.

    When NLU extracted no account, the message is scanned for a known account name.
    One clear match sets ``account_id``; several ask "which one?" with buttons; a name
    outside the book is refused without data.
    """

    action_name = "validate_account_form"
    shares_account_data = False

    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        tracker = ctx.tracker
        said = tracker.get_slot("account")
        message = (tracker.latest_message or {}).get("text") or ""
        if message and not message.startswith("/"):
            # a full account name written in the message beats what NLU extracted when that is
            # missing or only a part of it ("acme food" out of "how is acme food service doing?")
            matcher = account_book(ctx.engine, ctx.today).matcher
            named = [
                str(matcher.names[i])
                for i in matcher.named_in(
                    message,
                    visible_owner_ids=ctx.asker.visible_rep_ids,
                    visible_account_ids=ctx.asker.shared_account_ids,
                )
            ]
            partial = str(said or "").strip().lower()
            longer = [name for name in named if not partial or partial in name.lower()]
            if longer:
                said = longer[0]
        outcome = Outcome()
        if not said:
            return outcome.set("account", None).set("account_id", None)
        try:
            resolved = resolve_account(ctx.engine, ctx, str(said))
        except Refusal as refusal:
            # the refusal ends the form: asking "Which account?" again would hold the next,
            # unrelated question hostage to it. The skill that follows says nothing more
            # (:func:`refused_in_this_turn`).
            outcome.respond(refusal.response, **refusal.variables)
            outcome.set("account", None).set("account_id", None).set("requested_slot", None)
            outcome.events.append(ActiveLoop(None))
            return outcome
        if isinstance(resolved, list):
            outcome.say(render.clarify_account(str(said), resolved))
            return outcome.set("account", None).set("account_id", None)
        return outcome.set("account", resolved.name).set("account_id", resolved.account_id)


# ---------------------------------------------------------------------- slipping


def _match_category(engine: Engine, said: str | None) -> str | None:
    if not said:
        return None
    known = book.known_categories(engine)
    match = process.extractOne(
        said, known, scorer=fuzz.WRatio, processor=utils.default_process, score_cutoff=75
    )
    if match is None:
        raise Refusal("utter_unknown_category", category=said)
    return str(match[0])


def _snoozed(ctx: Context) -> set[int]:
    """Accounts the asker snoozed until after today: left out of their alert lists."""
    with session_scope(ctx.engine) as session:
        return crud.snoozed_account_ids(session, rep_ids=[ctx.asker.rep_id], today=ctx.today)


class ActionSlippingAccounts(SalesAction):
    action_name = "action_slipping_accounts"
    skill = "slipping_accounts"

    def _page(self, ctx: Context, params: dict[str, Any], offset: int) -> Outcome:
        scope = resolve_scope(ctx.engine, ctx.asker, params.get("rep"))
        category = _match_category(ctx.engine, params.get("category"))
        if book.last_scored(ctx.engine) is None:
            return Outcome().respond("utter_not_scored_yet")
        snoozed = _snoozed(ctx)
        size = ctx.settings.list_size
        owner_ids = scope.as_list()
        if category:
            page = book.flagged_categories(
                ctx.engine,
                owner_ids=owner_ids,
                account_ids=scope.account_ids,
                categories=[category],
                account_statuses=None,
                exclude_account_ids=snoozed,
                limit=size,
                offset=offset,
            )
            accounts = page.rows.to_dict("records")
            categories: list[dict[str, Any]] = []
        else:
            page = book.flagged_accounts(
                ctx.engine,
                owner_ids=owner_ids,
                account_ids=scope.account_ids,
                exclude_account_ids=snoozed,
                limit=size,
                offset=offset,
            )
            accounts = page.rows.rename(columns={"owner_name": "owner"}).to_dict("records")
            categories = (
                book.flagged_categories(
                    ctx.engine,
                    owner_ids=owner_ids,
                    account_ids=scope.account_ids,
                    exclude_account_ids=snoozed,
                    limit=3,
                ).rows.to_dict("records")
                if offset == 0
                else []
            )
        if offset > 0 and not accounts:
            return Outcome().respond("utter_nothing_more")
        answer = render.slipping(
            accounts=accounts,
            categories=categories,
            total_flagged=page.total,
            total_revenue_at_risk=page.total_revenue_at_risk,
            accounts_in_book=page.accounts_in_book,
            scope_label=scope.label,
            scope_rep_ids=owner_ids,
            as_of=_as_of(ctx),
            category=category,
            offset=offset,
            show_owner=scope.is_team,
        )
        shown = offset + len(answer.data.get("accounts", []))
        focus = {"account_ids": [a["account_id"] for a in answer.data.get("accounts", [])]}
        return Outcome(
            answers=[answer],
            events=[last_answer(self.skill or "", params=params, shown=shown, focus=focus)],
        )

    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        # a fresh question counts only what it says itself ("which of my accounts are
        # slipping?" after "which of Aisha's…?" is the asker's own); a follow-up ("and
        # PPE?") keeps the rest. The slots are set to what was answered, so the next
        # follow-up starts from this answer, not from an older question.
        params = {
            "rep": rep_said(ctx, "ask_slipping_accounts"),
            "category": said(ctx, "category", "ask_slipping_accounts"),
        }
        outcome = self._page(ctx, params, 0)
        outcome.events[:0] = [
            SlotSet("rep", params["rep"]),
            SlotSet("category", params["category"]),
        ]
        return outcome

    def more(self, ctx: Context, last: dict[str, Any]) -> Outcome:
        return self._page(ctx, dict(last.get("params") or {}), int(last.get("shown") or 0))

    def explain(self, ctx: Context, last: dict[str, Any]) -> Outcome:
        ids = list((last.get("focus") or {}).get("account_ids") or [])
        rows = []
        for account_id in ids[:3]:
            health = book.account_health(ctx.engine, int(account_id))
            with session_scope(ctx.engine) as session:
                account = crud.get_account(session, account_id=int(account_id))
                if (
                    account is None
                    or not ctx.asker.can_see_account(account.id, account.owner_id)
                    or health is None
                ):
                    continue
                rows.append((account.name, health))
        return Outcome().say(render.explain_slipping(rows))


def _as_of(ctx: Context) -> Any:
    run = book.last_scored(ctx.engine)
    return run["as_of"] if run else None


# ------------------------------------------------------------------------- pitch


class ActionPitch(SalesAction):
    action_name = "action_pitch"
    skill = "pitch"

    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        account = account_in_context(ctx)
        with session_scope(ctx.engine) as session:
            record = crud.get_account(session, account_id=account.account_id)
            assert record is not None
            info = {"account_id": record.id, "name": record.name, "segment": record.segment}
        fresh = judge_account(ctx.engine, ctx.settings.home, account.account_id, ctx.today)
        if fresh.recommendations is not None:
            recs, as_of, source = fresh.recommendations, ctx.today, "on_demand"
        else:
            recs = book.recommendations(ctx.engine, account.account_id)
            as_of, source = _as_of(ctx), "nightly"
        answer = render.pitch(account=info, recommendations=recs.to_dict("records"), as_of=as_of)
        answer.data["computed"] = source
        return Outcome(
            answers=[answer],
            events=[
                SlotSet("account", account.name),
                SlotSet("account_id", account.account_id),
                last_answer(
                    self.skill or "",
                    params={},
                    shown=len(answer.data["recommendations"]),
                    focus={"account_id": account.account_id},
                ),
            ],
        )

    def explain(self, ctx: Context, last: dict[str, Any]) -> Outcome:
        return Outcome().say(render.explain_pitch(_as_of(ctx)))


class ActionAskAccount(SalesAction):
    """How ``account_form`` asks "Which account?". A pitch question without an account
    ("what should I pitch?", "where are my biggest growth opportunities?") first gets the
    asker's book's biggest opportunities, each account's best idea, so the answer comes
    before the rep picks an account to go deeper on."""

    action_name = "action_ask_account"

    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        outcome = Outcome()
        latest = ctx.tracker.latest_message or {}
        asked_pitch = (latest.get("intent") or {}).get("name") == "ask_pitch"
        named = any(e.get("entity") == "account" for e in latest.get("entities") or [])
        # not after "what should I pitch to acme?" (a name given, unclear which): its
        # candidates are being offered
        if asked_pitch and not named:
            scope = own_scope(ctx.asker)
            owners = scope.rep_ids
            shared = ctx.asker.shared_account_ids if owners is not None else ()
            rows = book.top_recommendations(
                ctx.engine, owner_ids=owners, account_ids=shared, limit=5
            )
            count, total = book.best_pitch_totals(ctx.engine, owner_ids=owners, account_ids=shared)
            outcome.say(
                render.growth(
                    scope=scope_json(scope),
                    rows=rows.to_dict("records"),
                    accounts_with_ideas=count,
                    total_expected_value=total,
                    as_of=_as_of(ctx),
                )
            )
        return outcome.respond("utter_ask_account")


# ---------------------------------------------------------------------- overview


class ActionAccountOverview(SalesAction):
    action_name = "action_account_overview"
    skill = "account_overview"

    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        account = account_in_context(ctx)
        with session_scope(ctx.engine) as session:
            record = crud.get_account(session, account_id=account.account_id)
            assert record is not None
            info = record.model_dump()
            info["account_id"] = record.id
            owner = crud.get_rep(session, rep_id=record.owner_id) if record.owner_id else None
            owner_name = owner.name if owner else None
        fresh = judge_account(ctx.engine, ctx.settings.home, account.account_id, ctx.today)
        health = fresh.health
        if health is None:
            health = book.account_health(ctx.engine, account.account_id)
        categories = fresh.categories
        if categories is None:
            categories = book.category_health(ctx.engine, account.account_id)
        recs = fresh.recommendations
        if recs is None:
            recs = book.recommendations(ctx.engine, account.account_id)
        deals = frames.opportunities(ctx.engine, account_ids=[account.account_id])
        open_deals = deals[~deals["is_closed"]].sort_values("close_date")
        answer = render.overview(
            account=info,
            health=health,
            categories=categories.to_dict("records"),
            recommendations=recs.to_dict("records"),
            open_deals=open_deals.to_dict("records"),
            owner_name=owner_name,
        )
        answer.data["computed"] = "on_demand" if fresh.health is not None else "nightly"
        return Outcome(
            answers=[answer],
            events=[
                SlotSet("account", account.name),
                SlotSet("account_id", account.account_id),
                last_answer(self.skill or "", params={}, focus={"account_id": account.account_id}),
            ],
        )

    def explain(self, ctx: Context, last: dict[str, Any]) -> Outcome:
        account_id = (last.get("focus") or {}).get("account_id")
        if account_id is None:
            return Outcome().respond("utter_nothing_to_explain")
        with session_scope(ctx.engine) as session:
            account = crud.get_account(session, account_id=int(account_id))
            if account is None or not ctx.asker.can_see_account(account.id, account.owner_id):
                raise Refusal(ACCOUNT_NOT_VISIBLE, account="that account")
            name = account.name
        health = book.account_health(ctx.engine, int(account_id))
        return Outcome().say(render.explain_slipping([(name, health)] if health else []))


# --------------------------------------------------------------------- follow-ups


class ActionShowMore(SalesAction):
    action_name = "action_show_more"
    followup: ClassVar[str] = "more"

    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        last = ctx.tracker.get_slot("last_answer") or {}
        skill = SKILLS.get(str(last.get("skill")))
        if skill is None:
            return Outcome().respond(
                "utter_nothing_more" if self.followup == "more" else "utter_nothing_to_explain"
            )
        action = skill()
        return action.more(ctx, last) if self.followup == "more" else action.explain(ctx, last)


class ActionExplain(ActionShowMore):
    action_name = "action_explain"
    followup = "explain"
