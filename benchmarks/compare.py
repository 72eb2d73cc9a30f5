"""Every learner through the same streams, and the figures docs/benchmarks.md quotes.

Each seed draws one label order and one photo order; all learners see exactly those, so the
differences between them are the learners', not the luck of the draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from benchmarks.protocol import (
    GUESS_EXAMPLES,
    NEW_LABEL_EXAMPLES,
    RunResult,
    Split,
    fit_joint_logistic,
    fit_joint_ridge,
    make_stream,
    run_joint,
    run_learner,
)
from model_core.learners import make_learner
from model_core.learners.base import IncrementalLearner
from model_core.progress import ProgressFactory, no_progress

SURE_ACCURACY_TARGET = 0.95
CALIBRATION_BINS = 15


def _baseline(class_name: str) -> Callable[[], IncrementalLearner]:
    """A baseline's factory; the baselines need TensorFlow, loaded only when one runs."""

    def make() -> IncrementalLearner:
        from benchmarks import baselines

        return getattr(baselines, class_name)()

    return make


LEARNERS: dict[str, Callable[[], IncrementalLearner]] = {
    "seed": _baseline("SeedLearner"),
    "finetune": _baseline("FinetuneLearner"),
    "ncm": _baseline("NCMLearner"),
    "lda": _baseline("LDALearner"),
    "cgan": lambda: make_learner("cgan"),
    "analytic": lambda: make_learner("analytic"),
}
JOINT_FITS = ("joint_ridge", "joint_logistic")
JOINT = "joint"  # per seed, the better of the two offline fits: the bound ratios refer to


def run_all(
    split: Split,
    learners: Sequence[str],
    seeds: Sequence[int],
    base: int,
    stream: str = "mixed",
    progress: ProgressFactory = no_progress,
) -> dict[str, list[RunResult]]:
    """Runs each learner and both joint fits on every seed's stream.

    The logistic bound is fitted once, after the last phase: it then holds every photo, so its
    accuracy is the same for every order (a fit takes seconds, too slow to repeat per phase).
    """
    results: dict[str, list[RunResult]] = {name: [] for name in [*learners, *JOINT_FITS]}
    jobs = [(seed, name) for seed in seeds for name in results]
    done = progress("benchmark runs", len(jobs))
    for seed, name in jobs:
        flow = make_stream(split.y, len(split.names), base, seed, stream)
        if name == "joint_ridge":
            results[name].append(run_joint(fit_joint_ridge, split, flow))
        elif name == "joint_logistic":
            first = results[name][0] if results[name] else None
            results[name].append(first or run_joint(fit_joint_logistic, split, flow, True))
        else:
            results[name].append(run_learner(LEARNERS[name], split, flow))
        done(1)
    results[JOINT] = [
        max(runs, key=lambda run: run.accuracy[-1])
        for runs in zip(*(results[name] for name in JOINT_FITS), strict=True)
    ]
    return results


def summarize(results: dict[str, list[RunResult]]) -> dict[str, dict]:
    """Mean and standard deviation over seeds of every figure, one object per learner."""
    bound = [run.accuracy[-1] for run in results[JOINT]]
    return {name: _figures(runs, bound) for name, runs in results.items()}


def _figures(runs: list[RunResult], bound: list[float]) -> dict:
    figures = {
        "final_accuracy": stats([r.accuracy[-1] for r in runs]),
        "average_incremental_accuracy": stats([np.mean(r.accuracy) for r in runs]),
        "forgetting": stats([forgetting(r) for r in runs]),
        "old_accuracy_last_phase": stats([r.old_accuracy[-1] for r in runs]),
        "new_accuracy_last_phase": stats([r.new_accuracy[-1] for r in runs]),
        "ratio_to_joint": stats([r.accuracy[-1] / b for r, b in zip(runs, bound, strict=True)]),
        "accuracy_per_phase": _per_phase([r.accuracy for r in runs]),
        "old_accuracy_per_phase": _per_phase([r.old_accuracy for r in runs]),
        "new_accuracy_per_phase": _per_phase([r.new_accuracy for r in runs]),
        "labels_per_phase": [len(p) for p in runs[0].per_label_accuracy],
    }
    if runs[0].update_seconds:  # an incremental learner, not an offline fit
        updates = [np.array(r.update_seconds) * 1e3 for r in runs]
        figures |= {
            "first_guess_accuracy": stats([np.mean(r.first_guesses) for r in runs]),
            **{
                f"first_guess_on_example_{k}": stats([_on_example(r, k) for r in runs])
                for k in GUESS_EXAMPLES
            },
            **{
                f"new_label_accuracy_after_{k}": stats(
                    [_mean(r.new_label_accuracy[k]) for r in runs]
                )
                for k in NEW_LABEL_EXAMPLES
            },
            **_calibration(runs),
            "update_latency_p50_ms": stats([np.percentile(u, 50) for u in updates]),
            "update_latency_p99_ms": stats([np.percentile(u, 99) for u in updates]),
            "add_label_latency_ms": stats([np.median(r.add_label_seconds) * 1e3 for r in runs]),
            "predict_latency_us_per_embedding": stats(
                [r.predict_seconds_per_embedding * 1e6 for r in runs]
            ),
            "state_bytes": stats([r.state_bytes for r in runs]),
        }
    return figures


def _on_example(run: RunResult, k: int) -> float:
    return _mean([ok for ok, n in zip(run.first_guesses, run.guess_example, strict=True) if n == k])


def _mean(values: Sequence[float]) -> float:
    """NaN for no values (a label never reached that many examples), without a warning."""
    return float(np.mean(values)) if len(values) else np.nan


def _calibration(runs: list[RunResult]) -> dict[str, dict[str, float]]:
    """Expected calibration error of the shown percentage, and how the "sure" split did."""
    ece, sure_acc, unsure_acc, sure_share = [], [], [], []
    for run in runs:
        confidence = np.array(run.shown_confidence)
        shown = ~np.isnan(confidence)
        right = np.array(run.first_guesses)[shown]
        sure = np.array(run.shown_sure)[shown]
        ece.append(expected_calibration_error(confidence[shown], right))
        sure_acc.append(right[sure].mean() if sure.any() else np.nan)
        unsure_acc.append(right[~sure].mean() if (~sure).any() else np.nan)
        sure_share.append(sure.mean())
    return {
        "calibration_error": stats(ece),
        "sure_guess_accuracy": stats(sure_acc),
        "unsure_guess_accuracy": stats(unsure_acc),
        "sure_share": stats(sure_share),
    }


def expected_calibration_error(confidence: np.ndarray, right: np.ndarray) -> float:
    """ECE: over equal-width confidence bins, |accuracy - mean confidence| weighted by size."""
    if not len(confidence):
        return np.nan
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    gaps = [
        abs(right[bins == b].mean() - confidence[bins == b].mean()) * np.mean(bins == b)
        for b in np.unique(bins)
    ]
    return float(np.sum(gaps))


def forgetting(run: RunResult) -> float:
    """Mean over the labels seen before the last phase of (best accuracy before) - (final)."""
    final = run.per_label_accuracy[-1]
    drops = [
        max(phase[label] for phase in run.per_label_accuracy[:-1] if label in phase) - final[label]
        for label in run.per_label_accuracy[-2]
    ]
    return float(np.mean(drops)) if drops else 0.0


def stats(values: Sequence[float]) -> dict[str, float | None]:
    """None where no run has the figure (JSON has no NaN)."""
    values = np.asarray(values, np.float64)
    if np.isnan(values).all():
        return {"mean": None, "std": None}
    return {"mean": float(np.nanmean(values)), "std": float(np.nanstd(values))}


def _per_phase(curves: list[list[float]]) -> dict[str, list[float | None]]:
    """Per-phase mean and std; None where no run has a value (old labels of the base phase)."""
    curves = np.asarray(curves, np.float64)
    defined = ~np.isnan(curves).all(axis=0)
    safe = np.where(defined, curves, 0.0)
    return {
        key: [float(v) if ok else None for v, ok in zip(values, defined, strict=True)]
        for key, values in (("mean", safe.mean(axis=0)), ("std", safe.std(axis=0)))
    }
