"""One entry point for every channel: resolve who asks, forward to Rasa, return answers.

Slack listeners, the terminal API and tests all go through :class:`Assistant`, so
identity, error wording and the "Rasa or the actions are down" cases behave the same.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from bot import messages
from bot.conversation import Asker, ConversationError, RasaClient
from render import Answer
from store import crud
from store.db import StoreUnavailableError, session_scope
from store.models import Rep

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepRef:
    """The few facts about a rep the edges need (no ORM object leaves the session)."""

    rep_id: int
    name: str
    email: str
    role: str
    timezone: str
    slack_user_id: str | None

    @classmethod
    def of(cls, rep: Rep) -> RepRef:
        assert rep.id is not None
        return cls(rep.id, rep.name, rep.email, str(rep.role), rep.timezone, rep.slack_user_id)


class Assistant:
    def __init__(self, *, engine: Engine, rasa: RasaClient, action_server_url: str | None = None):
        self.engine = engine
        self.rasa = rasa
        self._action_health = (
            action_server_url.rstrip("/") + "/health" if action_server_url else None
        )

    # ---------------------------------------------------------------- identity
    def _rep_by_email_sync(self, email: str) -> RepRef | None:
        with session_scope(self.engine) as session:
            rep = crud.get_rep_by_email(session, email=email)
            return RepRef.of(rep) if rep is not None else None

    async def rep_by_email(self, email: str) -> RepRef | None:
        try:
            return await asyncio.to_thread(self._rep_by_email_sync, email)
        except OperationalError as exc:
            raise StoreUnavailableError(str(exc)) from exc

    def _rep_by_slack_sync(self, slack_user_id: str, email: str | None) -> RepRef | None:
        with session_scope(self.engine) as session:
            rep = crud.get_rep_by_slack_id(session, slack_user_id=slack_user_id)
            if rep is None and email:
                rep = crud.get_rep_by_email(session, email=email)
                if rep is not None:
                    crud.link_slack_user(session, rep=rep, slack_user_id=slack_user_id)
            return RepRef.of(rep) if rep is not None else None

    async def rep_by_slack_user(
        self, slack_user_id: str, email: str | None = None
    ) -> RepRef | None:
        """The rep for a Slack user: by stored Slack id, else by ``email`` (and remember the link)."""
        try:
            return await asyncio.to_thread(self._rep_by_slack_sync, slack_user_id, email)
        except OperationalError as exc:
            raise StoreUnavailableError(str(exc)) from exc

    # ----------------------------------------------------------------- talking
    async def _actions_reachable(self) -> bool:
        if self._action_health is None:
            return True
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                return (await client.get(self._action_health)).status_code == 200
        except httpx.HTTPError:
            return False

    async def ask(self, asker: Asker, text: str) -> list[Answer]:
        """Answers for ``text``; failures become a single friendly answer, never an exception."""
        try:
            answers = await self.rasa.ask(asker, text)
        except ConversationError as exc:
            log.warning("conversation failed for sender %s: %s", asker.sender, exc)
            return [Answer(kind="error", text=exc.user_message, data={"error": type(exc).__name__})]
        if (
            len(answers) == 1
            and answers[0].text == messages.NO_REPLY
            and not await self._actions_reachable()
        ):
            return [
                Answer(
                    kind="error",
                    text=messages.ACTIONS_DOWN,
                    data={"error": "ActionServerUnavailable"},
                )
            ]
        return answers
