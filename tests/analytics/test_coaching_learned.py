"""The learned layer beside the trackers: shipped as data, combined with the patterns."""

from __future__ import annotations

import pytest

from analytics.coaching import FIXED_CATEGORIES, TrackerSet, load_tracker_config
from analytics.coaching.learned import (
    ClassifierError,
    classifier_from_dict,
    feature_names,
    load_classifier,
)


def tiny(add_at=0.8, veto_below=None, weights=None) -> dict:
    return {
        "trained_on": "test",
        "categories": [
            {"category": "pricing", "bias": -3.0, "add_at": add_at, "veto_below": veto_below},
            {"category": "timeline", "bias": -3.0, "add_at": None, "veto_below": None},
        ],
        "trigger_lemmas": None,
        "weights": weights or {"zorbly": [6.0, 0.0], "~zorbly": [-2.0, 0.0]},
    }


def with_classifier(data: dict) -> TrackerSet:
    trackers = TrackerSet(load_tracker_config(), learned=False)
    trackers._add_classifier(classifier_from_dict(data))
    return trackers


def categories(trackers: TrackerSet, text: str, *, is_rep: bool | None = False) -> set[str]:
    return {h.tracker.category for h in trackers.match(trackers.make_doc(text), is_rep)}


def test_features_mark_negation_and_pair_words_within_a_clause():
    names = feature_names(
        ["we", "be", "not", "look", "at", "vendor", ",", "ok"],
        ["we", "are", "not", "looking", "at", "vendors", ",", "ok"],
        cues=["not"], breaks=[","], window=4,
    )  # fmt: skip
    assert "~look" in names and "~vendor" in names and "we" in names
    assert "look at" in names and "vendor ok" not in names and "ok" in names


def test_a_confident_classifier_adds_a_category_no_pattern_found():
    text = "Honestly it all feels a bit zorbly for a team like ours."
    assert "pricing" not in categories(TrackerSet(load_tracker_config(), learned=False), text)
    trackers = with_classifier(tiny())
    hits = trackers.match(trackers.make_doc(text), False)
    assert [(h.tracker.category, h.tracker.name, h.phrase) for h in hits] == [
        ("pricing", "learned:pricing", "zorbly")
    ]
    assert hits[0].tracker.prompt  # a learned flag carries its category's coaching prompt


def test_added_flags_keep_the_categorys_side_and_negation():
    trackers = with_classifier(tiny())
    assert "pricing" not in categories(trackers, "It feels a bit zorbly.", is_rep=True)
    assert "pricing" not in categories(trackers, "It is not zorbly at all.")


def test_a_confident_veto_drops_a_pattern_match():
    text = "The price is too high."
    assert "pricing" in categories(with_classifier(tiny(add_at=None)), text)
    veto = tiny(add_at=None, veto_below=0.5, weights={"price": [-9.0, 0.0]})
    assert "pricing" not in categories(with_classifier(veto), text)


def test_the_shipped_classifier_knows_every_fixed_category_and_stays_quiet_on_small_talk():
    classifier = load_classifier()
    assert set(classifier.categories) == set(FIXED_CATEGORIES)
    assert "annotated.yml" in classifier.trained_on
    trackers = TrackerSet(load_tracker_config())
    assert categories(trackers, "Thanks, that was really helpful.") == set()
    assert categories(trackers, "The weather in Denver has been great.") == set()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"weights": {}}, "expected an object"),
        ({"categories": [{"bias": 1}], "weights": {}}, "category entry"),
        ({"categories": [{"category": "pricing", "bias": 0}], "weights": {"x": [1, 2]}},
         "has 2 weights for 1 categories"),
    ],
)  # fmt: skip
def test_invalid_classifier_files_are_refused_with_the_reason(data, message):
    with pytest.raises(ClassifierError, match=message):
        classifier_from_dict(data)
