"""CLI commands that work on the model directly, without Telegram."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bot.errors import CommandError
from bot.settings import Settings
from model_core.backbone.registry import input_size_of
from model_core.intake import ImageError, prepare_image


def backbone_cache_dir(settings: Settings) -> Path:
    return settings.data_dir / "backbones"


def embed(settings: Settings, images: list[Path], out: Path) -> int:
    """Writes an (N, D) float32 array of embeddings, in argument order."""
    arrays = [read_image(path, input_size_of(settings.backbone)) for path in images]
    from model_core.backbone.loader import load_backbone

    backbone = load_backbone(settings.backbone, backbone_cache_dir(settings))
    progress = tqdm(total=len(arrays), desc="embedding", unit="image", disable=len(arrays) < 64)
    parts = []
    for start in range(0, len(arrays), backbone.batch_size):
        batch = np.stack(arrays[start : start + backbone.batch_size])
        parts.append(backbone.embed(batch))
        progress.update(len(batch))
    progress.close()
    try:
        np.save(out, np.concatenate(parts).astype(np.float32))
    except OSError as error:
        raise CommandError(f"cannot write {out}: {error.strerror}") from error
    print(f"wrote {len(arrays)} x {backbone.embedding_dim} embeddings to {out}", file=sys.stderr)
    return 0


def read_image(path: Path, size: int) -> np.ndarray:
    """Reads and prepares one image file, turning every failure into a one-line CommandError."""

    try:
        return prepare_image(path.read_bytes(), size)
    except OSError as error:
        raise CommandError(f"{path}: {error.strerror or error}") from error
    except ImageError as error:
        raise CommandError(f"{path}: {error}") from error
