"""The admin's scenario, `labelbot bench --stream addlabel`: a label added mid-campaign.

The bot already knows its other labels well when an admin sends `/addlabel Oat-Milk`, and the
first oat-milk photos people confirm should be enough for it to start guessing "Oat-Milk".
So, for each of a fixed sample of labels (the same for every learner and seed): every other
label is taught all its training photos (in one fixed order), then the chosen label is added
and its training photos arrive one at a time, in the seed's order. After its 1st, 2nd, 5th,
10th and 20th example the run records

- the new label's **recall**: the share of its test photos the model now names correctly;
- the **overall accuracy** on every test photo (a head that sends everything to the newcomer
  cannot win this one);
- the share of the new label's test photos whose guess is **sure and wrong** (shown without
  "not sure", yet not the new label): the guesses that mislead a contributor most;

and after all its examples, the final overall accuracy. Figures are averaged over the chosen
labels and seeds, with their spread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from benchmarks.compare import stats
from benchmarks.protocol import Split
from model_core.learners.base import IncrementalLearner
from model_core.progress import ProgressFactory, no_progress

CHECKPOINTS = (1, 2, 5, 10, 20)  # examples of the new label after which it is measured
CHOSEN_LABELS = 8  # labels each taking its turn as the new one (all, if the set has fewer)


@dataclass
class AddLabelRun:
    """One learner, one chosen label, one seed: each figure by examples of the new label."""

    recall: dict[int, float] = field(default_factory=dict)
    overall: dict[int, float] = field(default_factory=dict)
    sure_wrong: dict[int, float] = field(default_factory=dict)
    final_accuracy: float = np.nan


def chosen_labels(n_labels: int, count: int = CHOSEN_LABELS) -> list[int]:
    """A fixed sample of the data's labels (the same for every learner, seed and run)."""
    if n_labels <= count:
        return list(range(n_labels))
    return sorted(int(x) for x in np.random.default_rng(0).choice(n_labels, count, False))


def run_addlabels(
    learners: dict[str, Callable[[], IncrementalLearner]],
    split: Split,
    seeds: Sequence[int],
    progress: ProgressFactory = no_progress,
) -> dict[str, list[AddLabelRun]]:
    """Every learner on every chosen label and seed. The other labels are taught once per
    learner and chosen label; each seed then continues from a copy of that learner."""
    labels = chosen_labels(len(split.names))
    done = progress("add-a-label runs", len(learners) * len(labels))
    runs: dict[str, list[AddLabelRun]] = {name: [] for name in learners}
    for name, make in learners.items():
        for label in labels:
            taught = _taught_the_others(make, split, label)
            for seed in seeds:
                runs[name].append(run_addlabel(_copy(taught), split, label, seed))
            done(1)
    return runs


def _taught_the_others(make, split: Split, label: int) -> IncrementalLearner:
    """A learner that knows every label but `label`, from all their training photos; the
    classes are numbered in label order with `label` left out, and it is added last."""
    learner = make()
    learner.add_classes(len(split.names) - 1)
    others = np.flatnonzero(split.y != label)
    for i in np.random.default_rng(1000 + label).permutation(others):
        learner.partial_fit(split.X[i : i + 1], [_unit(int(split.y[i]), label)])
    return learner


def run_addlabel(learner: IncrementalLearner, split: Split, label: int, seed: int) -> AddLabelRun:
    """The chosen label added to a learner that knows the others, and taught one example at
    a time in the seed's order, measured after each of CHECKPOINTS examples."""
    run, new = AddLabelRun(), len(split.names) - 1
    learner.add_classes(1)
    truth = np.where(split.ty == label, new, split.ty - (split.ty > label))
    is_new = split.ty == label
    photos = np.random.default_rng(seed).permutation(np.flatnonzero(split.y == label))
    for n, i in enumerate(photos, 1):
        learner.partial_fit(split.X[i : i + 1], [new])
        if n in CHECKPOINTS:
            snapshot = learner.snapshot()
            probabilities = snapshot.predict_proba(split.T)
            guesses = probabilities.argmax(axis=1)
            sure = probabilities.max(axis=1) >= snapshot.sure_threshold
            run.recall[n] = float((guesses[is_new] == new).mean())
            run.overall[n] = float((guesses == truth).mean())
            run.sure_wrong[n] = float((sure & (guesses != new))[is_new].mean())
    run.final_accuracy = float((learner.predict(split.T) == truth).mean())
    return run


def summarize_addlabel(runs: dict[str, list[AddLabelRun]]) -> dict[str, dict]:
    """Mean and spread over chosen labels and seeds, per learner. A label with fewer training
    photos than a checkpoint has no figure there (left out of that mean)."""
    return {name: _figures(learner_runs) for name, learner_runs in runs.items()}


def _figures(runs: list[AddLabelRun]) -> dict:
    figures = {"final_accuracy": stats([r.final_accuracy for r in runs])}
    for k in CHECKPOINTS:
        figures[f"new_label_recall_after_{k}"] = stats([r.recall.get(k, np.nan) for r in runs])
        figures[f"overall_accuracy_after_{k}"] = stats([r.overall.get(k, np.nan) for r in runs])
        figures[f"sure_but_wrong_after_{k}"] = stats([r.sure_wrong.get(k, np.nan) for r in runs])
    return figures


def _unit(data_label: int, new_label: int) -> int:
    """The learner's class of a data label: the others in order, the new one last."""
    if data_label == new_label:
        raise ValueError("the new label's class is the last one")
    return data_label - (data_label > new_label)


def _copy(learner: IncrementalLearner) -> IncrementalLearner:
    """A learner in the same state, by its own serialization (Keras' contract). The softmax
    baselines keep no optimizer state in it: their copies start with fresh moments."""
    return type(learner).from_state(learner.get_config(), learner.get_state())


def addlabel_tables(summary: dict[str, dict]) -> str:
    """Three tables: recall of the new label, overall accuracy, sure-but-wrong; by examples."""
    parts = []
    for key, title in (
        ("new_label_recall_after", "The new label's recall (its test photos named correctly)"),
        ("overall_accuracy_after", "Accuracy on all test photos"),
        ("sure_but_wrong_after", "The new label's test photos guessed wrong but shown as sure"),
    ):
        lines = [
            f"{title}, after its n-th example:",
            "",
            "| learner | " + " | ".join(f"n = {k}" for k in CHECKPOINTS) + " |",
            "|---" * (len(CHECKPOINTS) + 1) + "|",
        ]
        for name, figures in summary.items():
            cells = [_cell(figures[f"{key}_{k}"]) for k in CHECKPOINTS]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    final = ["| learner | final accuracy |", "|---|---|"] + [
        f"| {name} | {_cell(f['final_accuracy'])} |" for name, f in summary.items()
    ]
    parts.append("After all its training photos:\n\n" + "\n".join(final))
    return "\n\n".join(parts)


def _cell(figure: dict[str, float | None]) -> str:
    if figure["mean"] is None:
        return "-"
    return f"{figure['mean']:.3f} ± {figure['std']:.3f}"


def write_addlabel_chart(path, summary: dict[str, dict], title: str) -> None:
    """The new label's recall, and the accuracy on every test photo, against its examples."""
    from benchmarks.report import new_chart, save_chart

    figure, axes = new_chart()
    for n, (name, figures) in enumerate(summary.items()):
        for key, style in (("new_label_recall_after", "-"), ("overall_accuracy_after", ":")):
            points = [(k, figures[f"{key}_{k}"]["mean"]) for k in CHECKPOINTS]
            points = [(k, v) for k, v in points if v is not None]
            if points:
                ks, values = zip(*points, strict=True)
                axes.plot(ks, values, style, color=f"C{n}", marker="o", markersize=3,
                          label=name if style == "-" else None)  # fmt: skip
    axes.set(xscale="log", xticks=CHECKPOINTS, xticklabels=[str(k) for k in CHECKPOINTS],
             xlabel="examples of the new label", ylim=(0, 1.02),
             ylabel="new label's recall (solid), all test photos (dotted)")  # fmt: skip
    save_chart(figure, axes, path, title, legend="lower right")
