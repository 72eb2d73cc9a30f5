"""Real photo sets, read offline: Debian's Fashion-MNIST and any folder-per-class tree."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_LABELS = (
    "T-shirt",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}


class DatasetError(RuntimeError):
    """A data set is missing or malformed; the message says how to get it."""


def load_fashion_mnist(
    split: str = "train", per_class: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Returns (images uint8 (n, 28, 28), labels int64 (n,)), `per_class` drawn at random."""
    prefix = {"train": "train", "test": "t10k"}[split]
    images_path = FASHION_MNIST_DIR / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = FASHION_MNIST_DIR / f"{prefix}-labels-idx1-ubyte.gz"
    if not images_path.is_file():
        raise DatasetError(
            f"Fashion-MNIST is not installed ({images_path} is missing); "
            "run `apt-get install dataset-fashion-mnist` (the setup script does it as root)"
        )
    images = _read_idx(images_path).reshape(-1, 28, 28)
    labels = _read_idx(labels_path).astype(np.int64)
    if per_class is not None:
        rng = np.random.default_rng(seed)
        chosen = [
            rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
            for c in range(len(FASHION_MNIST_LABELS))
        ]
        order = np.concatenate(chosen)
        images, labels = images[order], labels[order]
    return images, labels


def grey_to_rgb(images: np.ndarray, size: int) -> np.ndarray:
    """Scales small grey photos up to the backbone's (size, size, 3) input."""
    return np.stack(
        [
            cv2.cvtColor(cv2.resize(i, (size, size), cv2.INTER_LINEAR), cv2.COLOR_GRAY2RGB)
            for i in images
        ]
    )


@dataclass(frozen=True)
class LabeledTree:
    """A folder-per-class tree: (path, label) per image file, and how many other files it
    holds (notes, PDFs, stray downloads) that were left out."""

    files: list[tuple[Path, str]]
    other_files: int


def scan_labeled_images(root: Path) -> LabeledTree:
    """Every image below `root/<label>/`, the folder name as label. Hidden files and folders
    (`.ipynb_checkpoints/`, `.DS_Store`) are not part of a data set and are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a directory")
    files, other = [], 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p, root)):
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or _hidden(path, root):
                continue
            if path.suffix.lower() in IMAGE_SUFFIXES:
                files.append((path, folder.name))
            else:
                other += 1
    if not files:
        raise DatasetError(f"{root} holds no images in per-label folders (<label>/<image>.jpg)")
    return LabeledTree(files, other)


def list_labeled_images(root: Path) -> list[tuple[Path, str]]:
    """(path, label) for every image in a folder-per-class tree (see `scan_labeled_images`)."""
    return scan_labeled_images(root).files


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    dims = data[3]
    header = 4 + 4 * dims
    return np.frombuffer(data, np.uint8, offset=header)
