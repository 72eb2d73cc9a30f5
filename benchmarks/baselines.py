"""The learners the benchmark compares ours with, behind the same interface.

- `SeedLearner`: the seed article's method on the same embeddings: a softmax head, every new
  sample trained with `max_iter` optimizer steps on that one sample, no training when the
  model already guessed right; its head expansion done correctly (old weights kept).
- `FinetuneLearner`: one SGD step per sample and nothing else, what forgetting looks like.
- `NCMLearner`: nearest class mean on L2-normalised embeddings, the usual exemplar-free
  baseline.
- `LDALearner`: streaming linear discriminant analysis with a shared within-class scatter and
  equal priors, the strong few-shot reference for first guesses.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf
from scipy.linalg.blas import dger

from model_core.learners.base import FeatureMap, IncrementalLearner
from model_core.learners.keras_parts import build_head, carry_over_weights


class SoftmaxHeadLearner(IncrementalLearner):
    """A Keras softmax head trained on each sample alone, with no replay of old labels.

    `steps` optimizer steps per sample; `skip_confirmed` leaves the model alone when its
    guess was already right. Its head expansion keeps the old rows (`carry_over_weights`).
    """

    name = "softmax"

    def __init__(
        self,
        *,
        steps: int = 1,
        optimizer: str = "sgd",
        learning_rate: float = 0.5,
        skip_confirmed: bool = False,
    ) -> None:
        self.steps = steps
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.skip_confirmed = skip_confirmed

    def get_config(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            "skip_confirmed": self.skip_confirmed,
        }

    def _initialize(self, n_features: int) -> None:
        self.n_features_ = n_features
        self.head_ = build_head(n_features, self.n_classes_)
        self._trace()

    def _grow(self, n: int) -> None:
        self.head_ = carry_over_weights(self.head_, build_head(self.n_features_, self.n_classes_))
        self._trace()

    def _trace(self) -> None:
        """One tf.function runs all steps: a Python loop of Keras calls costs 10x more."""
        head, steps = self.head_, self.steps
        optimizer = keras.optimizers.get(
            {"class_name": self.optimizer, "config": {"learning_rate": self.learning_rate}}
        )

        @tf.function
        def train(x, label, mask):
            for _ in tf.range(steps):
                with tf.GradientTape() as tape:
                    logits = tf.where(mask, head(x, training=True), -1e9)
                    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(label, logits)
                grads = tape.gradient(loss, head.trainable_variables)
                optimizer.apply_gradients(zip(grads, head.trainable_variables, strict=True))

        self._train = train

    def _learn_one(self, x: np.ndarray, label: int, weight: float) -> None:
        if weight < 0:
            raise NotImplementedError(f"{self.name} cannot unlearn")
        if self.skip_confirmed and self.counts_.any() and self.predict(x[None])[0] == label:
            return
        mask = self.active_.copy()
        mask[label] = True
        self._train(tf.constant(x[None], tf.float32), tf.constant([label]), tf.constant(mask))

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


class SeedLearner(SoftmaxHeadLearner):
    """The seed article's reinforcement: Adam, `max_iter` steps on a wrong guess, none on a
    confirmed one."""

    name = "seed"

    def __init__(self, *, max_iter: int = 200, learning_rate: float = 1e-3) -> None:
        super().__init__(
            steps=max_iter, optimizer="adam", learning_rate=learning_rate, skip_confirmed=True
        )

    def get_config(self) -> dict[str, Any]:
        return {"max_iter": self.steps, "learning_rate": self.learning_rate}


class FinetuneLearner(SoftmaxHeadLearner):
    """Plain fine-tuning: one SGD step per sample, the same step as `cgan` without replay."""

    name = "finetune"


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


class LDALearner(IncrementalLearner):
    """Streaming LDA: class means and the inverse of the shared within-class scatter plus
    `shrinkage` * I, kept exactly by Sherman-Morrison (adding x to a class with weight n and
    mean mu adds n/(n+1) (x - mu)(x - mu)^T to the scatter). Scores, equal priors:
    mu_k^T A x - mu_k^T A mu_k / 2, with A the inverse and `projected_` = A mu kept up to date.
    """

    name = "lda"

    def __init__(self, *, shrinkage: float = 1.0, temperature: float = 0.05) -> None:
        self.shrinkage = shrinkage
        self.temperature = temperature

    def get_config(self) -> dict[str, Any]:
        return {"shrinkage": self.shrinkage, "temperature": self.temperature}

    def _initialize(self, n_features: int) -> None:
        self.n_features_ = n_features
        self.inverse_ = np.eye(n_features) / self.shrinkage
        self.sums_ = np.zeros((n_features, self.n_classes_))
        self.weights_ = np.zeros(self.n_classes_)
        self.projected_ = np.zeros((n_features, self.n_classes_))

    def _grow(self, n: int) -> None:
        self.sums_ = np.hstack([self.sums_, np.zeros((self.n_features_, n))])
        self.weights_ = np.concatenate([self.weights_, np.zeros(n)])
        self.projected_ = np.hstack([self.projected_, np.zeros((self.n_features_, n))])

    def _means(self) -> np.ndarray:
        return self.sums_ / np.maximum(self.weights_, 1e-12)

    def _learn_one(self, x: np.ndarray, label: int, weight: float) -> None:
        phi = FeatureMap()(x[None])[0]
        before = self.weights_[label]
        if before > 0:
            offset = phi - self.sums_[:, label] / before
            scale = weight * before / (before + weight)
            a_offset = self.inverse_ @ offset
            denominator = 1.0 / scale + offset @ a_offset
            self.inverse_ = dger(
                -1.0 / denominator, a_offset, a_offset, a=self.inverse_.T, overwrite_a=True
            ).T
            self.projected_ -= np.outer(a_offset, a_offset @ self._means()) / denominator
        self.sums_[:, label] += weight * phi
        self.weights_[label] += weight
        self.projected_[:, label] = self.inverse_ @ self._means()[:, label]

    def _features(self) -> FeatureMap:
        return FeatureMap()

    def _temperature(self) -> float:
        return self.temperature

    def _linear(self) -> tuple[np.ndarray, np.ndarray]:
        offsets = -0.5 * np.einsum("ij,ij->j", self._means(), self.projected_)
        return self.projected_, offsets

    def _get_learned_state(self) -> dict[str, np.ndarray]:
        return {"inverse_": self.inverse_, "sums_": self.sums_, "weights_": self.weights_}

    def _set_learned_state(self, state: dict[str, np.ndarray]) -> None:
        self.inverse_ = np.array(state["inverse_"])
        self.sums_ = np.array(state["sums_"])
        self.weights_ = np.array(state["weights_"])
        self.projected_ = self.inverse_ @ self._means()
