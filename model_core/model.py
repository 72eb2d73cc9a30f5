"""The whole learned state: labels, learner, version and the last event applied.

`LabelModel` is the synchronous core, usable from a script or notebook. Its methods are the only
way the state changes; each change bumps the version. Events carry ids (the bot's vote ids):
an event whose id is not above the last one applied is skipped, which makes replay after a
crash idempotent. `ModelSnapshot` is what readers get: immutable, so it never tears.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from model_core.calibration import DEFAULT_SURE_THRESHOLD
from model_core.checkpoints import Checkpoint
from model_core.labels import Label, LabelError, LabelSet
from model_core.learners import learner_class, make_learner
from model_core.learners.base import IncrementalLearner, LinearPredictor


@dataclass(frozen=True)
class Guess:
    label_id: int
    name: str
    probability: float


@dataclass(frozen=True)
class ModelSnapshot:
    """One complete model version, safe to read from any thread while the writer goes on."""

    version: int
    learner: str
    labels: LabelSet
    predictor: LinearPredictor | None
    example_counts: tuple[int, ...] = ()
    backbone: str | None = None  # see LabelModel.backbone

    @property
    def sure_threshold(self) -> float:
        """The top probability from which a guess is shown as sure: calibrated by the learner
        on its own first guesses so that sure guesses are right at least 95% of the time."""
        return self.predictor.sure_threshold if self.predictor else DEFAULT_SURE_THRESHOLD

    def examples_of(self, label_id: int) -> int:
        """How many answers taught this label (0 for a label added after this version)."""
        return self.example_counts[label_id] if label_id < len(self.example_counts) else 0

    def predict(self, embeddings: np.ndarray, top_k: int = 3) -> list[list[Guess]]:
        """The `top_k` most likely labels per embedding, best first; [] when none is known."""
        embeddings = np.asarray(embeddings, np.float32)
        if self.predictor is None or not self.predictor.active.any():
            return [[] for _ in embeddings]
        probabilities = self.predictor.predict_proba(embeddings)
        k = min(top_k, int(self.predictor.active.sum()))
        return [
            [Guess(int(i), self.labels[int(i)].name, float(row[i])) for i in np.argsort(-row)[:k]]
            for row in probabilities
        ]


class LabelModel:
    """Labels plus an incremental learner, changed only through the methods below."""

    def __init__(
        self,
        learner: IncrementalLearner,
        labels: LabelSet = LabelSet(),
        *,
        version: int = 0,
        last_event_id: int = 0,
        journal_origin: float | None = None,
        backbone: str | None = None,
    ) -> None:
        self.learner = learner
        self.labels = labels
        self.version = version
        self.last_event_id = last_event_id
        # When the journal this model follows began (its first event's time): a store whose
        # journal began elsewhere is another bot's, whatever its event ids say.
        self.journal_origin = journal_origin
        # The backbone whose embeddings it learned, once `labelbot rebuild` chose one; None
        # for a model that has always read photos with the configured backbone.
        self.backbone = backbone

    @classmethod
    def new(cls, learner: str, **params) -> LabelModel:
        return cls(make_learner(learner, **params))

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> LabelModel:
        learner = learner_class(checkpoint.learner).from_state(checkpoint.config, checkpoint.state)
        return cls(
            learner,
            LabelSet.from_json(checkpoint.labels),
            version=checkpoint.version,
            last_event_id=checkpoint.last_event_id,
            journal_origin=checkpoint.journal_origin,
            backbone=checkpoint.backbone,
        )

    def to_checkpoint(self) -> Checkpoint:
        return Checkpoint(
            version=self.version,
            last_event_id=self.last_event_id,
            journal_origin=self.journal_origin,
            backbone=self.backbone,
            learner=self.learner.name,
            config=self.learner.get_config(),
            labels=self.labels.to_json(),
            state={k: np.array(v) for k, v in self.learner.get_state().items()},
        )

    def snapshot(self) -> ModelSnapshot:
        name = self.learner.name
        if not len(self.labels):
            return ModelSnapshot(self.version, name, self.labels, None, backbone=self.backbone)
        counts = tuple(int(n) for n in self.learner.counts_)
        return ModelSnapshot(
            self.version, name, self.labels, self.learner.snapshot(), counts, self.backbone
        )

    def is_applied(self, event_id: int | None) -> bool:
        """True for an event this model already includes (skipped on replay)."""
        return event_id is not None and event_id <= self.last_event_id

    # ---- writes ------------------------------------------------------------------------------

    def add_label(self, name: str, event_id: int | None = None) -> Label:
        labels, label = self.labels.with_new(name)
        self.learner.add_classes(1)
        self.labels = labels
        self._bump(event_id)
        return label

    def reserve_ids_of(self, labels: LabelSet) -> None:
        """Keeps the ids of `labels` that this state lacks (labels added after the version a
        rollback restored) as retired labels, so that no id is ever handed out twice and every
        stored vote keeps naming the label it was cast for."""
        later = labels.labels[len(self.labels) :]
        if not later:
            return
        self.learner.add_classes(len(later))
        for label in later:
            self.learner.retire_class(label.id)
        self.labels = LabelSet((*self.labels, *(replace(x, retired=True) for x in later)))

    def rename_label(self, label_id: int, new_name: str, event_id: int | None = None) -> Label:
        self.labels = self.labels.renamed(label_id, new_name)
        self._bump(event_id)
        return self.labels[label_id]

    def retire_label(self, label_id: int, event_id: int | None = None) -> Label:
        labels = self.labels.retired(label_id)
        self.learner.retire_class(label_id)
        self.labels = labels
        self._bump(event_id)
        return self.labels[label_id]

    def reinforce(
        self, embedding: np.ndarray, label_id: int, event_id: int | None = None, weight=1.0
    ) -> int:
        """Learns one answer: this embedding shows this label (with this weight)."""
        self._check_usable(label_id)
        self._fit(embedding, label_id, weight)
        return self._bump(event_id)

    def unlearn(
        self, embedding: np.ndarray, label_id: int, event_id: int | None = None, weight=1.0
    ) -> int:
        """Takes one earlier answer back (exactly, for the analytic learner)."""
        self.labels[label_id]
        self._fit(embedding, label_id, -weight)
        return self._bump(event_id)

    def _fit(self, embedding: np.ndarray, label_id: int, weight: float) -> None:
        self.learner.partial_fit(np.asarray(embedding, np.float32)[None], [label_id], weight)

    def _check_usable(self, label_id: int) -> None:
        label = self.labels[label_id]
        if label.retired:
            raise LabelError(f"The label {label.name!r} is retired.")

    def _bump(self, event_id: int | None) -> int:
        self.version += 1
        if event_id is not None:
            self.last_event_id = max(self.last_event_id, event_id)
        return self.version
