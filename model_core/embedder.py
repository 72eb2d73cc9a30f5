"""Image bytes to embeddings: intake, then the backbone, in backbone-sized batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from model_core.intake import ImageError, IntakeLimits, prepare_image
from model_core.progress import Progress

if TYPE_CHECKING:  # importing the loader pulls in TensorFlow; callers hand us a built one
    from model_core.backbone.background import BackboneLoading
    from model_core.backbone.loader import Backbone


class ImageEmbedder:
    """Turns encoded images into (n, dim) float32 embeddings with one backbone."""

    def __init__(
        self, backbone: Backbone | BackboneLoading, limits: IntakeLimits = IntakeLimits()
    ) -> None:
        self.backbone = backbone
        self.limits = limits

    @property
    def input_size(self) -> int:
        return self.backbone.input_size

    def prepare(self, data: bytes) -> np.ndarray:
        """Decoded, resized and cropped to the backbone's input; raises ImageError."""
        return prepare_image(data, self.backbone.input_size, self.limits)

    def try_prepare(self, data: bytes) -> np.ndarray | ImageError:
        """The prepared image, or the ImageError that refused it: one bad upload in a batch
        spoils no other."""
        try:
            return self.prepare(data)
        except ImageError as error:
            return error

    def embed_prepared(self, arrays: Sequence[np.ndarray], progress: Progress | None = None):
        """Embeddings of prepared images, computed a backbone batch at a time."""
        parts = [np.zeros((0, self.backbone.embedding_dim), np.float32)]
        step = self.backbone.batch_size
        for start in range(0, len(arrays), step):
            batch = np.stack(arrays[start : start + step])
            parts.append(self.backbone.embed(batch))
            if progress is not None:
                progress(len(batch))
        return np.concatenate(parts).astype(np.float32)
