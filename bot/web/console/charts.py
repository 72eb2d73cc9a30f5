"""Charts drawn as inline SVG by the templates: no image request, no chart library in the
page, crisp on a phone. Each helper returns the geometry; the template draws it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.desk.views import TimeBin

WIDTH, HEIGHT = 600, 160  # the SVG's view box; it scales to the page


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    votes_height: float
    right_height: float
    votes: int
    right: int


def bar_chart(timeline: list[TimeBin]) -> list[Bar]:
    """A bar per stretch of time: its votes, and inside it those the first guess got."""
    if not timeline:
        return []
    most = max(b.votes for b in timeline) or 1
    width = WIDTH / len(timeline)
    return [
        Bar(n * width + 1, width - 2, HEIGHT * b.votes / most, HEIGHT * b.right / most,
            b.votes, b.right)
        for n, b in enumerate(timeline)
    ]  # fmt: skip


def confusion_shades(matrix: list[list[int]]) -> list[list[float]]:
    """Each cell's share of its row (the votes for that label), for the cell's shade."""
    return [[count / (sum(row) or 1) for count in row] for row in matrix]
