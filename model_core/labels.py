"""Label names and ids. Ids are stable forever: renaming keeps the id, retiring keeps the unit
(masked), and an id is never reused, so every stored vote keeps meaning what it meant."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace

MAX_LABEL_LENGTH = 32
# Characters that would let a name smuggle markup into a message or a log line.
_FORBIDDEN_CHARACTERS = set("<>`\\")
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# Letters that print as nothing (Hangul fillers, the Braille blank, Khmer inherent vowels, the
# Mongolian vowel separator): a name made of them looks empty, or like another with a space.
_BLANK_LETTERS = set("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5\u180e")


class LabelError(ValueError):
    """A label name or id that cannot be used; the message can be shown to a person."""


@dataclass(frozen=True)
class Label:
    id: int
    name: str
    retired: bool = False


def normalize_label_name(raw: str) -> str:
    """Returns the canonical form of a proposed name, or raises LabelError saying what is wrong.

    NFKC folds look-alike forms (full-width letters, ligatures) so that two names that look the
    same are the same; runs of white space become one space.
    """
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not name:
        raise LabelError("A label name cannot be empty.")
    if len(name) > MAX_LABEL_LENGTH:
        raise LabelError(
            f"A label name can have at most {MAX_LABEL_LENGTH} characters; this one has "
            f"{len(name)}."
        )
    bad = sorted(
        {c for c in name if c in _FORBIDDEN_CHARACTERS or c in _BLANK_LETTERS}
        | {c for c in name if unicodedata.category(c) in _FORBIDDEN_CATEGORIES}
    )
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise LabelError(f"A label name cannot contain {shown}.")
    if not any(c.isalnum() for c in name):
        raise LabelError("A label name needs at least one letter or digit.")
    return name


@dataclass(frozen=True)
class LabelSet:
    """An immutable list of labels, indexed by id (the learner's output unit)."""

    labels: tuple[Label, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self):
        return iter(self.labels)

    def __getitem__(self, label_id: int) -> Label:
        if not 0 <= label_id < len(self.labels):
            raise LabelError(f"There is no label with id {label_id}.")
        return self.labels[label_id]

    @property
    def active(self) -> tuple[Label, ...]:
        return tuple(label for label in self.labels if not label.retired)

    def find(self, name: str) -> Label | None:
        """The label with this name, ignoring case and Unicode form, retired ones included."""
        key = normalize_label_name(name).casefold()
        return next((label for label in self.labels if label.name.casefold() == key), None)

    def get(self, name: str) -> Label:
        label = self.find(name)
        if label is None:
            raise LabelError(f"There is no label called {normalize_label_name(name)!r}.")
        return label

    def with_new(self, name: str) -> tuple[LabelSet, Label]:
        name = self._unused_name(name)
        label = Label(len(self.labels), name)
        return LabelSet((*self.labels, label)), label

    def renamed(self, label_id: int, new_name: str) -> LabelSet:
        old = self[label_id]
        name = self._unused_name(new_name, allow=old)
        return self._replaced(replace(old, name=name))

    def retired(self, label_id: int) -> LabelSet:
        label = self[label_id]
        if label.retired:
            raise LabelError(f"The label {label.name!r} is already retired.")
        return self._replaced(replace(label, retired=True))

    def to_json(self) -> list[dict]:
        return [{"id": x.id, "name": x.name, "retired": x.retired} for x in self.labels]

    @classmethod
    def from_json(cls, items: list[dict]) -> LabelSet:
        labels = tuple(Label(int(x["id"]), str(x["name"]), bool(x["retired"])) for x in items)
        if [label.id for label in labels] != list(range(len(labels))):
            raise ValueError("label ids must be 0, 1, 2, ... in order")
        return cls(labels)

    def _unused_name(self, raw: str, allow: Label | None = None) -> str:
        name = normalize_label_name(raw)
        clash = self.find(name)
        if clash is not None and clash != allow:
            state = " (retired)" if clash.retired else ""
            raise LabelError(f"There is already a label called {clash.name!r}{state}.")
        return name

    def _replaced(self, label: Label) -> LabelSet:
        labels = list(self.labels)
        labels[label.id] = label
        return LabelSet(tuple(labels))
