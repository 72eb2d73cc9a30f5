"""The learners the benchmark compares ours with, behind the same interface.

- `SeedLearner`: the seed article's method on the same embeddings: a softmax head, every new
  sample trained with `max_iter` optimizer steps on that one sample, no training when the
  model already guessed right; its head expansion done correctly (old weights kept).
- `NCMLearner`: nearest class mean on L2-normalised embeddings, the usual exemplar-free
  baseline.
- `fit_joint_logistic`: the offline upper bound, a softmax regression trained on all data seen.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from model_core.learners.base import FeatureMap, IncrementalLearner
from model_core.learners.keras_parts import build_head, carry_over_weights


class SeedLearner(IncrementalLearner):
    """The seed article's single-sample reinforcement, reproduced faithfully."""

    name = "seed"

    def __init__(self, *, max_iter: int = 200, learning_rate: float = 1e-3) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate

    def get_config(self) -> dict[str, Any]:
        return {"max_iter": self.max_iter, "learning_rate": self.learning_rate}

    def _initialize(self, n_features: int) -> None:
        self.n_features_ = n_features
        self.head_ = build_head(n_features, self.n_classes_)
        self._trace()

    def _grow(self, n: int) -> None:
        self.head_ = carry_over_weights(self.head_, build_head(self.n_features_, self.n_classes_))
        self._trace()

    def _trace(self) -> None:
        head, steps = self.head_, self.max_iter
        optimizer = keras.optimizers.Adam(self.learning_rate)

        @tf.function
        def train(x, label):
            for _ in tf.range(steps):
                with tf.GradientTape() as tape:
                    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(label, head(x))
                grads = tape.gradient(loss, head.trainable_variables)
                optimizer.apply_gradients(zip(grads, head.trainable_variables, strict=True))

        self._train = train

    def _learn_one(self, x: np.ndarray, label: int, weight: float) -> None:
        if self.counts_.any() and self.predict(x[None])[0] == label:
            return  # the seed never trains on a confirmed guess
        self._train(tf.constant(x[None], tf.float32), tf.constant([label]))

    def _features(self) -> FeatureMap:
        return FeatureMap()

    def _linear(self) -> tuple[np.ndarray, np.ndarray]:
        kernel, bias = self.head_.get_layer("logits").get_weights()
        return kernel, bias

    def _get_learned_state(self) -> dict[str, np.ndarray]:
        kernel, bias = self._linear()
        return {"kernel": kernel, "bias": bias}

    def _set_learned_state(self, state: dict[str, np.ndarray]) -> None:
        self._initialize(self.n_features_)
        self.head_.get_layer("logits").set_weights([state["kernel"], state["bias"]])


class NCMLearner(IncrementalLearner):
    """Nearest class mean by cosine similarity."""

    name = "ncm"

    def __init__(self, *, temperature: float = 0.05) -> None:
        self.temperature = temperature

    def get_config(self) -> dict[str, Any]:
        return {"temperature": self.temperature}

    def _initialize(self, n_features: int) -> None:
        self.n_features_ = n_features
        self.sums_ = np.zeros((n_features, self.n_classes_))

    def _grow(self, n: int) -> None:
        self.sums_ = np.hstack([self.sums_, np.zeros((self.n_features_, n))])

    def _learn_one(self, x: np.ndarray, label: int, weight: float) -> None:
        self.sums_[:, label] += weight * FeatureMap()(x[None])[0]

    def _features(self) -> FeatureMap:
        return FeatureMap()

    def _temperature(self) -> float:
        return self.temperature

    def _linear(self) -> tuple[np.ndarray, np.ndarray]:
        norms = np.maximum(np.linalg.norm(self.sums_, axis=0), 1e-12)
        return self.sums_ / norms, np.zeros(self.n_classes_)

    def _get_learned_state(self) -> dict[str, np.ndarray]:
        return {"sums_": self.sums_}

    def _set_learned_state(self, state: dict[str, np.ndarray]) -> None:
        self.sums_ = np.array(state["sums_"])


def fit_joint_logistic(X: np.ndarray, y: np.ndarray, n_classes: int, epochs: int = 100):
    """Softmax regression on all samples at once (full data, many epochs): the upper bound."""
    head = build_head(X.shape[1], n_classes)
    head.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(True))
    head.fit(X, y, batch_size=256, epochs=epochs, verbose=0)
    return lambda T: head.predict(T, batch_size=1024, verbose=0).argmax(axis=1)
