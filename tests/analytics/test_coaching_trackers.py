"""Trackers: phrases and patterns as data, side rules, negation and hedging, config errors."""

from __future__ import annotations

import pytest
import yaml

from analytics.coaching.trackers import (
    FIXED_CATEGORIES,
    TrackerConfigError,
    TrackerSet,
    competitor_from_dict,
    custom_tracker,
    load_tracker_config,
    make_pipeline,
    tracker_from_dict,
)


@pytest.fixture(scope="module")
def trackers() -> TrackerSet:
    return TrackerSet(load_tracker_config())


def categories(trackers: TrackerSet, text: str, *, is_rep: bool | None = False) -> set[str]:
    return {hit.tracker.category for hit in trackers.match(trackers.make_doc(text), is_rep)}


def test_default_config_has_every_fixed_category(trackers):
    config = trackers.config
    assert set(FIXED_CATEGORIES) <= set(config.categories)
    assert {t.category for t in config.all_trackers()} >= set(FIXED_CATEGORIES)
    assert all(t.prompt for t in config.all_trackers())


def test_lemmatizer_is_lookup_based_and_case_insensitive():
    nlp = make_pipeline()
    assert nlp.pipe_names == ["lemmatizer"]
    doc = nlp("Prices Were higher than we Budgeted for other vendors")
    assert [t.lemma_ for t in doc] == [
        "price", "be", "high", "than", "we", "budget", "for", "other", "vendor",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Honestly, the price is higher than what we budgeted for.", {"pricing", "budget"}),
        ("That's way too expensive for a team our size.", {"pricing"}),
        ("We're also talking to CloudScale.", {"competitor"}),
        ("Anything like this has to go through procurement.", {"decision_process"}),
        ("Ideally we'd have it in place by the end of the quarter.", {"timeline"}),
        ("Sounds good, send me the invite.", {"next_steps"}),
        ("We're thinking about cancelling when the contract is up.", {"churn_risk"}),
        ("We're not going to renew at this price.", {"churn_risk", "pricing"}),
        ("We have no budget for consultants this year.", {"budget"}),
        ("we just can't afford it right now", {"pricing"}),
    ],
)
def test_customer_phrases_fire(trackers, text, expected):
    assert categories(trackers, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Price isn't really an issue for us.",
        "I don't think pricing will be a problem.",
        "The pricing seems fair for what we get.",
        "We're not looking at other vendors right now.",
        "No budget concerns on our side.",
        "We've got the budget, that's not a problem.",
        "We're definitely renewing, no question.",
        "We have no plans to cancel.",
        "We cancelled the offsite because of the snowstorm.",
        "We budget time every Friday for pipeline reviews.",
        "Our own competitors are mostly regional distributors.",
    ],
)
def test_negated_hedged_and_unrelated_phrasings_do_not_fire(trackers, text):
    assert categories(trackers, text) == set()


def test_side_rules(trackers):
    quote = (
        "On cost, teams your size typically invest around $100K annually and the price is fixed."
    )
    assert categories(trackers, quote, is_rep=True) == set()
    assert categories(trackers, quote, is_rep=False) == {"pricing"}
    # unknown side: customer-side trackers apply to everyone
    assert categories(trackers, "That's too expensive.", is_rep=None) == {"pricing"}
    # next steps count on either side
    assert categories(trackers, "I'll send the contract over today.", is_rep=True) == {"next_steps"}


def test_competitors_from_config_aliases_and_case_sensitivity():
    config = load_tracker_config().with_competitors(
        [
            competitor_from_dict({"name": "Acme CRM", "aliases": ["AcmeCRM"], "battlecard": "B"}),
            competitor_from_dict({"name": "Insight", "case_sensitive": True}),
        ]
    )
    trackers = TrackerSet(config)
    hits = trackers.match(trackers.make_doc("We use acmecrm today and Insight for BI."), False)
    assert {(h.tracker.competitor, h.tracker.content) for h in hits} == {
        ("Acme CRM", "B"),
        ("Insight", ""),
    }
    assert categories(trackers, "We need more insight into the pipeline.") == set()


def test_managers_trackers_need_no_code():
    spec = custom_tracker(
        name="security_review",
        category="security",
        phrases=["data residency", "hosted in the EU"],
        side="customer",
        prompt="Security came up ({phrase}): send the trust pack.",
    )
    trackers = TrackerSet(load_tracker_config().with_trackers([spec]))
    hits = trackers.match(trackers.make_doc("Is our data hosted in the EU?"), False)
    assert [(h.tracker.name, h.tracker.category, h.phrase) for h in hits] == [
        ("security_review", "security", "hosted in the EU")
    ]
    assert hits[0].tracker.prompt.format(phrase=hits[0].phrase).startswith("Security came up")
    assert "security" in trackers.config.categories


def test_pattern_lemmas_match_the_words_they_name():
    # the lookup table lemmatises "number" to "numb" and "meeting" to "meet"; a pattern
    # written with the word itself must still find it, as a phrase would
    spec = tracker_from_dict(
        {
            "name": "figures",
            "category": "figures",
            "side": "any",
            "prompt": "Figures ({phrase}).",
            "patterns": [
                [{"LOWER": "better"}, {"LEMMA": "number"}],
                [{"LOWER": "the"}, {"LEMMA": {"IN": ["meeting", "agenda"]}}],
            ],
        }
    )
    trackers = TrackerSet(load_tracker_config().with_trackers([spec]))
    for text, phrase in [
        ("We'd need a better number on the liners.", "better number"),
        ("Can you send the agenda?", "the agenda"),
        ("Before the meeting, let me check.", "the meeting"),
        ("Better numbers would help.", "Better numbers"),
    ]:
        hits = trackers.match(trackers.make_doc(text), False)
        assert [h.phrase for h in hits if h.tracker.name == "figures"] == [phrase], text


def test_extra_tracker_file_and_yaml_words_like_no_stay_words(tmp_path):
    path = tmp_path / "mine.yml"
    path.write_text(
        "trackers:\n"
        "  - name: no_way\n"
        "    category: pricing\n"
        "    side: customer\n"
        "    prompt: Hard no.\n"
        "    patterns:\n"
        "      - [{LOWER: no}, {LOWER: way}, {LOWER: on}]\n"
    )
    config = load_tracker_config(extra_tracker_paths=[path])
    spec = next(t for t in config.trackers if t.name == "no_way")
    assert spec.patterns == (({"LOWER": "no"}, {"LOWER": "way"}, {"LOWER": "on"}),)
    trackers = TrackerSet(config)
    hits = trackers.match(trackers.make_doc("no way on that"), False)
    assert [h.tracker.name for h in hits] == ["no_way"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            {"name": "bad_pattern", "category": "pricing", "prompt": "x",
             "patterns": [[{"LOWR": "price"}]]},
            r"tracker 'bad_pattern'.*pattern #1 is not a valid spaCy pattern.*LOWR",
        ),
        (
            {"name": "bad_side", "category": "pricing", "prompt": "x", "side": "buyer",
             "phrases": ["a"]},
            r"tracker 'bad_side'.*side 'buyer'",
        ),
        (
            {"name": "no_prompt", "category": "pricing", "phrases": ["a"]},
            r"tracker 'no_prompt'.*coaching prompt is required",
        ),
        (
            {"name": "bad_field", "category": "pricing", "prompt": "{price}", "phrases": ["a"]},
            r"tracker 'bad_field'.*unknown placeholder\(s\) \{price\}",
        ),
        (
            {"name": "empty", "category": "pricing", "prompt": "x"},
            r"tracker 'empty'.*at least one phrase or pattern",
        ),
        (
            {"name": "Bad Name", "category": "pricing", "prompt": "x", "phrases": ["a"]},
            r"tracker name 'Bad Name'",
        ),
    ],
)  # fmt: skip
def test_invalid_trackers_are_rejected_with_their_name(item, message):
    with pytest.raises(TrackerConfigError, match=message):
        tracker_from_dict(item, source="mine.yml")


def test_phrase_too_long_is_rejected_when_building():
    spec = custom_tracker(
        name="rambling",
        category="pricing",
        phrases=["one two three four five six seven eight nine ten eleven twelve thirteen"],
        side="any",
        prompt="x",
    )
    with pytest.raises(TrackerConfigError, match=r"tracker 'rambling'.*1 to 12 words"):
        TrackerSet(load_tracker_config().with_trackers([spec]))


def test_broken_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("trackers: [\n")
    with pytest.raises(TrackerConfigError, match=r"broken\.yml is not valid YAML"):
        load_tracker_config(extra_tracker_paths=[path])


def test_shipped_yaml_parses_with_plain_yaml_too():
    """The shipped files are plain YAML; only words like 'no' need our loader."""
    from importlib import resources

    text = resources.files("analytics.coaching").joinpath("data", "competitors.yml").read_text()
    names = [c["name"] for c in yaml.safe_load(text)["competitors"]]
    assert "CloudScale" in names
