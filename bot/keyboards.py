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
from enum import StrEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from bot import texts
from model_core.labels import Label
from model_core.model import Guess


class Action(StrEnum):
    VOTE = "v"
    SKIP = "s"
    OTHER = "o"
    BACK = "b"
    NEW = "n"
    UNDO = "u"
    APPROVE = "pa"
    REJECT = "pr"
    ROLLBACK = "rb"
    ROLLBACK_CONFIRM = "rc"
    ROLLBACK_CANCEL = "rx"
    NEXT = "nx"  # "Label another": the review queue's next photo (id 0)


_TAP = re.compile(
    rf"^({'|'.join(Action)}):([0-9]{{1,12}})(?::([0-9]{{1,6}}))?$"
)  # ASCII digits only: `\d` would also take Arabic-Indic, full-width and other digits
PAGE_SIZE = 8


@dataclass(frozen=True)
class Tap:
    action: Action
    id: int
    arg: int | None = None

    def data(self) -> str:
        return f"{self.action}:{self.id}" + ("" if self.arg is None else f":{self.arg}")


def parse_tap(data: str | None) -> Tap | None:
    match = _TAP.match(data or "")
    if match is None:
        return None
    action, ident, arg = match.groups()
    return Tap(Action(action), int(ident), None if arg is None else int(arg))


def _button(text: str, tap: Tap) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=tap.data())


def guesses(
    sample_id: int, top: Sequence[Guess], has_labels: bool, proposals: bool = True
) -> InlineKeyboardMarkup:
    """Confirm the top guess, the next guesses, the full list, a new label, skip. A photo
    re-sent for review offers no new label: a proposal belongs in the photo's own chat."""
    rows = []
    for rank, guess in enumerate(top):
        text = texts.guess_button(guess.name, guess.probability, top=rank == 0)
        rows.append([_button(text, Tap(Action.VOTE, sample_id, guess.label_id))])
    if has_labels:
        rows.append([_button(texts.BUTTON_OTHER, Tap(Action.OTHER, sample_id, 0))])
    last = [_button(texts.BUTTON_SKIP, Tap(Action.SKIP, sample_id))]
    if proposals:
        last.insert(0, _button(texts.BUTTON_NEW_LABEL, Tap(Action.NEW, sample_id)))
    rows.append(last)
    return InlineKeyboardMarkup(rows)


def label_page(sample_id: int, labels: Sequence[Label], page: int) -> InlineKeyboardMarkup:
    """Every active label as a button, PAGE_SIZE a page, with « Back and Next »."""
    pages = max(1, -(-len(labels) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = labels[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    rows = [[_button(label.name, Tap(Action.VOTE, sample_id, label.id))] for label in shown]
    navigation = [_button(texts.BUTTON_BACK, Tap(Action.BACK, sample_id))]
    if page > 0:
        navigation.append(_button(texts.BUTTON_PREVIOUS, Tap(Action.OTHER, sample_id, page - 1)))
    if page + 1 < pages:
        navigation.append(_button(texts.BUTTON_NEXT, Tap(Action.OTHER, sample_id, page + 1)))
    rows.append(navigation)
    return InlineKeyboardMarkup(rows)


def undo(sample_id: int, label: str = texts.BUTTON_UNDO) -> InlineKeyboardMarkup:
    """After a vote: take it back, or go on to the review queue's next photo."""
    return InlineKeyboardMarkup(
        [
            [
                _button(label, Tap(Action.UNDO, sample_id)),
                _button(texts.BUTTON_LABEL_ANOTHER, Tap(Action.NEXT, 0)),
            ]
        ]
    )


def with_undo(keyboard: InlineKeyboardMarkup, sample_id: int) -> InlineKeyboardMarkup:
    """A group's voting keyboard stays for the others; each voter may take theirs back."""
    rows = [list(row) for row in keyboard.inline_keyboard]
    rows.append(
        [
            _button(texts.BUTTON_UNDO_MINE, Tap(Action.UNDO, sample_id)),
            _button(texts.BUTTON_LABEL_ANOTHER, Tap(Action.NEXT, 0)),
        ]
    )
    return InlineKeyboardMarkup(rows)


def proposal(proposal_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[_button(texts.BUTTON_APPROVE, Tap(Action.APPROVE, proposal_id)),
          _button(texts.BUTTON_REJECT, Tap(Action.REJECT, proposal_id))]]
    )  # fmt: skip


def rollback_choices(versions: Sequence[int]) -> InlineKeyboardMarkup:
    rows = [[_button(texts.button_roll_back(v), Tap(Action.ROLLBACK, v))] for v in versions]
    return InlineKeyboardMarkup(rows)


def rollback_confirm(version: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[_button(texts.button_restore(version), Tap(Action.ROLLBACK_CONFIRM, version)),
          _button(texts.BUTTON_CANCEL, Tap(Action.ROLLBACK_CANCEL, version))]]
    )  # fmt: skip


def open_console(url: str, login_url: str | None = None) -> InlineKeyboardMarkup:
    """The console as a Mini App (private chats only: Telegram's rule), and with `login_url`
    the same in a browser."""
    return InlineKeyboardMarkup([console_row(url, login_url)])


def console_row(url: str, login_url: str | None = None) -> list[InlineKeyboardButton]:
    row = [InlineKeyboardButton(texts.OPEN_CONSOLE, web_app=WebAppInfo(url))]
    if login_url is not None:
        row.append(InlineKeyboardButton(texts.OPEN_IN_BROWSER, url=login_url))
    return row
