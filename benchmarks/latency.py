"""`labelbot bench --latency`: what a contributor waits for, next to what the machine allows.

End to end is the bot's path through the model service: JPEG bytes are decoded and resized on
the reader threads, embedded by the backbone in shared micro-batches and read out by the head.
The bare figures are the backbone alone on already prepared images, one at a time and in full
batches: no design on this machine can answer faster than the batched figure, so the ratio to
it says how much the rest of the path costs. Throughput is measured with 1, 8, 32 and 128
requests in flight, as from that many contributors at once.
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

IN_FLIGHT = (1, 8, 32, 128)


def measure_latency(
    embedder: ImageEmbedder,
    jpegs: Sequence[bytes],
    labels: Sequence[str],
    requests: int,
    in_flight: Sequence[int] = IN_FLIGHT,
    progress: ProgressFactory = no_progress,
) -> dict:
    """Latency at batch 1 and throughput with each of `in_flight` requests in flight."""
    return asyncio.run(_measure(embedder, list(jpegs), list(labels), requests, in_flight, progress))


async def _measure(
    embedder: ImageEmbedder, jpegs, labels, requests: int, in_flight, progress
) -> dict:
    prepared = [embedder.prepare(data) for data in jpegs]
    backbone = embedder.backbone
    backbone.embed(np.stack(prepared[: backbone.batch_size]))  # warm up the traced function
    picks = np.random.default_rng(0).integers(len(jpegs), size=requests)

    async def bare_pass(i: int) -> None:  # on the event loop's thread: no hand-off at all
        backbone.embed(prepared[i][None])

    bare = await _timed(bare_pass, picks, progress("bare backbone", requests))
    bare_batched = _batched_throughput(backbone, prepared, picks)
    with tempfile.TemporaryDirectory() as directory:
        service = ModelService.open(Path(directory), "analytic", embedder=embedder)
        await _teach(service, embedder, prepared, labels)

        async def predict(i: int) -> None:  # the bot's path: bytes to guesses
            await service.read_images([jpegs[i]])

        end_to_end = await _timed(predict, picks, progress("end to end", requests))
        loads = [
            await _under_load(predict, picks, n, progress(f"{n} in flight", len(picks)))
            for n in in_flight
        ]
        await service.close()
    return {
        "photos": len(jpegs),
        "requests": requests,
        "bare_backbone_p50_ms": _ms(bare, 50),
        "bare_backbone_p99_ms": _ms(bare, 99),
        "bare_backbone_per_second": float(1 / np.mean(bare)),
        "bare_batch_size": backbone.batch_size,
        "bare_batched_per_second": bare_batched,
        "end_to_end_p50_ms": _ms(end_to_end, 50),
        "end_to_end_p99_ms": _ms(end_to_end, 99),
        "ratio_p50": float(np.percentile(end_to_end, 50) / np.percentile(bare, 50)),
        "in_flight": [load | {"ratio": load["per_second"] / bare_batched} for load in loads],
    }


def _batched_throughput(backbone, prepared, picks) -> float:
    """Images per second of the backbone alone, in full batches of the same photos."""
    images = np.stack([prepared[i] for i in picks])
    started = time.perf_counter()
    backbone.embed(images)
    return len(images) / (time.perf_counter() - started)


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


async def _under_load(call, picks, in_flight: int, done: Progress) -> dict:
    """Photos per second and each photo's wait with `in_flight` requests kept in flight."""
    gate = asyncio.Semaphore(in_flight)
    waits: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await call(i)
            waits.append(time.perf_counter() - started)
            done(1)

    started = time.perf_counter()
    await asyncio.gather(*(one(int(i)) for i in picks))
    seconds = np.array(waits)
    return {
        "in_flight": in_flight,
        "per_second": len(picks) / (time.perf_counter() - started),
        "p50_ms": _ms(seconds, 50),
        "p99_ms": _ms(seconds, 99),
    }


def _ms(seconds: np.ndarray, percentile: int) -> float:
    return float(np.percentile(seconds, percentile) * 1e3)
