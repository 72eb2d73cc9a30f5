"""Shared fixtures: real photos from scikit-image and the real backbone, built once per run."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np
import pytest
from skimage import data


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Real colour photos (RGB uint8) that scikit-image ships, no download needed."""
    return {"coffee": data.coffee(), "chelsea": data.chelsea(), "astronaut": data.astronaut()}


def encode(image_rgb: np.ndarray, ext: str = ".jpg", params: list[int] | None = None) -> bytes:
    """Encodes an RGB (or grey, or RGBA) array the way a camera or an editor would save it."""
    if image_rgb.ndim == 3 and image_rgb.shape[2] == 3:
        image = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    elif image_rgb.ndim == 3 and image_rgb.shape[2] == 4:
        image = cv2.cvtColor(image_rgb, cv2.COLOR_RGBA2BGRA)
    else:
        image = image_rgb
    ok, buffer = cv2.imencode(ext, image, params or [])
    assert ok
    return buffer.tobytes()


@pytest.fixture(scope="session")
def backbone_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("backbones")


@pytest.fixture(scope="session")
def backbone(backbone_cache):
    from model_core.backbone.loader import load_backbone

    return load_backbone("efficientnet_lite0", backbone_cache)


@pytest.fixture(scope="session")
def fashion(backbone):
    """Real Fashion-MNIST product photos through the real backbone: 30 train, 10 test a label."""
    from model_core.datasets import grey_to_rgb, load_fashion_mnist

    train_images, train_labels = load_fashion_mnist("train", per_class=30, seed=0)
    test_images, test_labels = load_fashion_mnist("test", per_class=10, seed=0)
    return (
        backbone.embed(grey_to_rgb(train_images, backbone.input_size)),
        train_labels,
        backbone.embed(grey_to_rgb(test_images, backbone.input_size)),
        test_labels,
    )


@pytest.fixture
def fake():
    """The fake Telegram Bot API on 127.0.0.1, fresh for each test."""
    from bot.fake_telegram import FakeTelegram

    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture
def bot(fake, tmp_path, backbone):
    """The real bot polling the fake API, with an empty data dir."""
    from bot_harness import start_bot

    running = start_bot(fake, tmp_path / "data", backbone)
    yield running
    running.stop()
