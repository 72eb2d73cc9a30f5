"""The benchmark's outputs: a markdown table, a JSON file, a PNG chart."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.compare import JOINT, JOINT_FITS

COLUMNS = (  # (figure key, column title, format)
    ("final_accuracy", "final acc", "{:.3f}"),
    ("ratio_to_joint", "÷ joint", "{:.3f}"),
    ("average_incremental_accuracy", "avg incr acc", "{:.3f}"),
    ("forgetting", "forgetting", "{:.3f}"),
    ("old_accuracy_last_phase", "old acc (last)", "{:.3f}"),
    ("new_accuracy_last_phase", "new acc (last)", "{:.3f}"),
    ("first_guess_accuracy", "first guess", "{:.3f}"),
    ("update_latency_p50_ms", "update p50 ms", "{:.2f}"),
    ("update_latency_p99_ms", "update p99 ms", "{:.2f}"),
    ("add_label_latency_ms", "add label ms", "{:.1f}"),
    ("predict_latency_us_per_embedding", "predict µs", "{:.1f}"),
    ("state_bytes", "state", "{}"),
)


def markdown_table(summary: dict[str, dict]) -> str:
    """One row per learner, mean ± std over seeds; '-' where a figure does not apply."""
    lines = [
        "| learner | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for name, figures in summary.items():
        cells = [_cell(figures.get(key), fmt, key) for key, _, fmt in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(stats: dict[str, float] | None, fmt: str, key: str) -> str:
    if stats is None:
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
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5), dpi=120)
    for name, figures in summary.items():
        if name == JOINT:
            continue  # drawn through its two fits
        labels = figures["labels_per_phase"]
        curve = figures["accuracy_per_phase"]
        style = {"linestyle": "--", "linewidth": 1.2} if name in JOINT_FITS else {"marker": "o"}
        line = axes.plot(labels, curve["mean"], label=name, markersize=3, **style)[0]
        low = [m - s for m, s in zip(curve["mean"], curve["std"], strict=True)]
        high = [m + s for m, s in zip(curve["mean"], curve["std"], strict=True)]
        axes.fill_between(labels, low, high, color=line.get_color(), alpha=0.15)
    axes.set(xlabel="labels known", ylabel="test accuracy on all known labels", ylim=(0, 1.02))
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize="small")
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
