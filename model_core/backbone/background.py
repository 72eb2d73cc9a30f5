"""A backbone built on a thread of its own, so that start-up need not wait for TensorFlow.

Importing TensorFlow and loading the backbone take most of a restart (about 4.5 s of 6); votes,
undo and commands need none of it. `BackboneLoading` stands in for the `Backbone` while it is
built: what is known from its name alone (the input size, the batch size) is there at once,
and `embed` waits for the real one. Photos wait for it in the order they arrived.

The build starts on the first `start`: the bot calls it once it is up, not before, because
TensorFlow's import holds the interpreter's lock for long stretches (up to half a second) and
would slow everything the bot does to get up. This module imports no TensorFlow; the build
function given to it does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from model_core.backbone.loader import Backbone

log = logging.getLogger(__name__)


class BackboneLoading:
    """Quacks like a `Backbone` for `ImageEmbedder`; `loaded` is the real one, or what stopped
    it from being built."""

    def __init__(self, build: Callable[[], Backbone], input_size: int, batch_size: int = 32):
        self.input_size = input_size
        self.batch_size = batch_size
        self.loaded: Future[Backbone] = Future()
        self._builder = threading.Thread(
            target=self._build, args=(build,), name="backbone-loading", daemon=True
        )
        self._starting = threading.Lock()
        self._started = False

    def start(self) -> Future[Backbone]:
        """Starts building the backbone, unless that has begun; `loaded`, to wait on."""
        with self._starting:
            if not self._started:
                self._started = True
                self.loaded.set_running_or_notify_cancel()  # so nobody waiting cancels it
                self._builder.start()
        return self.loaded

    @property
    def embedding_dim(self) -> int:
        return self.start().result().embedding_dim

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Waits for the backbone (on the batcher's thread, never the event loop's)."""
        return self.start().result().embed(images)

    def _build(self, build: Callable[[], Backbone]) -> None:
        started = time.monotonic()
        try:
            backbone = build()
        except BaseException as error:  # handed to whoever waits; the thread ends here
            self.loaded.set_exception(error)
            return
        if backbone.input_size != self.input_size:  # the registry and the network disagree
            self.loaded.set_exception(
                RuntimeError(
                    f"backbone {backbone.name!r} takes {backbone.input_size} px, "
                    f"not the {self.input_size} px its name promised"
                )
            )
            return
        log.info("the backbone is ready after %.1f s: photos are read", time.monotonic() - started)
        self.loaded.set_result(backbone)
