"""Benchmark data: real photos to cached embeddings, split into train and test.

The backbone is frozen, so a photo's embedding never changes: it is computed once per backbone
and file contents and kept under the data dir, and every later run (other learners, other
seeds) starts in seconds.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from benchmarks.protocol import Split
from model_core.datasets import (
    FASHION_MNIST_LABELS,
    DatasetError,
    grey_to_rgb,
    list_labeled_images,
    load_fashion_mnist,
)
from model_core.intake import ImageError, prepare_image

log = logging.getLogger(__name__)

Embed = Callable[[Sequence[np.ndarray]], np.ndarray]  # prepared images -> (n, dim) float32


class EmbeddingCache:
    """Embeddings on disk under `folder/<backbone>/`, one `.npy` per set of inputs."""

    def __init__(self, folder: Path, backbone: str) -> None:
        self.root = Path(folder) / backbone
        self.backbone = backbone

    def get(self, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        path = self.root / f"{key}.npy"
        if path.is_file():
            return np.load(path)
        embeddings = compute()
        self.root.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npy")
        np.save(partial, embeddings)
        partial.replace(path)  # a run killed half-way leaves no truncated cache behind
        return embeddings


def content_key(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:32]


def fashion_mnist_split(
    embed: Embed, cache: EmbeddingCache, size: int, train_per_class: int, test_per_class: int
) -> Split:
    """A fixed random subset of Debian's Fashion-MNIST (the same photos for every seed)."""
    halves = []
    for part, per_class in (("train", train_per_class), ("test", test_per_class)):
        images, labels = load_fashion_mnist(part, per_class=per_class, seed=0)
        key = content_key(images.tobytes(), labels.tobytes())
        halves.append((cache.get(key, lambda i=images: embed(grey_to_rgb(i, size))), labels))
    (X, y), (T, ty) = halves
    return Split(X, y, T, ty, list(FASHION_MNIST_LABELS))


def folder_split(
    embed: Embed,
    cache: EmbeddingCache,
    size: int,
    root: Path,
    *,
    train_per_class: int | None,
    test_per_class: int | None,
    test_fraction: float = 0.3,
) -> Split:
    """A folder-per-class tree: `root/{train,test}/<label>/…` as given, else `root/<label>/…`
    split per label (stratified, seeded). A `val/` folder is never used for the figures."""
    root = Path(root)
    if (root / "train").is_dir() and (root / "test").is_dir():
        train, test = list_labeled_images(root / "train"), list_labeled_images(root / "test")
    else:
        train, test = _stratified_split(list_labeled_images(root), test_fraction)
    names = sorted({label for _, label in train} & {label for _, label in test})
    if len(names) < 2:
        raise DatasetError(f"{root} needs at least two labels with both train and test images")
    train = _subset(train, names, train_per_class)
    test = _subset(test, names, test_per_class)
    X, y = _embed_files(embed, cache, size, train, names, "train")
    T, ty = _embed_files(embed, cache, size, test, names, "test")
    return Split(X, y, T, ty, names)


def _stratified_split(files: list[tuple[Path, str]], test_fraction: float):
    """Per label, a seeded shuffle and the last `test_fraction` (at least one) held out."""
    rng = np.random.default_rng(0)
    train, test = [], []
    for label in sorted({label for _, label in files}):
        group = [item for item in files if item[1] == label]
        order = rng.permutation(len(group))
        n_test = max(1, round(test_fraction * len(group))) if len(group) > 1 else 0
        test += [group[i] for i in order[:n_test]]
        train += [group[i] for i in order[n_test:]]
    return train, test


def _subset(files: list[tuple[Path, str]], names: list[str], per_class: int | None):
    """At most `per_class` files of each kept label, chosen by a fixed seed."""
    rng = np.random.default_rng(0)
    kept = []
    for label in names:
        group = [item for item in files if item[1] == label]
        if per_class is not None and len(group) > per_class:
            group = [group[i] for i in sorted(rng.choice(len(group), per_class, replace=False))]
        kept += group
    return kept


def _embed_files(embed: Embed, cache, size: int, files, names: list[str], part: str):
    """Embeddings and label indices; unreadable files are skipped with a warning."""
    contents = [path.read_bytes() for path, _ in files]
    key = content_key(*contents, "\n".join(label for _, label in files).encode())
    index = {name: i for i, name in enumerate(names)}

    def compute() -> np.ndarray:
        prepared, good = [], []
        for data, (path, _) in zip(contents, files, strict=True):
            try:
                prepared.append(prepare_image(data, size))
                good.append(True)
            except ImageError as error:
                log.warning("skipping %s: %s", path, error)
                good.append(False)
        embeddings = embed(prepared)
        full = np.full((len(files), embeddings.shape[1]), np.nan, np.float32)
        full[np.array(good, bool)] = embeddings
        return full

    embeddings = cache.get(key, compute)
    labels = np.array([index[label] for _, label in files], np.int64)
    readable = ~np.isnan(embeddings).any(axis=1)
    log.info("%s: %d images of %d labels", part, readable.sum(), len(names))
    return embeddings[readable], labels[readable]
