"""What a new label may not be called, beyond what makes a name valid (`model_core.labels`):
anything a person could take for something else in the chat.

- another label: names whose Unicode TR39 skeletons agree (`sea` spelt with Cyrillic
  letters beside the Latin one, `coIa` beside `cola`), from the confusables table that
  `confusable_homoglyphs` ships;
- the bot's own buttons (`Skip`, `Other…`, `New label`, `Undo`, …) or a guess with its
  percentage (`sea 99%`);
- a command or a mention (`/retirelabel`, `@ada_admin`), or a link.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from bot import texts
from model_core.labels import LabelSet

_PERCENTAGE = re.compile(r"\d\s*%\s*$")
_LINK = re.compile(
    r"://|^www\.|\bt\.me/|\.(com|net|org|io|me|ru|info|xyz|app|dev|ly|gg|co|uk|de)\b", re.I
)
_BUTTON_WORDS = (
    texts.BUTTON_OTHER, texts.BUTTON_SKIP, texts.BUTTON_NEW_LABEL, texts.BUTTON_BACK,
    texts.BUTTON_PREVIOUS, texts.BUTTON_NEXT, texts.BUTTON_UNDO, texts.BUTTON_UNDO_MINE,
    texts.BUTTON_LABEL_ANOTHER, texts.BUTTON_APPROVE, texts.BUTTON_REJECT, texts.BUTTON_CANCEL,
)  # fmt: skip


def check_new_name(name: str, labels: LabelSet) -> None:
    """Raises DeskError when `name` (already normalised) could pass for something else."""
    if name[0] in "/@":
        raise texts.refused("name_looks_like_command")
    if _LINK.search(name):
        raise texts.refused("name_looks_like_link")
    if _PERCENTAGE.search(name) or _words(name) in _button_words():
        raise texts.refused("name_looks_like_button")
    twin = next((x for x in labels if skeleton(x.name) == skeleton(name)), None)
    if twin is not None:
        raise texts.refused("name_looks_like", existing=twin.name)


def skeleton(name: str) -> str:
    """Two names with the same skeleton look alike: each character replaced by the one that
    stands for all it can be confused with, case folded (after Unicode TR39)."""
    table = _prototypes()
    decomposed = unicodedata.normalize("NFD", name.casefold())
    return unicodedata.normalize("NFD", "".join(table.get(c, c) for c in decomposed))


def _words(text: str) -> str:
    """Letters and digits only, lower case: what is left of a button once its emoji go."""
    return " ".join("".join(c if c.isalnum() else " " for c in text.casefold()).split())


@functools.cache
def _button_words() -> frozenset[str]:
    return frozenset(_words(word) for word in _BUTTON_WORDS)


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each confusable character's class representative: the smallest code point of the class
    (the ASCII letter or digit when there is one), classes joined transitively."""
    from confusable_homoglyphs.confusables import confusables_data

    parent: dict[str, str] = {}

    def root(c: str) -> str:
        while parent.get(c, c) != c:
            parent[c] = parent.get(parent[c], parent[c])
            c = parent[c]
        return c

    for source, homoglyphs in confusables_data.items():
        for glyph in homoglyphs:
            target = glyph["c"].strip("\u200e\u200f")
            if len(source) == 1 and len(target) == 1:
                a, b = root(source), root(target)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {c: root(c) for c in parent}
