"""Image bytes to embeddings: intake, then the backbone, in batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model_core.backbone.loader import Backbone
from model_core.intake import IntakeLimits, prepare_image


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
