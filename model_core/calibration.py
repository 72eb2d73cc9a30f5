"""Honest percentages, learned from the stream itself.

Before a learner learns a photo it has already guessed it; the answer the photo got says
whether that guess was right. `StreamCalibration` keeps, from those prequential guesses:

- the softmax temperature that would have given them the highest likelihood, chosen on a fixed
  log-spaced grid whose decayed negative log-likelihoods are all kept up to date (a vector of
  48 numbers; no sample is stored), so the shown probability follows the data as it grows;
- how often guesses shown at each confidence were right, so the "sure" threshold is the lowest
  confidence above which at least `SURE_ACCURACY` of guesses were right.

Older guesses fade with `DECAY` per observation (a memory of about 1/(1 - DECAY) photos): the
head that made them has since learned more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEMPERATURES = np.logspace(np.log10(0.003), np.log10(3.0), 48)
CONFIDENCE_BINS = 20  # equal-width bins of the shown top probability
DECAY = 0.998
SURE_ACCURACY = 0.95  # "sure" guesses must be right at least this often
MIN_GUESSES = 30  # before this many, the learner's default temperature and threshold hold
MIN_SURE_EVIDENCE = 20.0  # guesses above a threshold needed to trust their accuracy
DEFAULT_SURE_THRESHOLD = 0.5


@dataclass
class StreamCalibration:
    """Decayed statistics of the learner's own first guesses (learned state, saved with it)."""

    nll: np.ndarray  # (len(TEMPERATURES),) decayed negative log-likelihood per temperature
    shown: np.ndarray  # (CONFIDENCE_BINS,) decayed count of guesses per shown confidence
    right: np.ndarray  # (CONFIDENCE_BINS,) of which were right
    guesses: float = 0.0  # all observed guesses, not decayed

    @classmethod
    def empty(cls) -> StreamCalibration:
        return cls(
            np.zeros(len(TEMPERATURES)), np.zeros(CONFIDENCE_BINS), np.zeros(CONFIDENCE_BINS)
        )

    def observe(self, scores: np.ndarray, label: int | None, temperature: float) -> None:
        """One guess: the active classes' scores, the true class's position among them (None
        for a label's first example, which no guess could name), and the temperature that
        turned the scores into the percentage the contributor was shown."""
        scores = np.asarray(scores, np.float64)
        if label is not None:  # a first example says nothing about the best temperature
            logits = (scores - scores.max())[None, :] / TEMPERATURES[:, None]
            log_norm = np.log(np.exp(logits).sum(axis=1))
            self.nll = DECAY * self.nll + (log_norm - logits[:, label])
        shown = _softmax(scores / temperature)
        top = int(shown.argmax())
        bin_ = min(int(shown[top] * CONFIDENCE_BINS), CONFIDENCE_BINS - 1)
        self.shown *= DECAY
        self.right *= DECAY
        self.shown[bin_] += 1.0
        self.right[bin_] += float(top == label)
        self.guesses += 1

    def temperature(self, default: float) -> float:
        if self.guesses < MIN_GUESSES:
            return default
        return float(TEMPERATURES[int(self.nll.argmin())])

    def sure_threshold(self) -> float:
        """The lowest bin edge above which guesses were right at least SURE_ACCURACY of the
        time; 1.0 (never sure) when no confidence earns it, the default before enough data."""
        if self.guesses < MIN_GUESSES:
            return DEFAULT_SURE_THRESHOLD
        shown_above = np.cumsum(self.shown[::-1])[::-1]
        right_above = np.cumsum(self.right[::-1])[::-1]
        earned = (shown_above >= MIN_SURE_EVIDENCE) & (
            right_above >= SURE_ACCURACY * np.maximum(shown_above, 1e-12)
        )
        if not earned.any():
            return 1.0
        return float(np.flatnonzero(earned)[0] / CONFIDENCE_BINS)

    def get_state(self) -> dict[str, np.ndarray]:
        return {
            "calibration_nll_": self.nll,
            "calibration_shown_": self.shown,
            "calibration_right_": self.right,
            "calibration_guesses_": np.array(self.guesses),
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> StreamCalibration:
        """A saved calibration, or an empty one for models saved before it existed."""
        if "calibration_nll_" not in state:
            return cls.empty()
        return cls(
            np.array(state["calibration_nll_"], np.float64),
            np.array(state["calibration_shown_"], np.float64),
            np.array(state["calibration_right_"], np.float64),
            float(state["calibration_guesses_"]),
        )


def _softmax(scores: np.ndarray) -> np.ndarray:
    weights = np.exp(scores - scores.max())
    return weights / weights.sum()
