"""The mission's learner, done right: a Keras softmax head on embeddings, updated on each single
answer together with a class-balanced batch of CGAN-generated embeddings of the other labels.

- Head expansion keeps old kernel columns and biases bit-identical, and imprints the new unit
  from its first example (Qi et al. 2018), so one example already makes it predictable.
- One answer = a few SGD steps on [the sample + replay], not 200 steps on one image.
- Replay comes from a pluggable generator (`FeatureCGAN` by default) that learns along.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from model_core.learners.base import FeatureMap, IncrementalLearner
from model_core.learners.feature_cgan import FeatureCGAN
from model_core.learners.keras_parts import build_head, carry_over_weights


class CGANLearner(IncrementalLearner):
    """Softmax head with generative feature replay.

    Parameters
    ----------
    steps : SGD steps per answer.
    learning_rate : SGD step size on the head.
    replay_per_class : generated samples per other label in each update's batch.
    max_replay : cap on generated samples per batch when there are many labels.
    imprint_scale : norm of an imprinted unit while no other unit exists to match.
    gan : keyword arguments for `FeatureCGAN`.
    seed : seeds the generator's noise.
    """

    name = "cgan"

    def __init__(
        self,
        *,
        steps: int = 3,
        learning_rate: float = 0.5,
        replay_per_class: int = 2,
        max_replay: int = 64,
        imprint_scale: float = 10.0,
        gan: dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        if steps < 1 or learning_rate <= 0 or replay_per_class < 0 or max_replay < 0:
            raise ValueError(
                "steps must be >= 1, learning_rate > 0, replay_per_class and max_replay >= 0; "
                f"got steps={steps}, learning_rate={learning_rate}, "
                f"replay_per_class={replay_per_class}, max_replay={max_replay}"
            )
        self.steps = steps
        self.learning_rate = learning_rate
        self.replay_per_class = replay_per_class
        self.max_replay = max_replay
        self.imprint_scale = imprint_scale
        self.gan = dict(gan or {})
        self.seed = seed

    def get_config(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "learning_rate": self.learning_rate,
            "replay_per_class": self.replay_per_class,
            "max_replay": self.max_replay,
            "imprint_scale": self.imprint_scale,
            "gan": self.gan,
            "seed": self.seed,
        }

    # ---- learned state -----------------------------------------------------------------------

    def _initialize(self, n_features: int) -> None:
        self.n_features_ = n_features
        self._rng = np.random.default_rng(self.seed)
        self.head_ = build_head(n_features, self.n_classes_)
        self.replay_ = FeatureCGAN(n_features, seed=self.seed, **self.gan)
        self.replay_.grow(self.n_classes_)
        self._trace_step()

    def _grow(self, n: int) -> None:
        self.head_ = carry_over_weights(self.head_, build_head(self.n_features_, self.n_classes_))
        self.replay_.grow(n)
        self._trace_step()

    def _features(self) -> FeatureMap:
        return FeatureMap()

    def _linear(self) -> tuple[np.ndarray, np.ndarray]:
        kernel, bias = self.head_.get_layer("logits").get_weights()
        return kernel, bias

    def _learn_one(self, x: np.ndarray, label: int, weight: float) -> None:
        x_hat = FeatureMap()(x[None])[0]
        if weight < 0:
            # An opposite update: push the sample's logit down, then drop it from the replay.
            self._train(x_hat[None], np.array([label]), np.array([weight], np.float32))
            self.replay_.unlearn(x_hat, label)
            return
        if self.counts_[label] == 0:
            self._imprint(x_hat, label)
        self.replay_.observe(x_hat, label)
        others = np.flatnonzero(self.active_)
        others = others[others != label]
        n_replay = min(self.max_replay, self.replay_per_class * len(others))
        replayed = self._rng.choice(others, n_replay) if n_replay else others
        batch = np.vstack([x_hat[None], self.replay_.replay(replayed)])
        labels = np.concatenate([[label], replayed])
        # The real sample weighs as much as one replayed label: a class-balanced batch.
        weights = np.ones(len(labels), np.float32)
        weights[0] = weight * max(1, n_replay / max(1, len(others)))
        self._train(batch, labels, weights)

    def _imprint(self, x_hat: np.ndarray, label: int) -> None:
        """Starts a new unit at its first example's direction (weight imprinting)."""
        layer = self.head_.get_layer("logits")
        kernel, bias = layer.get_weights()
        seen = np.flatnonzero(self.counts_ > 0)
        scale = np.linalg.norm(kernel[:, seen], axis=0).mean() if len(seen) else self.imprint_scale
        kernel[:, label] = scale * x_hat
        bias[label] = bias[seen].mean() if len(seen) else 0.0
        layer.set_weights([kernel, bias])

    def _train(self, batch: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> None:
        mask = self.active_.copy()
        mask[labels] = True
        self._steps(
            tf.constant(batch, tf.float32),
            tf.constant(labels, tf.int32),
            tf.constant(weights, tf.float32),
            tf.constant(mask),
        )

    def _trace_step(self) -> None:
        """All `steps` SGD steps in one traced call: each Python-side call costs ~1 ms."""
        head, rate, steps = self.head_, self.learning_rate, self.steps

        @tf.function(reduce_retracing=True)
        def run_steps(batch, labels, weights, mask):
            for _ in tf.range(steps):
                with tf.GradientTape() as tape:
                    logits = head(batch, training=True)
                    logits = tf.where(mask, logits, -1e9)  # inactive units take no part
                    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
                    loss = tf.reduce_sum(weights * losses) / tf.reduce_sum(tf.abs(weights))
                grads = tape.gradient(loss, head.trainable_variables)
                for variable, grad in zip(head.trainable_variables, grads, strict=True):
                    variable.assign_sub(rate * grad)

        self._steps = run_steps

    # ---- persistence -------------------------------------------------------------------------

    def _get_learned_state(self) -> dict[str, np.ndarray]:
        kernel, bias = self._linear()
        state = {"head_kernel": kernel, "head_bias": bias}
        state.update({f"replay_{k}": v for k, v in self.replay_.get_state().items()})
        return state

    def _set_learned_state(self, state: dict[str, np.ndarray]) -> None:
        self._rng = np.random.default_rng(self.seed)
        self.head_ = build_head(self.n_features_, self.n_classes_)
        self.head_.get_layer("logits").set_weights([state["head_kernel"], state["head_bias"]])
        self.replay_ = FeatureCGAN(self.n_features_, seed=self.seed, **self.gan)
        prefix = "replay_"
        self.replay_.set_state(
            {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        )
        self._trace_step()
