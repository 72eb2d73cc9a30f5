"""Label names: normalised, validated, unique ignoring case; ids stable forever."""

from __future__ import annotations

import pytest

from model_core.labels import LabelError, LabelSet, normalize_label_name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Oat-Milk ", "Oat-Milk"),
        ("\uff21\uff50\uff50\uff4c\uff45", "Apple"),  # full-width letters
        ("red   wine", "red wine"),
        ("Café", "Café"),
    ],
)
def test_names_are_normalised(raw, expected):
    assert normalize_label_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 33, "at most 32"),
        ("<b>bold</b>", "cannot contain"),
        ("tab\there", None),  # a tab is white space: folded, not refused
        ("bell\x07", "cannot contain"),
        ("zero\u200bwidth", "cannot contain"),
        ("\u3164", "cannot contain"),  # a Hangul filler: prints as nothing
        ("sea\u3164", "cannot contain"),
        ("\u2800", "cannot contain"),  # the Braille blank
        ("`code`", "cannot contain"),
        ("---", "letter or digit"),
    ],
)
def test_bad_names_are_refused_with_a_reason(raw, message):
    if message is None:
        assert normalize_label_name(raw) == "tab here"
        return
    with pytest.raises(LabelError, match=message):
        normalize_label_name(raw)


def test_ids_are_stable_through_rename_and_retire():
    labels, apple = LabelSet().with_new("Apple")
    labels, pear = labels.with_new("Pear")
    labels = labels.renamed(apple.id, "Green apple").retired(pear.id)
    labels, _ = labels.with_new("Kiwi")
    assert [(x.id, x.name, x.retired) for x in labels] == [
        (0, "Green apple", False),
        (1, "Pear", True),
        (2, "Kiwi", False),
    ]
    assert LabelSet.from_json(labels.to_json()) == labels


def test_duplicates_are_refused_ignoring_case_and_retirement():
    labels, _ = LabelSet().with_new("Apple")
    labels, pear = labels.with_new("Pear")
    labels = labels.retired(pear.id)
    with pytest.raises(LabelError, match="already a label called 'Apple'"):
        labels.with_new("APPLE")
    with pytest.raises(LabelError, match=r"'Pear' \(retired\)"):
        labels.with_new("pear")
    with pytest.raises(LabelError, match="already retired"):
        labels.retired(pear.id)
    assert labels.renamed(0, "apple")[0].name == "apple"  # re-casing its own name is fine
