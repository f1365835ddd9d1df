"""Trackers: key phrases as data (YAML), compiled into one spaCy pipeline.

A *tracker* belongs to a *category* (the fixed ones are ``FIXED_CATEGORIES``; managers
may add others) and fires on one speaker side (``rep``, ``customer`` or ``any``). Its
patterns are data:

``phrases``
    matched on the lemma, case-insensitively ("other vendors" also finds "another
    vendor"? no: "other vendor", "other vendors", "Other Vendors").
``exact_phrases``
    matched on the lower-case form, without lemmatising.
``case_sensitive_phrases``
    matched on the exact spelling (competitor names that are also common words).
``patterns``
    spaCy ``Matcher`` token patterns (``LOWER``, ``LEMMA``, ``IN``, ``OP`` ...).

Negation and hedging (the ``negation`` section of the YAML):

* a match whose clause has a negation cue in the ``window`` tokens before it is
  dropped ("we're **not** looking at other vendors"); cues inside the match itself do
  not count, so a pattern can include its own negation ("we **can't** afford it").
  A tracker may instead *require* a cue (``negation: require``: "we're not going to
  renew") or ignore cues (``negation: ignore``);
* a *dismissal* ("isn't an issue", "no concerns", "is fine") anywhere in the match's
  clause drops it ("price isn't really an issue", "no budget concerns"); a dismissal
  clause that starts with "that"/"it" also covers the clause before it ("we've got the
  budget, that's not a problem"). Dismissals are global or per category.

What a match means (the ``meaning_rules`` section, :class:`MeaningRule`): rules that read
*polarity* ("much better than our old solution" is praise, not a competitor threat),
*tense* ("we used to use Clari", "our previous vendor": history, not an evaluation) and the
*speaker* ("our enterprise team can walk you through the pricing" is the seller) drop a
category's match when their pattern occurs in its clause, unless an ``unless`` pattern does
("go back to our old vendor" is live again). Trackers that do not name a side listen to
their category's (``side`` of the category: customer, except next steps: any).

Clauses are split at punctuation and at contrast words ("but", "though") listed in the
YAML. The pipeline is ``spacy.blank("en")`` plus spaCy's lookup lemmatizer, with the
``lemma_lookup`` table from the ``spacy-lookups-data`` package, keyed by the lower-case
word (so "Prices" and "prices" both lemmatise to "price") and cached per word.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import spacy
import yaml
from spacy.attrs import LEMMA, LOWER, ORTH
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.language import Language
from spacy.lookups import load_lookups
from spacy.matcher import Matcher, PhraseMatcher
from spacy.pipeline import Lemmatizer
from spacy.schemas import validate_token_pattern
from spacy.tokens import Doc
from spacy.vocab import Vocab

from analytics.coaching.learned import SentenceClassifier, load_classifier
from analytics.errors import AnalyticsError

__all__ = [
    "FIXED_CATEGORIES",
    "MEANING_KINDS",
    "NEGATION_MODES",
    "SIDES",
    "CategorySpec",
    "CompetitorSpec",
    "GatedMatcher",
    "MeaningRule",
    "NegationSpec",
    "TrackerConfig",
    "TrackerConfigError",
    "TrackerHit",
    "TrackerSet",
    "TrackerSpec",
    "competitor_from_dict",
    "custom_tracker",
    "load_tracker_config",
    "make_pipeline",
    "tracker_from_dict",
]

FIXED_CATEGORIES = (
    "pricing",
    "budget",
    "competitor",
    "decision_process",
    "timeline",
    "next_steps",
    "churn_risk",
)
SIDES = ("rep", "customer", "any")
#: A tracker without ``side`` listens to its category's side (customer unless the category
#: says otherwise: objections are the customer's; next steps come from either side).
DEFAULT_SIDE = "category"
NEGATION_MODES = ("suppress", "require", "ignore")
MEANING_KINDS = ("negation", "polarity", "tense", "speaker")
MEANING_SCOPES = ("clause", "utterance")
PROMPT_FIELDS = frozenset({"phrase", "competitor", "account", "speaker"})
_NAME = re.compile(r"^[a-z][a-z0-9_:.\-]{0,127}$")
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_PHRASE_TOKENS = 12
_WORD_ATTRS = [ORTH, LOWER, LEMMA]


class TrackerConfigError(AnalyticsError):
    """Tracker or competitor configuration that cannot be used; names the culprit."""


@dataclass(frozen=True)
class TrackerSpec:
    name: str
    category: str
    side: str  # "rep", "customer" or "any"; a tracker that does not say takes its category's
    prompt: str
    content: str = ""
    phrases: tuple[str, ...] = ()
    exact_phrases: tuple[str, ...] = ()
    case_sensitive_phrases: tuple[str, ...] = ()
    patterns: tuple[tuple[Mapping[str, Any], ...], ...] = ()
    negation: str = "suppress"
    competitor: str | None = None
    source: str = "trackers.yml"


@dataclass(frozen=True)
class CategorySpec:
    name: str
    title: str
    description: str = ""
    next_action: str = ""
    account_context: bool = False
    dismissal_phrases: tuple[str, ...] = ()
    dismissal_patterns: tuple[tuple[Mapping[str, Any], ...], ...] = ()
    #: the side a tracker of this category listens to when it does not say
    side: str = "customer"


@dataclass(frozen=True)
class MeaningRule:
    """A rule about what a match means, as data (``meaning_rules`` in the YAML).

    A match of ``categories`` ("*" for all) is dropped when one of ``patterns`` (the cue)
    occurs in its clause (``scope: clause``) or anywhere in the utterance (``scope:
    utterance``), unless one of ``unless`` occurs in that same scope. ``kind`` says which
    sense of the words the rule reads - ``negation``, ``polarity`` (praise is not a threat),
    ``tense`` (a vendor they left is history, not an evaluation) or ``speaker`` (the
    seller's own words) - and ``why`` says it in a sentence.
    """

    name: str
    kind: str
    categories: tuple[str, ...]
    why: str
    patterns: tuple[tuple[Mapping[str, Any], ...], ...]
    unless: tuple[tuple[Mapping[str, Any], ...], ...] = ()
    scope: str = "clause"

    def applies_to(self, category: str) -> bool:
        return "*" in self.categories or category in self.categories


@dataclass(frozen=True)
class CompetitorSpec:
    name: str
    aliases: tuple[str, ...] = ()
    battlecard: str = ""
    case_sensitive: bool = False
    source: str = "competitors.yml"


@dataclass(frozen=True)
class NegationSpec:
    cues: tuple[str, ...] = ("not", "n't", "no", "never", "without")
    window: int = 4
    clause_breaks: tuple[str, ...] = (",", ".", ";", ":", "!", "?")
    anaphora: tuple[str, ...] = ("that", "it", "this")
    dismissal_phrases: tuple[str, ...] = ()
    dismissal_patterns: tuple[tuple[Mapping[str, Any], ...], ...] = ()


@dataclass(frozen=True)
class TrackerConfig:
    """Everything the trackers are built from; plain data, cheap to extend."""

    categories: Mapping[str, CategorySpec]
    trackers: tuple[TrackerSpec, ...]
    competitors: tuple[CompetitorSpec, ...] = ()
    negation: NegationSpec = field(default_factory=NegationSpec)
    meaning_rules: tuple[MeaningRule, ...] = ()
    competitor_side: str = "customer"
    competitor_prompt: str = "{competitor} came up."

    def with_trackers(self, specs: Iterable[TrackerSpec]) -> TrackerConfig:
        """A copy with ``specs`` added; a spec whose name exists replaces the old one."""
        specs = list(specs)
        names = {s.name for s in specs}
        kept = tuple(t for t in self.trackers if t.name not in names)
        categories = dict(self.categories)
        for spec in specs:
            categories.setdefault(
                spec.category,
                CategorySpec(name=spec.category, title=spec.category.replace("_", " ").title()),
            )
        specs = [
            replace(spec, side=categories[spec.category].side)
            if spec.side == DEFAULT_SIDE
            else spec
            for spec in specs
        ]
        return replace(self, trackers=kept + tuple(specs), categories=categories)

    def with_competitors(self, competitors: Iterable[CompetitorSpec]) -> TrackerConfig:
        """A copy with ``competitors`` added; same name (case-insensitive) merges aliases,
        and a non-empty battlecard from the newer entry wins."""
        merged = {c.name.casefold(): c for c in self.competitors}
        for competitor in competitors:
            key = competitor.name.casefold()
            old = merged.get(key)
            if old is None:
                merged[key] = competitor
            else:
                aliases = tuple(dict.fromkeys(old.aliases + competitor.aliases))
                merged[key] = replace(
                    old,
                    aliases=aliases,
                    battlecard=competitor.battlecard or old.battlecard,
                    case_sensitive=old.case_sensitive or competitor.case_sensitive,
                )
        return replace(self, competitors=tuple(merged.values()))

    def all_trackers(self) -> tuple[TrackerSpec, ...]:
        """Configured trackers plus one tracker per competitor."""
        return self.trackers + tuple(self._competitor_tracker(c) for c in self.competitors)

    def _competitor_tracker(self, competitor: CompetitorSpec) -> TrackerSpec:
        names = (competitor.name, *competitor.aliases)
        return TrackerSpec(
            name=f"competitor:{_slug(competitor.name)}",
            category="competitor",
            side=self.competitor_side,
            prompt=self.competitor_prompt,
            content=competitor.battlecard,
            phrases=() if competitor.case_sensitive else names,
            case_sensitive_phrases=names if competitor.case_sensitive else (),
            competitor=competitor.name,
            source=competitor.source,
        )


@dataclass(frozen=True, slots=True)
class TrackerHit:
    """One tracker firing in one document (token offsets ``start``/``end``)."""

    tracker: TrackerSpec
    start: int
    end: int
    phrase: str


# ---------------------------------------------------------------------------- loading


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "unnamed"


def _data_text(filename: str) -> str:
    return resources.files("analytics.coaching").joinpath("data", filename).read_text("utf-8")


class _PatternLoader(yaml.SafeLoader):
    """YAML 1.1 reads ``no``, ``on``, ``off``, ``yes`` as booleans, which would turn the
    words of a pattern (``{LOWER: {IN: [no, way]}}``) into True/False. Here only
    ``true``/``false`` are booleans; every other word stays a string."""


_PatternLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PatternLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str, label: str) -> Any:
    """Parse tracker/competitor YAML (only true/false are booleans)."""
    try:
        return yaml.load(text, Loader=_PatternLoader)
    except yaml.YAMLError as exc:
        raise TrackerConfigError(f"{label} is not valid YAML: {exc}") from exc


def _read_yaml(path: str | Path | None, default: str) -> tuple[Any, str]:
    if path is None:
        text, label = _data_text(default), default
    else:
        text, label = Path(path).read_text("utf-8"), str(path)
    return load_yaml(text, label), label


def load_tracker_config(
    trackers_path: str | Path | None = None,
    competitors_path: str | Path | None = None,
    *,
    extra_tracker_paths: Sequence[str | Path] = (),
) -> TrackerConfig:
    """Read the tracker YAML (default: the shipped ``data/trackers.yml``) and the
    competitor YAML (default ``data/competitors.yml``), plus any extra tracker files
    (a manager's own YAML with a ``trackers:`` list). Raises ``TrackerConfigError``."""
    data, label = _read_yaml(trackers_path, "trackers.yml")
    if not isinstance(data, dict):
        raise TrackerConfigError(f"{label}: expected a mapping with 'categories' and 'trackers'")
    categories = {
        name: _category_from_dict(name, body or {}, label)
        for name, body in (data.get("categories") or {}).items()
    }
    missing = [c for c in FIXED_CATEGORIES if c not in categories and trackers_path is None]
    if missing:
        raise TrackerConfigError(f"{label}: categories {', '.join(missing)} are missing")
    negation = _negation_from_dict(data.get("negation") or {}, label)
    rules = data.get("meaning_rules") or []
    if not isinstance(rules, list):
        raise TrackerConfigError(f"{label}: meaning_rules must be a list")
    meaning_rules = tuple(meaning_rule_from_dict(r, source=label) for r in rules)
    trackers = [tracker_from_dict(item, source=label) for item in data.get("trackers") or []]
    competitors_cfg = data.get("competitors") or {}
    side = competitors_cfg.get("side", "customer")
    if side not in SIDES:
        raise TrackerConfigError(f"{label}: competitors.side must be one of {', '.join(SIDES)}")
    prompt = competitors_cfg.get("prompt", "{competitor} came up.")
    _check_template(prompt, f"{label}: competitors.prompt")
    config = TrackerConfig(
        categories=categories,
        trackers=(),
        negation=negation,
        meaning_rules=meaning_rules,
        competitor_side=side,
        competitor_prompt=prompt,
    ).with_trackers(trackers)
    for extra in extra_tracker_paths:
        extra_data, extra_label = _read_yaml(extra, "")
        items = (extra_data or {}).get("trackers") if isinstance(extra_data, dict) else None
        if not isinstance(items, list):
            raise TrackerConfigError(f"{extra_label}: expected a 'trackers:' list")
        config = config.with_trackers(tracker_from_dict(i, source=extra_label) for i in items)
    comp_data, comp_label = _read_yaml(competitors_path, "competitors.yml")
    comp_items = (comp_data or {}).get("competitors") if isinstance(comp_data, dict) else None
    if comp_items is None:
        comp_items = []
    if not isinstance(comp_items, list):
        raise TrackerConfigError(f"{comp_label}: expected a 'competitors:' list")
    config = config.with_competitors(competitor_from_dict(c, source=comp_label) for c in comp_items)
    _check_duplicates(config.trackers)
    return config


def _check_duplicates(trackers: Sequence[TrackerSpec]) -> None:
    seen: set[str] = set()
    for tracker in trackers:
        if tracker.name in seen:
            raise TrackerConfigError(f"tracker {tracker.name!r} is defined twice")
        seen.add(tracker.name)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TrackerConfigError(f"{what} must be a list of strings")
    cleaned = tuple(" ".join(v.split()) for v in value)
    if any(not v for v in cleaned):
        raise TrackerConfigError(f"{what} contains an empty phrase")
    return cleaned


def _patterns(value: Any, what: str) -> tuple[tuple[Mapping[str, Any], ...], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TrackerConfigError(f"{what} must be a list of token patterns")
    patterns = []
    for index, pattern in enumerate(value):
        if not isinstance(pattern, list) or not pattern:
            raise TrackerConfigError(
                f"{what} #{index + 1} must be a non-empty list of token objects, "
                f"e.g. [{{LOWER: too}}, {{LEMMA: expensive}}]"
            )
        errors = validate_token_pattern(pattern)
        if errors:
            raise TrackerConfigError(
                f"{what} #{index + 1} is not a valid spaCy pattern: {errors[0]}"
            )
        patterns.append(tuple(pattern))
    return tuple(patterns)


def _check_template(template: str, what: str) -> None:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise TrackerConfigError(f"{what}: broken placeholder ({exc})") from exc
    unknown = sorted(f for f in fields if f not in PROMPT_FIELDS)
    if unknown:
        raise TrackerConfigError(
            f"{what}: unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
            f"use {', '.join('{' + f + '}' for f in sorted(PROMPT_FIELDS))}"
        )


def tracker_from_dict(item: Any, *, source: str = "trackers.yml") -> TrackerSpec:
    """Validate one tracker definition; errors name the tracker and what is wrong."""
    if not isinstance(item, dict):
        raise TrackerConfigError(f"{source}: every tracker must be a mapping, got {item!r}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise TrackerConfigError(
            f"{source}: tracker name {name!r} must be lower-case letters, digits, _ - . or :"
        )
    what = f"tracker {name!r} ({source})"
    unknown = set(item) - {
        "name",
        "category",
        "side",
        "prompt",
        "content",
        "phrases",
        "exact_phrases",
        "case_sensitive_phrases",
        "patterns",
        "negation",
        "description",
    }
    if unknown:
        raise TrackerConfigError(f"{what}: unknown key(s) {', '.join(sorted(unknown))}")
    category = item.get("category")
    if not isinstance(category, str) or not _CATEGORY.match(category):
        raise TrackerConfigError(f"{what}: category {category!r} must be a snake_case name")
    side = item.get("side", DEFAULT_SIDE)
    if side not in (*SIDES, DEFAULT_SIDE):
        raise TrackerConfigError(f"{what}: side {side!r} must be one of {', '.join(SIDES)}")
    negation = item.get("negation", "suppress")
    if negation not in NEGATION_MODES:
        raise TrackerConfigError(
            f"{what}: negation {negation!r} must be one of {', '.join(NEGATION_MODES)}"
        )
    prompt = item.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise TrackerConfigError(f"{what}: a coaching prompt is required")
    _check_template(prompt, f"{what} prompt")
    content = item.get("content") or ""
    if not isinstance(content, str):
        raise TrackerConfigError(f"{what}: content must be text")
    _check_template(content, f"{what} content")
    spec = TrackerSpec(
        name=name,
        category=category,
        side=side,
        prompt=" ".join(prompt.split()),
        content=" ".join(content.split()),
        phrases=_strings(item.get("phrases"), f"{what} phrases"),
        exact_phrases=_strings(item.get("exact_phrases"), f"{what} exact_phrases"),
        case_sensitive_phrases=_strings(
            item.get("case_sensitive_phrases"), f"{what} case_sensitive_phrases"
        ),
        patterns=_patterns(item.get("patterns"), f"{what} pattern"),
        negation=negation,
        source=source,
    )
    if not (spec.phrases or spec.exact_phrases or spec.case_sensitive_phrases or spec.patterns):
        raise TrackerConfigError(f"{what}: needs at least one phrase or pattern")
    return spec


def custom_tracker(
    *,
    name: str,
    category: str,
    phrases: Sequence[str],
    side: str,
    prompt: str,
    content: str = "",
    source: str = "store",
) -> TrackerSpec:
    """A phrase-only tracker as managers add them (``salesbot tracker add``, Slack)."""
    return tracker_from_dict(
        {
            "name": name,
            "category": category,
            "side": side,
            "phrases": list(phrases),
            "prompt": prompt,
            "content": content,
        },
        source=source,
    )


def competitor_from_dict(item: Any, *, source: str = "competitors.yml") -> CompetitorSpec:
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict):
        raise TrackerConfigError(f"{source}: every competitor must be a mapping, got {item!r}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise TrackerConfigError(f"{source}: a competitor needs a name")
    what = f"competitor {name!r} ({source})"
    unknown = set(item) - {"name", "aliases", "battlecard", "case_sensitive"}
    if unknown:
        raise TrackerConfigError(f"{what}: unknown key(s) {', '.join(sorted(unknown))}")
    battlecard = item.get("battlecard") or ""
    if not isinstance(battlecard, str):
        raise TrackerConfigError(f"{what}: battlecard must be text")
    return CompetitorSpec(
        name=" ".join(name.split()),
        aliases=_strings(item.get("aliases"), f"{what} aliases"),
        battlecard=" ".join(battlecard.split()),
        case_sensitive=bool(item.get("case_sensitive", False)),
        source=source,
    )


def _category_from_dict(name: str, body: Any, source: str) -> CategorySpec:
    what = f"category {name!r} ({source})"
    if not isinstance(name, str) or not _CATEGORY.match(name):
        raise TrackerConfigError(f"{source}: category name {name!r} must be snake_case")
    if not isinstance(body, dict):
        raise TrackerConfigError(f"{what} must be a mapping")
    return CategorySpec(
        name=name,
        title=str(body.get("title") or name.replace("_", " ").title()),
        description=" ".join(str(body.get("description") or "").split()),
        next_action=" ".join(str(body.get("next_action") or "").split()),
        account_context=bool(body.get("account_context", False)),
        dismissal_phrases=_strings(body.get("dismissal_phrases"), f"{what} dismissal_phrases"),
        dismissal_patterns=_patterns(body.get("dismissal_patterns"), f"{what} dismissal pattern"),
        side=_side(body.get("side", "customer"), what),
    )


def _side(value: Any, what: str) -> str:
    if value not in SIDES:
        raise TrackerConfigError(f"{what}: side {value!r} must be one of {', '.join(SIDES)}")
    return str(value)


def meaning_rule_from_dict(item: Any, *, source: str = "trackers.yml") -> MeaningRule:
    """Validate one ``meaning_rules`` entry; errors name the rule and what is wrong."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise TrackerConfigError(f"{source}: every meaning rule must be a mapping with a name")
    what = f"meaning rule {item['name']!r} ({source})"
    unknown = set(item) - {"name", "kind", "categories", "why", "patterns", "unless", "scope"}
    if unknown:
        raise TrackerConfigError(f"{what}: unknown key(s) {', '.join(sorted(unknown))}")
    kind = item.get("kind")
    if kind not in MEANING_KINDS:
        raise TrackerConfigError(f"{what}: kind {kind!r} must be one of {', '.join(MEANING_KINDS)}")
    scope = item.get("scope", "clause")
    if scope not in MEANING_SCOPES:
        raise TrackerConfigError(
            f"{what}: scope {scope!r} must be one of {', '.join(MEANING_SCOPES)}"
        )
    categories = _strings(item.get("categories"), f"{what} categories")
    if not categories:
        raise TrackerConfigError(f"{what}: name the categories it applies to (or '*')")
    patterns = _patterns(item.get("patterns"), f"{what} pattern")
    if not patterns:
        raise TrackerConfigError(f"{what}: needs at least one pattern")
    return MeaningRule(
        name=item["name"],
        kind=kind,
        categories=categories,
        why=" ".join(str(item.get("why") or "").split()),
        patterns=patterns,
        unless=_patterns(item.get("unless"), f"{what} unless pattern"),
        scope=scope,
    )


def _negation_from_dict(body: dict[str, Any], source: str) -> NegationSpec:
    what = f"{source}: negation"
    window = body.get("window", 4)
    if not isinstance(window, int) or not 0 <= window <= 12:
        raise TrackerConfigError(f"{what}.window must be a whole number from 0 to 12")
    default = NegationSpec()
    return NegationSpec(
        cues=_strings(body.get("cues"), f"{what}.cues") or default.cues,
        window=window,
        clause_breaks=_strings(body.get("clause_breaks"), f"{what}.clause_breaks")
        or default.clause_breaks,
        anaphora=_strings(body.get("anaphora"), f"{what}.anaphora") or default.anaphora,
        dismissal_phrases=_strings(body.get("dismissal_phrases"), f"{what}.dismissal_phrases"),
        dismissal_patterns=_patterns(body.get("dismissal_patterns"), f"{what}.dismissal pattern"),
    )


# --------------------------------------------------------------------------- pipeline


class CaselessLookupLemmatizer(Lemmatizer):
    """spaCy's lookup-mode lemmatizer keyed by the lower-case word, cached per word.

    spaCy's own lookup mode looks up ``token.text`` as written, so "Prices" at the
    start of a sentence would keep its form; here every spelling of a word gets the
    same lemma, and each distinct word is looked up once.
    """

    def __init__(
        self, vocab: Vocab, model: Any, name: str = "lemmatizer", *, overwrite: bool = False
    ) -> None:
        super().__init__(vocab, model, name, mode="lookup", overwrite=overwrite)
        self._by_orth: dict[int, tuple[int, int]] = {}  # orth -> (lemma, lower)

    def lookup_lemmatize(self, token: Any) -> list[str]:
        table = self.lookups.get_table("lemma_lookup", {})
        lower = token.lower_
        return [table.get(lower, lower)]

    def __call__(self, doc: Doc) -> Doc:
        self.annotate(doc)
        return doc

    def annotate(self, doc: Doc) -> set[int]:
        """Set every token's lemma; return the ids of the spellings, lower-case forms and
        lemmas in ``doc`` (what :class:`GatedMatcher` needs), in the same pass."""
        if not self._validated:
            self._validate_tables()
        by_orth = self._by_orth
        words: set[int] = set()
        add = words.add
        for token in doc:
            orth = token.orth
            known = by_orth.get(orth)
            if known is None:
                known = (self.vocab.strings.add(self.lookup_lemmatize(token)[0]), token.lower)
                by_orth[orth] = known
            token.lemma = known[0]
            add(orth)
            add(known[0])
            add(known[1])
        return words


def _make_caseless_lemmatizer(nlp: Language, name: str) -> CaselessLookupLemmatizer:
    return CaselessLookupLemmatizer(nlp.vocab, None, name)


@cache
def _lemma_lookups() -> Any:
    """The English ``lemma_lookup`` table from spacy-lookups-data (read once)."""
    return load_lookups(lang="en", tables=["lemma_lookup"])


def make_pipeline() -> Language:
    """``spacy.blank("en")`` with the caseless lookup lemmatizer; no model download."""
    if not Language.has_factory("salesbot_caseless_lemmatizer"):
        Language.factory("salesbot_caseless_lemmatizer", func=_make_caseless_lemmatizer)
    nlp = spacy.blank("en")
    nlp.add_pipe("salesbot_caseless_lemmatizer", name="lemmatizer")
    lemmatizer = nlp.get_pipe("lemmatizer")
    assert isinstance(lemmatizer, CaselessLookupLemmatizer)
    lemmatizer.initialize(lookups=_lemma_lookups())
    return nlp


# ------------------------------------------------------------------------- tracker set


class TrackerSet:
    """Compiled trackers: one pipeline, phrase and token matchers, negation rules.

    ``match(doc, is_rep)`` returns the hits that survive side rules, negation and
    dismissals: at most one per category (the longest match; for competitors one per
    competitor named), in the order they occur.
    """

    def __init__(self, config: TrackerConfig, *, learned: bool = True) -> None:
        """``learned``: combine the patterns with the shipped sentence classifier
        (``analytics.coaching.learned``) for the categories it knows."""
        self.config = config
        self.nlp = make_pipeline()
        lemmatizer = self.nlp.get_pipe("lemmatizer")
        assert isinstance(lemmatizer, CaselessLookupLemmatizer)
        self.lemmatizer = lemmatizer
        vocab = self.nlp.vocab
        self.trackers: dict[str, TrackerSpec] = {}
        self._by_key: dict[int, TrackerSpec] = {}
        self._dismissal_keys: dict[int, str] = {}
        self._lemma_phrases = PhraseMatcher(vocab, attr="LEMMA")
        self._patterns = GatedMatcher(vocab)
        self._dismissals = GatedMatcher(vocab)
        self._dismissal_phrases = PhraseMatcher(vocab, attr="LEMMA")
        self._uses = {"lemma": False, "patterns": False}
        for spec in config.all_trackers():
            self._add_tracker(spec)
        for category in config.categories.values():
            self._add_dismissals(
                category.name, category.dismissal_phrases, category.dismissal_patterns
            )
        negation = config.negation
        self._add_dismissals("*", negation.dismissal_phrases, negation.dismissal_patterns)
        self._rules = GatedMatcher(vocab)
        self._rule_keys: dict[int, tuple[MeaningRule, bool]] = {}  # key -> (rule, is "unless")
        for rule in config.meaning_rules:
            self._add_meaning_rule(rule)
        strings = vocab.strings
        self._cues = frozenset(strings.add(c.lower()) for c in negation.cues)
        self._breaks = frozenset(strings.add(c.lower()) for c in negation.clause_breaks)
        self._anaphora = frozenset(strings.add(c.lower()) for c in negation.anaphora)
        self._window = negation.window
        self._has_dismissals = bool(self._dismissal_keys)
        self.classifier: SentenceClassifier | None = None
        self._learned_specs: dict[str, TrackerSpec] = {}
        self._learned_limits: list[tuple[float | None, float | None]] = []
        self._learned_vetoing: frozenset[str] = frozenset()
        if learned:
            self._add_classifier(load_classifier())

    def _add_classifier(self, classifier: SentenceClassifier) -> None:
        negation = self.config.negation
        self.classifier = classifier.bind(
            self.nlp.vocab.strings,
            cues=negation.cues,
            breaks=negation.clause_breaks,
            window=negation.window,
        )
        self._learned_limits = [(m.add_logit, m.veto_logit) for m in classifier.models]
        self._learned_vetoing = frozenset(
            m.category for m in classifier.models if m.veto_below is not None
        )
        for category in classifier.categories:
            spec = self.config.categories.get(category)
            if spec is None:
                continue
            model = next(t for t in self.config.trackers if t.category == category)
            self._learned_specs[category] = replace(
                model,
                name=f"learned:{category}",
                side=spec.side,
                phrases=(),
                exact_phrases=(),
                case_sensitive_phrases=(),
                patterns=(),
                source="classifier.json",
            )

    # -- building

    def _add_tracker(self, spec: TrackerSpec) -> None:
        if spec.name in self.trackers:
            raise TrackerConfigError(f"tracker {spec.name!r} is defined twice")
        key = f"tracker:{spec.name}"
        self.trackers[spec.name] = spec
        self._by_key[self.nlp.vocab.strings.add(key)] = spec
        what = f"tracker {spec.name!r} ({spec.source})"
        if spec.phrases:
            self._lemma_phrases.add(key, self._phrase_docs(spec.phrases, what))
            self._uses["lemma"] = True
        # exact and case-sensitive phrases run as token patterns: one phrase matcher less
        # per utterance, and the gate skips them unless their words occur
        phrase_patterns = [
            tuple({"LOWER": token.lower_} for token in doc)
            for doc in self._phrase_docs(spec.exact_phrases, what)
        ] + [
            tuple({"ORTH": token.text} for token in doc)
            for doc in self._phrase_docs(spec.case_sensitive_phrases, what)
        ]
        for phrase_pattern in phrase_patterns:
            self._patterns.add(key, phrase_pattern)
            self._uses["patterns"] = True
        for number, pattern in enumerate(spec.patterns, start=1):
            try:
                self._patterns.add(key, self._lemma_aligned(pattern))
            except ValueError as exc:
                raise TrackerConfigError(f"{what}: pattern #{number} is invalid: {exc}") from exc
            self._uses["patterns"] = True

    def _lemma_aligned(self, pattern: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
        """``pattern`` with every ``LEMMA`` value also in the form the lemmatizer gives it.

        Phrases are lemmatised by the same pipeline as the text, so "meeting" in a phrase
        finds "meeting" in an utterance. A pattern's ``LEMMA`` values are written by hand:
        the lookup table turns some of them into another word ("number" -> "numb",
        "meeting" -> "meet", "agenda" -> "agendum"), and without this such a value would
        never match the very word it names.
        """
        table = self.lemmatizer.lookups.get_table("lemma_lookup", {})
        aligned = []
        for token in pattern:
            value = token.get("LEMMA")
            if isinstance(value, str):
                words = [value]
            elif isinstance(value, Mapping) and set(value) == {"IN"}:
                words = [str(v) for v in value["IN"]]
            else:
                aligned.append(token)
                continue
            extra = [table.get(w.lower(), w.lower()) for w in words]
            extra = [w for w in dict.fromkeys(extra) if w not in words]
            if not extra:
                aligned.append(token)
                continue
            aligned.append({**token, "LEMMA": {"IN": [*words, *extra]}})
        return tuple(aligned)

    def _phrase_docs(self, phrases: Sequence[str], what: str) -> list[Doc]:
        docs = list(self.nlp.pipe(phrases))
        for phrase, doc in zip(phrases, docs, strict=True):
            if len(doc) == 0 or len(doc) > MAX_PHRASE_TOKENS:
                raise TrackerConfigError(
                    f"{what}: phrase {phrase!r} must have 1 to {MAX_PHRASE_TOKENS} words"
                )
        return docs

    def _add_dismissals(
        self,
        category: str,
        phrases: Sequence[str],
        patterns: Sequence[Sequence[Mapping[str, Any]]],
    ) -> None:
        if not phrases and not patterns:
            return
        key = f"dismissal:{category}"
        self._dismissal_keys[self.nlp.vocab.strings.add(key)] = category
        what = f"dismissals of {category!r}" if category != "*" else "global dismissals"
        if phrases:
            self._dismissal_phrases.add(key, self._phrase_docs(phrases, what))
        for number, pattern in enumerate(patterns, start=1):
            try:
                self._dismissals.add(key, self._lemma_aligned(pattern))
            except ValueError as exc:
                raise TrackerConfigError(f"{what}: pattern #{number} is invalid: {exc}") from exc

    def _add_meaning_rule(self, rule: MeaningRule) -> None:
        what = f"meaning rule {rule.name!r}"
        for is_unless, patterns in ((False, rule.patterns), (True, rule.unless)):
            key = f"{'unless' if is_unless else 'rule'}:{rule.name}"
            self._rule_keys[self.nlp.vocab.strings.add(key)] = (rule, is_unless)
            for number, pattern in enumerate(patterns, start=1):
                try:
                    self._rules.add(key, self._lemma_aligned(pattern))
                except ValueError as exc:
                    label = "unless pattern" if is_unless else "pattern"
                    raise TrackerConfigError(
                        f"{what}: {label} #{number} is invalid: {exc}"
                    ) from exc

    # -- running

    def make_doc(self, text: str) -> Doc:
        """Tokenise and lemmatise one utterance."""
        return self.analyse(text)[0]

    def analyse(self, text: str) -> tuple[Doc, set[int]]:
        """One utterance tokenised and lemmatised, with its word ids (the live path)."""
        doc = self.nlp.tokenizer(text)
        return doc, self.lemmatizer.annotate(doc)

    def analyse_many(
        self, texts: Iterable[str], *, batch_size: int = 512
    ) -> Iterator[tuple[Doc, set[int]]]:
        """Many utterances tokenised and lemmatised, with their word ids (the batch path)."""
        annotate = self.lemmatizer.annotate
        tokenizer: Any = self.nlp.tokenizer
        for doc in tokenizer.pipe(texts, batch_size=batch_size):
            yield doc, annotate(doc)

    def pipe(self, texts: Iterable[str], *, batch_size: int = 512) -> Iterator[Doc]:
        """Tokenise and lemmatise many utterances."""
        for doc, _words in self.analyse_many(texts, batch_size=batch_size):
            yield doc

    def raw_matches(self, doc: Doc, words: set[int] | None = None) -> list[tuple[int, int, int]]:
        """(key, start, end) of every tracker pattern in ``doc``, before any rule."""
        found: list[tuple[int, int, int]] = []
        uses = self._uses
        if uses["lemma"]:
            found.extend(self._lemma_phrases(doc))
        if uses["patterns"]:
            found.extend(self._patterns(doc, token_words(doc) if words is None else words))
        return found

    def match(
        self, doc: Doc, is_rep: bool | None, words: set[int] | None = None
    ) -> list[TrackerHit]:
        """Hits in ``doc`` spoken by the rep (True), the customer (False) or an unknown
        side (None: customer-side trackers apply), after negation and dismissals."""
        if words is None:
            words = token_words(doc)
        raw = self.raw_matches(doc, words)
        classifier = self.classifier
        if not raw and classifier is None:
            return []
        by_key = self._by_key
        candidates = []
        for match_key, start, end in raw:
            spec = by_key[match_key]
            if not _side_allows(spec.side, is_rep):
                continue
            candidates.append((spec, start, end))
        hits: list[TrackerHit] = []
        dismissed: list[tuple[str, int, int]] | None = None
        if candidates:
            breaks = self._breaks
            boundaries = [i for i, token in enumerate(doc) if token.lower in breaks]
            dismissed = self._all_dismissed(doc, boundaries, words)
            hits = self._surviving(doc, candidates, boundaries, dismissed)
        if classifier is None:
            return hits
        return self._combine_learned(classifier, doc, is_rep, words, hits, dismissed)

    def _all_dismissed(
        self, doc: Doc, boundaries: list[int], words: set[int]
    ) -> list[tuple[str, int, int]]:
        """(category, start, end) spans dismissed or ruled out by a meaning rule."""
        dismissed = self._dismissed_scopes(doc, boundaries, words) if self._has_dismissals else []
        if self._rule_keys:
            dismissed.extend(self._ruled_out_scopes(doc, boundaries, words))
        return dismissed

    def _surviving(
        self,
        doc: Doc,
        candidates: list[tuple[TrackerSpec, int, int]],
        boundaries: list[int],
        dismissed: list[tuple[str, int, int]],
    ) -> list[TrackerHit]:
        best: dict[tuple[str, str], TrackerHit] = {}  # (category, competitor) -> hit
        for spec, start, end in candidates:
            clause_start = _clause(boundaries, start, end, len(doc))[0]
            if not self._negation_allows(doc, spec.negation, start, end, clause_start):
                continue
            if any(
                (category == "*" or category == spec.category) and lo < end and start < hi
                for category, lo, hi in dismissed
            ):
                continue
            key = (spec.category, spec.competitor or "")
            current = best.get(key)
            if current is None or (end - start) > (current.end - current.start):
                best[key] = TrackerHit(spec, start, end, doc[start:end].text)
        return sorted(best.values(), key=lambda h: (h.start, -(h.end - h.start)))

    def _combine_learned(
        self,
        classifier: SentenceClassifier,
        doc: Doc,
        is_rep: bool | None,
        words: set[int],
        hits: list[TrackerHit],
        dismissed: list[tuple[str, int, int]] | None,
    ) -> list[TrackerHit]:
        """Veto pattern hits the classifier is sure are wrong; add categories it is sure
        of that no pattern found (on their side, and not dismissed in the utterance)."""
        if not len(doc):
            return hits
        vetoing = self._learned_vetoing
        needs_veto = any(h.tracker.category in vetoing for h in hits)
        if not needs_veto and not classifier.may_add(words):
            return hits
        logits = classifier.logits(doc)
        limits = self._learned_limits
        kept = []
        for hit in hits:
            position = classifier.index.get(hit.tracker.category)
            if position is not None:
                veto = limits[position][1]
                if veto is not None and logits[position] < veto:
                    continue
            kept.append(hit)
        found = {h.tracker.category for h in hits}
        for index, model in enumerate(classifier.models):
            category = model.category
            add = limits[index][0]
            if add is None or category in found or logits[index] < add:
                continue
            spec = self._learned_specs.get(category)
            if spec is None or not _side_allows(spec.side, is_rep):
                continue
            if dismissed is None:
                breaks = self._breaks
                boundaries = [i for i, token in enumerate(doc) if token.lower in breaks]
                dismissed = self._all_dismissed(doc, boundaries, words)
            if any(c in ("*", category) for c, _lo, _hi in dismissed):
                continue
            start = max(
                range(len(doc)),
                key=lambda i: (
                    doc[i].is_alpha and not doc[i].is_stop,
                    classifier.unigram_weight(doc[i].lemma, category),
                ),
            )  # the quoted word: the strongest content word of the category
            kept.append(TrackerHit(spec, start, start + 1, doc[start].text))
        return sorted(kept, key=lambda h: (h.start, -(h.end - h.start)))

    def _negation_allows(
        self, doc: Doc, mode: str, start: int, end: int, clause_start: int
    ) -> bool:
        if mode == "ignore":
            return True
        cues = self._cues
        before = any(
            doc[i].lower in cues for i in range(max(clause_start, start - self._window), start)
        )
        if mode == "suppress":
            return not before
        return before or any(doc[i].lower in cues for i in range(start, end))

    def _dismissed_scopes(
        self, doc: Doc, boundaries: list[int], words: set[int]
    ) -> list[tuple[str, int, int]]:
        matches = self._dismissals(doc, words) + list(self._dismissal_phrases(doc))
        scopes = []
        anaphora = self._anaphora
        breaks = set(boundaries)
        for key, start, end in matches:
            lo, hi = _clause(boundaries, start, end, len(doc))
            if lo < len(doc) and doc[lo].lower in anaphora:
                before = lo - 1
                while before >= 0 and before in breaks:  # ", so that's ..." skips both breaks
                    before -= 1
                if before >= 0:
                    lo = _clause(boundaries, before, before + 1, len(doc))[0]
            scopes.append((self._dismissal_keys[key], lo, hi))
        return scopes

    def _ruled_out_scopes(
        self, doc: Doc, boundaries: list[int], words: set[int]
    ) -> list[tuple[str, int, int]]:
        """(category, start, end) spans whose matches a meaning rule drops."""
        matches = self._rules(doc, words)
        if not matches:
            return []
        length = len(doc)
        cues: list[tuple[MeaningRule, int, int]] = []
        unless: dict[str, list[int]] = {}
        for key, start, end in matches:
            rule, is_unless = self._rule_keys[key]
            if rule.scope == "utterance":
                lo, hi = 0, length
            else:
                lo, hi = _clause(boundaries, start, end, length)
            if is_unless:
                unless.setdefault(rule.name, []).append(start)
            else:
                cues.append((rule, lo, hi))
        scopes: list[tuple[str, int, int]] = []
        for rule, lo, hi in cues:
            if any(lo <= start < hi for start in unless.get(rule.name, ())):
                continue
            scopes.extend((category, lo, hi) for category in rule.categories)
        return scopes


class GatedMatcher:
    """spaCy ``Matcher`` patterns, each run only on documents that can match it.

    spaCy evaluates ``IN`` predicates in Python for every token and every distinct
    predicate, so one Matcher holding dozens of patterns costs hundreds of microseconds
    per utterance. Here every pattern gets its own Matcher, plus the sets of words
    (lower-case forms, lemmas or spellings) that its required tokens can take. An index
    on the rarest such set (the *anchor*) finds the few patterns whose words all occur
    in an utterance; only those Matchers run. Results are identical to one big Matcher.
    """

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        self._matchers: list[Matcher] = []
        self._required: list[tuple[frozenset[int], ...]] = []
        self._anchored: dict[int, list[int]] = {}
        self._always: list[int] = []

    def __len__(self) -> int:
        return len(self._matchers)

    def add(self, key: str, pattern: Sequence[Mapping[str, Any]]) -> None:
        matcher = Matcher(self.vocab, validate=True)
        matcher.add(key, [[dict(token) for token in pattern]])
        index = len(self._matchers)
        self._matchers.append(matcher)
        required = tuple(self._required_words(token) for token in pattern)
        required_sets = tuple(r for r in required if r is not None)
        self._required.append(required_sets)
        if not required_sets:
            self._always.append(index)
            return
        anchor = min(required_sets, key=self._commonness)
        for word in anchor:
            self._anchored.setdefault(word, []).append(index)

    def _required_words(self, token: Mapping[str, Any]) -> frozenset[int] | None:
        op = str(token.get("OP", "1"))
        if op in ("?", "*", "!") or op.startswith(("{0", "{,")):
            return None
        best: frozenset[int] | None = None
        for attr in ("LOWER", "LEMMA", "ORTH", "TEXT"):
            value = token.get(attr)
            if isinstance(value, str):
                words = [value]
            elif isinstance(value, dict) and set(value) == {"IN"}:
                words = [str(v) for v in value["IN"]]
            else:
                continue
            ids = frozenset(self.vocab.strings.add(w) for w in words)
            if best is None or len(ids) < len(best):
                best = ids
        return best

    def _commonness(self, words: frozenset[int]) -> tuple[int, int]:
        stop = sum(1 for w in words if self.vocab.strings[w].lower() in STOP_WORDS)
        return (stop, len(words))

    def __call__(self, doc: Doc, words: set[int]) -> list[tuple[int, int, int]]:
        """Matches in ``doc``; ``words`` holds the ORTH, LOWER and LEMMA ids of its tokens."""
        candidates: set[int] = set(self._always)
        anchored = self._anchored
        for word in words:
            hit = anchored.get(word)
            if hit is not None:
                candidates.update(hit)
        found: list[tuple[int, int, int]] = []
        for index in candidates:
            if all(not req.isdisjoint(words) for req in self._required[index]):
                # lemmas are always set by our lemmatizer: skip spaCy's per-call check
                found.extend(self._matchers[index](doc, allow_missing=True))
        return found


def token_words(doc: Doc) -> set[int]:
    """ORTH, LOWER and LEMMA ids of every token of ``doc`` (for :class:`GatedMatcher`)."""
    ids: Any = doc.to_array(_WORD_ATTRS).ravel().tolist()
    return set(ids)


def _side_allows(side: str, is_rep: bool | None) -> bool:
    """Customer-side trackers skip the rep; rep-side ones need a known rep."""
    if side == "customer":
        return is_rep is not True
    if side == "rep":
        return is_rep is True
    return True


def _clause(boundaries: list[int], start: int, end: int, length: int) -> tuple[int, int]:
    """Token range of the clause around ``[start, end)``: between the nearest clause
    breaks before ``start`` and at or after ``end`` (the breaks themselves excluded)."""
    lo, hi = 0, length
    for b in boundaries:
        if b < start:
            lo = b + 1
        elif b >= end:
            hi = b
            break
    return lo, hi
