"""``python -m benchmarks [NAME ...]`` (``make bench``): run the benchmarks, each in its own
process, and list where their results went.

Every benchmark measures its baseline in the same run and reports ratios, because the
machine's load moves absolute times. Names: see ``BENCHMARKS``; with no name, all run in
this order (the full set takes a while: several build a 100k-account company).
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS: dict[str, list[str]] = {
    "coaching": ["benchmarks.coaching"],
    "live": ["benchmarks.live_socket", "--utterances", "1000"],
    "quality-northwind": ["benchmarks.quality", "--dataset", "northwind"],
    "quality-demo": ["benchmarks.quality", "--dataset", "demo"],
    "forecast": ["benchmarks.forecast_backtest"],
    "nlu": ["benchmarks.nlu_eval"],
    "import": ["benchmarks.import_speed"],
    "demo": ["benchmarks.demo_speed"],
    "score": ["benchmarks.score_speed"],
    "pipeline": ["benchmarks.pipeline_speed"],
    "slack": ["benchmarks.slack_edge"],
    "load": ["benchmarks.load"],
}


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
        code = subprocess.call([sys.executable, "-m", module, *args])
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
