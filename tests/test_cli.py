"""The `labelbot` command as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import encode, labelbot

from model_core.intake import prepare_image

pytestmark = pytest.mark.slow  # every test here starts `labelbot` or PostgreSQL as a process


def test_help_lists_the_commands(tmp_path):
    result = labelbot("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "embed" in result.stdout and "run" in result.stdout


@pytest.mark.slow
def test_embed_writes_embeddings_in_argument_order(tmp_path, photos, backbone):
    (tmp_path / "coffee.jpg").write_bytes(encode(photos["coffee"]))
    (tmp_path / "chelsea.png").write_bytes(encode(photos["chelsea"], ".png"))
    result = labelbot(
        "embed",
        "chelsea.png",
        "coffee.jpg",
        "--out",
        "out.npy",
        cwd=tmp_path,
        LABELBOT_DATA_DIR=str(tmp_path / "data"),
    )
    assert result.returncode == 0, result.stderr
    embeddings = np.load(tmp_path / "out.npy")
    assert embeddings.shape == (2, 1280) and embeddings.dtype == np.float32
    expected = backbone.embed(
        np.stack(
            [
                prepare_image((tmp_path / name).read_bytes(), 224)
                for name in ("chelsea.png", "coffee.jpg")
            ]
        )
    )
    np.testing.assert_allclose(embeddings, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty"), (b"%PDF-1.4 not a photo", "not an image"), (None, "No such file")],
)
def test_embed_reports_a_bad_file_and_goes_on(tmp_path, photos, content, reason):
    (tmp_path / "good.jpg").write_bytes(encode(photos["coffee"]))
    if content is not None:
        (tmp_path / "bad.jpg").write_bytes(content)
    result = labelbot("embed", "bad.jpg", "good.jpg", "--out", "out.npy", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("labelbot embed: bad.jpg:") and reason in line for line in lines)
    assert np.load(tmp_path / "out.npy").shape == (1, 1280)  # the good file's row only
    assert (tmp_path / "out.files.txt").read_text() == "good.jpg\n"


def test_invalid_setting_is_one_line_naming_the_variable(tmp_path):
    result = labelbot("embed", "x.jpg", "--out", "o.npy", cwd=tmp_path, LABELBOT_LEARNER="svm")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "labelbot embed: LABELBOT_LEARNER must be one of analytic, cgan; got 'svm'"
    )
