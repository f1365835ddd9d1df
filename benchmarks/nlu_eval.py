"""NLU quality on paraphrases the model never saw, and cross-validation on the training data.

    .venv/bin/python -m benchmarks.nlu_eval [--cross-validation] [--folds 3] [--no-store]

Trains once if needed (``bot.rasa_project.ensure_model``: the same model ``salesbot train``
builds, lookups from the configured store unless ``--no-store``), starts no server, and runs
``rasa test nlu`` on each held-out file in ``benchmarks/nlu/``:

- ``paraphrases.yml``: 248 held-out sentences. It was used during development to find gaps in
  the training data (the categories of mistakes, never its sentences or names, which a test
  keeps out of ``nlu/data``), so it is no longer blind.
- ``paraphrases_blind.yml``: written after that, scored when the data was final.

Reported: intent accuracy (the FallbackClassifier is in the loop, so a paraphrase that falls
to ``nlu_fallback`` counts as wrong) and macro F1; account entities as exact spans (a
prediction counts only when start and end match the annotation), and Rasa's token-level F1
for every entity. Baseline measured in the same run on the same split: TF-IDF word and
character n-grams with logistic regression for intents. Our bar: intent accuracy >= 0.95 and
account F1 >= 0.90 on paraphrases the model never saw.

``--cross-validation`` also runs ``rasa test nlu --cross-validation`` (``--folds`` models,
NLU only) on the generated training data.

Writes ``benchmarks/results/nlu.json`` (every section, kept between runs) and
``benchmarks/results/nlu.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline, make_union

from bot.rasa_project import (
    RasaProject,
    StoreVocabulary,
    ensure_model,
    rasa_environment,
    source_root,
    vocabulary_from_store,
)
from bot.settings import get_settings
from store.db import make_engine
from store.migrate import upgrade

ROOT = source_root()
HELD_OUT = {
    "paraphrases": ROOT / "benchmarks" / "nlu" / "paraphrases.yml",
    "paraphrases_blind": ROOT / "benchmarks" / "nlu" / "paraphrases_blind.yml",
    "paraphrases_blind2": ROOT / "benchmarks" / "nlu" / "paraphrases_blind2.yml",
    "paraphrases_blind3": ROOT / "benchmarks" / "nlu" / "paraphrases_blind3.yml",
}
RESULTS_JSON = ROOT / "benchmarks" / "results" / "nlu.json"
RESULTS_MD = ROOT / "benchmarks" / "results" / "nlu.md"
ENTITIES = ("account", "rep", "period", "metric", "category", "schedule")
ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]+\)|\{[^}]*\})")


def _rasa(project: RasaProject, *args: str, cwd: Path) -> float:
    """Run a rasa command; returns its wall time. Output goes to ``<cwd>/rasa.log``."""
    cwd.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (cwd / "rasa.log").open("w") as log:
        result = subprocess.run(
            [str(project.rasa_executable), *args],
            cwd=cwd,
            env=rasa_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        tail = (cwd / "rasa.log").read_text(errors="replace").splitlines()[-20:]
        sys.exit(f"rasa {' '.join(args[:2])} failed:\n" + "\n".join(tail))
    return time.monotonic() - started


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else []


def _examples(path: Path) -> list[tuple[str, str]]:
    """(intent, plain text) pairs of a Rasa NLU file."""
    pairs = []
    for item in yaml.safe_load(path.read_text())["nlu"]:
        if "intent" in item:
            for line in str(item["examples"]).splitlines():
                if line.strip().startswith("- "):
                    pairs.append((item["intent"], ANNOTATION.sub(r"\1", line.strip()[2:])))
    return pairs


def account_spans(out: Path) -> dict[str, Any]:
    """Exact-span precision, recall and F1 of the account entity, from the per-message
    predictions `rasa test nlu --successes` writes (messages with no account on either
    side do not change the counts)."""
    messages: dict[str, dict[str, Any]] = {}
    for name in ("DIETClassifier_successes.json", "DIETClassifier_errors.json"):
        for item in _read_json(out / name):
            messages[item["text"]] = item
    true_positive = false_positive = false_negative = 0
    mistakes = []
    for text, item in sorted(messages.items()):
        gold = {(e["start"], e["end"]) for e in item["entities"] if e["entity"] == "account"}
        predicted = {
            (e["start"], e["end"]) for e in item["predicted_entities"] if e["entity"] == "account"
        }
        true_positive += len(gold & predicted)
        false_positive += len(predicted - gold)
        false_negative += len(gold - predicted)
        if gold != predicted:
            mistakes.append(
                {
                    "text": text,
                    "expected": [text[s:e] for s, e in sorted(gold)],
                    "predicted": [text[s:e] for s, e in sorted(predicted)],
                }
            )
    precision = true_positive / max(true_positive + false_positive, 1)
    recall = true_positive / max(true_positive + false_negative, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": true_positive + false_negative,
        "mistakes": mistakes,
    }


def baseline_intent_accuracy(training_dir: Path, held_out: Path) -> float:
    """TF-IDF (words and character n-grams) + logistic regression, same training data."""
    train = [pair for path in sorted(training_dir.glob("*.yml")) for pair in _examples(path)]
    test = _examples(held_out)
    model = make_pipeline(
        make_union(
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True),
        ),
        LogisticRegression(max_iter=2000, C=10.0),
    )
    model.fit([text for _, text in train], [intent for intent, _ in train])
    predicted = model.predict([text for _, text in test])
    return float(accuracy_score([intent for intent, _ in test], predicted))


def evaluate_held_out(project: RasaProject, model: Path, name: str, path: Path) -> dict[str, Any]:
    out = project.home / "rasa" / "eval" / name
    seconds = _rasa(
        project,
        "test",
        "nlu",
        "--nlu",
        str(path),
        "--model",
        str(model.resolve()),
        "--out",
        str(out.resolve()),
        "--successes",
        "--no-plot",
        cwd=out,
    )
    intents = _read_json(out / "intent_report.json")
    entities = _read_json(out / "DIETClassifier_report.json")
    errors = [
        {
            "text": e["text"],
            "expected": e["intent"],
            "predicted": e["intent_prediction"]["name"],
            "confidence": round(float(e["intent_prediction"]["confidence"]), 2),
        }
        for e in _read_json(out / "intent_errors.json")
    ]
    return {
        "file": str(path.relative_to(ROOT)),
        "messages": len(_examples(path)),
        "intent_accuracy": intents["accuracy"],
        "intent_macro_f1": intents["macro avg"]["f1-score"],
        "baseline_intent_accuracy": baseline_intent_accuracy(
            project.work_dir / "data" / "nlu", path
        ),
        "account_exact": account_spans(out),
        "entity_token_f1": {
            k: {"f1": entities[k]["f1-score"], "support": entities[k]["support"]}
            for k in ENTITIES
            if k in entities
        },
        "intent_errors": errors,
        "seconds": round(seconds, 1),
    }


def cross_validate(project: RasaProject, folds: int) -> dict[str, Any]:
    out = project.home / "rasa" / "eval" / "cross_validation"
    seconds = _rasa(
        project,
        "test",
        "nlu",
        "--nlu",
        str((project.work_dir / "data").resolve()),
        "--config",
        str((project.work_dir / "config.yml").resolve()),
        "--cross-validation",
        "--folds",
        str(folds),
        "--out",
        str(out.resolve()),
        "--no-plot",
        cwd=out,
    )
    intents = _read_json(out / "intent_report.json")
    entities = _read_json(out / "DIETClassifier_report.json")
    return {
        "folds": folds,
        "intent_accuracy": intents["accuracy"],
        "intent_macro_f1": intents["macro avg"]["f1-score"],
        "intent_weighted_f1": intents["weighted avg"]["f1-score"],
        "entity_f1": {
            k: {"f1": entities[k]["f1-score"], "support": entities[k]["support"]}
            for k in ENTITIES
            if k in entities
        },
        "entity_macro_f1": entities["macro avg"]["f1-score"],
        "seconds": round(seconds, 1),
    }


def _markdown(results: dict[str, Any]) -> str:
    lines = [
        "# NLU benchmark",
        "",
        "Produced by `.venv/bin/python -m benchmarks.nlu_eval` (method in its docstring). "
        "Bar: intent accuracy >= 0.95 and account F1 >= 0.90 on paraphrases the model never saw.",
        "",
    ]
    model = results.get("model", {})
    if model:
        lines += [
            f"Model: `{model['name']}`, Rasa {model['rasa_version']}, trained {model['trained_at']}"
            f" in {model['training_seconds']:.0f} s wall on 2 shared cores (load average "
            f"{model['load_average']} at the end of the run; 0 s means an existing model with the "
            f"same fingerprint was reused). Lookup tables: {model['lookup_sizes']}.",
            "",
        ]
    for name in HELD_OUT:
        if name not in results:
            continue
        r = results[name]
        acc = r["account_exact"]
        lines += [
            f"## Held-out: `{r['file']}` ({r['messages']} messages)",
            "",
            "| measure | salesbot (DIET) | baseline (TF-IDF + logistic regression) |",
            "|---|---:|---:|",
            f"| intent accuracy | {r['intent_accuracy']:.3f} | {r['baseline_intent_accuracy']:.3f} |",
            f"| intent macro F1 | {r['intent_macro_f1']:.3f} | |",
            f"| account F1, exact spans (P / R, n) | {acc['f1']:.3f} "
            f"({acc['precision']:.3f} / {acc['recall']:.3f}, {acc['support']}) | |",
            "",
            "Token-level entity F1 (Rasa's report): "
            + ", ".join(
                f"{k} {v['f1']:.3f} (n={v['support']})" for k, v in r["entity_token_f1"].items()
            ),
            "",
        ]
        if r["intent_errors"]:
            lines += ["Intent mistakes:", ""]
            lines += [
                f"- {e['text']!r}: {e['expected']} -> {e['predicted']} ({e['confidence']})"
                for e in r["intent_errors"]
            ]
            lines.append("")
        if acc["mistakes"]:
            lines += ["Account span mistakes:", ""]
            lines += [
                f"- {m['text']!r}: expected {m['expected']}, got {m['predicted']}"
                for m in acc["mistakes"]
            ]
            lines.append("")
    if "history" in results:
        lines += ["## History of the first held-out set during development", ""]
        lines += [f"- {h}" for h in results["history"]]
        lines.append("")
    cv = results.get("cross_validation")
    if cv:
        lines += [
            f"## {cv['folds']}-fold cross-validation on the training data",
            "",
            f"`rasa test nlu --cross-validation --folds {cv['folds']}` on the generated training "
            f"data ({cv['seconds']:.0f} s). Intent accuracy {cv['intent_accuracy']:.3f}, "
            f"macro F1 {cv['intent_macro_f1']:.3f}, weighted F1 {cv['intent_weighted_f1']:.3f}. "
            f"Entity macro F1 {cv['entity_macro_f1']:.3f}."
            + (f" Note: {cv['note']}." if cv.get("note") else ""),
            "",
            "| entity | F1 | support |",
            "|---|---:|---:|",
        ]
        lines += [f"| {k} | {v['f1']:.3f} | {v['support']} |" for k, v in cv["entity_f1"].items()]
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cross-validation", action="store_true")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument(
        "--no-store", action="store_true", help="train without the store's names in the lookups"
    )
    parser.add_argument("--only", choices=sorted(HELD_OUT), action="append")
    args = parser.parse_args(argv)

    settings = get_settings()
    project = RasaProject.default(settings.home)
    if args.no_store:
        vocabulary = StoreVocabulary()
    else:
        engine = make_engine(settings.store_url)
        upgrade(engine)
        vocabulary = vocabulary_from_store(engine)
    outcome = ensure_model(project, vocabulary)
    results: dict[str, Any] = _read_json(RESULTS_JSON) or {}
    results["model"] = {
        "name": outcome.model.path.name,
        "rasa_version": outcome.model.rasa_version,
        "trained_at": outcome.model.trained_at,
        "training_seconds": outcome.model.training_seconds,
        "lookup_sizes": outcome.model.lookup_sizes,
        "load_average": f"{os.getloadavg()[0]:.1f}",
    }
    for name in args.only or list(HELD_OUT):
        results[name] = evaluate_held_out(project, outcome.model.path, name, HELD_OUT[name])
        r = results[name]
        print(
            f"{name}: intent accuracy {r['intent_accuracy']:.3f} "
            f"(baseline {r['baseline_intent_accuracy']:.3f}), "
            f"account exact-span F1 {r['account_exact']['f1']:.3f}"
        )
    if args.cross_validation:
        results["cross_validation"] = cross_validate(project, args.folds)
        cv = results["cross_validation"]
        print(
            f"cross-validation: intent accuracy {cv['intent_accuracy']:.3f}, "
            f"entity macro F1 {cv['entity_macro_f1']:.3f}"
        )
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    RESULTS_MD.write_text(_markdown(results))
    print(f"wrote {RESULTS_MD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
