"""Image bytes in, a backbone-ready RGB array out.

Every way an upload can be bad ends in one `ImageError` whose message can be shown to the
person who sent it as is. Size limits are checked before decoding: the byte limit on the
upload, the pixel limit on the size the header declares.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model_core.image_header import read_size, sniff_format

SUPPORTED_FORMATS = "JPEG, PNG, WebP, BMP or GIF"


class ImageError(ValueError):
    """An upload that cannot become an image; `reason` is a stable code, the message friendly."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class IntakeLimits:
    """What intake accepts; the defaults suit Telegram photos and documents."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000


def decode_image(data: bytes, limits: IntakeLimits = IntakeLimits()) -> np.ndarray:
    """Decodes an upload to uint8 RGB (height, width, 3), upright, grey and alpha flattened."""
    if not data:
        raise ImageError("empty", "The file is empty.")
    if len(data) > limits.max_bytes:
        raise ImageError(
            "too_large",
            f"The file is {_megabytes(len(data))}; the limit is {_megabytes(limits.max_bytes)}.",
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError("not_an_image", f"This is not an image I can read ({SUPPORTED_FORMATS}).")
    size = read_size(data, fmt)
    if size is None or 0 in size:
        raise ImageError("corrupt", "The image is damaged: its header cannot be read.")
    if size[0] * size[1] > limits.max_pixels:
        raise ImageError(
            "too_many_pixels",
            f"The image is {size[0]}x{size[1]} pixels; the limit is "
            f"{limits.max_pixels / 1e6:g} megapixels.",
        )
    return _to_rgb(_decode(data, fmt))


def prepare_image(data: bytes, size: int, limits: IntakeLimits = IntakeLimits()) -> np.ndarray:
    """Decodes, scales the shorter side to `size` and centre-crops to (size, size, 3)."""
    return resize_and_crop(decode_image(data, limits), size)


def resize_and_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Scales the shorter side to `size`, keeping the aspect ratio, then crops the centre."""
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.ascontiguousarray(resized[top : top + size, left : left + size])


def _decode(data: bytes, fmt: str) -> np.ndarray:
    # JPEG has no alpha, and IMREAD_COLOR applies its EXIF orientation; the other formats are
    # read unchanged so that transparency can be flattened onto white instead of black.
    flags = cv2.IMREAD_COLOR if fmt == "jpeg" else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise ImageError("corrupt", "The image is damaged or cut short and cannot be decoded.")
    return image


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """Turns any decoded BGR, BGRA, grey or 16-bit image into uint8 RGB."""
    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError("corrupt", f"Unsupported pixel type {image.dtype}.")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255
        white = np.full_like(image[:, :, :3], 255, dtype=np.float32)
        blended = image[:, :, :3].astype(np.float32) * alpha + white * (1 - alpha)
        image = np.round(blended).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"
