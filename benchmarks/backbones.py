"""`labelbot bench --backbone A,B,…`: the same photos through each backbone, side by side.

A stronger backbone is one setting away (`LABELBOT_BACKBONE`), and it costs CPU on every photo
for good. So each backbone gets the figures that decide it, from the default head on the same
photos: the final accuracy and its ratio to the offline bound (`mixed` stream), the first-guess
accuracy contributors see, a label added mid-campaign (`addlabel`: its recall after 1, 5 and 20
examples and the accuracy on every photo after 5), and its speed on the bot's own read path —
the backbone alone in full batches, and end to end from JPEG bytes one photo at a time and with
32 in flight (`benchmarks.latency`). Ratios to the first backbone are what to read: they are
measured in one run, on one machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from benchmarks.addlabel import run_addlabels, summarize_addlabel
from benchmarks.compare import JOINT, LEARNERS, run_all, summarize
from benchmarks.latency import measure_latency
from benchmarks.protocol import Split
from model_core.embedder import ImageEmbedder
from model_core.learners import DEFAULT_LEARNER
from model_core.progress import ProgressFactory, no_progress

SPEED_REQUESTS = 128  # photos timed per speed figure
SPEED_IN_FLIGHT = 32  # requests in flight for the loaded throughput

Loaded = tuple[Split, ImageEmbedder]  # a backbone's embeddings of the data, and its embedder


def compare_backbones(
    names: Sequence[str],
    load: Callable[[str], Loaded],
    photos: tuple[Sequence[bytes], Sequence[str]],
    seeds: Sequence[int],
    progress: ProgressFactory = no_progress,
    requests: int = SPEED_REQUESTS,
) -> dict[str, dict]:
    """Every backbone's figures, in the order given; `requests` of `photos` (JPEG bytes and
    labels, as the bot downloads them) time the read path."""
    return {
        name: measure_backbone(*load(name), photos, seeds, progress, requests) for name in names
    }


def measure_backbone(
    split: Split,
    embedder: ImageEmbedder,
    photos: tuple[Sequence[bytes], Sequence[str]],
    seeds: Sequence[int],
    progress: ProgressFactory = no_progress,
    requests: int = SPEED_REQUESTS,
) -> dict:
    head = DEFAULT_LEARNER
    mixed = summarize(run_all(split, [head], seeds, base=2, progress=progress))
    added = summarize_addlabel(run_addlabels({head: LEARNERS[head]}, split, seeds, progress))[head]
    speed = measure_latency(embedder, *photos, SPEED_REQUESTS, (SPEED_IN_FLIGHT,), progress)
    figures = mixed[head]
    return {
        "input_size": embedder.input_size,
        "final_accuracy": figures["final_accuracy"]["mean"],
        "ratio_to_joint": figures["ratio_to_joint"]["mean"],
        "joint_accuracy": mixed[JOINT]["final_accuracy"]["mean"],
        "first_guess_accuracy": figures["first_guess_accuracy"]["mean"],
        "ece": figures["calibration_error"]["mean"],
        **{
            f"new_label_recall_after_{k}": added[f"new_label_recall_after_{k}"]["mean"]
            for k in (1, 5, 20)
        },
        "overall_accuracy_after_5": added["overall_accuracy_after_5"]["mean"],
        "batched_per_second": speed["bare_batched_per_second"],
        "one_at_a_time_ms": speed["end_to_end_p50_ms"],
        "in_flight_per_second": speed["in_flight"][0]["per_second"],
    }


COLUMNS = (
    ("input", "input_size", "{:d} px"),
    ("final accuracy", "final_accuracy", "{:.3f}"),
    ("÷ joint", "ratio_to_joint", "{:.3f}"),
    ("first guess", "first_guess_accuracy", "{:.3f}"),
    ("ECE", "ece", "{:.3f}"),
    ("new label after 1", "new_label_recall_after_1", "{:.3f}"),
    ("after 5", "new_label_recall_after_5", "{:.3f}"),
    ("after 20", "new_label_recall_after_20", "{:.3f}"),
    ("all photos after 5", "overall_accuracy_after_5", "{:.3f}"),
    ("photos/s batched", "batched_per_second", "{:.1f}"),
    ("ms one at a time", "one_at_a_time_ms", "{:.1f}"),
    (f"photos/s, {SPEED_IN_FLIGHT} in flight", "in_flight_per_second", "{:.1f}"),
)


def backbones_table(figures: dict[str, dict]) -> str:
    """One row per backbone ("-" where the data is too small for a figure), then its speed as
    a ratio to the first one's."""
    lines = [
        "| backbone | " + " | ".join(title for title, _, _ in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for name, row in figures.items():
        cells = ("-" if row[k] is None else f.format(row[k]) for _, k, f in COLUMNS)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    first = next(iter(figures.values()))
    lines += ["", "CPU per photo against the first (batched, and end to end with 32 in flight):"]
    for name, row in figures.items():
        batched = first["batched_per_second"] / row["batched_per_second"]
        loaded = first["in_flight_per_second"] / row["in_flight_per_second"]
        lines.append(f"- {name}: {batched:.2f}x batched, {loaded:.2f}x end to end")
    return "\n".join(lines)
