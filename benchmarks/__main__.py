"""``python -m benchmarks [NAME ...]`` (``make bench``): run the benchmarks, each in its own
process, and list where their results went.

Every benchmark measures its baseline in the same run and reports ratios, because the
machine's load moves absolute times. Names: see ``BENCHMARKS``; with no name, all run in
this order (the full set takes a while: several build a 100k-account company).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

BENCHMARKS: dict[str, list[str]] = {
    "coaching": ["benchmarks.coaching"],
    "live": ["benchmarks.live_socket", "--utterances", "1000"],
    "quality-northwind": ["benchmarks.quality", "--dataset", "northwind"],
    "quality-demo": ["benchmarks.quality", "--dataset", "demo"],
    "forecast": ["benchmarks.forecast_backtest"],
    "nlu": ["benchmarks.nlu_eval"],
    "import": ["benchmarks.import_speed"],
    "demo": [
        "benchmarks.demo_speed",
        "--postgres",
        os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    ],
    "score": ["benchmarks.score_speed"],
    "pipeline": ["benchmarks.pipeline_speed"],
    "slack": ["benchmarks.slack_edge"],
    "load": ["benchmarks.load"],
    "ask": ["benchmarks.ask_latency"],
}

REPORTS: dict[str, str] = {
    "import": "import_speed.md",
    "demo": "demo_speed.md",
    "score": "score_speed.md",
}
"""Benchmarks that print their report: the runner keeps what they print in these files
(the others write their own results file)."""


def run(name: str, module: str, args: list[str]) -> int:
    """Run one benchmark; keep the printed report of those in :data:`REPORTS`."""
    command = [sys.executable, "-m", module, *args]
    if name not in REPORTS:
        return subprocess.call(command)
    started = dt.datetime.now(dt.UTC)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert process.stdout is not None
    printed = []
    for line in process.stdout:
        print(line, end="", flush=True)
        printed.append(line)
    code = process.wait()
    load = os.getloadavg()
    header = (
        f"# {REPORTS[name].removesuffix('.md').replace('_', ' ')}\n\n"
        f"Printed by `python -m {' '.join([module, *args])}` (run by `python -m benchmarks "
        f"{name}`), started {started:%Y-%m-%d %H:%M} UTC, exit code {code}; Python "
        f"{platform.python_version()}, {os.cpu_count()} cores, load average "
        f"{load[0]:.1f} at the end. The method and the baselines are in the module's "
        "docstring.\n\n"
    )
    (RESULTS / REPORTS[name]).write_text(header + "```\n" + "".join(printed) + "```\n")
    return code


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    failed = []
    for name in names:
        module, *args = BENCHMARKS[name]
        print(f"\n=== {name}: python -m {module} {' '.join(args)}", flush=True)
        started = time.perf_counter()
        code = run(name, module, args)
        print(f"=== {name}: exit {code} after {time.perf_counter() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    print("\nresults are in benchmarks/results/")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
