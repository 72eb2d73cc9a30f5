"""What the desk needs from the model and from the journal, as typed seams.

One process hands the desk a `model_core.service.ModelService` and a `bot.journal.Journal`; a
replica hands it a `bot.heads.FollowedModel` (the trainer's published model) and a
`bot.journal.RemoteJournal`. Both pairs satisfy these protocols, which mypy checks in the test
command, so neither side can drift from what the desk calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from bot.journal import Stall
from model_core.intake import ImageError, IntakeLimits
from model_core.model import Guess, ModelSnapshot
from model_core.service import Reading


class ModelPort(Protocol):
    """The model as the desk reads it: guesses from an immutable snapshot, versions kept."""

    @property
    def snapshot(self) -> ModelSnapshot: ...

    @property
    def intake_limits(self) -> IntakeLimits: ...

    @property
    def input_size(self) -> int: ...

    @property
    def last_event_id(self) -> int: ...

    async def ready(self) -> None: ...

    async def read_images(
        self, images: Sequence[bytes], top_k: int = 3
    ) -> list[Reading | ImageError]: ...

    async def predict(self, embeddings: np.ndarray, top_k: int = 3) -> list[list[Guess]]: ...

    def versions(self) -> list[int]: ...

    async def checkpoint(self) -> int: ...

    async def close(self) -> None: ...


class JournalPort(Protocol):
    """Applies committed events to the model in id order (see `bot.journal`)."""

    @property
    def stall(self) -> Stall | None: ...

    async def catch_up(self) -> int: ...

    async def apply(self, event_id: int) -> Any: ...
