"""`labelbot bench --latency`: what a contributor waits for, next to what the machine allows.

End to end is the bot's path through the model service: JPEG bytes are decoded and resized,
embedded by the backbone and read out by the head, on the service's reader threads. The bare
pass is the backbone alone on the already prepared image: no design on this machine can answer
faster, so the ratio says how much the rest of the path costs.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model_core.embedder import ImageEmbedder
from model_core.progress import Progress, ProgressFactory, no_progress
from model_core.service import ModelService


def measure_latency(
    embedder: ImageEmbedder,
    jpegs: Sequence[bytes],
    labels: Sequence[str],
    requests: int,
    concurrency: int,
    progress: ProgressFactory = no_progress,
) -> dict[str, float]:
    """Latency p50/p99 at batch 1 and throughput under `concurrency` parallel requests."""
    return asyncio.run(
        _measure(embedder, list(jpegs), list(labels), requests, concurrency, progress)
    )


async def _measure(
    embedder: ImageEmbedder, jpegs, labels, requests: int, concurrency: int, progress
) -> dict[str, float]:
    prepared = [embedder.prepare(data) for data in jpegs]
    backbone = embedder.backbone
    backbone.embed(np.stack(prepared[:1]))  # warm up the traced function
    picks = np.random.default_rng(0).integers(len(jpegs), size=requests)

    async def bare_pass(i: int) -> None:  # on the event loop's thread: no hand-off at all
        backbone.embed(prepared[i][None])

    bare = await _timed(bare_pass, picks, progress("bare backbone", requests))
    with tempfile.TemporaryDirectory() as directory:
        service = ModelService.open(Path(directory), "analytic", embedder=embedder)
        await _teach(service, embedder, prepared, labels)

        async def predict(i: int) -> None:  # the bot's path: bytes to guesses
            await service.read_images([jpegs[i]])

        end_to_end = await _timed(predict, picks, progress("end to end", requests))
        throughput = await _throughput(predict, picks, concurrency)
        await service.close()
    bare_throughput = 1 / np.mean(bare)
    return {
        "bare_backbone_p50_ms": float(np.percentile(bare, 50) * 1e3),
        "bare_backbone_p99_ms": float(np.percentile(bare, 99) * 1e3),
        "end_to_end_p50_ms": float(np.percentile(end_to_end, 50) * 1e3),
        "end_to_end_p99_ms": float(np.percentile(end_to_end, 99) * 1e3),
        "ratio_p50": float(np.percentile(end_to_end, 50) / np.percentile(bare, 50)),
        "bare_backbone_per_second": float(bare_throughput),
        "concurrent_requests": concurrency,
        "concurrent_per_second": float(throughput),
        "concurrent_ratio": float(throughput / bare_throughput),
    }


async def _teach(service: ModelService, embedder: ImageEmbedder, prepared, labels) -> None:
    """Gives the head real labels so that predict does the work it does in the bot."""
    ids = {name: (await service.add_label(name)).id for name in sorted(set(labels))}
    for embedding, name in zip(embedder.embed_prepared(prepared), labels, strict=True):
        await service.reinforce(embedding, ids[name])


async def _timed(call, picks, done: Progress) -> np.ndarray:
    seconds = []
    for i in picks:
        started = time.perf_counter()
        await call(int(i))
        seconds.append(time.perf_counter() - started)
        done(1)
    return np.array(seconds)


async def _throughput(call, picks, concurrency: int) -> float:
    """Requests per second with `concurrency` requests in flight, as a busy group chat."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await call(i)

    started = time.perf_counter()
    await asyncio.gather(*(one(int(i)) for i in picks))
    return len(picks) / (time.perf_counter() - started)
