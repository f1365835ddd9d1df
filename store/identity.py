"""Signed identity: how the bot vouches for the rep behind a message.

The bot resolves a Slack user (or a terminal ``--as`` e-mail) to a rep, then signs
``{rep_id, sender, issued_at, ...}`` with a secret shared only with the action
server. Rasa passes the token through untouched as message metadata; the actions
verify it and act only on the rep it names. A bare ``sender`` string from the
network therefore grants nothing: without the secret no valid token can be made,
a token is bound to its conversation (``sender``) and it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

TOKEN_VERSION = "v1"
DEFAULT_MAX_AGE_SECONDS = 300
METADATA_KEY = "salesbot_identity"


class IdentityError(PermissionError):
    """A message's identity token is missing, forged, expired or for another conversation."""


@dataclass(frozen=True)
class Identity:
    """Who is asking, as vouched for by the bot."""

    rep_id: int
    sender: str
    issued_at: float
    channel: str = "terminal"
    """``im`` (Slack DM), ``channel`` (shared Slack channel), ``terminal``."""
    slack_user_id: str | None = None
    slack_channel_id: str | None = None
    nonce: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def is_shared_channel(self) -> bool:
        return self.channel == "channel"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode("utf-8"), payload.encode("ascii"), hashlib.sha256).digest())


def sign_identity(identity: Identity, *, secret: str) -> str:
    """Token ``v1.<payload>.<mac>`` for ``identity``."""
    if not secret:
        raise IdentityError("no identity secret configured")
    payload = _b64(
        json.dumps(asdict(identity), sort_keys=True, separators=(",", ":")).encode("utf-8")
    )
    return f"{TOKEN_VERSION}.{payload}.{_mac(secret, payload)}"


def verify_identity(
    token: object,
    *,
    secret: str,
    sender: str,
    now: float | None = None,
    max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
) -> Identity:
    """Return the identity in ``token`` or raise :class:`IdentityError`.

    The token must carry a valid MAC under ``secret``, name this conversation's
    ``sender`` and be younger than ``max_age_seconds``.
    """
    if not secret:
        raise IdentityError("no identity secret configured")
    if not isinstance(token, str) or token.count(".") != 2:
        raise IdentityError("missing or malformed identity token")
    version, payload, mac = token.split(".")
    if version != TOKEN_VERSION:
        raise IdentityError(f"unsupported identity token version {version!r}")
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise IdentityError("identity token signature does not match")
    try:
        claims = json.loads(_unb64(payload))
        identity = Identity(**claims)
    except (ValueError, TypeError) as exc:
        raise IdentityError("identity token payload is unreadable") from exc
    if identity.sender != sender:
        raise IdentityError("identity token was issued for another conversation")
    current = time.time() if now is None else now
    if not (identity.issued_at - 30 <= current <= identity.issued_at + max_age_seconds):
        raise IdentityError("identity token expired")
    return identity


def load_or_create_secret(path: Path) -> str:
    """Read the shared secret from ``path``, creating a random one (mode 0600) if absent.

    Used when ``SALESBOT_IDENTITY_SECRET`` is not set, so a single-machine install
    works without configuration while the secret never leaves the data folder.
    """
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value, encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return value


RASA_API_PURPOSE = "rasa-http-api"
ACTION_ENDPOINT_PURPOSE = "rasa-action-endpoint"


def internal_token(secret: str, purpose: str) -> str:
    """A credential between our own processes, derived from the identity secret so that every
    process of one install agrees on it without another secret to distribute: Rasa's HTTP
    API token (``RASA_API_PURPOSE``) and what Rasa presents to the action server
    (``ACTION_ENDPOINT_PURPOSE``)."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()[:40]
