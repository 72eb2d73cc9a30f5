"""Image bytes in, a backbone-ready RGB array out.

Every way an upload can be bad ends in one `ImageError` whose message can be shown to the
person who sent it as is. What a decode will cost is bounded before decoding, from the header:
the bytes of the upload, the pixels of the declared canvas, the pixels the decoder will
produce and the memory it will use for them. A JPEG is decoded at 1/2, 1/4 or 1/8 scale
whenever that still covers the backbone's input, so a 50-megapixel phone photo costs about
what a small one does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model_core.image_header import ImageHeader, read_header, sniff_format

SUPPORTED_FORMATS = "JPEG, PNG, WebP, BMP or GIF"
_MB = 1024 * 1024
_JPEG_REDUCTIONS = (
    (8, cv2.IMREAD_REDUCED_COLOR_8),
    (4, cv2.IMREAD_REDUCED_COLOR_4),
    (2, cv2.IMREAD_REDUCED_COLOR_2),
)


class ImageError(ValueError):
    """An upload that cannot become an image; `reason` is a stable code, the message friendly."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class IntakeLimits:
    """What one decode may cost. The defaults are chosen from a 224-pixel backbone input.

    - `max_bytes`: Telegram lets bots download files up to 20 MB.
    - `max_pixels`: the declared canvas; 50 MP admits the largest phone-camera photos.
    - `max_decoded_pixels`: what the decoder produces. Telegram's largest photo is 2560 px on
      its long side (6.6 MP) and JPEGs are decoded at reduced scale, so 16.8 MP (4096 x 4096)
      only stops huge PNG, WebP, BMP and GIF canvases, such as a 36 MP PNG.
    - `max_decode_bytes`: the memory of one decode: decoded pixels x channels x bytes per
      sample (16-bit samples and alpha count), plus a progressive JPEG's coefficient buffer.
    """

    max_bytes: int = 20 * _MB
    max_pixels: int = 50_000_000
    max_decoded_pixels: int = 4096 * 4096
    max_decode_bytes: int = 64 * _MB


def decode_image(
    data: bytes, limits: IntakeLimits = IntakeLimits(), min_side: int | None = None
) -> np.ndarray:
    """Decodes an upload to uint8 RGB (height, width, 3), upright, grey and alpha flattened.

    With `min_side`, a JPEG may be decoded at reduced scale as long as its shorter side stays
    at least `min_side` pixels.
    """
    return _as_rgb(_to_eight_bit_opaque(_decode_within(data, limits, min_side)))


def prepare_image(data: bytes, size: int, limits: IntakeLimits = IntakeLimits()) -> np.ndarray:
    """Decodes, scales the shorter side to `size` and centre-crops to (size, size, 3).

    The image is resized before its colours are converted: one full-size copy fewer.
    """
    opaque = _to_eight_bit_opaque(_decode_within(data, limits, size))
    return _as_rgb(resize_and_crop(opaque, size))


def resize_and_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Scales the shorter side to `size`, keeping the aspect ratio, then crops the centre."""
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.ascontiguousarray(resized[top : top + size, left : left + size])


def _decode_within(data: bytes, limits: IntakeLimits, min_side: int | None) -> np.ndarray:
    header = _checked_header(data, limits)
    scale, flags = _decode_plan(header, min_side)
    _check_decode_cost(header, scale, limits)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise ImageError("corrupt", "The image is damaged or cut short and cannot be decoded.")
    return image


def _checked_header(data: bytes, limits: IntakeLimits) -> ImageHeader:
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
    header = read_header(data, fmt)
    if header is None or header.pixels == 0:
        raise ImageError("corrupt", "The image is damaged: its header cannot be read.")
    if header.pixels > limits.max_pixels:
        raise ImageError(
            "too_many_pixels",
            f"The image is {header.width}x{header.height} pixels; the limit is "
            f"{limits.max_pixels / 1e6:g} megapixels.",
        )
    return header


def _decode_plan(header: ImageHeader, min_side: int | None) -> tuple[int, int]:
    """The scale divisor and OpenCV flags to decode with.

    JPEG has no alpha, and its EXIF orientation is applied by the colour flags; the other
    formats are read unchanged so that transparency can be flattened onto white, not black.
    """
    if header.format != "jpeg":
        return 1, cv2.IMREAD_UNCHANGED
    if min_side is not None:
        shorter = min(header.width, header.height)
        for scale, flags in _JPEG_REDUCTIONS:
            if shorter // scale >= min_side:
                return scale, flags
    return 1, cv2.IMREAD_COLOR


def _check_decode_cost(header: ImageHeader, scale: int, limits: IntakeLimits) -> None:
    decoded = -(-header.width // scale) * -(-header.height // scale)
    if decoded > limits.max_decoded_pixels:
        raise ImageError(
            "too_many_pixels",
            f"The image is {header.width}x{header.height} pixels; a {header.format.upper()} "
            f"may have at most {limits.max_decoded_pixels / 1e6:.1f} megapixels "
            "(send it as a photo or a JPEG instead).",
        )
    memory = decoded * header.pixel_bytes + header.buffered_bytes
    if memory > limits.max_decode_bytes:
        raise ImageError(
            "too_heavy",
            f"The image is {header.width}x{header.height} pixels of {header.channels} x "
            f"{8 * header.sample_bytes}-bit samples, {_megabytes(memory)} to decode; the limit "
            f"is {_megabytes(limits.max_decode_bytes)}.",
        )


def _to_eight_bit_opaque(image: np.ndarray) -> np.ndarray:
    """Scales 16-bit samples to 8 bits and flattens alpha onto white, in integer arithmetic:
    no float copy of a large canvas is made. Alpha is flattened before any resize, so that the
    colour hidden under transparent pixels never bleeds into the visible ones."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError("corrupt", f"Unsupported pixel type {image.dtype}.")
    if image.ndim == 3 and image.shape[2] == 4:
        colour, alpha = image[:, :, :3], cv2.merge([image[:, :, 3]] * 3)
        white = np.full_like(colour, 255)
        # white - (white - colour) * alpha / 255, each step rounded and saturated in uint8
        image = cv2.subtract(white, cv2.multiply(cv2.subtract(white, colour), alpha, scale=1 / 255))
    return image


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """OpenCV's grey or BGR to RGB."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _megabytes(n: int) -> str:
    return f"{n / _MB:.1f} MB"
