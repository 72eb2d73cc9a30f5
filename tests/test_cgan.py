"""The CGAN learner's own contracts: bit-identical head expansion, Keras round trips, and a
generator whose samples a classifier trained on real photos recognises."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model_core.learners.analytic import AnalyticLearner
from model_core.learners.cgan import CGANLearner
from model_core.learners.feature_cgan import FeatureCGAN
from model_core.learners.keras_parts import build_head, carry_over_weights


@pytest.fixture(scope="module")
def fitted(fashion):
    X, y, _, _ = fashion
    order = np.random.default_rng(0).permutation(len(y))
    return CGANLearner().add_classes(10).partial_fit(X[order], y[order])


def test_expansion_keeps_old_logits_bit_identical(fashion):
    X, y, T, _ = fashion
    learner = CGANLearner().add_classes(4).partial_fit(X[y < 4], y[y < 4])
    before = learner.head_(T).numpy()
    kernel, bias = learner._linear()
    learner.add_classes(2)
    new_kernel, new_bias = learner._linear()
    assert np.array_equal(new_kernel[:, :4], kernel) and np.array_equal(new_bias[:4], bias)
    assert np.array_equal(learner.head_(T).numpy()[:, :4], before)


def test_the_first_example_imprints_the_new_unit(fashion):
    X, y, _, _ = fashion
    learner = CGANLearner().add_classes(2).partial_fit(X[y < 2], y[y < 2])
    learner.add_classes(1)
    bag = X[np.flatnonzero(y == 8)[0]]
    learner.partial_fit(bag[None], [2])
    kernel, _ = learner._linear()
    direction = kernel[:, 2] / np.linalg.norm(kernel[:, 2])
    assert direction @ (bag / np.linalg.norm(bag)) > 0.9  # the unit points at its example


def test_head_and_generator_round_trip_through_keras_files(tmp_path, fitted, fashion):
    _, _, T, _ = fashion
    grown = carry_over_weights(fitted.head_, build_head(fitted.n_features_, 12))
    for name, model, inputs in [
        ("head", grown, T),
        ("generator", fitted.replay_.generator, generator_inputs(fitted.replay_, 5)),
    ]:
        path = tmp_path / f"{name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_array_equal(loaded(inputs).numpy(), model(inputs).numpy())


def generator_inputs(gan: FeatureCGAN, n: int):
    labels = np.arange(n, dtype=np.int32)
    noise = np.random.default_rng(0).standard_normal((n, gan.noise_dim)).astype(np.float32)
    return [noise, labels, gan.anchors[labels]]


def test_generated_embeddings_are_recognised_by_a_classifier_trained_on_real_ones(fitted, fashion):
    X, y, _, _ = fashion
    judge = AnalyticLearner().add_classes(10).partial_fit(X, y)
    labels = np.repeat(np.arange(10), 20)
    generated = fitted.replay_.sample(labels)
    per_label = [(judge.predict(generated[labels == c]) == c).mean() for c in range(10)]
    assert min(per_label) >= 0.8


def test_generated_embeddings_are_not_a_single_point(fitted):
    labels = np.repeat(np.arange(10), 20)
    generated = fitted.replay_.sample(labels)
    spread = [np.linalg.norm(g - g.mean(0), axis=1).mean() for g in np.split(generated, 10)]
    assert min(spread) > 1e-3


def test_the_generator_grows_without_changing_old_label_codes(fitted):
    gan = fitted.replay_
    old_codes = gan.generator.get_layer("label_code").get_weights()[0].copy()
    clone = FeatureCGAN(gan.n_features)
    clone.set_state(gan.get_state())
    clone.grow(3)
    new_codes = clone.generator.get_layer("label_code").get_weights()[0]
    assert new_codes.shape[0] == old_codes.shape[0] + 3
    assert np.array_equal(new_codes[: old_codes.shape[0]], old_codes)
