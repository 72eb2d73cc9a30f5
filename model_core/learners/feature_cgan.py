"""A class-conditional WGAN-GP that generates backbone embeddings, not pixels.

Generating 1280-d features instead of photos is what makes generative replay feasible on a CPU
(van de Ven et al. 2020; Liu et al. 2020, "Generative Feature Replay"). The generator writes a
residual around each label's running mean embedding (a statistic, learned without gradients),
so it starts useful after one example and the adversarial game only has to learn the spread.

It is itself incremental: its label embeddings grow when a label is added (old rows kept), and
each round trains on the new real samples together with replay of the other labels from a
frozen copy of the generator (deep generative replay), so it does not forget them.

Amortised: the adversarial game plays one round per `train_every` real samples, on all of them
at once, and then fills a pool of generated residuals per label. Between rounds, replay is drawn
from the pool around each label's current mean: numpy only, no TensorFlow call per answer.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from model_core.learners.keras_parts import L2Normalize, carry_over_weights


def build_generator(n_features: int, n_classes: int, noise_dim: int, hidden: int) -> keras.Model:
    noise = keras.Input((noise_dim,), name="noise")
    label = keras.Input((), dtype="int32", name="label")
    anchor = keras.Input((n_features,), name="anchor")
    code = keras.layers.Embedding(n_classes, noise_dim, name="label_code")(label)
    h = keras.layers.Concatenate(name="join")([noise, code])
    h = keras.layers.Dense(hidden, activation="relu", name="hidden")(h)
    # Starts near zero, so that a new label's samples start at its mean, not at random noise.
    small = keras.initializers.RandomNormal(stddev=1e-3)
    residual = keras.layers.Dense(n_features, kernel_initializer=small, name="residual")(h)
    sample = keras.layers.Add(name="around_anchor")([anchor, residual])
    sample = L2Normalize(name="normalize")(sample)
    return keras.Model([noise, label, anchor], sample, name="feature_generator")


def build_critic(n_features: int, n_classes: int, hidden: int) -> keras.Model:
    features = keras.Input((n_features,), name="features")
    label = keras.Input((), dtype="int32", name="label")
    code = keras.layers.Embedding(n_classes, 32, name="label_code")(label)
    h = keras.layers.Concatenate(name="join")([features, code])
    h = keras.layers.Dense(hidden, activation="leaky_relu", name="hidden")(h)
    score = keras.layers.Dense(1, name="score")(h)
    return keras.Model([features, label], score, name="feature_critic")


class FeatureCGAN:
    """Generates L2-normalised embeddings per label; trained one real sample at a time."""

    def __init__(
        self,
        n_features: int,
        *,
        noise_dim: int = 32,
        hidden: int = 256,
        replay_size: int = 15,
        critic_steps: int = 2,
        gradient_penalty: float = 10.0,
        learning_rate: float = 1e-4,
        anchor_weight: float = 10.0,
        refresh_every: int = 100,
        train_every: int = 8,
        pool_per_label: int = 8,
        seed: int = 0,
    ) -> None:
        self.n_features = n_features
        self.noise_dim, self.hidden = noise_dim, hidden
        self.replay_size, self.critic_steps = replay_size, critic_steps
        self.gradient_penalty, self.learning_rate = gradient_penalty, learning_rate
        self.anchor_weight = anchor_weight
        self.refresh_every = refresh_every
        self.train_every, self.pool_per_label = train_every, pool_per_label
        self.rng = np.random.default_rng(seed)
        self.n_classes = 0
        self.anchors = np.zeros((0, n_features), np.float32)  # running mean per label
        self.counts = np.zeros(0, np.int64)
        self.updates = 0
        self.pending: list[tuple[np.ndarray, int]] = []  # real samples since the last round
        self.pool = np.zeros((0, pool_per_label, n_features), np.float32)  # residuals
        self.generator: keras.Model | None = None

    # ---- growth and sampling -----------------------------------------------------------------

    def grow(self, n: int) -> None:
        """Adds `n` labels; the old label codes of generator and critic are kept bit for bit."""
        self.n_classes += n
        self.anchors = np.vstack([self.anchors, np.zeros((n, self.n_features), np.float32)])
        self.counts = np.concatenate([self.counts, np.zeros(n, np.int64)])
        generator = build_generator(self.n_features, self.n_classes, self.noise_dim, self.hidden)
        critic = build_critic(self.n_features, self.n_classes, self.hidden)
        if self.generator is not None:
            generator = carry_over_weights(self.generator, generator)
            critic = carry_over_weights(self.critic, critic)
        self.generator, self.critic = generator, critic
        self._compile()
        self.fill_pool()

    def sample(self, labels: np.ndarray, frozen: bool = False) -> np.ndarray:
        """One generated embedding per entry of `labels`."""
        labels = np.asarray(labels, np.int32)
        if len(labels) == 0:
            return np.zeros((0, self.n_features), np.float32)
        noise = self.rng.standard_normal((len(labels), self.noise_dim)).astype(np.float32)
        generate = self._generate_frozen if frozen else self._generate
        return generate(noise, labels, self.anchors[labels]).numpy()

    def replay(self, labels: np.ndarray) -> np.ndarray:
        """Like `sample`, from the pool: a stored residual around each label's current mean."""
        labels = np.asarray(labels, np.int64)
        picks = self.rng.integers(self.pool_per_label, size=len(labels))
        samples = self.anchors[labels] + self.pool[labels, picks]
        return samples / np.maximum(np.linalg.norm(samples, axis=1, keepdims=True), 1e-12)

    def fill_pool(self) -> None:
        """Generates `pool_per_label` samples of every label and keeps them as residuals."""
        labels = np.repeat(np.arange(self.n_classes), self.pool_per_label)
        residuals = self.sample(labels) - self.anchors[labels]
        self.pool = residuals.reshape(self.n_classes, self.pool_per_label, self.n_features)

    # ---- learning ----------------------------------------------------------------------------

    def observe(self, x: np.ndarray, label: int) -> None:
        """Learns from one real (normalised) embedding; every `train_every` of them, a round."""
        self.counts[label] += 1
        self.anchors[label] += (x - self.anchors[label]) / self.counts[label]
        self.pending.append((x, label))
        if len(self.pending) >= self.train_every:
            self.train_round()

    def train_round(self) -> None:
        """The adversarial game on the pending real samples plus frozen replay of the other
        known labels, then a fresh pool."""
        if not self.pending:
            return
        real_labels = np.array([label for _, label in self.pending], np.int32)
        others = np.flatnonzero(self.frozen_counts > 0)
        others = others[~np.isin(others, real_labels)]
        replayed = self.rng.choice(others, self.replay_size) if len(others) else others
        labels = np.concatenate([real_labels, replayed]).astype(np.int32)
        real = np.vstack([[x for x, _ in self.pending], self.sample(replayed, frozen=True)])
        real = real.astype(np.float32)
        for _ in range(self.critic_steps):
            self._critic_step(real, labels, self._noise(len(labels)), self.anchors[labels])
        self._generator_step(labels, self._noise(len(labels)), self.anchors[labels])
        before, self.updates = self.updates, self.updates + len(self.pending)
        if self.updates // self.refresh_every != before // self.refresh_every:
            self.refresh_frozen()
        self.pending = []
        self.fill_pool()

    def refresh_frozen(self) -> None:
        """Takes the generator as it is now as the teacher for later replay."""
        self.frozen.set_weights(self.generator.get_weights())
        self.frozen_counts = self.counts.copy()

    def unlearn(self, x: np.ndarray, label: int) -> None:
        """Takes a sample back out of its label's anchor (the adversarial weights keep it)."""
        self.counts[label] -= 1
        if self.counts[label] == 0:
            self.anchors[label] = 0
        else:
            self.anchors[label] -= (x - self.anchors[label]) / self.counts[label]

    # ---- state -------------------------------------------------------------------------------

    def get_state(self) -> dict[str, np.ndarray]:
        state = {
            "anchors": self.anchors,
            "counts": self.counts,
            "frozen_counts": self.frozen_counts,
        }
        state["updates"] = np.array(self.updates)
        state["pool"] = self.pool
        if self.pending:  # real samples waiting for the next round
            state["pending_x"] = np.stack([x for x, _ in self.pending])
            state["pending_labels"] = np.array([label for _, label in self.pending])
        for prefix, model in (("g", self.generator), ("c", self.critic), ("f", self.frozen)):
            state.update({f"{prefix}{i}": w for i, w in enumerate(model.get_weights())})
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.grow(len(state["counts"]))
        self.anchors = np.array(state["anchors"], np.float32)
        self.counts = np.array(state["counts"], np.int64)
        self.updates = int(state["updates"])
        for prefix, model in (("g", self.generator), ("c", self.critic), ("f", self.frozen)):
            model.set_weights([state[f"{prefix}{i}"] for i in range(len(model.weights))])
        self.frozen_counts = np.array(state["frozen_counts"], np.int64)
        if "pool" in state:
            self.pool = np.array(state["pool"], np.float32)
        else:  # saved before the pool existed
            self.fill_pool()
        self.pending = [
            (np.array(x, np.float32), int(label))
            for x, label in zip(
                state.get("pending_x", ()), state.get("pending_labels", ()), strict=True
            )
        ]

    # ---- TensorFlow steps --------------------------------------------------------------------

    def _noise(self, n: int) -> np.ndarray:
        return self.rng.standard_normal((n, self.noise_dim)).astype(np.float32)

    def _compile(self) -> None:
        """(Re)creates the frozen copy, the optimizers and the traced steps after a growth."""
        self.frozen = keras.models.clone_model(self.generator)
        self.refresh_frozen()
        generator, critic, frozen = self.generator, self.critic, self.frozen
        g_optimizer = keras.optimizers.Adam(self.learning_rate, beta_1=0.5, beta_2=0.9)
        c_optimizer = keras.optimizers.Adam(self.learning_rate, beta_1=0.5, beta_2=0.9)
        penalty, anchor_weight, n_classes = (
            self.gradient_penalty,
            self.anchor_weight,
            self.n_classes,
        )

        @tf.function(reduce_retracing=True)
        def generate(noise, labels, anchors):
            return generator([noise, labels, anchors], training=False)

        @tf.function(reduce_retracing=True)
        def generate_frozen(noise, labels, anchors):
            return frozen([noise, labels, anchors], training=False)

        @tf.function(reduce_retracing=True)
        def critic_step(real, labels, noise, anchors):
            fake = generator([noise, labels, anchors], training=False)
            mix = tf.random.uniform([tf.shape(real)[0], 1])
            between = mix * real + (1 - mix) * fake
            with tf.GradientTape() as tape:
                with tf.GradientTape() as inner:
                    inner.watch(between)
                    score_between = critic([between, labels], training=True)
                slopes = tf.norm(inner.gradient(score_between, between), axis=1)
                loss = (
                    tf.reduce_mean(critic([fake, labels], training=True))
                    - tf.reduce_mean(critic([real, labels], training=True))
                    + penalty * tf.reduce_mean(tf.square(slopes - 1.0))
                )
            grads = tape.gradient(loss, critic.trainable_variables)
            c_optimizer.apply_gradients(zip(grads, critic.trainable_variables, strict=True))

        @tf.function(reduce_retracing=True)
        def generator_step(labels, noise, anchors):
            with tf.GradientTape() as tape:
                fake = generator([noise, labels, anchors], training=True)
                # Each label's samples must stay centred on its mean: the critic, seeing one
                # real sample at a time, shapes the spread, not the centre.
                drift = tf.math.unsorted_segment_mean(fake - anchors, labels, n_classes)
                loss = -tf.reduce_mean(critic([fake, labels], training=False)) + anchor_weight * (
                    tf.reduce_sum(tf.square(drift))
                )
            grads = tape.gradient(loss, generator.trainable_variables)
            g_optimizer.apply_gradients(zip(grads, generator.trainable_variables, strict=True))

        self._generate, self._generate_frozen = generate, generate_frozen
        self._critic_step, self._generator_step = critic_step, generator_step
