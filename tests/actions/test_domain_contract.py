"""The actions and the Rasa domain agree: every action the domain declares is served by
the action server, and every response an action utters exists in the domain."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml
from rasa_sdk.executor import ActionExecutor

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "nlu" / "domain.yml"


def _domain() -> dict:
    return yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))


def _uttered_responses() -> dict[str, str]:
    """Response names passed as string literals to ``respond(...)``/``Refusal(...)``/``response=``."""
    found: dict[str, str] = {}
    for path in (ROOT / "actions").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            literals: list[ast.AST] = []
            if isinstance(node, ast.Call):
                name = (
                    node.func.attr
                    if isinstance(node.func, ast.Attribute)
                    else getattr(node.func, "id", "")
                )
                if name in {"respond", "Refusal"} and node.args:
                    literals.append(node.args[0])
                literals.extend(k.value for k in node.keywords if k.arg == "response")
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                literals.append(node.value)
            for literal in literals:
                if (
                    isinstance(literal, ast.Constant)
                    and isinstance(literal.value, str)
                    and literal.value.startswith("utter_")
                ):
                    found[literal.value] = f"{path.relative_to(ROOT)}:{literal.lineno}"
    return found


def test_every_uttered_response_exists_in_the_domain():
    responses = set(_domain().get("responses", {}))
    missing = {name: where for name, where in _uttered_responses().items() if name not in responses}
    assert missing == {}


def test_domain_actions_and_served_actions_agree():
    executor = ActionExecutor()
    executor.register_package("actions")
    served = set(executor.actions)
    declared = {a for a in _domain().get("actions", []) if not a.startswith("utter_")}
    assert declared - served == set(), "declared in the domain but not served"
    assert served - declared == set(), "served but not declared in the domain"
