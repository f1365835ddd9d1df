"""The Rasa data keeps its promises: every DESIGN intent is trained with enough varied
examples, entity annotations parse and name real entities, `rasa data validate` is clean,
the held-out paraphrases stay out of the training data, and the dialogue test stories pass
on the trained model."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot.rasa_project import (
    RasaProject,
    ensure_model,
    rasa_environment,
    source_root,
    vocabulary_from_store,
)
from bot.settings import get_settings
from store.db import make_engine
from store.migrate import upgrade

ROOT = source_root()
NLU_DIR = ROOT / "nlu" / "data" / "nlu"
DOMAIN = ROOT / "nlu" / "domain.yml"
HELD_OUT = [
    ROOT / "benchmarks" / "nlu" / "paraphrases.yml",
    ROOT / "benchmarks" / "nlu" / "paraphrases_blind.yml",
    ROOT / "benchmarks" / "nlu" / "paraphrases_blind2.yml",
    ROOT / "benchmarks" / "nlu" / "paraphrases_blind3.yml",
]

DESIGN_INTENTS = {
    "ask_slipping_accounts", "ask_pitch", "ask_account_overview", "ask_pipeline",
    "ask_stalled_deals", "ask_forecast", "ask_metric", "ask_lead_priorities",
    "ask_reorders_due", "request_digest", "subscribe_digest", "unsubscribe_digest",
    "review_call", "greet", "goodbye", "thank", "help", "bot_challenge", "affirm", "deny",
    "inform", "out_of_scope",
}  # fmt: skip
FOLLOW_UP_INTENTS = {"ask_why", "show_more"}
MIN_EXAMPLES = 30
METRICS = {
    "win_rate", "conversion_rate", "acv", "clv", "cycle_length", "pipeline_value",
    "quota_attainment", "new_pipeline",
}  # fmt: skip
ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<entity>[^)]+)\)|(?P<json>\{[^}]*\}))")


def _examples(path: Path) -> dict[str, list[str]]:
    """intent -> its examples, from one Rasa NLU YAML file."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {}
    for item in document.get("nlu", []):
        if "intent" in item:
            lines = str(item["examples"]).splitlines()
            found.setdefault(item["intent"], []).extend(
                line.strip()[2:] for line in lines if line.strip().startswith("- ")
            )
    return found


def _training_examples() -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for path in sorted(NLU_DIR.glob("*.yml")):
        for intent, examples in _examples(path).items():
            merged.setdefault(intent, []).extend(examples)
    return merged


def _plain(example: str) -> str:
    """The example as a user would type it: annotations removed, lower case, words only."""
    text = ANNOTATION.sub(lambda m: m.group("text"), example)
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _annotations(example: str) -> list[tuple[str, str, str | None]]:
    """(text, entity, value) of every annotation; value is None when not overridden."""
    found = []
    for match in ANNOTATION.finditer(example):
        if match.group("entity"):
            found.append((match.group("text"), match.group("entity"), None))
        else:
            spec = json.loads(match.group("json"))
            found.append((match.group("text"), spec["entity"], spec.get("value")))
    return found


def _domain() -> dict:
    return yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))


def test_every_design_intent_is_in_the_domain_and_trained_with_enough_examples():
    examples = _training_examples()
    domain_intents = set(_domain()["intents"])
    expected = DESIGN_INTENTS | FOLLOW_UP_INTENTS
    assert expected <= domain_intents
    assert expected <= set(examples)
    too_few = {i: len(examples[i]) for i in expected if len(examples[i]) < MIN_EXAMPLES}
    assert too_few == {}


def test_no_example_is_repeated_within_or_across_intents():
    seen: Counter[str] = Counter()
    for examples in _training_examples().values():
        seen.update(_plain(e) for e in examples)
    assert [text for text, count in seen.items() if count > 1 and text] == []


def test_entity_annotations_parse_and_name_domain_entities():
    entities = set(_domain()["entities"])
    problems = []
    for intent, examples in _training_examples().items():
        for example in examples:
            stripped = ANNOTATION.sub("", example)
            if "[" in stripped or "](" in stripped or "]{" in stripped:
                problems.append(f"{intent}: unparsed annotation in {example!r}")
            for text, entity, value in _annotations(example):
                if entity not in entities:
                    problems.append(f"{intent}: unknown entity {entity!r} in {example!r}")
                if entity == "metric" and value not in METRICS:
                    problems.append(f"{intent}: metric without a canonical value in {example!r}")
                # entity boundaries must fall on token boundaries (Rasa drops "Inc." -> "Inc")
                if not (text[0].isalnum() and text[-1].isalnum()):
                    problems.append(f"{intent}: annotation {text!r} starts or ends on punctuation")
    assert problems == []


def test_metric_synonyms_map_only_to_the_known_metrics():
    document = yaml.safe_load((NLU_DIR / "synonyms.yml").read_text(encoding="utf-8"))
    synonyms = {item["synonym"] for item in document["nlu"] if "synonym" in item}
    assert synonyms >= METRICS
    annotated = {
        value
        for examples in _training_examples().values()
        for example in examples
        for _text, entity, value in _annotations(example)
        if entity == "metric"
    }
    assert annotated == METRICS


@pytest.mark.parametrize("held_out_file", HELD_OUT, ids=lambda p: p.name)
def test_held_out_paraphrases_are_never_trained_on(held_out_file: Path):
    training = {_plain(e) for examples in _training_examples().values() for e in examples}
    held_out = _examples(held_out_file)
    domain = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))
    assert DESIGN_INTENTS | FOLLOW_UP_INTENTS <= set(held_out) <= set(domain["intents"])
    leaked = [e for examples in held_out.values() for e in examples if _plain(e) in training]
    assert leaked == []
    # the names in the held-out set are names the model never saw
    training_text = " " + " ".join(sorted(training)) + " "
    names = {
        _plain(text)
        for examples in held_out.values()
        for example in examples
        for text, entity, _value in _annotations(example)
        if entity in {"account", "rep"} and _plain(text) not in {"my team", "team"}
    }
    assert names
    assert sorted(n for n in names if f" {n} " in training_text) == []


def _rasa(project: RasaProject, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(project.rasa_executable), *args],
        cwd=cwd,
        env=rasa_environment(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _responses_picked_by_actions() -> set[str]:
    """Response names the action server utters by name (string literals in actions/)."""
    names: set[str] = set()
    for path in (ROOT / "actions").rglob("*.py"):
        names.update(re.findall(r"[\"'](utter_[a-z0-9_]+)[\"']", path.read_text(encoding="utf-8")))
    return names


def test_rasa_data_validate_is_clean():
    project = RasaProject.default(get_settings().home)
    result = _rasa(
        project,
        "data",
        "validate",
        "--config",
        str(ROOT / "config.yml"),
        "--domain",
        str(DOMAIN),
        "--data",
        str(ROOT / "nlu" / "data"),
        cwd=ROOT,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    warnings = re.findall(r"UserWarning: (.*)", output)
    # The validator cannot see responses that only the form ("Which account?") or the
    # action server utter; every other warning is a real problem.
    uttered_elsewhere = _responses_picked_by_actions() | {"utter_ask_account"}
    unexplained = [
        w
        for w in warnings
        if not (
            (m := re.match(r"The utterance '(utter_\w+)' is not used in any story or rule", w))
            and m.group(1) in uttered_elsewhere
        )
    ]
    assert unexplained == []
    assert "No story structure conflicts found" in output


@pytest.mark.rasa
@pytest.mark.slow
def test_dialogue_test_stories_pass_on_the_trained_model(tmp_path: Path):
    """`rasa test core` runs the user's words through NLU and the policies and must
    predict every action of nlu/tests/test_stories.yml (custom actions are predicted,
    not run)."""
    settings = get_settings()
    engine = make_engine(settings.store_url)
    upgrade(engine)
    project = RasaProject.default(settings.home)
    model = ensure_model(project, vocabulary_from_store(engine)).model
    result = _rasa(
        project,
        "test",
        "core",
        "--model",
        str(model.path.resolve()),
        "--stories",
        str(ROOT / "nlu" / "tests" / "test_stories.yml"),
        "--out",
        str(tmp_path / "results"),
        "--fail-on-prediction-errors",
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert not (tmp_path / "results" / "failed_test_stories.yml").read_text().count("story:")
