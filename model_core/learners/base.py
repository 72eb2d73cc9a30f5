"""The interface every incremental learner shares, in the spirit of scikit-learn's
`partial_fit` estimators: hyperparameters in `__init__`, learned state in attributes ending in
`_`, created by the first update.

Every learner here is a linear read-out of a fixed feature map of the embedding, so a learner
can hand readers an immutable `LinearPredictor` snapshot (numpy arrays, no TensorFlow) while its
single writer goes on training.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from model_core.calibration import StreamCalibration


class NotFittedError(RuntimeError):
    """The learner has no classes yet."""


@dataclass(frozen=True)
class FeatureMap:
    """Fixed map from backbone embeddings to the features a head reads.

    L2 normalisation makes photos comparable whatever their contrast; the optional random
    projection with ReLU is RanPAC's; the optional constant feature acts as a bias.
    """

    projection: np.ndarray | None = None
    bias_feature: bool = False

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        x = np.asarray(embeddings, np.float64)  # float64: per-sample and batch results agree
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        if self.projection is not None:
            x = np.maximum(x @ self.projection, 0)
        if self.bias_feature:
            x = np.hstack([x, np.ones((len(x), 1), x.dtype)])
        return x


@dataclass(frozen=True)
class LinearPredictor:
    """An immutable copy of a learner's read-out: safe to use from any thread, any time."""

    features: FeatureMap
    kernel: np.ndarray  # (n_features, n_classes)
    bias: np.ndarray  # (n_classes,)
    active: np.ndarray  # (n_classes,) bool: has an example and is not retired
    temperature: float = 1.0
    sure_threshold: float = 0.5  # a top probability below this is shown as a doubt

    def decision_function(self, embeddings: np.ndarray) -> np.ndarray:
        if not self.active.any():
            return np.full((len(embeddings), len(self.active)), -np.inf)
        scores = self.features(embeddings) @ self.kernel + self.bias
        return np.where(self.active, scores, -np.inf)

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Probabilities over the active classes; inactive ones get exactly 0."""
        if not self.active.any():
            return np.zeros((len(embeddings), len(self.active)))
        scores = self.decision_function(embeddings) / self.temperature
        scores -= scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        return weights / weights.sum(axis=1, keepdims=True)


class IncrementalLearner(ABC):
    """Class-incremental learner over fixed-size embeddings and integer class ids 0..n-1."""

    name: ClassVar[str]

    # ---- public API --------------------------------------------------------------------------

    def add_classes(self, n: int = 1) -> Self:
        """Adds `n` output units. They stay masked (never predicted) until their first example,
        so adding a class changes no prediction among the existing ones."""
        if n < 1:
            raise ValueError(f"n must be at least 1; got {n}")
        self._ensure_bookkeeping()
        self.counts_ = np.concatenate([self.counts_, np.zeros(n, np.int64)])
        self.retired_ = np.concatenate([self.retired_, np.zeros(n, bool)])
        if self.is_initialized:
            self._grow(n)
        return self

    def partial_fit(self, X: np.ndarray, y: np.ndarray, sample_weight: float = 1.0) -> Self:
        """Learns from samples one at a time, in order, each with weight `sample_weight`.

        A negative weight takes back a sample learned with the opposite weight (exactly for
        learners that support it): how a crowd's changing consensus is followed. Each learned
        sample counts as one example of its class whatever its weight. Before learning a
        sample with a positive weight, the learner's guess on it feeds `calibration_`.
        """
        X, y = self._check_samples(X, y)
        if not np.isfinite(sample_weight) or sample_weight == 0:
            raise ValueError(f"sample_weight must be finite and non-zero; got {sample_weight}")
        if sample_weight < 0 and (np.bincount(y, minlength=self.n_classes_) > self.counts_).any():
            raise ValueError("cannot unlearn more examples of a class than it has")
        if not self.is_initialized:
            self._initialize(X.shape[1])
        for x, label in zip(X, y, strict=True):
            if sample_weight > 0:
                self._observe_guess(x, int(label))
            self._learn_one(x, int(label), float(sample_weight))
            self.counts_[label] += 1 if sample_weight > 0 else -1
        return self

    def settle(self) -> Self:
        """After many samples learned in one go (a rebuild), chooses once, on all of them,
        whatever the learner otherwise re-chooses on its own schedule as samples arrive."""
        return self

    def retire_class(self, label: int) -> Self:
        """Masks a class for good; its unit and statistics are kept."""
        self._check_class(label)
        self.retired_[label] = True
        return self

    def snapshot(self) -> LinearPredictor:
        self._check_has_classes()
        if not self.is_initialized:  # nothing learned yet: every class is inactive
            n = len(self.counts_)
            return LinearPredictor(FeatureMap(), np.zeros((0, n)), np.zeros(n), self.active_)
        kernel, bias = self._linear()
        return LinearPredictor(
            self._features(),
            kernel.copy(),
            bias.copy(),
            self.active_,
            self.calibration_.temperature(self._temperature()),
            self.calibration_.sure_threshold(),
        )

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """X : array of shape (n_samples, n_features) -> array of shape (n_samples, n_classes)."""
        return self.snapshot().predict_proba(self._check_embeddings(X))

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.snapshot().decision_function(self._check_embeddings(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most likely active class per sample; -1 where no class is active yet."""
        scores = self.decision_function(X)
        return np.where(self.active_.any(), scores.argmax(axis=1), -1)

    @property
    def n_classes_(self) -> int:
        return len(getattr(self, "counts_", ()))

    @property
    def active_(self) -> np.ndarray:
        return (self.counts_ > 0) & ~self.retired_

    @property
    def is_initialized(self) -> bool:
        return hasattr(self, "n_features_")

    # ---- persistence -------------------------------------------------------------------------

    @abstractmethod
    def get_config(self) -> dict[str, Any]:
        """The constructor's keyword arguments, JSON-safe."""

    def get_state(self) -> dict[str, np.ndarray]:
        """Every learned array; with `get_config`, enough to rebuild the learner exactly."""
        self._ensure_bookkeeping()  # a model with no labels yet is saved too
        state = {"counts_": self.counts_, "retired_": self.retired_}
        state.update(self.calibration_.get_state())
        if self.is_initialized:
            state["n_features_"] = np.array(self.n_features_)
            state.update(self._get_learned_state())
        return state

    @classmethod
    def from_state(cls, config: dict[str, Any], state: dict[str, np.ndarray]) -> Self:
        learner = cls(**config)
        learner.counts_ = np.array(state["counts_"], np.int64)
        learner.retired_ = np.array(state["retired_"], bool)
        learner.calibration_ = StreamCalibration.from_state(state)
        if "n_features_" in state:
            learner.n_features_ = int(state["n_features_"])
            learner._set_learned_state(state)
        return learner

    def _ensure_bookkeeping(self) -> None:
        if not hasattr(self, "counts_"):
            self.counts_ = np.zeros(0, np.int64)
            self.retired_ = np.zeros(0, bool)
            self.calibration_ = StreamCalibration.empty()

    def _observe_guess(self, x: np.ndarray, label: int) -> None:
        """What the contributor saw before this answer, against the answer (prequential)."""
        active = self.active_
        if not self.is_initialized or active.sum() < 2:
            return  # no guess, or one that could not be otherwise: nothing to calibrate
        kernel, bias = self._linear()
        scores = (self._features()(x[None]) @ kernel + bias)[0, active]
        position = int(np.count_nonzero(active[:label])) if active[label] else None
        self.calibration_.observe(
            scores, position, self.calibration_.temperature(self._temperature())
        )

    # ---- for subclasses ----------------------------------------------------------------------

    @abstractmethod
    def _initialize(self, n_features: int) -> None:
        """Creates the learned state for `n_features` inputs and `n_classes_` units."""

    @abstractmethod
    def _grow(self, n: int) -> None:
        """Adds `n` units to already initialised state, leaving the old ones untouched."""

    @abstractmethod
    def _learn_one(self, x: np.ndarray, label: int, weight: float) -> None:
        """One single-sample update."""

    @abstractmethod
    def _linear(self) -> tuple[np.ndarray, np.ndarray]:
        """The current read-out (kernel, bias) over `_features()`."""

    @abstractmethod
    def _features(self) -> FeatureMap: ...

    def _temperature(self) -> float:
        return 1.0

    @abstractmethod
    def _get_learned_state(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _set_learned_state(self, state: dict[str, np.ndarray]) -> None: ...

    # ---- checks ------------------------------------------------------------------------------

    def _check_has_classes(self) -> None:
        if self.n_classes_ == 0:
            raise NotFittedError(f"{type(self).__name__} has no classes yet; call add_classes")

    def _check_class(self, label: int) -> None:
        self._check_has_classes()
        if not 0 <= label < self.n_classes_:
            raise ValueError(f"unknown class id {label}; the learner has {self.n_classes_}")

    def _check_embeddings(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"expected embeddings of shape (n_samples, n_features); got {X.shape}")
        if self.is_initialized and X.shape[1] != self.n_features_:
            raise ValueError(
                f"X has {X.shape[1]} features, but the learner was fitted with {self.n_features_}"
            )
        if not np.isfinite(X).all():
            raise ValueError("embeddings contain NaN or infinity")
        return X

    def _check_samples(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X, y = self._check_embeddings(X), np.asarray(y).reshape(-1)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
        for label in y:
            self._check_class(int(label))
            if self.retired_[label]:
                raise ValueError(f"class {int(label)} is retired")
        return X, y.astype(np.int64)
