"""Settings of the action server process."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.db import default_database_url
from store.identity import load_or_create_secret


class ActionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    home: Path = Field(default=Path("var"), alias="SALESBOT_HOME")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    identity_secret: SecretStr | None = Field(default=None, alias="SALESBOT_IDENTITY_SECRET")
    identity_max_age_seconds: float = Field(
        default=300.0, alias="SALESBOT_IDENTITY_MAX_AGE_SECONDS"
    )
    as_of: dt.date | None = Field(
        default=None,
        alias="SALESBOT_AS_OF",
        description="answer as if today were this date (for replaying history); default: the real date",
    )
    list_size: int = Field(
        default=5, alias="SALESBOT_LIST_SIZE", description="rows per answer before 'show more'"
    )

    @property
    def store_url(self) -> str:
        return self.database_url or default_database_url(self.home)

    def secret(self) -> str:
        if self.identity_secret is not None:
            return self.identity_secret.get_secret_value()
        return load_or_create_secret(Path(self.home) / "identity.key")


@lru_cache(maxsize=1)
def get_settings() -> ActionSettings:
    return ActionSettings()
