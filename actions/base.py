"""What every salesbot action shares: who is asking (verified), what they may see,
the store, "today", and the translation of failures into words.

An action subclass implements :meth:`SalesAction.answer`, a plain synchronous
function (it runs in a worker thread so the action server keeps serving other
conversations) that returns an :class:`Outcome`: answers to send and events.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from actions.settings import ActionSettings, get_settings
from analytics.errors import AnalyticsError
from render import Answer
from store import crud
from store.db import StoreUnavailableError, cached_engine, session_scope
from store.identity import METADATA_KEY, Identity, IdentityError, verify_identity

log = logging.getLogger(__name__)


class NotLinkedError(PermissionError):
    """The signed identity names a rep that is not (or no longer) in the store."""


class Refusal(Exception):
    """The question cannot be answered as asked (unknown name, not in the asker's book,
    unreadable period…). Carries the domain response that says so, with its variables;
    it never carries data the asker may not see."""

    def __init__(self, response: str, **variables: Any) -> None:
        super().__init__(response)
        self.response = response
        self.variables = variables


@dataclass(frozen=True)
class Asker:
    """The verified rep behind the message and what they may see."""

    rep_id: int
    name: str
    email: str
    role: str
    visible_rep_ids: frozenset[int] | None
    """``None`` means everything (admins)."""
    identity: Identity
    shared_account_ids: frozenset[int] = frozenset()
    """Accounts in the visible books that those reps do not own: one of them owns a deal on
    it or is on its account team (:func:`store.crud.shared_account_ids`)."""

    def can_see_owner(self, owner_id: int | None) -> bool:
        return self.visible_rep_ids is None or (
            owner_id is not None and owner_id in self.visible_rep_ids
        )

    def can_see_account(self, account_id: int | None, owner_id: int | None) -> bool:
        """Whether the account is in a book the asker sees: owned by a visible rep, or
        shared with one (a deal they own on it, or a seat on its account team)."""
        return self.can_see_owner(owner_id) or (
            account_id is not None and account_id in self.shared_account_ids
        )

    @property
    def is_manager(self) -> bool:
        return self.role in ("manager", "admin")


@dataclass
class Context:
    asker: Asker
    engine: Engine
    today: dt.date
    settings: ActionSettings
    tracker: Tracker


@dataclass
class Outcome:
    answers: list[Answer] = field(default_factory=list)
    responses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Domain responses to utter, by name, with template variables."""
    events: list[EventType] = field(default_factory=list)

    def say(self, answer: Answer) -> Outcome:
        self.answers.append(answer)
        return self

    def respond(self, response: str, **variables: Any) -> Outcome:
        self.responses.append((response, variables))
        return self

    def set(self, slot: str, value: Any) -> Outcome:
        self.events.append(SlotSet(slot, value))
        return self


def identity_of(tracker: Tracker, settings: ActionSettings) -> Identity:
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    token = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    return verify_identity(
        token,
        secret=settings.secret(),
        sender=tracker.sender_id,
        max_age_seconds=settings.identity_max_age_seconds,
    )


def load_asker(engine: Engine, identity: Identity) -> Asker:
    with session_scope(engine) as session:
        rep = crud.get_rep(session, rep_id=identity.rep_id)
        if rep is None or not rep.active:
            raise NotLinkedError(f"rep {identity.rep_id} is not in the store")
        visible = crud.visible_rep_ids(session, rep=rep)
        shared = crud.shared_account_ids(session, rep_ids=visible) if visible is not None else ()
        assert rep.id is not None
        return Asker(
            rep_id=rep.id,
            name=rep.name,
            email=rep.email,
            role=str(rep.role),
            visible_rep_ids=frozenset(visible) if visible is not None else None,
            identity=identity,
            shared_account_ids=frozenset(shared),
        )


def today_for(settings: ActionSettings) -> dt.date:
    """The date answers are computed for (the edge decides; analytics take it as a parameter)."""
    return settings.as_of or dt.datetime.now(dt.UTC).date()


def said(ctx: Context, slot: str, intent: str) -> str | None:
    """What the question says for ``slot``.

    On a fresh question (the latest intent is ``intent``) only the message's own entity
    counts, so an earlier question's period or rep does not leak into this one. On a
    follow-up ("and for Q3?", "what about Sarah?") the slot as the conversation left it.
    """
    latest = ctx.tracker.latest_message or {}
    if (latest.get("intent") or {}).get("name") == intent:
        for entity in latest.get("entities") or []:
            if entity.get("entity") == slot and entity.get("value") not in (None, ""):
                return str(entity["value"])
        return None
    value = ctx.tracker.get_slot(slot)
    return str(value) if value not in (None, "") else None


def last_answer(
    skill: str, *, params: dict[str, Any], shown: int = 0, focus: dict[str, Any] | None = None
) -> SlotSet:
    """The ``last_answer`` slot event a skill sets after answering."""
    return SlotSet(
        "last_answer", {"skill": skill, "params": params, "shown": shown, "focus": focus or {}}
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def emit(dispatcher: CollectingDispatcher, outcome: Outcome, *, ephemeral: bool) -> None:
    for name, variables in outcome.responses:
        dispatcher.utter_message(response=name, **variables)
    for answer in outcome.answers:
        if ephemeral:
            answer.ephemeral = True
        dispatcher.utter_message(json_message=answer.to_payload())


SKILLS: dict[str, type[SalesAction]] = {}
"""Skill name -> action class, for the follow-ups ("why?", "show more", "and for Globex?")."""


class SalesAction(Action, abc.ABC):
    """Base of every salesbot action: verify, load the asker, answer, translate errors.

    A skill action sets ``skill`` and records what it answered in the ``last_answer`` slot
    (``{"skill": ..., "params": {...}, "shown": n, "focus": {...}}``); the follow-up actions
    call its :meth:`more` and :meth:`explain` with that record.
    """

    action_name: ClassVar[str]
    skill: ClassVar[str | None] = None
    shares_account_data: ClassVar[bool] = True
    """Answers carry account or deal data: in a shared Slack channel they go ephemeral."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        skill = cls.__dict__.get("skill")
        if skill:
            SKILLS[skill] = cls

    def more(self, ctx: Context, last: dict[str, Any]) -> Outcome:
        """The next page of the last answer; by default there is none."""
        return Outcome().respond("utter_nothing_more")

    def explain(self, ctx: Context, last: dict[str, Any]) -> Outcome:
        """Why the last answer says what it says; by default its reasons are already shown."""
        return Outcome().respond("utter_nothing_to_explain")

    def name(self) -> str:
        return self.action_name

    @abc.abstractmethod
    def answer(self, ctx: Context, domain: DomainDict) -> Outcome:
        """The answer to the current message, computed in a worker thread."""

    def _run_sync(self, tracker: Tracker, domain: DomainDict) -> tuple[Outcome, bool]:
        settings = get_settings()
        try:
            identity = identity_of(tracker, settings)
        except IdentityError as exc:
            log.warning("refused %s for sender %s: %s", self.action_name, tracker.sender_id, exc)
            return Outcome().respond("utter_identity_refused"), False
        engine = cached_engine(settings.store_url, interactive=True)
        try:
            asker = load_asker(engine, identity)
            ctx = Context(
                asker=asker,
                engine=engine,
                today=today_for(settings),
                settings=settings,
                tracker=tracker,
            )
            outcome = self.answer(ctx, domain)
        except NotLinkedError:
            return Outcome().respond("utter_not_linked"), False
        except Refusal as refusal:
            if not refusal.response:  # already said this turn
                return Outcome(), False
            return Outcome().respond(refusal.response, **refusal.variables), False
        except (StoreUnavailableError, OperationalError) as exc:
            log.error("store unavailable during %s: %s", self.action_name, exc)
            return Outcome().respond("utter_store_down"), False
        except AnalyticsError as exc:
            return Outcome().say(Answer(kind="not_enough_data", text=_sentence(str(exc)))), False
        return outcome, identity.is_shared_channel and self.shares_account_data

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        outcome, ephemeral = await asyncio.to_thread(self._run_sync, tracker, domain)
        emit(dispatcher, outcome, ephemeral=ephemeral)
        return outcome.events
