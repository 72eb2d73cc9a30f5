"""`labelbot import / predict / labels / addlabel / rollback` as a user runs them."""

from __future__ import annotations

import json

import cv2
import pytest
from test_cli import labelbot

from model_core.datasets import FASHION_MNIST_LABELS, load_fashion_mnist

LABELS = {0: "T-shirt", 1: "Trouser", 8: "Bag"}


def write_tree(root, split: str, per_class: int) -> list[tuple[str, str]]:
    """Writes real Fashion-MNIST photos as PNGs in a folder-per-class tree."""
    images, labels = load_fashion_mnist(split, per_class=per_class, seed=1)
    written = []
    for n, (image, label) in enumerate(zip(images, labels, strict=True)):
        if label not in LABELS:
            continue
        folder = root / FASHION_MNIST_LABELS[label]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{n}.png"
        cv2.imwrite(str(path), image)
        written.append((str(path), FASHION_MNIST_LABELS[label]))
    return written


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    write_tree(root / "train", "train", per_class=15)
    (root / "train" / "T-shirt" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    env = {"LABELBOT_DATA_DIR": str(root / "data")}
    result = labelbot("import", "train", cwd=root, **env)
    return root, env, result


@pytest.mark.slow
def test_import_reports_and_skips_unreadable_files(imported):
    _, _, result = imported
    assert result.returncode == 0, result.stderr
    assert "skipped T-shirt/broken.jpg" in result.stderr.replace("train/", "")
    assert "imported 45 images into 3 labels" in result.stderr


@pytest.mark.slow
def test_predict_json_names_the_right_label(imported):
    root, env, _ = imported
    tests = write_tree(root / "test", "test", per_class=5)
    result = labelbot("predict", "--json", "--top-k", "2", *(p for p, _ in tests), cwd=root, **env)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)  # nothing but JSON on stdout
    assert [a["image"] for a in answers] == [p for p, _ in tests]
    assert all(len(a["predictions"]) == 2 for a in answers)
    first = answers[0]["predictions"]
    assert first[0]["probability"] >= first[1]["probability"]
    best = [answer["predictions"][0]["label"] for answer in answers]
    right = sum(guess == label for guess, (_, label) in zip(best, tests, strict=True))
    assert right / len(tests) >= 0.8


@pytest.mark.slow
def test_labels_addlabel_and_rollback(imported):
    root, env, _ = imported
    listed = json.loads(labelbot("labels", "--json", cwd=root, **env).stdout)
    assert {(x["name"], x["examples"]) for x in listed} == {
        ("Bag", 15),
        ("T-shirt", 15),
        ("Trouser", 15),
    }
    added = labelbot("addlabel", "  Ankle boot ", cwd=root, **env)
    assert "added label 'Ankle boot' with id 3" in added.stdout
    duplicate = labelbot("addlabel", "bag", cwd=root, **env)
    assert duplicate.returncode == 2
    assert duplicate.stderr.strip() == "labelbot addlabel: There is already a label called 'Bag'."
    rolled = labelbot("rollback", cwd=root, **env)
    assert rolled.returncode == 0, rolled.stderr
    names = [x["name"] for x in json.loads(labelbot("labels", "--json", cwd=root, **env).stdout)]
    assert names == ["Bag", "T-shirt", "Trouser"]


def test_import_of_a_missing_folder_is_one_line(tmp_path):
    result = labelbot("import", "nowhere", cwd=tmp_path, LABELBOT_DATA_DIR=str(tmp_path / "d"))
    assert result.returncode == 2
    assert result.stderr.strip() == "labelbot import: nowhere is not a directory"
