"""`labelbot import / predict / labels / addlabel / rollback` as a user runs them."""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import time

import pytest
from helpers import labelbot, labelbot_process, write_tree

pytestmark = pytest.mark.slow  # every test here starts `labelbot` or PostgreSQL as a process


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    write_tree(root / "train", "train", per_class=15)
    (root / "train" / "T-shirt" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    (root / "train" / "T-shirt" / "notes.txt").write_text("not a photo")
    # Hidden folders are no part of a data set: a notebook's checkpoints, a stray label.
    shutil.copytree(root / "train" / "Bag", root / "train" / "Bag" / ".ipynb_checkpoints")
    shutil.copytree(root / "train" / "Bag", root / "train" / ".hidden")
    env = {"LABELBOT_DATA_DIR": str(root / "data")}
    result = labelbot("import", "train", cwd=root, **env)
    return root, env, result


@pytest.mark.slow
def test_import_reports_and_skips_unreadable_files(imported):
    _, _, result = imported
    assert result.returncode == 0, result.stderr
    assert "skipped T-shirt/broken.jpg" in result.stderr.replace("train/", "")
    assert "imported 45 images into 3 labels" in result.stderr
    assert "1 unreadable files, 1 non-image files" in result.stderr


@pytest.mark.slow
def test_importing_the_same_tree_again_teaches_nothing_twice(imported):
    root, env, _ = imported
    before = json.loads(labelbot("labels", "--json", cwd=root, **env).stdout)
    again = labelbot("import", "train", cwd=root, **env)
    assert again.returncode == 0, again.stderr
    assert "imported 0 images into 3 labels" in again.stderr
    assert "skipped 45 already imported" in again.stderr
    assert json.loads(labelbot("labels", "--json", cwd=root, **env).stdout) == before


@pytest.mark.slow
def test_an_interrupted_import_resumes_where_it_stopped(tmp_path):
    write_tree(tmp_path / "train", "train", per_class=70)  # 210 photos: four batches
    env = {"LABELBOT_DATA_DIR": str(tmp_path / "data")}
    process = labelbot_process("import", "train", cwd=tmp_path, **env)
    database = tmp_path / "data" / "labelbot.sqlite3"
    deadline = time.monotonic() + 120
    while _stored_samples(database) < 64 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stored = _stored_samples(database)
    assert 64 <= stored < 210
    resumed = labelbot("import", "train", cwd=tmp_path, **env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"imported {210 - stored} images" in resumed.stderr
    assert f"skipped {stored} already imported" in resumed.stderr
    counts = json.loads(labelbot("labels", "--json", cwd=tmp_path, **env).stdout)
    assert sum(label["examples"] for label in counts) == 210  # each photo learned once


def _stored_samples(database) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            return connection.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


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
    assert duplicate.stderr.strip() == "labelbot addlabel: There is already a label called Bag."
    rolled = labelbot("rollback", cwd=root, **env)
    assert rolled.returncode == 0, rolled.stderr
    assert re.fullmatch(
        r"rolled back to version \d+: version \d+ now holds its state\n", rolled.stdout
    )
    listed = json.loads(labelbot("labels", "--json", cwd=root, **env).stdout)
    # The label added after the restored version keeps its id, retired: ids are never reused.
    assert [(x["name"], x["retired"]) for x in listed] == [
        ("Bag", False), ("T-shirt", False), ("Trouser", False), ("Ankle boot", True)
    ]  # fmt: skip


@pytest.mark.slow
def test_predict_reports_a_bad_file_and_answers_the_rest(imported):
    root, env, _ = imported
    good = write_tree(root / "more", "test", per_class=2)[0][0]
    (root / "notes.pdf").write_bytes(b"%PDF-1.4 not a photo")
    result = labelbot("predict", "--json", "notes.pdf", good, "missing.jpg", cwd=root, **env)
    assert result.returncode == 1
    rows = json.loads(result.stdout)
    assert [row["image"] for row in rows] == ["notes.pdf", good, "missing.jpg"]
    assert "not an image" in rows[0]["error"] and "No such file" in rows[2]["error"]
    assert len(rows[1]["predictions"]) == 3
    assert "labelbot predict: notes.pdf: " in result.stderr and "Traceback" not in result.stderr
    assert "oneDNN" not in result.stderr and "absl" not in result.stderr  # TensorFlow kept quiet


def test_an_unwritable_data_dir_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    result = labelbot("addlabel", "tea", cwd=tmp_path, LABELBOT_DATA_DIR=str(tmp_path / "file/d"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"labelbot addlabel: cannot write to the data dir {tmp_path / 'file/d'}: Not a directory; "
        "set LABELBOT_DATA_DIR to a writable folder"
    )


def test_import_of_a_missing_folder_is_one_line(tmp_path):
    result = labelbot("import", "nowhere", cwd=tmp_path, LABELBOT_DATA_DIR=str(tmp_path / "d"))
    assert result.returncode == 2
    assert result.stderr.strip() == "labelbot import: nowhere is not a directory"


def test_export_data_of_imported_photos_copies_them_without_telegram(imported):
    root, env, _ = imported
    out = root / "export"
    result = labelbot("export", "data", "--images", "--labels", "Bag", "--since", "2020-01-01",
                      "--out", "export", cwd=root, **env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (out / "labels.jsonl").open()]
    assert rows and {r["label"] for r in rows} == {"Bag"} and rows[0]["source"] == "import"
    assert f"images: {len(rows)} fetched, 0 already there" in result.stdout
    copied = sorted(p.read_bytes() for p in (out / "images" / "Bag").iterdir())
    assert copied == sorted(p.read_bytes() for p in (root / "train" / "Bag").glob("*.png"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--labels", "Bag,Spaceship"], "--labels: no label named Spaceship"),
        (["--since", "last tuesday"], "--since: expected a date like 2026-12-01"),
        (["--labels", " , "], "--labels: name at least one label"),
    ],
)
def test_export_data_refuses_bad_filters_in_one_line(imported, arguments, message):
    root, env, _ = imported
    result = labelbot("export", "data", "--out", "x", *arguments, cwd=root, **env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"labelbot export: {message}")
    assert not (root / "x").exists()


def test_a_model_ahead_of_its_store_is_one_line_and_reset_model_is_the_way_out(tmp_path):
    env = {"LABELBOT_DATA_DIR": str(tmp_path / "data")}
    assert labelbot("addlabel", "cat", cwd=tmp_path, **env).returncode == 0
    for store in (tmp_path / "data").glob("labelbot.sqlite3*"):
        store.unlink()  # an empty store is made in its place
    refused = labelbot("addlabel", "dog", cwd=tmp_path, **env)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "ahead of the store" in refused.stderr and "labelbot reset-model" in refused.stderr
    reset = labelbot("reset-model", cwd=tmp_path, **env)
    assert reset.returncode == 0 and "rebuilds it from the store's journal" in reset.stdout
    assert labelbot("addlabel", "dog", cwd=tmp_path, **env).returncode == 0
