"""The exported network computes exactly what the learner's read-out does, for every kind of
read-out: a bias feature (analytic), a random projection (analytic, RanPAC-style), none (cgan),
retired labels and labels without examples."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model_core.backbone.loader import Backbone
from model_core.export import ExportError, build_network
from model_core.model import LabelModel

pytestmark = pytest.mark.slow
SIZE, DIM = 16, 32


@pytest.fixture(scope="module")
def tiny_backbone() -> Backbone:
    """A small real Keras network in the backbone's place: pixels in, DIM features out."""
    pixels = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(pixels)
    x = keras.layers.Conv2D(DIM, 3, activation="relu", kernel_initializer="he_normal")(x)
    return Backbone("tiny", keras.Model(pixels, keras.layers.GlobalAveragePooling2D()(x)))


def taught(learner: str, backbone: Backbone, images: np.ndarray, **params) -> LabelModel:
    model = LabelModel.new(learner, **params)
    for name in ("a", "b", "c", "retired", "empty"):
        model.add_label(name)
    for n, embedding in enumerate(backbone.embed(images[:24])):
        model.reinforce(embedding, n % 4)
    model.retire_label(3)
    return model


@pytest.mark.parametrize(
    ("learner", "params"),
    [
        ("analytic", {}),
        ("analytic", {"few_shot_share": 10.0}),  # the class-mean read-out (and its bias) leads
        ("analytic", {"projection_dim": 64}),
        ("cgan", {}),
    ],
)
def test_the_network_matches_the_read_out(tiny_backbone, learner, params):
    images = np.random.default_rng(0).integers(0, 256, (40, SIZE, SIZE, 3), np.uint8)
    snapshot = taught(learner, tiny_backbone, images, **params).snapshot()
    network = build_network(tiny_backbone, snapshot)
    got = network.predict(images[24:].astype(np.float32), verbose=0)
    want = snapshot.predictor.predict_proba(tiny_backbone.embed(images[24:]))
    assert np.abs(got - want).max() < 1e-4  # float32 in the network, float64 in the read-out
    assert (got[:, 3:] == 0).all()  # retired and never taught: exactly zero


def test_a_model_without_examples_is_not_exported(tiny_backbone):
    model = LabelModel.new("analytic")
    model.add_label("a")
    with pytest.raises(ExportError, match="no label with an example"):
        build_network(tiny_backbone, model.snapshot())
