"""The shown percentage and the "sure" threshold, calibrated from the learner's own guesses."""

from __future__ import annotations

import numpy as np
import pytest

from model_core.calibration import (
    DEFAULT_SURE_THRESHOLD,
    MIN_GUESSES,
    TEMPERATURES,
    StreamCalibration,
)
from model_core.learners.analytic import AnalyticLearner


def guesses(rng, n: int, temperature: float, classes: int = 6):
    """Scores like a ridge head's (about 0..1) and answers drawn from softmax(scores / T)."""
    for _ in range(n):
        scores = rng.uniform(0, 1, classes) ** 3
        p = np.exp(scores / temperature)
        yield scores, int(rng.choice(classes, p=p / p.sum()))


@pytest.mark.parametrize("true_temperature", [0.02, 0.07, 0.3])
def test_the_temperature_that_generated_the_answers_is_found(true_temperature):
    calibration = StreamCalibration.empty()
    for scores, label in guesses(np.random.default_rng(0), 3000, true_temperature):
        calibration.observe(scores, label, temperature=0.1)
    step = TEMPERATURES[1] / TEMPERATURES[0]
    chosen = calibration.temperature(default=0.1)
    assert true_temperature / step**2 <= chosen <= true_temperature * step**2


def test_sure_guesses_are_right_at_least_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    stream = list(guesses(rng, 4000, 0.08))
    calibration = StreamCalibration.empty()
    for scores, label in stream[:3000]:
        calibration.observe(scores, label, temperature=0.08)
    threshold = calibration.sure_threshold()
    assert 0 < threshold < 1
    shown = [np.exp(s / 0.08) / np.exp(s / 0.08).sum() for s, _ in stream[3000:]]
    sure = [p.max() >= threshold for p in shown]
    right = [p.argmax() == label for p, (_, label) in zip(shown, stream[3000:], strict=True)]
    assert np.mean(np.array(right)[sure]) >= 0.93  # held-out photos: 95% within sampling noise
    assert 0.1 < np.mean(sure) < 0.95  # and the threshold does not simply refuse everything


def test_defaults_hold_until_enough_guesses_and_never_sure_when_nothing_earns_it():
    calibration = StreamCalibration.empty()
    for scores, label in guesses(np.random.default_rng(2), MIN_GUESSES - 1, 0.05):
        calibration.observe(scores, label, temperature=0.1)
    assert calibration.temperature(default=0.1) == 0.1
    assert calibration.sure_threshold() == DEFAULT_SURE_THRESHOLD
    for _ in range(200):  # confident and always wrong: a label no guess could name
        calibration.observe(np.array([1.0, 0.0]), None, temperature=0.1)
    assert calibration.sure_threshold() == 1.0


def test_a_labels_first_example_counts_as_a_miss_but_not_against_any_temperature():
    calibration = StreamCalibration.empty()
    calibration.observe(np.array([0.9, 0.1]), None, temperature=0.1)
    assert calibration.nll.sum() == 0 and calibration.shown.sum() == 1
    assert calibration.right.sum() == 0


def test_the_learner_calibrates_itself_and_saves_the_calibration(fashion):
    X, y, _, _ = fashion
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    learner = AnalyticLearner().add_classes(10).partial_fit(X, y)
    snapshot = learner.snapshot()
    assert snapshot.temperature != 0.1  # fitted on its own first guesses, not the default
    assert snapshot.temperature in TEMPERATURES
    assert 0 <= snapshot.sure_threshold <= 1
    guessed = [len(set(y[:i].tolist())) >= 2 for i in range(len(y))]  # two labels known
    assert learner.calibration_.guesses == sum(guessed)

    again = AnalyticLearner.from_state(learner.get_config(), learner.get_state())
    assert again.snapshot().temperature == snapshot.temperature
    assert again.snapshot().sure_threshold == snapshot.sure_threshold
    old = {k: v for k, v in learner.get_state().items() if not k.startswith("calibration")}
    assert AnalyticLearner.from_state(learner.get_config(), old).calibration_.guesses == 0


def test_unlearning_observes_nothing(fashion):
    X, y, _, _ = fashion
    learner = AnalyticLearner().add_classes(10).partial_fit(X[:50], y[:50])
    before = learner.calibration_.guesses
    learner.partial_fit(X[:5], y[:5], sample_weight=-1)
    assert learner.calibration_.guesses == before


def test_the_model_snapshot_carries_the_threshold_the_desk_uses(fashion):
    from model_core.model import LabelModel

    X, y, _, _ = fashion
    model = LabelModel.new("analytic")
    assert model.snapshot().sure_threshold == DEFAULT_SURE_THRESHOLD  # no label yet
    for name in range(10):
        model.add_label(f"label {name}")
    order = np.random.default_rng(1).permutation(len(y))
    for i in order:
        model.reinforce(X[i], int(y[i]))
    assert model.snapshot().sure_threshold == model.learner.snapshot().sure_threshold
    assert model.learner.calibration_.guesses > 250
