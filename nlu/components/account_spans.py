"""A Rasa 3 NLU component that repairs the boundaries of `account` entities.

Placed after DIETClassifier and before EntitySynonymMapper in ``config.yml``::

    - name: nlu.components.account_spans.AccountSpanRepair

At training time it learns the context vocabulary (the words of the training examples
outside account names) and keeps the lookup tables it needs (company words, first names,
places, account names); both are stored with the model. At inference it rewrites the
account entities of each message (see ``span_repair``); the other entities are left as
they are. Repaired entities keep the extractor that found them, so evaluations still
attribute them to DIET.

Rasa imports this module from the repository: every Rasa process we start has the
repository root on PYTHONPATH (``bot.rasa_project.rasa_child_environment``). It imports
only the standard library and Rasa.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.components.span_repair import (
    Vocabulary,
    account_or_rep,
    learn_vocabulary,
    repair_accounts,
)

VOCABULARY_FILE = "account_spans.json"
_LOGIC = hashlib.sha256(Path(__file__).with_name("span_repair.py").read_bytes()).hexdigest()[:16]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class AccountSpanRepair(GraphComponent):
    """Merges, extends and drops `account` entity spans found by the extractors before it."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # lookup tables of the training data it reads
            "company_lookup": "company_word",
            "person_lookup": "person_name",
            "place_lookup": "place",
            "account_lookup": "account",
            # the repair code's fingerprint: a change retrains this component, not a cached one
            "logic": _LOGIC,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._vocabulary = vocabulary or Vocabulary()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> AccountSpanRepair:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        lookups: dict[str, list[str]] = {}
        for table in training_data.lookup_tables:
            elements = table.get("elements")
            if isinstance(elements, list):
                lookups.setdefault(str(table.get("name")), []).extend(str(e) for e in elements)
        examples = [
            (str(message.get(TEXT)), list(message.get(ENTITIES) or []))
            for message in training_data.training_examples
            if message.get(TEXT)
        ]
        self._vocabulary = learn_vocabulary(
            examples,
            company_words=lookups.get(self._config["company_lookup"], []),
            person_names=lookups.get(self._config["person_lookup"], []),
            places=lookups.get(self._config["place_lookup"], []),
            account_names=lookups.get(self._config["account_lookup"], []),
        )
        with self._model_storage.write_to(self._resource) as directory:
            (directory / VOCABULARY_FILE).write_text(
                json.dumps(self._vocabulary.to_json()), encoding="utf-8"
            )
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> AccountSpanRepair:
        with model_storage.read_from(resource) as directory:
            data = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
        return cls(config, model_storage, resource, Vocabulary.from_json(data))

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            entities = message.get(ENTITIES)
            text = message.get(TEXT)
            if not entities or not text:
                continue
            if not any(e.get("entity") == "account" for e in entities):
                continue
            repaired = repair_accounts(str(text), entities, self._vocabulary)
            intent = (message.get(INTENT) or {}).get("name")
            message.set(ENTITIES, account_or_rep(repaired, intent), add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
