"""Real photo sets, read offline: Debian's Fashion-MNIST and any folder-per-class tree."""

from __future__ import annotations

import gzip
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


def list_labeled_images(root: Path) -> list[tuple[Path, str]]:
    """(path, label) for every image in a folder-per-class tree, the folder name as label."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a directory")
    found = [
        (path, folder.name)
        for folder in sorted(p for p in root.iterdir() if p.is_dir())
        for path in sorted(folder.rglob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    ]
    if not found:
        raise DatasetError(f"{root} holds no images in per-label folders (<label>/<image>.jpg)")
    return found


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    dims = data[3]
    header = 4 + 4 * dims
    return np.frombuffer(data, np.uint8, offset=header)
