"""The endpoints Rasa runs with: conversations survive a Rasa restart by default."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from bot.rasa_endpoints import endpoints_config, write_endpoints
from bot.rasa_project import rasa_environment
from bot.settings import Settings

# what Rasa itself does with the file: save a conversation in one process, read it back in
# another (a restart), through Rasa 3.6's own tracker store factory
ROUND_TRIP = textwrap.dedent(
    """
    import asyncio, sys
    from rasa.core.tracker_store import TrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import read_endpoint_config

    domain = Domain.from_dict(
        {"slots": {"account": {"type": "text", "mappings": [{"type": "custom"}]}}}
    )
    store = TrackerStore.create(read_endpoint_config(sys.argv[1], "tracker_store"), domain)

    async def main():
        if sys.argv[2] == "save":
            tracker = DialogueStateTracker("slack:U1", domain.slots)
            tracker.update(UserUttered("how is Acme doing?"))
            tracker.update(SlotSet("account", "Acme"))
            await store.save(tracker)
        else:
            tracker = await store.retrieve("slack:U1")
            print(tracker.get_slot("account"), "|", tracker.latest_message.text)

    asyncio.run(main())
    """
)


def test_default_keeps_conversations_in_a_sqlite_file_and_postgres_wins_when_set(tmp_path):
    local = endpoints_config(
        action_server_url="http://127.0.0.1:5055", tracker_file=tmp_path / "tracker.db"
    )
    assert local["tracker_store"] == {
        "type": "SQL",
        "dialect": "sqlite",
        "db": str((tmp_path / "tracker.db").resolve()),
    }
    team = endpoints_config(
        action_server_url="http://127.0.0.1:5055",
        tracker_store_url="postgresql://rasa:pw@db:5433/conversations",
        tracker_file=tmp_path / "tracker.db",
    )
    assert team["tracker_store"]["dialect"] == "postgresql"
    assert team["tracker_store"]["db"] == "conversations"
    assert "tracker_store" not in endpoints_config(action_server_url="http://127.0.0.1:5055")


@pytest.mark.rasa
def test_rasa_reads_back_a_conversation_after_a_restart(tmp_path):
    python = Path(Settings().rasa_executable).parent / "python"  # type: ignore[call-arg]
    assert python.exists(), "the Rasa environment is not installed: run make setup"
    endpoints = write_endpoints(
        tmp_path / "endpoints.yml",
        action_server_url="http://127.0.0.1:5055",
        tracker_file=tmp_path / "tracker.db",
    )
    assert yaml.safe_load(endpoints.read_text())["tracker_store"]["dialect"] == "sqlite"
    script = tmp_path / "round_trip.py"
    script.write_text(ROUND_TRIP)

    def run(step: str) -> str:
        done = subprocess.run(
            [str(python), str(script), str(endpoints), step],
            capture_output=True,
            text=True,
            env=rasa_environment(),
            timeout=300,
            check=True,
        )
        return done.stdout.strip()

    run("save")
    assert (tmp_path / "tracker.db").exists()
    assert run("load") == "Acme | how is Acme doing?"
