"""What ``salesbot serve`` exposes when the bot is made reachable from other machines."""

from __future__ import annotations

from pathlib import Path

from bot.cli.serve import child_specs
from bot.settings import Settings


def test_only_the_bot_listens_beyond_loopback(tmp_path):
    """``SALESBOT_HOST=0.0.0.0`` (the bot behind a load balancer) must not expose Rasa's
    unauthenticated HTTP API or the action server."""
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
