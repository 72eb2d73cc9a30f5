"""Every learner through the same label orders, and the figures the README quotes.

Each seed draws one label order and one sample order; all learners see exactly those, so the
differences between them are the learners', not the luck of the draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from benchmarks.protocol import RunResult, Split, fit_joint_ridge, run_joint, run_learner
from model_core.learners import make_learner
from model_core.learners.base import IncrementalLearner
from model_core.progress import ProgressFactory, no_progress


def _baseline(class_name: str) -> Callable[[], IncrementalLearner]:
    """A baseline's factory; the baselines need TensorFlow, loaded only when one runs."""

    def make() -> IncrementalLearner:
        from benchmarks import baselines

        return getattr(baselines, class_name)()

    return make


def _fit_joint_logistic(X: np.ndarray, y: np.ndarray, n_classes: int):
    from benchmarks.baselines import fit_joint_logistic

    return fit_joint_logistic(X, y, n_classes)


LEARNERS: dict[str, Callable[[], IncrementalLearner]] = {
    "seed": _baseline("SeedLearner"),
    "finetune": _baseline("FinetuneLearner"),
    "ncm": _baseline("NCMLearner"),
    "cgan": lambda: make_learner("cgan"),
    "analytic": lambda: make_learner("analytic"),
}
JOINT_FITS = {"joint_ridge": fit_joint_ridge, "joint_logistic": _fit_joint_logistic}
JOINT = "joint"  # per seed, the better of the two offline fits: the bound ratios refer to


def run_all(
    split: Split,
    learners: Sequence[str],
    seeds: Sequence[int],
    base: int,
    progress: ProgressFactory = no_progress,
) -> dict[str, list[RunResult]]:
    """Runs each learner and both joint fits on every seed's label order."""
    results: dict[str, list[RunResult]] = {name: [] for name in [*learners, *JOINT_FITS]}
    jobs = [(seed, name) for seed in seeds for name in results]
    done = progress("benchmark runs", len(jobs))
    for seed, name in jobs:
        order = np.random.default_rng(seed).permutation(len(split.names))
        if name in JOINT_FITS:
            results[name].append(run_joint(JOINT_FITS[name], split, order, base))
        else:
            results[name].append(run_learner(LEARNERS[name], split, order, base, seed))
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
        "final_accuracy": _stats([r.accuracy[-1] for r in runs]),
        "average_incremental_accuracy": _stats([np.mean(r.accuracy) for r in runs]),
        "forgetting": _stats([forgetting(r) for r in runs]),
        "old_accuracy_last_phase": _stats([r.old_accuracy[-1] for r in runs]),
        "new_accuracy_last_phase": _stats([r.new_accuracy[-1] for r in runs]),
        "ratio_to_joint": _stats([r.accuracy[-1] / b for r, b in zip(runs, bound, strict=True)]),
        "accuracy_per_phase": _per_phase([r.accuracy for r in runs]),
        "old_accuracy_per_phase": _per_phase([r.old_accuracy for r in runs]),
        "new_accuracy_per_phase": _per_phase([r.new_accuracy for r in runs]),
        "labels_per_phase": [len(p) for p in runs[0].per_label_accuracy],
    }
    if runs[0].update_seconds:  # an incremental learner, not an offline fit
        updates = [np.array(r.update_seconds) * 1e3 for r in runs]
        figures |= {
            "first_guess_accuracy": _stats([np.mean(r.first_guesses) for r in runs]),
            "update_latency_p50_ms": _stats([np.percentile(u, 50) for u in updates]),
            "update_latency_p99_ms": _stats([np.percentile(u, 99) for u in updates]),
            "add_label_latency_ms": _stats([np.median(r.add_label_seconds) * 1e3 for r in runs]),
            "predict_latency_us_per_embedding": _stats(
                [r.predict_seconds_per_embedding * 1e6 for r in runs]
            ),
            "state_bytes": _stats([r.state_bytes for r in runs]),
        }
    return figures


def forgetting(run: RunResult) -> float:
    """Mean over the labels seen before the last phase of (best accuracy before) - (final)."""
    final = run.per_label_accuracy[-1]
    drops = [
        max(phase[label] for phase in run.per_label_accuracy[:-1] if label in phase) - final[label]
        for label in run.per_label_accuracy[-2]
    ]
    return float(np.mean(drops)) if drops else 0.0


def _stats(values: Sequence[float]) -> dict[str, float]:
    values = np.asarray(values, np.float64)
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
