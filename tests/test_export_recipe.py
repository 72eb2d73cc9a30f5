"""The export docs' `pixels()` recipe (docs/export.md) gives the very pixels labelbot feeds its
backbone, so an exported model run by the recipe answers as `labelbot predict` does. Real
photos from scikit-image, saved smaller and larger than the backbone's 224 pixels."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import encode

from model_core.intake import prepare_image

ROOT = Path(__file__).parents[1]


def documented_pixels():
    """The recipe, run as a reader would paste it."""
    page = (ROOT / "docs" / "export.md").read_text()
    block = re.search(r"<!-- recipe:start -->\n```python\n(.*?)```", page, re.S).group(1)
    namespace: dict = {}
    exec(block, namespace)
    return namespace["pixels"]


SIZES = [(150, ".jpg"), (224, ".jpg"), (500, ".jpg"), (1000, ".jpg"), (150, ".png"), (700, ".png")]


@pytest.mark.parametrize(("shorter", "ext"), SIZES)
def test_the_recipe_gives_labelbots_pixels(photos, tmp_path, shorter, ext):
    pixels = documented_pixels()
    for name, photo in photos.items():
        h, w = photo.shape[:2]
        scale = shorter / min(h, w)
        resized = cv2.resize(photo, (round(w * scale), round(h * scale)))
        path = tmp_path / f"{name}{ext}"
        path.write_bytes(encode(resized, ext))
        ours = prepare_image(path.read_bytes(), 224).astype(np.float32)
        assert np.array_equal(pixels(str(path)), ours), (name, shorter, ext)
