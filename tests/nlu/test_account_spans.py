"""The repair of `account` entity spans (nlu/components/): the pure span logic, and the
Rasa component trained, stored, loaded and run in Rasa's own environment."""

from __future__ import annotations

import json
import subprocess
import textwrap
from typing import Any

from bot.rasa_project import RasaProject, rasa_environment, source_root
from bot.settings import get_settings
from nlu.components.span_repair import (
    Vocabulary,
    account_or_rep,
    learn_vocabulary,
    repair_accounts,
)

TRAINING = [
    ("show me the pipeline for this quarter", []),
    ("what should i pitch to them", []),
    ("how is the team doing on quota", []),
    ("give me an overview of the account before my visit", []),
    ("who on my team is slipping", []),
    ("what's the win rate for the team", []),
    ("any news about that account", []),
    ("tell me about them please", []),
    ("which deals are stale", []),
    ("which leads should i call today", []),
]


def _vocabulary(**lookups: Any) -> Vocabulary:
    return learn_vocabulary(
        TRAINING,
        company_words=lookups.get("company_words", ["Kitchen", "Diner", "Bakery", "Bank"]),
        person_names=lookups.get("person_names", ["Corvina", "Evander", "Marisol"]),
        places=lookups.get("places", ["Lisbon"]),
        account_names=lookups.get("account_names", ["Marisol"]),
    )


def _account(text: str, value: str, confidence: float = 0.9) -> dict[str, Any]:
    start = text.index(value)
    return {
        "entity": "account",
        "start": start,
        "end": start + len(value),
        "value": value,
        "extractor": "DIETClassifier",
        "confidence_entity": confidence,
    }


def _accounts(text: str, *values: str, vocabulary: Vocabulary | None = None) -> list[str]:
    entities = [_account(text, v) for v in values]
    repaired = repair_accounts(text, entities, vocabulary or _vocabulary())
    for entity in repaired:
        assert entity["value"] == text[entity["start"] : entity["end"]]
        assert entity["extractor"] == "DIETClassifier"
    return [e["value"] for e in repaired if e["entity"] == "account"]


def test_context_vocabulary_is_the_words_around_names():
    vocabulary = learn_vocabulary(
        [("pitch ideas for Larkspur Bakery please", [_account("pitch ideas for Larkspur Bakery please", "Larkspur Bakery")])],
        company_words=["Bakery"],
    )  # fmt: skip
    assert set(vocabulary.context_words) == {"pitch", "ideas", "for", "please"}
    assert vocabulary.is_context("Please")
    assert not vocabulary.is_context("Larkspur")
    assert not vocabulary.is_context("bakery")


def test_pieces_joined_by_a_connector_become_one_name():
    assert _accounts("brief me on Corvina's Kitchen before my visit", "Corvina", "Kitchen") == [
        "Corvina's Kitchen"
    ]
    assert _accounts("catch me up on Highway 12 Diner", "Highway", "Diner") == ["Highway 12 Diner"]
    assert _accounts("tell me about quarry bend co", "quarry", "co") == ["quarry bend co"]


def test_two_known_accounts_joined_by_and_stay_apart():
    vocabulary = _vocabulary(account_names=["Wrenley Foods", "Oxley Farms"])
    text = "compare Wrenley Foods and Oxley Farms"
    assert _accounts(text, "Wrenley Foods", "Oxley Farms", vocabulary=vocabulary) == [
        "Wrenley Foods",
        "Oxley Farms",
    ]


def test_a_name_cut_at_its_joining_word_or_suffix_is_extended():
    assert _accounts("any news about Pellworth & Sons", "& Sons") == ["Pellworth & Sons"]
    assert _accounts("any news about Pellworth & Sons", "Pellworth") == ["Pellworth & Sons"]
    assert _accounts("tell me about Quarry Hill Provisions", "Quarry Hill") == [
        "Quarry Hill Provisions"
    ]
    assert _accounts("what did i miss on the 7 Gables Diner call", "Gables Diner") == [
        "7 Gables Diner"
    ]
    assert _accounts("what should i pitch to glenmoor farmers savings bank", "farmers savings bank") == [
        "glenmoor farmers savings bank"
    ]  # fmt: skip
    assert _accounts("what should i pitch to Ostry Group Inc", "Ostry") == ["Ostry Group Inc"]


def test_context_words_are_not_taken_into_a_name():
    assert _accounts("show me the pipeline for Vellum Kitchen", "Vellum Kitchen") == [
        "Vellum Kitchen"
    ]
    assert _accounts("pitch to wrenley foods please", "wrenley foods") == ["wrenley foods"]
    # a typo of a context word is not a name either
    assert _accounts("givve me an overview of wrenley foods", "wrenley foods") == ["wrenley foods"]
    assert _accounts("how do i grow Brackwater Mills's orders", "Brackwater Mills's") == [
        "Brackwater Mills"
    ]
    assert _accounts("tell me about Brackwater Mills please", "Brackwater Mills please") == [
        "Brackwater Mills"
    ]


def test_first_names_and_places_alone_are_not_accounts():
    assert _accounts("digest for Evander's team", "Evander") == []
    assert _accounts("what's the weather in Lisbon", "Lisbon") == []
    assert _accounts("how is Oriel's attainment looking", "Oriel") == []
    assert _accounts("what's the win rate for Corvina Ashdown", "Ashdown") == []
    # a first name that is a known account stays; an unknown name before "'s pipeline" too
    assert _accounts("overview of Marisol", "Marisol") == ["Marisol"]
    assert _accounts("what's in Tamberlin's pipeline", "Tamberlin") == ["Tamberlin"]
    # a lone connector is no name
    assert _accounts("what's going on", "s") == []


def test_other_entities_are_kept_and_bound_the_extension():
    text = "pipeline for Quarry Hill this quarter"
    entities = [
        _account(text, "Quarry Hill"),
        {"entity": "period", "start": 25, "end": 37, "value": "this quarter", "extractor": "DIETClassifier"},
    ]  # fmt: skip
    repaired = repair_accounts(text, entities, _vocabulary())
    assert [(e["entity"], e["value"]) for e in repaired] == [
        ("account", "Quarry Hill"),
        ("period", "this quarter"),
    ]


def test_merged_spans_keep_the_lowest_confidence():
    text = "brief me on Corvina's Kitchen"
    entities = [_account(text, "Corvina", 0.9), _account(text, "Kitchen", 0.6)]
    (merged,) = repair_accounts(text, entities, _vocabulary())
    assert merged["confidence_entity"] == 0.6
    assert (merged["start"], merged["end"]) == (12, 29)


def test_vocabulary_survives_json():
    vocabulary = _vocabulary()
    again = Vocabulary.from_json(json.loads(json.dumps(vocabulary.to_json())))
    assert again.to_json() == vocabulary.to_json()


COMPONENT_ROUND_TRIP = textwrap.dedent(
    """
    import json, sys, tempfile
    from pathlib import Path
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from nlu.components.account_spans import AccountSpanRepair

    storage = LocalModelStorage(Path(tempfile.mkdtemp()))
    resource = Resource("account_spans")
    context = ExecutionContext(GraphSchema({}), "test")
    text = "pitch ideas for Larkspur Bakery please"
    data = TrainingData(
        training_examples=[Message(data={"text": text, "intent": "ask_pitch", "entities": [
            {"entity": "account", "start": 16, "end": 31, "value": "Larkspur Bakery"}]})],
        lookup_tables=[{"name": "company_word", "elements": ["Kitchen", "Bakery"]},
                       {"name": "person_name", "elements": ["Evander"]}],
    )
    AccountSpanRepair.create({}, storage, resource, context).train(data)
    component = AccountSpanRepair.load({}, storage, resource, context)
    out = []
    for text, values in [("pitch ideas for Corvina's Kitchen please", ["Corvina", "Kitchen"]),
                         ("pitch ideas for Evander's team", ["Evander"])]:
        entities = [{"entity": "account", "start": text.index(v), "end": text.index(v) + len(v),
                     "value": v, "extractor": "DIETClassifier", "confidence_entity": 0.8}
                    for v in values]
        message = Message(data={"text": text, "entities": entities})
        component.process([message])
        out.append([e["value"] for e in message.get("entities")])
    print(json.dumps(out))
    """
)


def test_the_component_trains_loads_and_runs_in_rasa(tmp_path):
    """Run from outside the repository, with the environment every Rasa process gets."""
    project = RasaProject.default(get_settings().home)
    python = project.rasa_venv / "bin" / "python"  # installed by make setup, like every Rasa test
    assert str(source_root()) in rasa_environment()["PYTHONPATH"].split(":")
    result = subprocess.run(
        [str(python), "-c", COMPONENT_ROUND_TRIP],
        cwd=tmp_path,
        env=rasa_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [["Corvina's Kitchen"], []]


def test_what_follows_a_reps_name_is_learned():
    text = "show Oriel's pipeline"
    examples = [
        (text, [{"entity": "rep", "start": 5, "end": 10, "value": "Oriel"}]),
        ("grow Ashmore Farms's orders", [_account("grow Ashmore Farms's orders", "Ashmore Farms")]),
        ("any pipeline for Ashmore Farms", [_account("any pipeline for Ashmore Farms", "Ashmore Farms")]),
    ]  # fmt: skip
    vocabulary = learn_vocabulary(examples)
    assert "pipeline" in vocabulary.rep_nouns
    assert "orders" not in vocabulary.rep_nouns
    assert _accounts("what's in Tamberlin's pipeline", "Tamberlin", vocabulary=vocabulary) == []
    assert _accounts("grow Tamberlin's orders", "Tamberlin", vocabulary=vocabulary) == ["Tamberlin"]


def test_of_joins_only_company_words():
    assert _accounts("what's the capital of Portugal", "capital", "Portugal") == [
        "capital",
        "Portugal",
    ]
    assert _accounts("what should i pitch to Bakery of Ostry", "Bakery", "Ostry") == [
        "Bakery of Ostry"
    ]


def test_supervised_rasa_gets_the_repository_on_its_path(tmp_path):
    from pathlib import Path

    from bot.cli.serve import child_specs
    from bot.settings import Settings

    settings = Settings(_env_file=None, SALESBOT_HOME=str(tmp_path))  # type: ignore[call-arg]
    specs = {s.name: s for s in child_specs(settings, model=Path("model.tar.gz"), secret="s")}
    assert specs["rasa"].env["PYTHONPATH"].split(":")[0] == str(source_root())
    assert specs["rasa"].env["RASA_TELEMETRY_ENABLED"] == "false"


def test_a_company_found_where_the_question_names_a_person_is_read_as_a_rep():
    """Only pitch, overview, call-review and follow-up questions name an account (so the
    training data says); elsewhere a person's name read as a company is a rep, or nothing."""
    text = "what's Ravindra Okafor's win rate"
    found = [_account(text, "Ravindra Okafor"), {"entity": "metric", "value": "win_rate"}]
    assert [e["entity"] for e in account_or_rep(found, "ask_metric")] == ["rep", "metric"]
    assert account_or_rep(found, "ask_metric")[0]["value"] == "Ravindra Okafor"
    assert [e["entity"] for e in account_or_rep(found, "ask_pitch")] == ["account", "metric"]
    assert [e["entity"] for e in account_or_rep(found, "out_of_scope")] == ["metric"]
    assert account_or_rep(found, None) == found
