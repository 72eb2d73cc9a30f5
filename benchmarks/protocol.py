"""The protocol the bot lives in: labels arrive over time, photos one at a time.

By default two base labels, then one new label per phase (an admin's `/addlabel`). Two streams:

- `mixed` (the default, what the bot sees): once a label exists its photos keep arriving until
  the end, interleaved with the photos of every other known label. Each training photo gets a
  random arrival time between its label's introduction and the end of the stream.
- `blocks` (the class-incremental literature's): each phase brings only its new label's photos.

Before each update the learner guesses the photo (first-guess accuracy, what a contributor
sees), with the probability it would show; after each phase it is tested on the test photos of
every label seen so far, and a label's test photos are also checked right after its 1st, 5th,
10th and 20th example (how soon a new label is recognised).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from model_core.learners.analytic import gcv_alpha
from model_core.learners.base import FeatureMap, IncrementalLearner

STREAMS = ("mixed", "blocks")
GUESS_EXAMPLES = (1, 2, 5, 10)  # first guesses on a label's n-th example, reported apart
NEW_LABEL_EXAMPLES = (1, 5, 10, 20)  # a label's test accuracy right after its n-th example


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
    guess_example: list[int] = field(default_factory=list)  # which example of its label
    shown_confidence: list[float] = field(default_factory=list)  # nan: no label known yet
    shown_sure: list[bool] = field(default_factory=list)
    new_label_accuracy: dict[int, list[float]] = field(default_factory=dict)
    update_seconds: list[float] = field(default_factory=list)
    add_label_seconds: list[float] = field(default_factory=list)
    predict_seconds_per_embedding: float = 0.0
    state_bytes: int = 0


@dataclass(frozen=True)
class Stream:
    """One label order and the training photos in the order they arrive, phase by phase."""

    order: np.ndarray  # data labels in order of introduction
    phases: list[tuple[np.ndarray, np.ndarray]]  # (labels introduced, photos arriving)

    @property
    def unit(self) -> dict[int, int]:
        """Data label -> the learner's class id (labels are added in order)."""
        return {int(label): i for i, label in enumerate(self.order)}


def make_stream(y: np.ndarray, n_labels: int, base: int, seed: int, kind: str) -> Stream:
    """The seed's label order and photo order, for `kind` in STREAMS."""
    if kind not in STREAMS:
        raise ValueError(f"unknown stream {kind!r}; choose from {STREAMS}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_labels)
    groups = [order[:base]] + [order[i : i + 1] for i in range(base, n_labels)]
    if kind == "blocks":
        photos = [rng.permutation(np.flatnonzero(np.isin(y, group))) for group in groups]
        return Stream(order, list(zip(groups, photos, strict=True)))
    starts = {int(label): 0.0 for label in order[:base]}
    starts |= {int(label): (i + 1) / len(groups) for i, label in enumerate(order[base:])}
    arrival = np.array([rng.uniform(starts[int(label)], 1.0) for label in y])
    bounds = [*(np.arange(1, len(groups)) / len(groups)), np.inf]
    photos, previous = [], -np.inf
    for bound in bounds:
        chosen = np.flatnonzero((arrival >= previous) & (arrival < bound))
        photos.append(chosen[np.argsort(arrival[chosen])])
        previous = bound
    return Stream(order, list(zip(groups, photos, strict=True)))


def run_learner(make: Callable[[], IncrementalLearner], split: Split, stream: Stream) -> RunResult:
    """Runs one learner through every phase of the stream."""
    learner, result, seen = make(), RunResult(), []
    unit = stream.unit
    result.new_label_accuracy = {k: [] for k in NEW_LABEL_EXAMPLES}
    examples = np.zeros(len(stream.order), np.int64)
    for labels, photos in stream.phases:
        started = time.perf_counter()
        learner.add_classes(len(labels))
        result.add_label_seconds.append(time.perf_counter() - started)
        seen.extend(int(x) for x in labels)
        for i in photos:
            target = unit[int(split.y[i])]
            _guess(result, learner, split.X[i : i + 1], target)
            examples[target] += 1
            result.guess_example.append(int(examples[target]))
            started = time.perf_counter()
            learner.partial_fit(split.X[i : i + 1], [target])
            result.update_seconds.append(time.perf_counter() - started)
            if examples[target] in result.new_label_accuracy:
                test = split.T[split.ty == split.y[i]]
                accuracy = float((learner.predict(test) == target).mean())
                result.new_label_accuracy[int(examples[target])].append(accuracy)
        _evaluate(result, learner.predict, split, seen, labels, unit)
    test = split.T[np.isin(split.ty, seen)]
    started = time.perf_counter()
    learner.predict_proba(test)
    result.predict_seconds_per_embedding = (time.perf_counter() - started) / max(1, len(test))
    result.state_bytes = int(sum(np.asarray(v).nbytes for v in learner.get_state().values()))
    return result


def _guess(result: RunResult, learner: IncrementalLearner, x: np.ndarray, target: int) -> None:
    """The first guess as the contributor sees it: the top label, its percentage, sure or not."""
    if not learner.n_classes_ or not learner.active_.any():
        result.first_guesses.append(False)
        result.shown_confidence.append(np.nan)
        result.shown_sure.append(False)
        return
    snapshot = learner.snapshot()
    probabilities = snapshot.predict_proba(x)[0]
    top = int(probabilities.argmax())
    result.first_guesses.append(top == target)
    result.shown_confidence.append(float(probabilities[top]))
    result.shown_sure.append(bool(probabilities[top] >= snapshot.sure_threshold))


Fit = Callable[[np.ndarray, np.ndarray, int], Callable[[np.ndarray], np.ndarray]]


def run_joint(fit: Fit, split: Split, stream: Stream, final_only: bool = False) -> RunResult:
    """The upper bound: refitted offline on every photo that has arrived, after each phase
    (or only after the last, for fits too slow to repeat: nan elsewhere)."""
    result, seen, arrived = RunResult(), [], []
    unit = stream.unit
    for n, (labels, photos) in enumerate(stream.phases, 1):
        seen.extend(int(x) for x in labels)
        arrived.extend(int(i) for i in photos)
        if final_only and n < len(stream.phases):
            result.accuracy.append(np.nan)
            result.old_accuracy.append(np.nan)
            result.new_accuracy.append(np.nan)
            result.per_label_accuracy.append(dict.fromkeys(seen, np.nan))
            continue
        targets = np.array([unit[int(v)] for v in split.y[arrived]])
        predict = fit(split.X[arrived], targets, len(seen))
        _evaluate(result, predict, split, seen, labels, unit)
    return result


def fit_joint_ridge(X: np.ndarray, y: np.ndarray, n_classes: int, alpha: float | None = None):
    """Ridge regression on one-hot targets solved at once (L2-normalised features plus a
    constant), at `alpha` or, by default, at the lambda GCV picks on these samples: the plain
    solution `analytic` streams."""
    features = FeatureMap(bias_feature=True)
    phi = features(X)
    targets = np.eye(n_classes)[y]
    spectrum, basis = np.linalg.eigh(phi.T @ phi)
    spectrum = np.maximum(spectrum, 0.0)
    projected = basis.T @ (phi.T @ targets)
    chosen = gcv_alpha(spectrum, projected, len(phi)) if alpha is None else alpha
    coef = basis @ (projected / (spectrum + chosen)[:, None])
    return lambda T: (features(T) @ coef).argmax(axis=1)


def fit_joint_logistic(X: np.ndarray, y: np.ndarray, n_classes: int):
    """scikit-learn's multinomial logistic regression, converged, with C chosen by 3-fold
    cross-validation on these training photos only: the tuned bound."""
    from sklearn.linear_model import LogisticRegressionCV

    model = LogisticRegressionCV(
        Cs=np.logspace(-1, 4, 11), cv=3, max_iter=3000, scoring="accuracy", l1_ratios=(0.0,),
        use_legacy_attributes=False,
    )  # fmt: skip
    features = FeatureMap()
    model.fit(features(X), y)
    return lambda T: model.predict(features(T))


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
