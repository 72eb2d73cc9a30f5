"""`labelbot bench`: arguments, data, runs and outputs wired together.

Importing this module is cheap (no TensorFlow) so that `labelbot --help` stays fast; the heavy
imports happen when a benchmark actually runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_LEARNERS = ("seed", "finetune", "ncm", "cgan", "analytic")
LATENCY_PHOTO_SIZE = 320  # Telegram's smallest photo size that covers a 224 input


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="folder-per-class tree: DIR/<label>/… or DIR/{train,test}/<label>/… "
        "(default: Fashion-MNIST from Debian)",
    )
    parser.add_argument(
        "--train-per-class",
        type=int,
        metavar="N",
        help="training photos per label (default: 300 for Fashion-MNIST, all for --data)",
    )
    parser.add_argument(
        "--test-per-class",
        type=int,
        metavar="N",
        help="test photos per label (default: 100 for Fashion-MNIST, all for --data)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="label orders to average (3)")
    parser.add_argument("--base", type=int, default=2, help="labels in the first phase (2)")
    parser.add_argument(
        "--learners",
        default=",".join(DEFAULT_LEARNERS),
        help=f"comma-separated subset of {','.join(DEFAULT_LEARNERS)} (default: all)",
    )
    parser.add_argument("--out", type=Path, metavar="FILE.json", help="write every figure")
    parser.add_argument(
        "--chart", type=Path, metavar="FILE.png", help="accuracy chart (default: beside --out)"
    )
    parser.add_argument(
        "--latency",
        action="store_true",
        help="measure end-to-end predict from JPEG bytes against the bare backbone instead",
    )
    parser.add_argument("--requests", type=int, default=200, help="--latency: requests (200)")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="--latency: requests in flight (8)"
    )


def run(args: argparse.Namespace, settings) -> int:
    """Runs the benchmark; returns the process exit code. Bad arguments raise CommandError."""
    from bot.errors import CommandError

    learners = [name.strip() for name in args.learners.split(",") if name.strip()]
    unknown = sorted(set(learners) - set(DEFAULT_LEARNERS))
    if unknown or not learners:
        raise CommandError(f"unknown learner(s) {unknown}; choose from {DEFAULT_LEARNERS}")
    if args.seeds < 1 or args.base < 1 or args.requests < 1 or args.concurrency < 1:
        raise CommandError("--seeds, --base, --requests and --concurrency must be at least 1")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes on every label

    from model_core.datasets import DatasetError

    try:
        if args.latency:
            return _latency(args, settings)
        return _accuracy(args, settings, learners)
    except DatasetError as error:
        raise CommandError(str(error)) from error


def _accuracy(args, settings, learners: list[str]) -> int:
    from benchmarks.compare import run_all, summarize
    from benchmarks.report import markdown_table, write_chart, write_json
    from model_core.learners.analytic import limit_blas_threads

    split, name = _load_split(args, settings)
    if args.base >= len(split.names):
        from bot.errors import CommandError

        raise CommandError(f"--base {args.base} leaves no label to add ({len(split.names)})")
    limit_blas_threads()
    started = time.perf_counter()
    summary = summarize(run_all(split, learners, range(args.seeds), args.base))
    meta = _meta(args, settings, split, name, time.perf_counter() - started)
    print(f"\n{_headline(meta)}\n\n{markdown_table(summary)}")
    if args.out:
        write_json(args.out, summary, meta)
        print(f"\nwrote {args.out}", file=sys.stderr)
    chart = args.chart or (args.out.with_suffix(".png") if args.out else Path(f"bench-{name}.png"))
    write_chart(chart, summary, f"{name}: {len(split.names)} labels, {args.seeds} label orders")
    print(f"wrote {chart}", file=sys.stderr)
    return 0


def _load_split(args, settings):
    """The data set's embeddings (cached under the data dir) and a short name for titles."""
    from benchmarks.data import EmbeddingCache, fashion_mnist_split, folder_split
    from bot.model_commands import load_backbone_for
    from model_core.embedder import embed_prepared

    backbone = load_backbone_for(settings)
    cache = EmbeddingCache(settings.data_dir, settings.backbone)

    def embed(arrays):
        return embed_prepared(backbone, arrays, desc="embedding (cached for next runs)")

    size = backbone.input_size
    if args.data is None:
        train, test = args.train_per_class or 300, args.test_per_class or 100
        return fashion_mnist_split(embed, cache, size, train, test), "fashion-mnist"
    split = folder_split(
        embed,
        cache,
        size,
        args.data,
        train_per_class=args.train_per_class,
        test_per_class=args.test_per_class,
    )
    return split, args.data.resolve().name


def _meta(args, settings, split, name: str, seconds: float) -> dict:
    return {
        "data": name,
        "labels": len(split.names),
        "train_samples": len(split.X),
        "test_samples": len(split.T),
        "seeds": args.seeds,
        "base_labels": args.base,
        "backbone": settings.backbone,
        "machine": f"{platform.machine()}, {_cpu_count()} cores",
        "python": platform.python_version(),
        "seconds": round(seconds, 1),
        "command": "labelbot " + " ".join(sys.argv[1:]),
    }


def _headline(meta: dict) -> str:
    return (
        f"{meta['data']}: {meta['labels']} labels, {meta['train_samples']} training and "
        f"{meta['test_samples']} test photos, {meta['seeds']} label orders, "
        f"{meta['base_labels']} base labels then one per phase ({meta['machine']}; "
        f"{meta['seconds']:.0f} s)"
    )


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _latency(args, settings) -> int:
    import json

    from benchmarks.latency import measure_latency
    from bot.model_commands import load_backbone_for

    jpegs, labels = _latency_photos(args.data)
    figures = measure_latency(
        load_backbone_for(settings), jpegs, labels, args.requests, args.concurrency
    )
    print(_latency_table(figures))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


def _latency_photos(data: Path | None, count: int = 64) -> tuple[list[bytes], list[str]]:
    """Real JPEGs: test photos of `data`, or Fashion-MNIST saved as Telegram would send it."""
    import cv2

    from model_core.datasets import FASHION_MNIST_LABELS, list_labeled_images, load_fashion_mnist

    if data is not None:
        root = data / "test" if (data / "test").is_dir() else data
        files = list_labeled_images(root)
        picks = np.random.default_rng(0).choice(len(files), min(count, len(files)), False)
        return [files[i][0].read_bytes() for i in picks], [files[i][1] for i in picks]
    images, labels = load_fashion_mnist("test", per_class=max(1, count // 10), seed=0)
    size = (LATENCY_PHOTO_SIZE, LATENCY_PHOTO_SIZE)
    jpegs = [
        cv2.imencode(".jpg", cv2.resize(i, size, cv2.INTER_CUBIC))[1].tobytes() for i in images
    ]
    return jpegs, [FASHION_MNIST_LABELS[int(y)] for y in labels]


def _latency_table(f: dict) -> str:
    return "\n".join(
        [
            "| path | p50 ms | p99 ms | per second |",
            "|---|---|---|---|",
            f"| bare backbone, batch 1 | {f['bare_backbone_p50_ms']:.1f} | "
            f"{f['bare_backbone_p99_ms']:.1f} | {f['bare_backbone_per_second']:.1f} |",
            f"| end to end from JPEG, batch 1 | {f['end_to_end_p50_ms']:.1f} | "
            f"{f['end_to_end_p99_ms']:.1f} | - |",
            f"| end to end, {f['concurrent_requests']} in flight | - | - | "
            f"{f['concurrent_per_second']:.1f} |",
            "",
            f"end-to-end p50 / bare p50 = {f['ratio_p50']:.2f}; concurrent throughput / bare "
            f"throughput = {f['concurrent_ratio']:.2f}",
        ]
    )
