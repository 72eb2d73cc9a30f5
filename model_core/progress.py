"""Progress of long work, reported through callbacks so that library code draws nothing.

The command line turns these callbacks into progress bars; scripts and tests pass nothing.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int], None]
"""Called with how many more items are done."""

ProgressFactory = Callable[[str, int], Progress]
"""Called once per long task with what it does and how many items it has."""


def no_progress(what: str, total: int) -> Progress:
    """The default factory: reports nowhere."""
    return lambda done: None
