"""Settings of the bot process (and of the CLI, which runs in the same environment).

Read from the environment and an optional ``.env`` file; every setting is listed in
``.env.example``. Secrets have no defaults and are never logged (``SecretStr``).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.db import default_database_url

PROJECT_DIR = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    home: Path = Field(
        default=Path("var"),
        alias="SALESBOT_HOME",
        description="data folder (SQLite file, models, keys)",
    )
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    host: str = Field(default="127.0.0.1", alias="SALESBOT_HOST")
    bot_port: int = Field(default=3000, alias="SALESBOT_BOT_PORT")
    rasa_url: str = Field(default="http://127.0.0.1:5005", alias="RASA_URL")
    action_server_url: str = Field(default="http://127.0.0.1:5055", alias="ACTION_SERVER_URL")
    rasa_timeout_seconds: float = Field(default=10.0, alias="RASA_TIMEOUT_SECONDS")
    identity_secret: SecretStr | None = Field(default=None, alias="SALESBOT_IDENTITY_SECRET")
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    log_level: str = Field(default="INFO", alias="SALESBOT_LOG_LEVEL")
    as_of: dt.date | None = Field(
        default=None,
        alias="SALESBOT_AS_OF",
        description="show the App Home as if today were this date (same as the actions); default: the real date",
    )
    score_at: dt.time | None = Field(
        default=None,
        alias="SALESBOT_SCORE_AT",
        description=(
            "local time of the nightly scoring run (HH:MM in SALESBOT_TIMEZONE); empty: none. "
            "`salesbot serve` sets 02:00 unless configured"
        ),
    )
    timezone: str = Field(
        default="UTC", alias="SALESBOT_TIMEZONE", description="the company's time zone"
    )
    call_review_channel: str | None = Field(
        default=None,
        alias="SALESBOT_CALL_REVIEW_CHANNEL",
        description="Slack channel ID (C...) where shared transcript files get a threaded call review",
    )
    live_url: str | None = Field(
        default=None,
        alias="SALESBOT_LIVE_URL",
        description="public ws:// or wss:// base of the live-coaching socket; default ws://<host>:<bot port>",
    )
    live_token_hours: float = Field(
        default=4.0,
        gt=0,
        alias="SALESBOT_LIVE_TOKEN_HOURS",
        description="how long a live token is valid",
    )
    live_cooldown_seconds: float = Field(
        default=60.0,
        ge=0,
        alias="SALESBOT_LIVE_COOLDOWN_SECONDS",
        description="call time after a live prompt before the same category prompts again",
    )
    live_cooldown_utterances: int = Field(
        default=3,
        ge=0,
        alias="SALESBOT_LIVE_COOLDOWN_UTTERANCES",
        description="utterances after a live prompt before the same category prompts again",
    )
    live_resume_seconds: float = Field(
        default=120.0,
        ge=0,
        alias="SALESBOT_LIVE_RESUME_SECONDS",
        description="a live call whose socket dropped without 'end' is kept this long for a reconnect, then stored",
    )
    rasa_tracker_store_url: str | None = Field(
        default=None,
        alias="RASA_TRACKER_STORE_URL",
        description="postgresql://user:pass@host:port/db to keep conversations in PostgreSQL (default: a SQLite file, <home>/rasa/tracker.db)",
    )
    rasa_lock_store_url: str | None = Field(
        default=None,
        alias="RASA_LOCK_STORE_URL",
        description="redis://host:port/db so several Rasa replicas share conversation locks",
    )
    project_dir: Path = Field(
        default=PROJECT_DIR,
        alias="SALESBOT_PROJECT_DIR",
        description="where config.yml and nlu/ live",
    )
    rasa_bin: Path | None = Field(
        default=None,
        alias="SALESBOT_RASA_BIN",
        description="default: <project>/.venv-rasa/bin/rasa",
    )

    @field_validator("score_at", mode="before")
    @classmethod
    def _empty_means_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def rasa_executable(self) -> Path:
        return self.rasa_bin or self.project_dir / ".venv-rasa" / "bin" / "rasa"

    @property
    def store_url(self) -> str:
        return self.database_url or default_database_url(self.home)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
