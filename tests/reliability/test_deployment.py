"""What ``salesbot serve`` exposes when the bot is made reachable from other machines."""

from __future__ import annotations

from pathlib import Path

from bot.cli.serve import child_specs
from bot.rasa_endpoints import InternalTokens
from bot.settings import Settings


def test_only_the_bot_listens_beyond_loopback(tmp_path):
    """``SALESBOT_HOST=0.0.0.0`` (the bot behind a load balancer) must not expose Rasa's
    HTTP API or the action server."""
    settings = Settings(_env_file=None, SALESBOT_HOME=str(tmp_path), SALESBOT_HOST="0.0.0.0")  # type: ignore[call-arg]
    specs = {
        spec.name: spec for spec in child_specs(settings, model=Path("model.tar.gz"), secret="s")
    }
    rasa = specs["rasa"].argv
    assert rasa[rasa.index("-i") + 1] == "127.0.0.1"
    assert specs["actions"].env["SANIC_HOST"] == "127.0.0.1"
    assert specs["rasa"].health_url.startswith("http://127.0.0.1:")
    assert specs["actions"].health_url.startswith("http://127.0.0.1:")
    assert specs["bot"].health_url.startswith("http://0.0.0.0:")
    endpoints = (tmp_path / "rasa" / "endpoints.yml").read_text()
    assert "url: http://127.0.0.1:5055/webhook" in endpoints
    # Rasa's API needs its token (its health check carries it) and Rasa presents the action
    # server's: both derived from the identity secret the action server also holds
    tokens = InternalTokens.derive("s")
    assert rasa[rasa.index("--auth-token") + 1] == tokens.rasa_api
    assert specs["rasa"].health_url.endswith(f"/status?token={tokens.rasa_api}")
    assert f"token: {tokens.action_endpoint}" in endpoints
    assert tokens.rasa_api != tokens.action_endpoint
    assert InternalTokens.derive("another install") != tokens
    # conversations survive a Rasa restart
    assert "dialect: sqlite" in endpoints
