"""The benchmark's two runs, as functions: learners' accuracy over label phases, and the read
path's latency. `labelbot bench` (in `labelbot.cli.bench`) parses arguments, calls these and
prints; they take a built backbone and a cache folder, and report progress through callbacks.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.addlabel import chosen_labels, run_addlabels, summarize_addlabel
from benchmarks.compare import LEARNERS, run_all, summarize
from benchmarks.data import EmbeddingCache, fashion_mnist_split, folder_split
from benchmarks.protocol import STREAMS, Split
from model_core.embedder import ImageEmbedder
from model_core.learners.analytic import limit_blas_threads
from model_core.progress import ProgressFactory, no_progress

BENCH_LEARNERS = tuple(LEARNERS)
ADDLABEL = "addlabel"  # the admin's scenario (benchmarks.addlabel), beside the protocol's streams
BENCH_STREAMS = (*STREAMS, ADDLABEL)
LATENCY_PHOTO_SIZE = 320  # Telegram's smallest photo size that covers a 224 input


class BenchError(ValueError):
    """Options that cannot make a benchmark; the message says which."""


@dataclass(frozen=True)
class AccuracyRun:
    """What to measure: the data, how much of it, how many label orders, which learners."""

    data: Path | None = None  # None: Fashion-MNIST from Debian
    train_per_class: int | None = None
    test_per_class: int | None = None
    seeds: int = 3
    base: int = 2
    learners: tuple[str, ...] = BENCH_LEARNERS
    stream: str = "mixed"

    def __post_init__(self) -> None:
        if self.stream not in BENCH_STREAMS:
            raise BenchError(
                f"unknown --stream {self.stream!r}; choose from {', '.join(BENCH_STREAMS)}"
            )
        unknown = sorted(set(self.learners) - set(BENCH_LEARNERS))
        if unknown or not self.learners:
            raise BenchError(f"unknown learner(s) {unknown}; choose from {BENCH_LEARNERS}")
        if self.seeds < 1 or self.base < 1:
            raise BenchError("--seeds and --base must be at least 1")


def load_split(
    run: AccuracyRun, embedder: ImageEmbedder, cache: EmbeddingCache, progress: ProgressFactory
) -> tuple[Split, str]:
    """The data set's embeddings (cached) and a short name for titles."""

    def embed(arrays):
        return embedder.embed_prepared(
            arrays, progress("embedding (cached for next runs)", len(arrays))
        )

    size = embedder.input_size
    if run.data is None:
        train, test = run.train_per_class or 300, run.test_per_class or 100
        return fashion_mnist_split(embed, cache, size, train, test), "fashion-mnist"
    split = folder_split(
        embed, cache, size, run.data,
        train_per_class=run.train_per_class, test_per_class=run.test_per_class,
    )  # fmt: skip
    return split, run.data.resolve().name


def accuracy(
    run: AccuracyRun, split: Split, name: str, progress: ProgressFactory = no_progress
) -> tuple[dict, dict]:
    """Every learner on `run.seeds` label orders: (summary per learner, meta)."""
    if run.base >= len(split.names):
        raise BenchError(f"--base {run.base} leaves no label to add ({len(split.names)})")
    limit_blas_threads()
    started = time.perf_counter()
    if run.stream == ADDLABEL:
        learners = {name: LEARNERS[name] for name in run.learners}
        summary = summarize_addlabel(run_addlabels(learners, split, range(run.seeds), progress))
    else:
        summary = summarize(
            run_all(split, run.learners, range(run.seeds), run.base, run.stream, progress)
        )
    meta = {
        "data": name,
        "labels": len(split.names),
        "train_samples": len(split.X),
        "test_samples": len(split.T),
        "seeds": run.seeds,
        "base_labels": run.base,
        "stream": run.stream,
        "chosen_labels": len(chosen_labels(len(split.names))),
        "machine": f"{platform.machine()}, {_cpu_count()} cores",
        "python": platform.python_version(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return summary, meta


def headline(meta: dict) -> str:
    if meta["stream"] == ADDLABEL:
        return (
            f"{meta['data']}: {meta['labels']} labels, {meta['train_samples']} training and "
            f"{meta['test_samples']} test photos; each of {meta['chosen_labels']} labels added "
            f"last to a model that knows the others, {meta['seeds']} orders of its photos "
            f"({meta['machine']}; {meta['seconds']:.0f} s)"
        )
    return (
        f"{meta['data']}: {meta['labels']} labels, {meta['train_samples']} training and "
        f"{meta['test_samples']} test photos, {meta['seeds']} label orders, "
        f"{meta['base_labels']} base labels then one per phase, {meta['stream']} stream "
        f"({meta['machine']}; {meta['seconds']:.0f} s)"
    )


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def latency_photos(data: Path | None, count: int = 64) -> tuple[list[bytes], list[str]]:
    """Real photos as the bot downloads them: Telegram's 320-pixel size, re-encoded as JPEG.

    The bot fetches the smallest photo size that covers the backbone's input, which for
    ordinary photos is Telegram's 320-pixel one; the test photos of `data`, or Fashion-MNIST.
    """
    from model_core.datasets import FASHION_MNIST_LABELS, list_labeled_images, load_fashion_mnist

    if data is not None:
        root = data / "test" if (data / "test").is_dir() else data
        files = list_labeled_images(root)
        picks = np.random.default_rng(0).choice(len(files), min(count, len(files)), False)
        images = [_read_rgb(files[i][0]) for i in picks]
        return [_telegram_sized(image) for image in images], [files[i][1] for i in picks]
    images, labels = load_fashion_mnist("test", per_class=max(1, count // 10), seed=0)
    jpegs = [_telegram_sized(np.dstack([image] * 3)) for image in images]
    return jpegs, [FASHION_MNIST_LABELS[int(y)] for y in labels]


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _telegram_sized(image: np.ndarray) -> bytes:
    """Scaled so the longer side is Telegram's 320 pixels, as JPEG at Telegram's quality."""
    import cv2

    height, width = image.shape[:2]
    scale = LATENCY_PHOTO_SIZE / max(height, width)
    size = (round(width * scale), round(height * scale))
    resized = cv2.resize(
        image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    )
    bgr = cv2.cvtColor(resized, cv2.COLOR_RGB2BGR)
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 87])[1].tobytes()


def latency_table(f: dict) -> str:
    rows = [
        "| path | p50 ms | p99 ms | photos/s | ÷ bare batched |",
        "|---|---|---|---|---|",
        f"| bare backbone, batch 1 | {f['bare_backbone_p50_ms']:.1f} | "
        f"{f['bare_backbone_p99_ms']:.1f} | {f['bare_backbone_per_second']:.1f} | "
        f"{f['bare_backbone_per_second'] / f['bare_batched_per_second']:.2f} |",
        f"| bare backbone, batches of {f['bare_batch_size']} | – | – | "
        f"{f['bare_batched_per_second']:.1f} | 1.00 |",
        f"| end to end from JPEG, one at a time | {f['end_to_end_p50_ms']:.1f} | "
        f"{f['end_to_end_p99_ms']:.1f} | – | – |",
    ]
    rows += [
        f"| end to end, {load['in_flight']} in flight | {load['p50_ms']:.1f} | "
        f"{load['p99_ms']:.1f} | {load['per_second']:.1f} | **{load['ratio']:.2f}** |"
        for load in f["in_flight"]
    ]
    return "\n".join(rows)
