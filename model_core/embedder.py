"""Image bytes to embeddings: intake, then the backbone, in batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from model_core.intake import IntakeLimits, prepare_image

if TYPE_CHECKING:  # importing the loader pulls in TensorFlow; callers hand us a built one
    from model_core.backbone.loader import Backbone


class ImageEmbedder:
    """Callable: a list of encoded images -> (n, dim) float32; raises ImageError on a bad one."""

    def __init__(self, backbone: Backbone, limits: IntakeLimits = IntakeLimits()) -> None:
        self.backbone = backbone
        self.limits = limits

    def __call__(self, images: Sequence[bytes]) -> np.ndarray:
        size = self.backbone.input_size
        prepared = [prepare_image(data, size, self.limits) for data in images]
        if not prepared:
            return np.zeros((0, self.backbone.embedding_dim), np.float32)
        return self.backbone.embed(np.stack(prepared))


def embed_prepared(backbone: Backbone, arrays: Sequence[np.ndarray], desc: str = "embedding"):
    """Embeds prepared images in backbone-sized batches, with a progress bar for long runs."""
    progress = tqdm(total=len(arrays), desc=desc, unit="image", disable=len(arrays) < 64)
    parts = [np.zeros((0, backbone.embedding_dim), np.float32)]
    for start in range(0, len(arrays), backbone.batch_size):
        batch = np.stack(arrays[start : start + backbone.batch_size])
        parts.append(backbone.embed(batch))
        progress.update(len(batch))
    progress.close()
    return np.concatenate(parts).astype(np.float32)
