"""The package boundaries of DESIGN.md section 2 hold (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _module_level_calls(path: Path) -> list[tuple[str, int]]:
    """Names of the functions called at import time (outside functions and classes)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = []
    for node in tree.body:
        if isinstance(
            node,
            ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom,
        ):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                func = sub.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                calls.append((name, sub.lineno))
    return calls


def test_nothing_heavy_runs_at_import():
    """No engines, settings, App(), spaCy pipelines or pandas options at module level."""
    forbidden = {
        "create_engine",
        "make_engine",
        "get_settings",
        "Settings",
        "App",
        "AsyncApp",
        "blank",
        "load",
        "set_option",
        "connect",
        "WebClient",
        "AsyncWebClient",
    }
    offenders = []
    for package in ("store", "analytics", "actions", "bot", "render"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for name, line in _module_level_calls(path):
                if name in forbidden:
                    offenders.append(f"{path.relative_to(ROOT)}:{line} {name}()")
    assert offenders == []
