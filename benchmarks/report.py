"""The benchmark's outputs: a markdown table, a JSON file, a PNG chart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.compare import JOINT, JOINT_FITS

ACCURACY_COLUMNS = (  # (figure key, column title, format)
    ("final_accuracy", "final acc", "{:.3f}"),
    ("ratio_to_joint", "÷ joint", "{:.3f}"),
    ("average_incremental_accuracy", "avg incr acc", "{:.3f}"),
    ("forgetting", "forgetting", "{:.3f}"),
    ("old_accuracy_last_phase", "old acc (last)", "{:.3f}"),
    ("new_accuracy_last_phase", "new acc (last)", "{:.3f}"),
    ("update_latency_p50_ms", "update p50 ms", "{:.2f}"),
    ("update_latency_p99_ms", "update p99 ms", "{:.2f}"),
    ("add_label_latency_ms", "add label ms", "{:.1f}"),
    ("predict_latency_us_per_embedding", "predict µs", "{:.1f}"),
    ("state_bytes", "state", "{}"),
)
GUESS_COLUMNS = (
    ("first_guess_accuracy", "first guess", "{:.3f}"),
    ("first_guess_on_example_2", "on 2nd example", "{:.3f}"),
    ("first_guess_on_example_5", "on 5th", "{:.3f}"),
    ("first_guess_on_example_10", "on 10th", "{:.3f}"),
    ("new_label_accuracy_after_5", "new label after 5", "{:.3f}"),
    ("new_label_accuracy_after_20", "after 20", "{:.3f}"),
    ("calibration_error", "ECE", "{:.3f}"),
    ("sure_guess_accuracy", "sure right", "{:.3f}"),
    ("unsure_guess_accuracy", "not-sure right", "{:.3f}"),
    ("sure_share", "sure share", "{:.2f}"),
)


def markdown_tables(summary: dict[str, dict]) -> str:
    """The accuracy table (every row) and the first-guess table (learners only)."""
    learners = {name: f for name, f in summary.items() if "first_guess_accuracy" in f}
    return (
        markdown_table(summary, ACCURACY_COLUMNS)
        + "\n\nFirst guesses, as contributors see them:\n\n"
        + markdown_table(learners, GUESS_COLUMNS)
    )


def markdown_table(summary: dict[str, dict], columns=ACCURACY_COLUMNS) -> str:
    """One row per learner, mean ± std over seeds; '-' where a figure does not apply."""
    lines = [
        "| learner | " + " | ".join(title for _, title, _ in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name, figures in summary.items():
        cells = [_cell(figures.get(key), fmt, key) for key, _, fmt in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(stats: dict[str, float | None] | None, fmt: str, key: str) -> str:
    if stats is None or stats["mean"] is None:
        return "-"
    if key == "state_bytes":
        return _size(stats["mean"])
    return f"{fmt.format(stats['mean'])} ± {fmt.format(stats['std'])}"


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def write_json(path: Path, summary: dict[str, dict], meta: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"meta": meta, "learners": summary}, indent=2) + "\n")


def write_chart(path: Path, summary: dict[str, dict], title: str) -> None:
    """Accuracy on all labels seen so far against the number of labels; the bounds dashed."""
    figure, axes = new_chart()
    for name, figures in summary.items():
        if name == JOINT:
            continue  # drawn through its two fits
        curve = figures["accuracy_per_phase"]
        points = [
            (labels, mean, std)
            for labels, mean, std in zip(
                figures["labels_per_phase"], curve["mean"], curve["std"], strict=True
            )
            if mean is not None  # the logistic bound is fitted after the last phase only
        ]
        labels, mean, std = (np.array(column, float) for column in zip(*points, strict=True))
        style = {"linestyle": "--", "linewidth": 1.2} if name in JOINT_FITS else {"marker": "o"}
        if len(points) == 1:
            style = {"marker": "*", "markersize": 10, "linestyle": "none"}
        line = axes.plot(labels, mean, label=name, **({"markersize": 3} | style))[0]
        axes.fill_between(labels, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    axes.set(xlabel="labels known", ylabel="test accuracy on all known labels", ylim=(0, 1.02))
    save_chart(figure, axes, path, title, legend="lower left")


def new_chart():
    """A figure and its axes, for a file (no display on a server)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(8, 5), dpi=120)


def save_chart(figure, axes, path: Path, title: str, legend: str) -> None:
    import matplotlib.pyplot as plt

    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc=legend, fontsize="small")
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
