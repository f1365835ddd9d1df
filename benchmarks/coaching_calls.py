"""Blind set 7: whole calls reviewed end to end, scored per category and per call.

    .venv/bin/python -m benchmarks.coaching_calls [--label "first score"]

Each call of ``tests/fixtures/coaching/blind_calls.yml`` is rendered into a transcript file
in its format (header verbatim, then ``[mm:ss] Name: text``, ``**Name:** text`` or
``Name: text`` lines), parsed with ``parse_transcript`` and reviewed with ``review_call``
exactly as ``salesbot coach FILE --competitor NAME ...`` would: the rep side is inferred (no
``--rep-speaker``). Then:

* rep side: the inferred rep speakers equal the annotated ones;
* per category, per utterance: a category is predicted when any of its flags is on that
  utterance (utterances are matched to the annotation by their text; a parsed utterance that
  is not in the annotation, e.g. a header line read as speech, counts as unlabelled);
* per call: a category is must-flag when any utterance carries it, must-not-flag otherwise.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from analytics.coaching import (
    FIXED_CATEGORIES,
    TrackerSet,
    competitor_from_dict,
    load_tracker_config,
    parse_transcript,
    review_call,
)

ROOT = Path(__file__).resolve().parents[1]
BLIND_CALLS = ROOT / "tests" / "fixtures" / "coaching" / "blind_calls.yml"


def load_calls(path: Path = BLIND_CALLS) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text("utf-8"))["calls"]


def render_call(call: dict[str, Any]) -> str:
    """The call as the transcript file a user would have."""
    lines = [call["header"].rstrip("\n"), ""] if call["header"].strip() else []
    for speaker, time, text, _labels in call["utterances"]:
        if call["format"] == "timestamped":
            lines.append(f"[{time}] {speaker}: {text}")
        elif call["format"] == "markdown":
            lines.extend([f"**{speaker}:** {text}", ""])
        else:
            lines.append(f"{speaker}: {text}")
    return "\n".join(lines) + "\n"


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def review_calls(calls: Sequence[dict[str, Any]], *, learned: bool = True) -> list[dict[str, Any]]:
    """Per call: rep truth and inference, and per utterance the expected and flagged sets."""
    base = load_tracker_config()
    results = []
    for call in calls:
        config = base.with_competitors(
            competitor_from_dict({"name": n}, source="--competitor") for n in call["competitors"]
        )
        trackers = TrackerSet(config, learned=learned)
        transcript = parse_transcript(render_call(call), name=call["id"])
        review = review_call(transcript, trackers)
        expected = {_key(text): set(labels) for _s, _t, text, labels in call["utterances"]}
        flagged: dict[str, set[str]] = {}
        by_seq = {u.seq: u for u in transcript.utterances}
        for flag in review.flags:
            flagged.setdefault(_key(by_seq[flag.seq].text), set()).add(flag.category)
        rows = []
        texts = []
        for u in transcript.utterances:
            rows.append((expected.get(_key(u.text), set()), flagged.get(_key(u.text), set())))
            texts.append(f"{u.speaker}: {u.text}")
        parsed = {_key(u.text) for u in transcript.utterances}
        for text, labels in expected.items():
            if text not in parsed:
                rows.append((labels, set()))
                texts.append(f"(not parsed) {text}")
        results.append(
            {
                "id": call["id"],
                "rep_truth": sorted(call["rep"]),
                "rep_found": sorted(review.rep_side.speakers),
                "rep_note": review.rep_side.note,
                "rows": rows,
                "texts": texts,
            }
        )
    return results


def _pr(tp: int, fp: int, fn: int) -> str:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return f"{p:.2f} / {r:.2f}"


def report(results: Sequence[dict[str, Any]], label: str) -> str:
    out = [f"### Blind set 7 ({label})", ""]
    out.append("| call | rep (annotated) | rep (inferred) | right |")
    out.append("|---|---|---|---|")
    for r in results:
        ok = "yes" if r["rep_truth"] == r["rep_found"] else "**no**"
        out.append(
            f"| {r['id']} | {', '.join(r['rep_truth'])} | {', '.join(r['rep_found']) or '-'} | {ok} |"
        )
    out += [
        "",
        "| category | utterances P / R (n) | calls: must-flag raised | calls: must-not raised |",
    ]
    out.append("|---|---|---|---|")
    for category in FIXED_CATEGORIES:
        tp = fp = fn = n = 0
        must = raised = must_not = wrong = 0
        for r in results:
            want_call = got_call = False
            for want, got in r["rows"]:
                w, g = category in want, category in got
                tp += w and g
                fp += g and not w
                fn += w and not g
                n += w
                want_call |= w
                got_call |= g
            if want_call:
                must += 1
                raised += got_call
            else:
                must_not += 1
                wrong += got_call
        out.append(
            f"| {category} | {_pr(tp, fp, fn)} ({n}) | {raised} of {must} | {wrong} of {must_not} |"
        )
    total = sum(len(r["rows"]) for r in results)
    out += ["", f"{len(results)} calls, {total} utterances."]
    return "\n".join(out)


def details(results: Sequence[dict[str, Any]]) -> str:
    """Every disagreement, for reading after the final score (never for tuning)."""
    lines = []
    for r in results:
        lines.append(f"{r['id']}: {r['rep_note']}")
        for (want, got), text in zip(r["rows"], r["texts"], strict=True):
            if want != got:
                lines.append(f"  want {sorted(want)} got {sorted(got)}: {text}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="score")
    parser.add_argument("--details", action="store_true", help="print each disagreement")
    parser.add_argument("--no-learned", action="store_true", help="patterns and meaning rules only")
    args = parser.parse_args(argv)
    results = review_calls(load_calls(), learned=not args.no_learned)
    print(report(results, args.label))
    if args.details:
        print()
        print(details(results))


if __name__ == "__main__":
    main()
