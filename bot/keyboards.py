"""Inline keyboards and the compact callback data behind their buttons.

Callback data is `<action>:<id>[:<arg>]`, ASCII and far below Telegram's 64-byte limit. It is
parsed strictly: anything else, forged or from an old version of the bot, is refused. The id
names a sample (bound to the message it was sent with, checked by the handler), a proposal or a
model version; the arg a label id or a page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

VOTE, SKIP, OTHER, BACK, NEW, UNDO = "v", "s", "o", "b", "n", "u"
APPROVE, REJECT = "pa", "pr"
ROLLBACK, ROLLBACK_CONFIRM, ROLLBACK_CANCEL = "rb", "rc", "rx"
_TAP = re.compile(r"^(v|s|o|b|n|u|pa|pr|rb|rc|rx):(\d{1,12})(?::(\d{1,6}))?$")
PAGE_SIZE = 8


@dataclass(frozen=True)
class Tap:
    action: str
    id: int
    arg: int | None = None

    def data(self) -> str:
        return f"{self.action}:{self.id}" + ("" if self.arg is None else f":{self.arg}")


def parse_tap(data: str | None) -> Tap | None:
    match = _TAP.match(data or "")
    if match is None:
        return None
    action, ident, arg = match.groups()
    return Tap(action, int(ident), None if arg is None else int(arg))


def _button(text: str, tap: Tap) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=tap.data())


def guesses(sample_id: int, top: Sequence[tuple[int, str, float]], has_labels: bool):
    """Confirm the top guess, the next guesses, the full list, a new label, skip."""
    rows = []
    for rank, (label_id, name, probability) in enumerate(top):
        mark = "✅ " if rank == 0 else ""
        rows.append([_button(f"{mark}{name} {probability:.0%}", Tap(VOTE, sample_id, label_id))])
    if has_labels:
        rows.append([_button("Other…", Tap(OTHER, sample_id, 0))])
    rows.append(
        [_button("➕ New label", Tap(NEW, sample_id)), _button("Skip", Tap(SKIP, sample_id))]
    )
    return InlineKeyboardMarkup(rows)


def label_page(sample_id: int, labels: Sequence[tuple[int, str]], page: int):
    """Every active label as a button, PAGE_SIZE a page, with « Back and Next »."""
    pages = max(1, -(-len(labels) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = labels[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    rows = [[_button(name, Tap(VOTE, sample_id, label_id))] for label_id, name in shown]
    navigation = [_button("« Back", Tap(BACK, sample_id))]
    if page > 0:
        navigation.append(_button("‹ Previous", Tap(OTHER, sample_id, page - 1)))
    if page + 1 < pages:
        navigation.append(_button("Next »", Tap(OTHER, sample_id, page + 1)))
    rows.append(navigation)
    return InlineKeyboardMarkup(rows)


def undo(sample_id: int, label: str = "↩️ Undo") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_button(label, Tap(UNDO, sample_id))]])


def with_undo(keyboard: InlineKeyboardMarkup, sample_id: int) -> InlineKeyboardMarkup:
    """A group's voting keyboard stays for the others; each voter may take theirs back."""
    rows = [list(row) for row in keyboard.inline_keyboard]
    rows.append([_button("↩️ Undo my vote", Tap(UNDO, sample_id))])
    return InlineKeyboardMarkup(rows)


def proposal(proposal_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[_button("✅ Approve", Tap(APPROVE, proposal_id)),
          _button("✖️ Reject", Tap(REJECT, proposal_id))]]
    )  # fmt: skip


def rollback_choices(versions: Sequence[int]) -> InlineKeyboardMarkup:
    rows = [[_button(f"Roll back to version {v}", Tap(ROLLBACK, v))] for v in versions]
    return InlineKeyboardMarkup(rows)


def rollback_confirm(version: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[_button(f"Yes, restore version {version}", Tap(ROLLBACK_CONFIRM, version)),
          _button("Cancel", Tap(ROLLBACK_CANCEL, version))]]
    )  # fmt: skip
