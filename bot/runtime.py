"""What a running bot process holds: settings, store engine, secrets, the assistant."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from bot.assistant import Assistant
from bot.conversation import RasaClient
from bot.settings import Settings
from bot.terminal import terminal_token
from store.db import make_engine
from store.identity import load_or_create_secret

if TYPE_CHECKING:
    from bot.coaching import Coaching


def identity_secret(settings: Settings) -> str:
    """``SALESBOT_IDENTITY_SECRET``, else a per-install secret in ``<home>/identity.key``."""
    if settings.identity_secret is not None:
        return settings.identity_secret.get_secret_value()
    return load_or_create_secret(Path(settings.home) / "identity.key")


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    assistant: Assistant
    terminal_token: str
    instance_id: str = field(default_factory=lambda: f"bot-{secrets.token_hex(4)}")
    _coaching: Coaching | None = field(default=None, init=False, repr=False)

    @property
    def coaching(self) -> Coaching:
        """Trackers, call reviews and live calls' storage (spaCy loads on first use)."""
        if self._coaching is None:
            from bot.coaching import Coaching

            self._coaching = Coaching(self.engine)
        return self._coaching

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.store_url, interactive=True)
        rasa = RasaClient(
            settings.rasa_url,
            secret=identity_secret(settings),
            timeout=settings.rasa_timeout_seconds,
        )
        assistant = Assistant(
            engine=engine, rasa=rasa, action_server_url=settings.action_server_url
        )
        return cls(
            settings=settings,
            engine=engine,
            assistant=assistant,
            terminal_token=terminal_token(settings),
        )

    async def aclose(self) -> None:
        await self.assistant.rasa.aclose()
        self.engine.dispose()
