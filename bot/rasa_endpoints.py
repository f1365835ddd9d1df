"""The ``endpoints.yml`` Rasa runs with, written from our settings at start-up:
where the action server is, where conversations are kept (a SQLite file beside the model by
default, so a Rasa restart keeps them; for teams the tracker store on PostgreSQL) and the
lock store on Redis so several Rasa replicas share conversations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from store.identity import ACTION_ENDPOINT_PURPOSE, RASA_API_PURPOSE, internal_token


@dataclass(frozen=True)
class InternalTokens:
    """Credentials between our own processes, derived from the install's identity secret:
    ``rasa_api`` guards Rasa's HTTP API (``rasa run --auth-token``: trackers, status),
    ``action_endpoint`` is what Rasa must present to the action server (which derives the
    same value from the same secret)."""

    rasa_api: str
    action_endpoint: str

    @classmethod
    def derive(cls, secret: str) -> InternalTokens:
        return cls(
            rasa_api=internal_token(secret, RASA_API_PURPOSE),
            action_endpoint=internal_token(secret, ACTION_ENDPOINT_PURPOSE),
        )


def endpoints_config(
    *,
    action_server_url: str,
    tracker_store_url: str | None = None,
    lock_store_url: str | None = None,
    tracker_file: Path | None = None,
    action_token: str | None = None,
) -> dict[str, Any]:
    """Rasa 3.6 endpoint configuration as a dict (see rasa.com/docs/rasa/3.x/tracker-stores).

    Without ``tracker_store_url``, conversations go to the SQLite file ``tracker_file`` when
    given (Rasa's own SQL tracker store), else stay in Rasa's memory. With ``action_token``
    Rasa calls the action server with ``?token=<action_token>``."""
    config: dict[str, Any] = {
        "action_endpoint": {"url": action_server_url.rstrip("/") + "/webhook"}
    }
    if action_server_url.rstrip("/").endswith("/webhook"):
        config["action_endpoint"]["url"] = action_server_url.rstrip("/")
    if action_token:
        config["action_endpoint"]["token"] = action_token
    if tracker_store_url:
        url = urlparse(tracker_store_url)
        if url.scheme not in ("postgres", "postgresql", "postgresql+psycopg2"):
            raise ValueError(
                f"RASA_TRACKER_STORE_URL must be a postgresql:// URL, got {url.scheme}://"
            )
        config["tracker_store"] = {
            "type": "SQL",
            "dialect": "postgresql",
            "url": url.hostname or "127.0.0.1",
            "port": url.port or 5432,
            "db": (url.path or "/rasa").lstrip("/") or "rasa",
            "username": url.username or "postgres",
            "password": url.password or "",
        }
    elif tracker_file is not None:
        config["tracker_store"] = {
            "type": "SQL",
            "dialect": "sqlite",
            "db": str(Path(tracker_file).resolve()),
        }
    if lock_store_url:
        url = urlparse(lock_store_url)
        if url.scheme != "redis":
            raise ValueError(f"RASA_LOCK_STORE_URL must be a redis:// URL, got {url.scheme}://")
        config["lock_store"] = {
            "type": "redis",
            "url": url.hostname or "127.0.0.1",
            "port": url.port or 6379,
            "db": int((url.path or "/0").lstrip("/") or 0),
        }
        if url.password:
            config["lock_store"]["password"] = url.password
    return config


def write_endpoints(path: Path, **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(endpoints_config(**kwargs), sort_keys=False), encoding="utf-8")
    return path
