"""Account names kept between questions (:class:`store.crud.AccountNames`) match as the
store-reading functions do, and an exact name is found without scoring every name."""

from __future__ import annotations

import pytest

from store.crud import AccountNames

ANN, BOB = 1, 2
ROWS = [
    (1, "Acme Corporation", ANN),
    (2, "Acme Logistics", BOB),
    (3, "Globex", ANN),
    (4, "Acme Foods", ANN),
    (5, "Acme Food Service", ANN),
    (6, "Initech", None),
    (7, "Umbrella Clinic", ANN),
    (8, "Umbrella clinic!", BOB),
]
NAMES = AccountNames.of(ROWS)


def test_fuzzy_matches_come_visible_first_then_by_score():
    matches = NAMES.match("acme", visible_owner_ids={ANN})
    assert [m.visible for m in matches] == sorted((m.visible for m in matches), reverse=True)
    assert {m.name for m in matches if m.visible} == {
        "Acme Corporation",
        "Acme Foods",
        "Acme Food Service",
    }
    assert [m.name for m in matches if not m.visible] == ["Acme Logistics"]
    assert NAMES.match("zzzz", visible_owner_ids=None) == []
    assert NAMES.match("  ", visible_owner_ids=None) == []


@pytest.mark.parametrize(
    ("said", "visible", "expected"),
    [
        ("acme foods", {ANN}, 4),  # whole name, any case
        ("Globex?", {ANN}, 3),  # punctuation is ignored as in the fuzzy match
        ("Globex", {BOB}, None),  # not in Bob's book
        ("Umbrella Clinic", {ANN}, 7),  # the other "umbrella clinic" is Bob's
        ("Umbrella Clinic", None, None),  # an admin sees two: ask which
        ("Acme", None, None),  # not a whole name
        ("Initech", {ANN}, None),  # nobody's account is nobody's book
        ("Initech", None, 6),
    ],
)
def test_exact_name_is_the_match_the_fuzzy_ranking_puts_first(said, visible, expected):
    exact = NAMES.exactly_named(said, visible_owner_ids=visible)
    assert (exact.account_id if exact else None) == expected
    if exact is not None:
        first = NAMES.match(said, visible_owner_ids=visible)[0]
        assert (first.account_id, first.score, first.visible) == (expected, 100.0, True)


def test_names_found_in_a_message_longest_first_within_the_book():
    positions = NAMES.named_in(
        "how are Acme Food Service and globex doing?", visible_owner_ids={ANN}
    )
    assert [NAMES.names[i] for i in positions] == ["Acme Food Service", "Globex"]
    assert NAMES.named_in("how is globex doing?", visible_owner_ids={BOB}) == []
    assert NAMES.named_in("?!", visible_owner_ids=None) == []


def test_legal_suffixes_and_generic_words_never_carry_a_match():
    names = AccountNames.of(
        [
            (1, "Globex Corporation", ANN),
            (2, "Dogwood Mart", ANN),
            (3, "Heartland Mart", BOB),
            (4, "Initrode Group Inc", ANN),
        ]
    )
    assert names.match("Acme Corporation", visible_owner_ids={ANN}) == []
    assert names.match("Acme Corp.", visible_owner_ids={ANN}) == []
    assert names.match("Acme Group Inc", visible_owner_ids={ANN}) == []
    # the rep said another mart: nothing in their book is it
    assert [m.name for m in names.match("Heartland Mart", visible_owner_ids={ANN})] == [
        "Heartland Mart"
    ]
    assert not names.match("Heartland Mart", visible_owner_ids={ANN})[0].visible
    # a generic word alone names nobody
    assert names.match("Mart", visible_owner_ids={ANN}) == []
    assert names.match("corporation", visible_owner_ids=None) == []
    # distinctive words still match through typos and suffixes
    assert names.match("globex corp", visible_owner_ids={ANN})[0].name == "Globex Corporation"
    assert names.match("Globx", visible_owner_ids={ANN})[0].name == "Globex Corporation"
    assert names.match("dogwood", visible_owner_ids={ANN})[0].name == "Dogwood Mart"


def test_words_common_in_the_store_do_not_carry_a_match():
    rows = [(i, f"Town{i:03d} Bakery", ANN) for i in range(1, 40)] + [(99, "Zephyr Mills", ANN)]
    names = AccountNames.of(rows)
    assert "bakery" in names.common
    assert names.match("Quince Bakery", visible_owner_ids={ANN}) == []
    assert names.match("zephyr", visible_owner_ids={ANN})[0].name == "Zephyr Mills"
