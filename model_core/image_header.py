"""What an image will cost to decode, read from its first bytes without decoding it.

This is what lets intake refuse a decompression bomb (a small file that declares a huge
canvas, deep samples or many channels) before any decoder allocates memory for it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Progressive and lossless frames: the decoder keeps every coefficient of the whole image.
_JPEG_MULTI_SCAN = {0xC2, 0xC3, 0xC6, 0xC7, 0xCA, 0xCB, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD9)}
_COEFFICIENT_BYTES = 2  # libjpeg keeps each DCT coefficient as a 16-bit integer


@dataclass(frozen=True)
class ImageHeader:
    """The declared canvas and sample layout of one encoded image.

    `channels` and `sample_bytes` describe what OpenCV hands back when it decodes the file
    unchanged (alpha and 16-bit samples kept), so `pixel_bytes` is its memory per pixel.
    `buffered_bytes` is what the decoder holds besides its output: a progressive JPEG's
    coefficients for the whole canvas, whatever scale it is decoded at.
    """

    format: str
    width: int
    height: int
    channels: int = 3
    sample_bytes: int = 1
    buffered_bytes: int = 0

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def pixel_bytes(self) -> int:
        return self.channels * self.sample_bytes


def sniff_format(data: bytes) -> str | None:
    """Names the container format from its magic bytes, or None when it is none we read."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def read_header(data: bytes, fmt: str) -> ImageHeader | None:
    """The header as declared, or None if it is unreadable."""
    try:
        return _READERS[fmt](data)
    except (struct.error, LookupError, ValueError):
        return None


# PNG colour types: grey, RGB, palette, grey + alpha, RGBA. OpenCV expands a palette (which
# may carry transparency) and grey + alpha to four channels.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 4, 6: 4}


def _png(data: bytes) -> ImageHeader | None:
    if data[12:16] != b"IHDR":
        return None
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    channels = _PNG_CHANNELS[colour]  # KeyError: not a valid colour type
    return ImageHeader("png", width, height, channels, 2 if depth == 16 else 1)


def _gif(data: bytes) -> ImageHeader:
    width, height = struct.unpack("<HH", data[6:10])
    return ImageHeader("gif", width, height, channels=4)


def _bmp(data: bytes) -> ImageHeader:
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", data[18:22])
        return ImageHeader("bmp", width, height)
    width, height, _planes, bits = struct.unpack("<iiHH", data[18:30])
    # A negative height means rows stored top-down.
    return ImageHeader("bmp", abs(width), abs(height), channels=4 if bits == 32 else 3)


def _webp(data: bytes) -> ImageHeader | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L":
        (bits,) = struct.unpack("<I", data[21:25])
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        return ImageHeader("webp", width, height, channels=4)
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader("webp", width, height, channels=4)
    return None


def _jpeg(data: bytes) -> ImageHeader | None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            return _jpeg_frame(data[pos + 4 : pos + 2 + length], marker in _JPEG_MULTI_SCAN)
        if marker == 0xDA:  # start of scan before any frame header
            return None
        pos += 2 + length
    return None


def _jpeg_frame(frame: bytes, multi_scan: bool) -> ImageHeader:
    """Reads a start-of-frame segment: precision, size, then each component's sampling."""
    precision, height, width, count = struct.unpack(">BHHB", frame[:6])
    sampling = [frame[7 + 3 * i] for i in range(count)]  # high nibble across, low nibble down
    across = max(s >> 4 for s in sampling)
    down = max(s & 0x0F for s in sampling)
    if across == 0 or down == 0:
        raise ValueError("a component without sampling factors")
    # Each component is stored at its own share of the canvas (chroma subsampling).
    share = sum((s >> 4) * (s & 0x0F) for s in sampling) / (across * down)
    buffered = round(width * height * share * _COEFFICIENT_BYTES) if multi_scan else 0
    return ImageHeader("jpeg", width, height, 3, 2 if precision > 8 else 1, buffered)


_READERS = {"png": _png, "gif": _gif, "bmp": _bmp, "webp": _webp, "jpeg": _jpeg}
