"""The protocol the bot lives in: labels arrive in phases, samples one at a time.

By default two base labels, then one new label per phase (an admin's `/addlabel`). Before each
update the learner predicts the sample (first-guess accuracy, what a contributor sees); after
each phase it is evaluated on the test photos of every label seen so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from model_core.learners.base import FeatureMap, IncrementalLearner


@dataclass
class Split:
    """Embeddings of one data set: train and test, integer labels, label names."""

    X: np.ndarray
    y: np.ndarray
    T: np.ndarray
    ty: np.ndarray
    names: list[str]


@dataclass
class RunResult:
    """Figures of one learner on one label order."""

    accuracy: list[float] = field(default_factory=list)  # after each phase, all seen labels
    old_accuracy: list[float] = field(default_factory=list)
    new_accuracy: list[float] = field(default_factory=list)
    per_label_accuracy: list[dict[int, float]] = field(default_factory=list)
    first_guesses: list[bool] = field(default_factory=list)
    update_seconds: list[float] = field(default_factory=list)
    add_label_seconds: list[float] = field(default_factory=list)
    predict_seconds_per_embedding: float = 0.0
    state_bytes: int = 0


def phases(order: np.ndarray, base: int) -> list[np.ndarray]:
    return [order[:base]] + [order[i : i + 1] for i in range(base, len(order))]


def run_learner(
    make: Callable[[], IncrementalLearner], split: Split, order: np.ndarray, base: int, seed: int
) -> RunResult:
    """Runs one learner through every phase; label ids are given in arrival order."""
    rng = np.random.default_rng(seed)
    learner, result, seen = make(), RunResult(), []
    unit = {int(label): i for i, label in enumerate(order)}  # data label -> learner unit
    for phase in phases(order, base):
        started = time.perf_counter()
        learner.add_classes(len(phase))
        result.add_label_seconds.append(time.perf_counter() - started)
        seen.extend(int(x) for x in phase)
        for i in rng.permutation(np.flatnonzero(np.isin(split.y, phase))):
            target = unit[int(split.y[i])]
            result.first_guesses.append(bool(learner.predict(split.X[i : i + 1])[0] == target))
            started = time.perf_counter()
            learner.partial_fit(split.X[i : i + 1], [target])
            result.update_seconds.append(time.perf_counter() - started)
        _evaluate(result, learner.predict, split, seen, phase, unit)
    test = split.T[np.isin(split.ty, seen)]
    started = time.perf_counter()
    learner.predict_proba(test)
    result.predict_seconds_per_embedding = (time.perf_counter() - started) / max(1, len(test))
    result.state_bytes = int(sum(np.asarray(v).nbytes for v in learner.get_state().values()))
    return result


def run_joint(
    fit: Callable[[np.ndarray, np.ndarray, int], Callable], split: Split, order, base: int
) -> RunResult:
    """The upper bound: refitted offline on all data seen so far, after every phase."""
    result, seen = RunResult(), []
    unit = {int(label): i for i, label in enumerate(order)}
    for phase in phases(order, base):
        seen.extend(int(x) for x in phase)
        mask = np.isin(split.y, seen)
        targets = np.array([unit[int(v)] for v in split.y[mask]])
        predict = fit(split.X[mask], targets, len(seen))
        _evaluate(result, predict, split, seen, phase, unit)
    return result


def fit_joint_ridge(X: np.ndarray, y: np.ndarray, n_classes: int, alpha: float = 1.0) -> Callable:
    """Ridge regression on one-hot targets solved at once (L2-normalised features plus a
    constant): what `analytic` reaches by streaming, so its ratio to this is 1 by design."""
    features = FeatureMap(bias_feature=True)
    phi = features(X)
    gram = phi.T @ phi + alpha * np.eye(phi.shape[1])
    coef = np.linalg.solve(gram, phi.T @ np.eye(n_classes)[y])
    return lambda T: (features(T) @ coef).argmax(axis=1)


def _evaluate(result: RunResult, predict, split: Split, seen, phase, unit) -> None:
    mask = np.isin(split.ty, seen)
    truth = np.array([unit[int(v)] for v in split.ty[mask]])
    correct = predict(split.T[mask]) == truth
    result.accuracy.append(float(correct.mean()))
    is_new = np.isin(split.ty[mask], phase)
    result.new_accuracy.append(float(correct[is_new].mean()))
    result.old_accuracy.append(float(correct[~is_new].mean()) if (~is_new).any() else np.nan)
    result.per_label_accuracy.append(
        {label: float(correct[split.ty[mask] == label].mean()) for label in seen}
    )
