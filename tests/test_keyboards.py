"""Buttons and their callback data: compact, parsed strictly, paged."""

from __future__ import annotations

import pytest

from bot import keyboards
from bot.keyboards import Action, Tap, parse_tap
from model_core.labels import Label
from model_core.model import Guess


def test_every_button_round_trips_and_fits_telegrams_64_bytes():
    biggest = Tap(Action.ROLLBACK_CONFIRM, 10**12 - 1, 10**6 - 1)
    assert parse_tap(biggest.data()) == biggest and len(biggest.data().encode()) <= 64
    for action in Action:
        assert parse_tap(Tap(action, 7, 3).data()) == Tap(action, 7, 3)


@pytest.mark.parametrize(
    "forged",
    [None, "", "v", "v:", "v:x", "zz:1", "v:1:2:3", "v:-1", "v:1 ", " v:1", "v:1:", "🙂:1",
     "v:" + "9" * 13, "pa:1:" + "9" * 7, "v:\u0661\u0664:\u0660", "v:\uff11\uff14", "v:1:\u00b2"],
)  # fmt: skip
def test_anything_else_is_refused(forged):
    assert parse_tap(forged) is None


def test_guesses_keyboard_confirms_the_top_guess_and_offers_the_rest():
    markup = keyboards.guesses(5, [Guess(2, "Oat-Milk", 0.62), Guess(0, "Milk", 0.3)], True)
    rows = [[b.text for b in row] for row in markup.inline_keyboard]
    assert rows == [["✅ Oat-Milk 62%"], ["Milk 30%"], ["Other…"], ["➕ New label", "Skip"]]
    assert markup.inline_keyboard[0][0].callback_data == "v:5:2"


def test_label_pages_hold_eight_labels_and_navigate():
    labels = [Label(i, f"label {i:02d}") for i in range(19)]
    first = keyboards.label_page(9, labels, 0).inline_keyboard
    last = keyboards.label_page(9, labels, 99).inline_keyboard  # clamped to the last page
    assert len(first) == 9 and [b.text for b in first[-1]] == ["« Back", "Next »"]
    assert [b.text for b in last[-1]] == ["« Back", "‹ Previous"]
    assert [row[0].text for row in last[:-1]] == ["label 16", "label 17", "label 18"]
