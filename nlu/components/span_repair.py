"""Repairs of the boundaries of `account` entities, independent of Rasa.

DIET (plain tags) finds most account tokens but often cuts a name at a connector or at a
word it has not seen: "<Name>'s Kitchen" comes back as two entities, "<X> & Sons" as
"& Sons", "<Word> <Word> Outfitters" without its last word. These functions take the text
of a message and the entities an extractor found, and return the entities with account
spans merged, extended or dropped, using:

- the context vocabulary: words seen outside entities (or inside entities other than
  `account`) in the training examples, minus company words; a word that is not in it and
  sits next to an account name is probably part of the name,
- lookup tables: company words (suffixes and words company names are made of), first
  names, places, and known account names (never dropped).

Standard library only: the Rasa component in ``account_spans`` wraps it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "account"

_TOKEN = re.compile(r"[^\W_]+|[^\w\s]|_")
_SENTENCE_END = {".", "!", "?", ":", ";"}
# joins two parts of one name: "<A> & <B>", "<A>'s <B>", "<A> of <B>", "<A> 9 <B>", "<A>-<B>"
CONNECTORS = {"&", "and", "of", "-", ".", "+", "'", "’", "s"}
# always part of a company name when next to one
COMPANY_SUFFIXES = {
    "co",
    "company",
    "corp",
    "corporation",
    "inc",
    "incorporated",
    "llc",
    "llp",
    "ltd",
    "limited",
    "plc",
    "gmbh",
    "group",
    "holdings",
    "sons",
    "brothers",
    "bros",
}
# what only a person (a rep) has, after "<name>'s": "<name>'s attainment" is never an account;
# training adds the words that follow "<rep>'s" and never "<account>'s" in the examples
REP_NOUNS = {"team", "attainment", "quota", "territory", "reps"}
_POSSESSIVE = re.compile(r"['’]s\s+([^\W\d_]+)")
_MAX_EXTENSION = 3
_COMMON_CONTEXT = 2
_MIN_TYPO_CHECK = 5


@dataclass
class Vocabulary:
    """What the repairs know: learned at training time, persisted with the model."""

    context_words: Counter[str] = field(default_factory=Counter)
    company_words: set[str] = field(default_factory=set)
    person_names: set[str] = field(default_factory=set)
    places: set[str] = field(default_factory=set)
    account_names: set[str] = field(default_factory=set)
    rep_nouns: set[str] = field(default_factory=set)
    _near_context: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.company_words = {w.casefold() for w in self.company_words} | COMPANY_SUFFIXES
        self.person_names = {w.casefold() for w in self.person_names}
        self.places = {w.casefold() for w in self.places}
        self.account_names = {_normalise(w) for w in self.account_names}
        self.rep_nouns = {w.casefold() for w in self.rep_nouns} | REP_NOUNS
        self._near_context = set()
        for word in self.context_words:
            if len(word) >= _MIN_TYPO_CHECK - 1:
                self._near_context.update(_deletions(word))

    def to_json(self) -> dict[str, Any]:
        return {
            "context_words": dict(sorted(self.context_words.items())),
            "company_words": sorted(self.company_words),
            "person_names": sorted(self.person_names),
            "places": sorted(self.places),
            "account_names": sorted(self.account_names),
            "rep_nouns": sorted(self.rep_nouns),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Vocabulary:
        return cls(
            context_words=Counter({str(k): int(v) for k, v in data["context_words"].items()}),
            company_words=set(data["company_words"]),
            person_names=set(data["person_names"]),
            places=set(data["places"]),
            account_names=set(data["account_names"]),
            rep_nouns=set(data.get("rep_nouns", ())),
        )

    def is_context(self, word: str) -> bool:
        """A word of the sentence around a name (or a typo of one), not of the name."""
        key = word.casefold()
        if key in self.company_words:
            return False
        if key in self.context_words:
            return True
        if len(key) >= _MIN_TYPO_CHECK and not word[:1].isupper():
            if key in self._near_context or any(d in self.context_words for d in _deletions(key)):
                return True
            return any(d in self._near_context for d in _deletions(key))
        return False


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _normalise(name: str) -> str:
    return " ".join(t.casefold() for t in _TOKEN.findall(name))


def learn_vocabulary(
    examples: Iterable[tuple[str, Sequence[Mapping[str, Any]]]],
    *,
    company_words: Iterable[str] = (),
    person_names: Iterable[str] = (),
    places: Iterable[str] = (),
    account_names: Iterable[str] = (),
) -> Vocabulary:
    """The context vocabulary of training examples given as (text, entities) pairs."""
    companies = {w.casefold() for w in company_words} | COMPANY_SUFFIXES
    context: Counter[str] = Counter()
    possessed: dict[str, set[str]] = {"rep": set(), ACCOUNT: set()}
    for text, entities in examples:
        for entity in entities:
            if entity.get("entity") in possessed:
                after = _POSSESSIVE.match(text, int(entity["end"]))
                if after:
                    possessed[str(entity["entity"])].add(after.group(1).casefold())
        accounts = [
            (int(e["start"]), int(e["end"])) for e in entities if e.get("entity") == ACCOUNT
        ]
        for match in _TOKEN.finditer(text):
            word = match.group().casefold()
            if not word[0].isalpha():
                continue
            if any(s < match.end() and match.start() < e for s, e in accounts):
                continue
            if word not in companies:
                context[word] += 1
    return Vocabulary(
        context_words=context,
        company_words=companies,
        person_names=set(person_names),
        places=set(places),
        account_names=set(account_names),
        rep_nouns=possessed["rep"] - possessed[ACCOUNT],
    )


@dataclass
class _Token:
    text: str
    start: int
    end: int

    @property
    def key(self) -> str:
        return self.text.casefold()

    @property
    def is_word(self) -> bool:
        return self.text[0].isalpha()

    @property
    def is_number(self) -> bool:
        return self.text.isdigit()

    @property
    def is_title(self) -> bool:
        return self.text[0].isupper()


@dataclass
class _Span:
    first: int
    last: int  # inclusive token indices
    entity: dict[str, Any]
    confidence: float | None


def repair_accounts(
    text: str, entities: Sequence[Mapping[str, Any]], vocabulary: Vocabulary
) -> list[dict[str, Any]]:
    """``entities`` with the account spans repaired; other entities are returned as they are.

    Merges accounts separated only by connectors, extends an account over neighbouring
    tokens of the same name shape, drops one-word accounts that are a first name or a
    place (unless a known account), and keeps start, end and value consistent.
    """
    tokens = [_Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    others = [dict(e) for e in entities if e.get("entity") != ACCOUNT]
    if not tokens:
        return [dict(e) for e in entities]
    blocked = set()
    for entity in others:
        blocked.update(_token_range(tokens, int(entity["start"]), int(entity["end"])))
    spans: list[_Span] = []
    for entity in entities:
        if entity.get("entity") != ACCOUNT:
            continue
        covered = _token_range(tokens, int(entity["start"]), int(entity["end"]))
        if not covered:
            continue
        confidence = entity.get("confidence_entity")
        spans.append(
            _Span(
                covered[0],
                covered[-1],
                dict(entity),
                float(confidence) if confidence is not None else None,
            )
        )
    if not spans:
        return [dict(e) for e in entities]
    spans.sort(key=lambda s: s.first)
    repairer = _Repairer(tokens, vocabulary, blocked)
    spans = repairer.merge(spans)
    for span in spans:
        repairer.trim(span)
        repairer.extend(span)
    spans = repairer.merge(spans)
    spans = [s for s in spans if not repairer.should_drop(s)]
    repaired = []
    for span in spans:
        entity = span.entity
        start, end = tokens[span.first].start, tokens[span.last].end
        if (start, end) != (entity["start"], entity["end"]):
            entity["start"], entity["end"] = start, end
            entity["value"] = text[start:end]
        if span.confidence is not None:
            entity["confidence_entity"] = span.confidence
        repaired.append(entity)
    result = others + repaired
    result.sort(key=lambda e: (int(e["start"]), int(e["end"])))
    return result


def _token_range(tokens: Sequence[_Token], start: int, end: int) -> list[int]:
    return [i for i, t in enumerate(tokens) if t.start < end and start < t.end]


class _Repairer:
    def __init__(self, tokens: list[_Token], vocabulary: Vocabulary, blocked: set[int]) -> None:
        self.tokens = tokens
        self.vocabulary = vocabulary
        self.blocked = blocked

    # --------------------------------------------------------------------- merging

    def merge(self, spans: list[_Span]) -> list[_Span]:
        merged: list[_Span] = []
        for span in spans:
            if merged and self._joinable(merged[-1], span):
                previous = merged[-1]
                previous.last = max(previous.last, span.last)
                if span.confidence is not None:
                    previous.confidence = (
                        span.confidence
                        if previous.confidence is None
                        else min(previous.confidence, span.confidence)
                    )
                continue
            merged.append(span)
        return merged

    def _joinable(self, left: _Span, right: _Span) -> bool:
        if right.first <= left.last + 1:
            return True
        gap = self.tokens[left.last + 1 : right.first]
        if len(gap) > 3 or any(left.last + 1 + i in self.blocked for i in range(len(gap))):
            return False
        keys = [t.key for t in gap]
        if "and" in keys or "of" in keys:
            # "<A> and <B>" is often two accounts, "<noun> of <place>" no account at all; one
            # name only when no side is a known name and the name has company words
            if self._known(left) or self._known(right):
                return False
            if "and" in keys and not self._ends_in_company_word(right):
                return False
            if "of" in keys and not self._ends_in_company_word(left):
                return False
        if (
            len(gap) == 1
            and gap[0].is_word
            and all(t.key in COMPANY_SUFFIXES for t in self.tokens[right.first : right.last + 1])
        ):
            # a bare suffix belongs to the name before it: "<word> <word> co"
            return True
        if keys in (["'", "s"], ["’", "s"]) or keys == ["s"]:
            # "<Name>'s <Kitchen>": the possessive of a name; "<Name>'s <team>" never reaches
            # here because "team" is no account
            return True
        for token in gap:
            if token.key in CONNECTORS or token.is_number:
                continue
            if token.is_word and not self.vocabulary.is_context(token.text):
                continue
            return False
        return True

    def _known(self, span: _Span) -> bool:
        words = " ".join(t.key for t in self.tokens[span.first : span.last + 1])
        return words in self.vocabulary.account_names

    def _ends_in_company_word(self, span: _Span) -> bool:
        return self.tokens[span.last].key in self.vocabulary.company_words

    # -------------------------------------------------------------------- trimming

    def trim(self, span: _Span) -> None:
        """Drop a possessive "'s" at the end, and lower-case context words at either end
        of a capitalised name ("<Name> <Name> still")."""
        tokens = self.tokens
        if (
            span.last - span.first >= 2
            and tokens[span.last].key == "s"
            and tokens[span.last - 1].key in {"'", "’"}
        ):
            span.last -= 2
        if not self._title_case(span):
            return
        while span.last > span.first and self._trimmable(tokens[span.last]):
            span.last -= 1
        while span.last > span.first and self._trimmable(tokens[span.first]):
            span.first += 1

    def _trimmable(self, token: _Token) -> bool:
        if not token.is_word:
            return token.key not in {"&", "+", "-", "'", "’", "."} and not token.is_number
        return not token.is_title and self.vocabulary.is_context(token.text)

    # ------------------------------------------------------------------- extending

    def extend(self, span: _Span) -> None:
        for _ in range(_MAX_EXTENSION):
            if not self._extend_right(span):
                break
        for _ in range(_MAX_EXTENSION):
            if not self._extend_left(span):
                break

    def _free(self, index: int) -> bool:
        return 0 <= index < len(self.tokens) and index not in self.blocked

    def _title_case(self, span: _Span) -> bool:
        words = [t for t in self.tokens[span.first : span.last + 1] if t.is_word]
        return any(t.is_title for t in words)

    def _extend_right(self, span: _Span) -> bool:
        tokens, i = self.tokens, span.last + 1
        if not self._free(i):
            return False
        token = tokens[i]
        companies = self.vocabulary.company_words
        if token.key in companies:
            span.last = i
            return True
        after = i + 1
        if (
            token.key in {"&", "+"}
            and self._free(after)
            and tokens[after].is_word
            and (
                tokens[after].key in companies or not self.vocabulary.is_context(tokens[after].text)
            )
        ):
            span.last = after
            return True
        if token.key in {"'", "’"} and self._free(after) and tokens[after].key == "s":
            noun = after + 1
            if self._free(noun) and tokens[noun].key in companies:
                span.last = noun
                return True
        if token.is_number and self._free(after) and tokens[after].key in companies:
            span.last = after
            return True
        if (
            token.is_word
            and token.is_title
            and self._title_case(span)
            and not self.vocabulary.is_context(token.text)
        ):
            span.last = i
            return True
        return False

    def _extend_left(self, span: _Span) -> bool:
        tokens, i = self.tokens, span.first - 1
        if not self._free(i):
            return False
        token, first = tokens[i], tokens[span.first]
        companies = self.vocabulary.company_words
        if first.key in {"&", "+", "and", "-"}:
            # the name was cut after its joining word: "& Sons" -> "<X> & Sons"
            if token.is_word and not self.vocabulary.is_context(token.text):
                span.first = i
                return True
            return False
        if token.key in {"&", "+"} and self._free(i - 1) and tokens[i - 1].is_word:
            if not self.vocabulary.is_context(tokens[i - 1].text):
                span.first = i - 1
                return True
            return False
        if token.is_number and first.is_word and first.is_title:
            span.first = i
            return True
        if not token.is_word or self.vocabulary.is_context(token.text):
            return False
        if token.is_title:
            if token.key in self.vocabulary.person_names and span.first == span.last:
                return False  # "<First> <Last>" is a person
            if self._title_case(span) and not self._sentence_initial(i):
                span.first = i
                return True
            if self._title_case(span) and token.key in companies:
                span.first = i
                return True
            return False
        # a lower-case word nobody uses around names, before a lower-case name that looks
        # like a company ("<word> <word> credit union", "<word> mining co")
        if not self._title_case(span) and (
            self._ends_in_company_word(span) or span.last > span.first
        ):
            span.first = i
            return True
        return False

    def _sentence_initial(self, index: int) -> bool:
        return index == 0 or self.tokens[index - 1].text in _SENTENCE_END

    # --------------------------------------------------------------------- dropping

    def should_drop(self, span: _Span) -> bool:
        words = [t for t in self.tokens[span.first : span.last + 1] if t.is_word]
        vocabulary = self.vocabulary
        if not any(len(t.text) > 1 or t.is_title for t in words) and not any(
            t.is_number for t in self.tokens[span.first : span.last + 1]
        ):
            # a lone connector or letter ("'s", "&")
            return True
        if len(words) != 1 or span.last != span.first:
            return False
        token = words[0]
        if token.key in vocabulary.account_names:
            return False
        if not token.is_title and vocabulary.context_words[token.key] >= _COMMON_CONTEXT:
            # a common lower-case word of the training sentences, never an account there
            return True
        if token.key in vocabulary.person_names or token.key in vocabulary.places:
            return True
        after = self.tokens[span.last + 1 : span.last + 4]
        if (
            token.is_title
            and token.key not in vocabulary.company_words
            and [t.key for t in after[:2]] in (["'", "s"], ["’", "s"])
            and len(after) == 3
            and after[2].key in vocabulary.rep_nouns
        ):
            return True
        # "<First> <Last>": a person
        previous = span.first - 1
        return (
            token.is_title
            and previous >= 0
            and self.tokens[previous].key in vocabulary.person_names
            and self.tokens[previous].is_title
        )


ACCOUNT_INTENTS = frozenset(
    {"ask_pitch", "ask_account_overview", "review_call", "ask_why", "inform", "nlu_fallback"}
)
"""The questions that name an account; the others name people (whose pipeline, forecast,
metric, digest or book) or nothing."""
REP_INTENTS = frozenset(
    {
        "ask_pipeline", "ask_stalled_deals", "ask_forecast", "ask_metric", "request_digest",
        "ask_slipping_accounts",
    }
)  # fmt: skip


def account_or_rep(entities: list[dict[str, Any]], intent: str | None) -> list[dict[str, Any]]:
    """An "account" found in a question that never names one is a person's name read as a
    company ("Carson Sterling's win rate"): a rep in the questions that name people, dropped
    in the others ("what's the weather in Boston"). The action server resolves every name
    against the store in any case."""
    if intent is None or intent in ACCOUNT_INTENTS:
        return entities
    out = []
    for entity in entities:
        if entity.get("entity") != "account":
            out.append(entity)
        elif intent in REP_INTENTS:
            out.append({**entity, "entity": "rep"})
    return out
