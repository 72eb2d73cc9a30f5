"""CLI commands that work on the model directly, without Telegram.

They go through the same `ModelService` as the bot, so `import` teaches the model exactly as
votes do, one sample at a time, and checkpoints land where the bot will find them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bot.errors import CommandError
from bot.settings import Settings
from model_core.backbone.registry import input_size_of
from model_core.datasets import DatasetError, list_labeled_images
from model_core.embedder import embed_prepared
from model_core.intake import ImageError, prepare_image
from model_core.labels import LabelError

log = logging.getLogger(__name__)


def backbone_cache_dir(settings: Settings) -> Path:
    return settings.data_dir / "backbones"


def models_dir(settings: Settings) -> Path:
    return settings.data_dir / "models"


def load_backbone_for(settings: Settings):
    from model_core.backbone.loader import load_backbone

    return load_backbone(settings.backbone, backbone_cache_dir(settings))


def open_service(settings: Settings, learner: str):
    from model_core.service import ModelService

    return ModelService.open(models_dir(settings), learner)


def embed(settings: Settings, images: list[Path], out: Path) -> int:
    """Writes an (N, D) float32 array of embeddings, in argument order."""
    arrays = [read_image(path, input_size_of(settings.backbone)) for path in images]
    embeddings = embed_prepared(load_backbone_for(settings), arrays)
    try:
        np.save(out, embeddings)
    except OSError as error:
        raise CommandError(f"cannot write {out}: {error.strerror}") from error
    print(f"wrote {len(arrays)} x {embeddings.shape[1]} embeddings to {out}", file=sys.stderr)
    return 0


def read_image(path: Path, size: int) -> np.ndarray:
    """Reads and prepares one image file, turning every failure into a one-line CommandError."""
    try:
        return prepare_image(path.read_bytes(), size)
    except OSError as error:
        raise CommandError(f"{path}: {error.strerror or error}") from error
    except ImageError as error:
        raise CommandError(f"{path}: {error}") from error


def import_tree(settings: Settings, learner: str, root: Path, seed: int) -> int:
    """Teaches the model every image of a folder-per-class tree, one sample at a time."""
    try:
        files = list_labeled_images(root)
    except DatasetError as error:
        raise CommandError(str(error)) from error
    order = np.random.default_rng(seed).permutation(len(files))
    return asyncio.run(_import(settings, learner, [files[i] for i in order]))


async def _import(settings: Settings, learner: str, files: list[tuple[Path, str]]) -> int:
    service = open_service(settings, learner)
    backbone = load_backbone_for(settings)
    label_ids, skipped = await _ensure_labels(service, sorted({label for _, label in files}))
    taught = failed = 0
    progress = tqdm(total=len(files), desc="importing", unit="image")
    for start in range(0, len(files), backbone.batch_size):
        batch, arrays = [], []
        for path, label in files[start : start + backbone.batch_size]:
            progress.update()
            if label not in label_ids:
                continue
            try:
                arrays.append(read_image(path, backbone.input_size))
                batch.append(label_ids[label])
            except CommandError as error:
                progress.write(f"skipped {error}", file=sys.stderr)
                failed += 1
        if arrays:
            for embedding, label_id in zip(backbone.embed(np.stack(arrays)), batch, strict=True):
                await service.reinforce(embedding, label_id)
                taught += 1
    progress.close()
    await service.close()
    print(
        f"imported {taught} images into {len(label_ids)} labels (model version "
        f"{service.snapshot.version}); {failed} unreadable files and {skipped} bad folder names "
        "skipped",
        file=sys.stderr,
    )
    return 0


async def _ensure_labels(service, names: list[str]) -> tuple[dict[str, int], int]:
    """Maps folder names to label ids, adding the labels that do not exist yet."""
    ids, skipped = {}, 0
    for name in names:
        try:
            existing = service.snapshot.labels.find(name)
            label = existing or await service.add_label(name)
        except LabelError as error:
            print(f"skipped folder {name!r}: {error}", file=sys.stderr)
            skipped += 1
            continue
        if label.retired:
            print(f"skipped folder {name!r}: that label is retired", file=sys.stderr)
            skipped += 1
            continue
        ids[name] = label.id
    return ids, skipped


def predict(settings: Settings, learner: str, images: list[Path], top_k: int, as_json: bool):
    """Prints the top guesses per image; with --json, only the JSON document on stdout."""
    if top_k < 1:
        raise CommandError("--top-k must be at least 1")
    arrays = [read_image(path, input_size_of(settings.backbone)) for path in images]
    snapshot = current_snapshot(settings, learner)
    embeddings = embed_prepared(load_backbone_for(settings), arrays)
    guesses = snapshot.predict(embeddings, top_k)
    results = [
        {
            "image": str(path),
            "predictions": [{"label": g.name, "probability": g.probability} for g in row],
        }
        for path, row in zip(images, guesses, strict=True)
    ]
    if as_json:
        json.dump(results, sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        for result in results:
            shown = ", ".join(f"{p['label']} {p['probability']:.0%}" for p in result["predictions"])
            print(f"{result['image']}: {shown or 'no labels with examples yet'}")
    return 0


def labels(settings: Settings, learner: str, as_json: bool) -> int:
    snapshot = current_snapshot(settings, learner)
    rows = [
        {
            "id": x.id,
            "name": x.name,
            "retired": x.retired,
            "examples": snapshot.example_counts[x.id],
        }
        for x in snapshot.labels
    ]
    if as_json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1)
        print()
    elif not rows:
        print("no labels yet; add one with `labelbot addlabel NAME`")
    else:
        for row in rows:
            state = " (retired)" if row["retired"] else ""
            print(f"{row['id']:>4}  {row['name']}{state}  {row['examples']} examples")
    return 0


def current_snapshot(settings: Settings, learner: str):
    """The newest stored model version, read without starting a writer."""
    from model_core.checkpoints import CheckpointStore
    from model_core.model import LabelModel

    checkpoint = CheckpointStore(models_dir(settings)).load_latest()
    if checkpoint is None:
        return LabelModel.new(learner).snapshot()
    return LabelModel.from_checkpoint(checkpoint).snapshot()


def add_label(settings: Settings, learner: str, name: str) -> int:
    async def run():
        service = open_service(settings, learner)
        try:
            label = await service.add_label(name)
        except LabelError as error:
            raise CommandError(str(error)) from error
        finally:
            await service.close()
        print(f"added label {label.name!r} with id {label.id} (version {service.snapshot.version})")

    asyncio.run(run())
    return 0


def rollback(settings: Settings, learner: str, version: int | None) -> int:
    from model_core.checkpoints import CheckpointError

    async def run():
        service = open_service(settings, learner)
        try:
            new_version = await service.rollback(version)
        except CheckpointError as error:
            raise CommandError(f"{error}; stored versions: {service.versions()}") from error
        finally:
            await service.close()
        print(f"rolled back: version {new_version} now holds the state of an earlier version")

    asyncio.run(run())
    return 0
