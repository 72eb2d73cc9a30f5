"""Image intake on real encoded files, including every kind of bad upload."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
from helpers import encode

from model_core.intake import ImageError, IntakeLimits, decode_image, prepare_image


def exif_orientation_segment(orientation: int) -> bytes:
    """An APP1 EXIF segment holding only the Orientation tag, as cameras write it."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def assert_rejected(data: bytes, reason: str, limits: IntakeLimits = IntakeLimits()) -> str:
    with pytest.raises(ImageError) as caught:
        decode_image(data, limits)
    assert caught.value.reason == reason
    message = str(caught.value)
    assert message and message[0].isupper() and message.endswith(".")
    return message


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".bmp", ".gif"])
def test_every_supported_format_decodes_to_rgb(photos, ext):
    image = decode_image(encode(photos["astronaut"], ext))
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    # The astronaut's red patch stays red: channels come back in RGB order, not BGR.
    # GIF's 256-colour palette costs some fidelity; the others stay close.
    assert np.abs(image.astype(int) - photos["astronaut"]).mean() < (16 if ext == ".gif" else 8)


def test_exif_orientation_is_applied(photos):
    jpeg = encode(photos["chelsea"])  # 451 wide, 300 high
    rotated = jpeg[:2] + exif_orientation_segment(6) + jpeg[2:]
    assert decode_image(jpeg).shape == (300, 451, 3)
    upright = decode_image(rotated)
    assert upright.shape == (451, 300, 3)
    expected = np.rot90(decode_image(jpeg), k=-1)  # orientation 6: rotate 90 degrees clockwise
    assert np.abs(upright.astype(int) - expected).mean() < 1


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_grey_images_become_three_equal_channels(photos, ext):
    grey = cv2.cvtColor(photos["coffee"], cv2.COLOR_RGB2GRAY)
    image = decode_image(encode(grey, ext))
    assert image.shape == (*grey.shape, 3)
    assert np.array_equal(image[..., 0], image[..., 1])
    assert np.array_equal(image[..., 1], image[..., 2])


@pytest.mark.parametrize("ext", [".png", ".webp"])
def test_transparency_is_flattened_onto_white(photos, ext):
    rgba = np.dstack([photos["coffee"], np.full(photos["coffee"].shape[:2], 255, np.uint8)])
    rgba[:100, :, 3] = 0  # a fully transparent band at the top
    params = [cv2.IMWRITE_WEBP_QUALITY, 101] if ext == ".webp" else []
    image = decode_image(encode(rgba, ext, params))
    assert (image[:100] == 255).all()
    assert np.array_equal(image[200:], photos["coffee"][200:])


def test_sixteen_bit_png_is_scaled_to_eight_bits(photos):
    deep = photos["coffee"].astype(np.uint16) * 257
    assert np.array_equal(decode_image(encode(deep, ".png")), photos["coffee"])


@pytest.mark.parametrize("ext", [".gif", ".webp"])
def test_animated_images_are_read_as_their_first_frame(ext):
    red, green = np.zeros((40, 60, 4), np.uint8), np.zeros((40, 60, 4), np.uint8)
    red[..., 2] = red[..., 3] = green[..., 1] = green[..., 3] = 255  # BGRA
    animation = cv2.Animation()
    animation.frames, animation.durations = [red, green], [100, 100]
    ok, buffer = cv2.imencodeanimation(ext, animation)
    assert ok
    first = decode_image(buffer.tobytes())
    assert first.shape == (40, 60, 3)
    assert first[..., 0].mean() > 240 and first[..., 1].mean() < 15


def test_prepare_scales_the_shorter_side_and_crops_the_centre(photos):
    wide = np.zeros((300, 900, 3), np.uint8)
    wide[:, 300:600] = 255  # a white square in the middle third
    prepared = prepare_image(encode(wide, ".png"), 224)
    assert prepared.shape == (224, 224, 3)
    assert prepared.min() == 255  # only the white centre survives the crop
    tiny = prepare_image(encode(photos["coffee"][:50, :80], ".png"), 224)
    assert tiny.shape == (224, 224, 3)


def test_empty_file_is_rejected():
    assert_rejected(b"", "empty")


@pytest.mark.parametrize(
    "data",
    [
        b"just some text, not a photo\n",
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
        b"\x1aE\xdf\xa3\x93B\x82\x88matroska",  # the start of a video file
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # a sound file
    ],
)
def test_non_images_are_rejected(data):
    assert "not an image" in assert_rejected(data, "not_an_image")


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_truncated_files_are_rejected(photos, ext):
    data = encode(photos["chelsea"], ext)
    assert_rejected(data[: len(data) // 2], "corrupt")


def test_corrupt_jpeg_is_rejected(photos):
    data = bytearray(encode(photos["chelsea"]))
    frame = data.index(b"\xff\xc0")
    data[frame + 12] = 3  # the first component now uses a quantisation table that is not there
    assert_rejected(bytes(data), "corrupt")


def test_header_only_file_is_rejected(photos):
    assert_rejected(encode(photos["chelsea"])[:40], "corrupt")


def test_file_over_the_byte_limit_is_rejected_before_decoding(photos):
    data = encode(photos["astronaut"], ".png")
    message = assert_rejected(data, "too_large", IntakeLimits(max_bytes=len(data) - 1))
    assert "limit" in message


def test_real_decompression_bomb_is_rejected():
    # 8000 x 6000 = 48 MP of flat grey: a PNG of a few hundred kilobytes.
    bomb = encode(np.zeros((6000, 8000), np.uint8), ".png")
    assert len(bomb) < 1_000_000
    assert "8000x6000" in assert_rejected(bomb, "too_many_pixels")


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".gif", ".bmp"])
def test_forged_header_sizes_are_caught_before_decoding(photos, ext):
    data = encode(photos["coffee"], ext)
    limits = IntakeLimits(max_pixels=400 * 600 - 1)  # coffee is 600 x 400
    assert "600x400" in assert_rejected(data, "too_many_pixels", limits)


# ---- what a decode may cost ----------------------------------------------------------------


@pytest.fixture
def decodes(monkeypatch):
    """Records every call into OpenCV's decoder, to show what was refused before it."""
    calls: list[int] = []
    real = cv2.imdecode

    def counting(buffer, flags):
        calls.append(flags)
        return real(buffer, flags)

    monkeypatch.setattr(cv2, "imdecode", counting)
    return calls


def test_hostile_deep_png_is_refused_before_decoding(decodes):
    # The flood's file: 6000 x 6000 16-bit RGBA, 36 MP in a few hundred kilobytes.
    hostile = encode(np.zeros((6000, 6000, 4), np.uint16), ".png")
    assert len(hostile) < 1_000_000
    message = assert_rejected(hostile, "too_many_pixels")
    assert "6000x6000" in message and "PNG" in message
    assert decodes == []


def test_deep_samples_and_alpha_count_against_the_decode_memory(decodes):
    # 3000 x 3000 is few enough pixels, but 16-bit RGBA makes it 72 MB to decode.
    deep = encode(np.zeros((3000, 3000, 4), np.uint16), ".png")
    assert "4 x 16-bit" in assert_rejected(deep, "too_heavy")
    shallow = encode(np.zeros((3000, 3000, 3), np.uint8), ".png")  # 27 MB: fine
    assert decode_image(shallow).shape == (3000, 3000, 3)
    assert decodes == [cv2.IMREAD_UNCHANGED]


def _phone_photo(photos, width: int, height: int, progressive: bool = False) -> bytes:
    image = cv2.resize(photos["chelsea"], (width, height), interpolation=cv2.INTER_CUBIC)
    params = [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive), cv2.IMWRITE_JPEG_QUALITY, 90]
    return encode(image, ".jpg", params)


def test_large_jpeg_is_decoded_at_reduced_scale(photos, decodes):
    jpeg = _phone_photo(photos, 4000, 3000)
    assert decode_image(jpeg, min_side=224).shape == (375, 500, 3)  # 1/8: still covers 224
    assert decode_image(jpeg, min_side=400).shape == (750, 1000, 3)  # 1/4
    assert decodes == [cv2.IMREAD_REDUCED_COLOR_8, cv2.IMREAD_REDUCED_COLOR_4]
    # The backbone's input is the same picture either way.
    full = cv2.resize(decode_image(jpeg), (299, 224), interpolation=cv2.INTER_AREA)
    reduced = prepare_image(jpeg, 224)
    assert np.abs(reduced.astype(int) - full[:, 37:261]).mean() < 3


def test_small_jpeg_is_decoded_at_full_scale(photos, decodes):
    jpeg = encode(photos["chelsea"])  # 451 x 300: halving it would not cover 224
    assert prepare_image(jpeg, 224).shape == (224, 224, 3)
    assert decodes == [cv2.IMREAD_COLOR]


def test_phone_sized_jpeg_costs_no_more_than_its_reduced_decode():
    # 8000 x 6000 declares 48 MP: under the canvas limit, and decoded at 1/8 it is 0.75 MP.
    limits = IntakeLimits()
    jpeg = encode(np.full((6000, 8000, 3), 128, np.uint8), ".jpg")
    assert prepare_image(jpeg, 224, limits).shape == (224, 224, 3)
    with pytest.raises(ImageError):  # at full scale it would be too many pixels to decode
        decode_image(jpeg, limits)


def test_progressive_jpeg_counts_its_coefficient_buffer(photos):
    # A progressive decoder keeps 2 bytes per coefficient of the whole canvas at any scale:
    # 24 MP in 4:2:0 is 72 MB of coefficients. The same photo in baseline JPEG streams.
    progressive = _phone_photo(photos, 6000, 4000, progressive=True)
    with pytest.raises(ImageError) as caught:
        prepare_image(progressive, 224)
    assert caught.value.reason == "too_heavy"
    baseline = _phone_photo(photos, 6000, 4000)
    assert prepare_image(baseline, 224).shape == (224, 224, 3)
