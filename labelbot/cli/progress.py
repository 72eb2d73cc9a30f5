"""Progress bars on stderr for the library's progress callbacks (`model_core.progress`)."""

from __future__ import annotations

import sys

from tqdm import tqdm

from model_core.progress import Progress

SMALL = 64  # fewer items than this finish too fast for a bar to help


def bar(what: str, total: int) -> Progress:
    """A tqdm bar that closes itself when the last item is reported."""
    shown = tqdm(total=total, desc=what, file=sys.stderr, disable=total < SMALL)

    def advance(done: int) -> None:
        shown.update(done)
        if shown.n >= total:
            shown.close()

    return advance
