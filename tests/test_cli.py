"""The CLI's command registry: every command is reachable on its own (one import per run)."""

from __future__ import annotations

import subprocess
import sys

import typer.main

from bot.cli import COMMAND_MODULES, COMMANDS, build_app


def test_every_command_is_mapped_to_the_module_that_registers_it():
    full = set(typer.main.get_command(build_app()).commands)  # type: ignore[attr-defined]
    assert full == set(COMMANDS)
    assert set(COMMANDS.values()) == set(COMMAND_MODULES)
    for command, module in COMMANDS.items():
        assert command in typer.main.get_command(build_app((module,))).commands  # type: ignore[attr-defined]


def test_ask_without_a_running_stack_says_so(tmp_path):
    env = {"SALESBOT_HOME": str(tmp_path), "SALESBOT_BOT_PORT": "9", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "--as", "ann@example.com", "hi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "salesbot is not running at http://127.0.0.1:9" in result.stderr
