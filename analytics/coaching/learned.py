"""A learned layer beside the trackers: one small sentence classifier per category.

Each category has a logistic regression over binary features of the utterance, read from
the trackers' own pipeline (no other model, nothing downloaded):

* lemma unigrams, marked negated (``~vendor``) when a negation cue of the trackers' YAML
  comes within its ``window`` tokens before them in the same clause;
* lemma bigrams (``go live``).

The weights are data (``data/classifier.json``), trained from the annotated utterances by
``python -m benchmarks.coaching_learned train`` (scikit-learn at build time only). At run
time scoring an utterance is a dictionary look-up per feature and one small sum per
category, so it costs a few microseconds.

How it is combined with the patterns (:meth:`SentenceClassifier.combine`), per category:

* **veto**: a pattern match is dropped when the classifier is confident the category is
  absent (probability below ``veto_below``);
* **add**: a category no pattern matched is flagged when the classifier is confident it is
  present (probability at or above ``add_at``), on the category's side only, and not when a
  dismissal or a meaning rule of the category occurs in the utterance.

Scoring is skipped (no veto needed, nothing can be added) when the utterance holds none of
the ``trigger_lemmas``: the content words of the strong features (log-odds >= 1 towards a
category the classifier may add). This is a speed gate; its cost in recall is measured by
the same held-out tests, which run the shipped code path.

Either threshold may be absent (``null``): then the classifier does not veto, or does not
add, for that category. Thresholds are chosen on out-of-fold predictions of the training
splits (see ``benchmarks/coaching_learned.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from spacy.attrs import LEMMA, LOWER
from spacy.strings import StringStore
from spacy.tokens import Doc

from analytics.errors import AnalyticsError

__all__ = [
    "CategoryModel",
    "ClassifierError",
    "SentenceClassifier",
    "classifier_from_dict",
    "feature_names",
    "load_classifier",
]


class ClassifierError(AnalyticsError):
    """A classifier file that cannot be used; the message says what is wrong."""


@dataclass(frozen=True)
class CategoryModel:
    category: str
    bias: float
    add_at: float | None
    veto_below: float | None

    @property
    def add_logit(self) -> float | None:
        """``add_at`` as log-odds (compared with :meth:`SentenceClassifier.logits`)."""
        return None if self.add_at is None else _logit(self.add_at)

    @property
    def veto_logit(self) -> float | None:
        return None if self.veto_below is None else _logit(self.veto_below)


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def feature_names(
    lemmas: Sequence[str],
    lowers: Sequence[str],
    *,
    cues: Iterable[str],
    breaks: Iterable[str],
    window: int,
) -> list[str]:
    """The feature strings of one utterance (training and tests; the run-time path
    computes the same features as string hashes in :meth:`SentenceClassifier.features`)."""
    cue_set, break_set = set(cues), set(breaks)
    names: list[str] = []
    since_cue = window + 1
    previous: str | None = None
    for lemma, lower in zip(lemmas, lowers, strict=True):
        if lower in break_set:
            since_cue, previous = window + 1, None
            continue
        negated = since_cue <= window
        names.append(("~" if negated else "") + lemma)
        if previous is not None:
            names.append(f"{previous} {lemma}")
        previous = lemma
        since_cue = 1 if lower in cue_set else since_cue + 1
    return names


class SentenceClassifier:
    """Per-category logistic regressions over lemma features, with their thresholds."""

    def __init__(
        self,
        models: Sequence[CategoryModel],
        weights: Mapping[str, Sequence[float]],
        *,
        trained_on: str = "",
        trigger_lemmas: Sequence[str] | None = None,
    ) -> None:
        self.models = tuple(models)
        self.trigger_lemmas = None if trigger_lemmas is None else tuple(trigger_lemmas)
        self._trigger: frozenset[int] | None = None
        self.categories = tuple(m.category for m in self.models)
        self.index = {c: i for i, c in enumerate(self.categories)}
        self.trained_on = trained_on
        self._weights = {name: tuple(float(w) for w in ws) for name, ws in weights.items()}
        for name, ws in self._weights.items():
            if len(ws) != len(self.categories):
                raise ClassifierError(
                    f"feature {name!r} has {len(ws)} weights for {len(self.categories)} categories"
                )
        self._by_hash: dict[int, tuple[float, ...]] = {}
        self._row: dict[int, int] = {}
        self._matrix: Any = None
        self._biases: list[float] = []
        self._bias_array: Any = None
        self._strings: StringStore | None = None
        self._cues: frozenset[int] = frozenset()
        self._breaks: frozenset[int] = frozenset()
        self._window = 4

    def bind(
        self, strings: StringStore, *, cues: Iterable[str], breaks: Iterable[str], window: int
    ) -> SentenceClassifier:
        """Key the weights by the pipeline's string hashes (done once per TrackerSet)."""
        self._strings = strings
        self._cues = frozenset(strings.add(c.lower()) for c in cues)
        self._breaks = frozenset(strings.add(b.lower()) for b in breaks)
        self._window = window
        names = list(self._weights)
        self._row = {_feature_hash(strings, name): i for i, name in enumerate(names)}
        self._by_hash = {h: self._weights[names[i]] for h, i in self._row.items()}
        width = len(self.categories)
        self._matrix = np.array([self._weights[n] for n in names], dtype=np.float64).reshape(
            len(names), width
        )
        self._biases = [m.bias for m in self.models]
        self._bias_array = np.array(self._biases, dtype=np.float64)
        if self.trigger_lemmas is not None:
            self._trigger = frozenset(strings.add(lemma) for lemma in self.trigger_lemmas)
        return self

    def may_add(self, words: set[int]) -> bool:
        """False when ``words`` (the utterance's word ids) hold none of the trigger lemmas:
        the cheap way to skip scoring the many utterances that carry no signal."""
        return self._trigger is None or not self._trigger.isdisjoint(words)

    def features(self, doc: Doc) -> list[int]:
        """Feature hashes of ``doc`` (same features as :func:`feature_names`)."""
        if len(doc) == 0:
            return []
        rows: Any = doc.to_array([LOWER, LEMMA]).tolist()
        cues, breaks, window = self._cues, self._breaks, self._window
        found: list[int] = []
        since_cue = window + 1
        previous = 0
        for lower, lemma in rows:
            if lower in breaks:
                since_cue, previous = window + 1, 0
                continue
            found.append(lemma ^ _NEGATED if since_cue <= window else lemma)
            if previous:
                found.append((previous * 1_000_003 + lemma) & _MASK)
            previous = lemma
            since_cue = 1 if lower in cues else since_cue + 1
        return found

    def logits(self, doc: Doc) -> list[float]:
        """The log-odds of each category for ``doc`` (in ``categories`` order)."""
        row = self._row
        rows = [row[f] for f in row.keys() & set(self.features(doc))]
        if not rows:
            return list(self._biases)
        totals: Any = self._matrix[rows].sum(axis=0) + self._bias_array
        return list(totals.tolist())

    def probabilities(self, doc: Doc) -> dict[str, float]:
        """Probability of each category for ``doc``."""
        return {
            m.category: 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            for m, z in zip(self.models, self.logits(doc), strict=True)
        }

    def model(self, category: str) -> CategoryModel | None:
        for model in self.models:
            if model.category == category:
                return model
        return None

    def unigram_weight(self, lemma: int, category: str) -> float:
        """The weight of one (not negated) lemma for ``category`` (to quote a phrase)."""
        ws = self._by_hash.get(lemma)
        return ws[self.categories.index(category)] if ws is not None else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "trained_on": self.trained_on,
            "categories": [
                {
                    "category": m.category,
                    "bias": m.bias,
                    "add_at": m.add_at,
                    "veto_below": m.veto_below,
                }
                for m in self.models
            ],
            "trigger_lemmas": None if self.trigger_lemmas is None else list(self.trigger_lemmas),
            "weights": {k: list(v) for k, v in sorted(self._weights.items())},
        }


_NEGATED = 0x5A5A5A5A5A5A5A5A
_MASK = (1 << 64) - 1


def _bigram(left: int, right: int) -> int:
    return (left * 1_000_003 + right) & _MASK


def _feature_hash(strings: StringStore, name: str) -> int:
    if " " in name:
        left, right = name.split(" ", 1)
        return _bigram(strings.add(left), strings.add(right))
    if name.startswith("~") and len(name) > 1:
        return strings.add(name[1:]) ^ _NEGATED
    return strings.add(name)


def classifier_from_dict(data: Any, *, source: str = "classifier.json") -> SentenceClassifier:
    """Build a classifier from its JSON form; raises ``ClassifierError`` naming the problem."""
    if not isinstance(data, dict) or not isinstance(data.get("categories"), list):
        raise ClassifierError(f"{source}: expected an object with 'categories' and 'weights'")
    models = []
    for item in data["categories"]:
        try:
            models.append(
                CategoryModel(
                    category=str(item["category"]),
                    bias=float(item["bias"]),
                    add_at=None if item.get("add_at") is None else float(item["add_at"]),
                    veto_below=(
                        None if item.get("veto_below") is None else float(item["veto_below"])
                    ),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ClassifierError(f"{source}: category entry {item!r} is invalid") from exc
    weights = data.get("weights")
    if not isinstance(weights, dict):
        raise ClassifierError(f"{source}: 'weights' must map features to weight lists")
    trigger = data.get("trigger_lemmas")
    if trigger is not None and not isinstance(trigger, list):
        raise ClassifierError(f"{source}: 'trigger_lemmas' must be a list of lemmas or null")
    return SentenceClassifier(
        models,
        weights,
        trained_on=str(data.get("trained_on") or ""),
        trigger_lemmas=None if trigger is None else [str(t) for t in trigger],
    )


@cache
def _shipped_data() -> Any:
    text = resources.files("analytics.coaching").joinpath("data", "classifier.json")
    return json.loads(text.read_text("utf-8"))


def load_classifier() -> SentenceClassifier:
    """A fresh copy of the shipped classifier (``data/classifier.json``, read once); each
    ``TrackerSet`` binds its own copy to its pipeline."""
    return classifier_from_dict(_shipped_data())
