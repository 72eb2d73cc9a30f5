"""Exports leave the bot and come back: the data set against the fake Bot API, the model in a
process without labelbot, and an `--images` export imported again."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import (
    ADMIN,
    clean_environment,
    encode,
    labelbot,
    say,
    send_photo,
    start_bot,
    tap_label,
)

from labelbot.house import House
from labelbot.settings import Settings
from labelbot_testkit.fake_telegram import FakeTelegram, group, user
from labelbot_testkit.fake_telegram.server import BOT_USERNAME

pytestmark = pytest.mark.slow
TOKEN = "123456:" + "E" * 35
LABELS = ("astronaut", "chelsea", "coffee")
TEAM, MENTION = group(), f"@{BOT_USERNAME}"
PER_LABEL = 3


@pytest.fixture(scope="module")
def labeled(tmp_path_factory, backbone, photos):
    """A data dir taught through the bot: three labels, three photos each that an admin
    labeled (gold: each teaches with weight 1, as an import does), and one photo nobody voted
    on. Returns (fake Telegram, data dir, the running bot)."""
    data = tmp_path_factory.mktemp("labeled") / "data"
    fake = FakeTelegram(token=TOKEN).start()
    running = start_bot(fake, data, backbone)
    try:
        for name in LABELS:
            say(fake, ADMIN, f"/addlabel {name}")
        for n in range(PER_LABEL):
            for k, name in enumerate(LABELS):
                person = user(100 + 10 * n + k)
                image = photos[name][12 * n :, 7 * n :]
                reply = send_photo(fake, person, image, chat=TEAM, caption=MENTION)
                tap_label(fake, ADMIN, reply, name)  # in the group, an admin labels it
        send_photo(fake, user(99), photos["coffee"][100:])  # never voted on
        fake.wait_for(lambda: running.application.bot_data.desk.snapshot.version >= 12)
        yield fake, data, running
    finally:
        running.stop()
        fake.stop()


def bot_api(fake: FakeTelegram, data) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "LABELBOT_API_BASE_URL": fake.base_url,
        "LABELBOT_API_FILE_URL": fake.base_file_url,
        "LABELBOT_DATA_DIR": str(data),
    }


def test_an_admin_gets_the_labels_as_files_in_the_chat(labeled):
    fake, data, _ = labeled
    reply = say(fake, ADMIN, "/export")
    assert reply.text.startswith("Exported 10 photos (9 with a label) to ")
    assert "embeddings.npy" in reply.text and "export data --images" in reply.text
    sent = lambda: [s.document for s in fake.messages_to(ADMIN["id"]) if s.document]  # noqa: E731
    documents = fake.wait_for(lambda: len(sent()) == 2 and sent(), what="two documents")
    rows = [json.loads(line) for line in documents[0].decode().splitlines()]
    assert sorted(r["label"] for r in rows if r["label"]) == sorted(LABELS * PER_LABEL)
    assert documents[1].decode().startswith("sample_id,source,file_id")
    assert len(list((data / "exports").iterdir())) == 1
    refused = say(fake, user(100), "/export")
    assert "only the bot's admins" in refused.text


def test_images_export_resumes_and_reports_photos_telegram_lost(labeled, tmp_path):
    fake, data, _ = labeled
    out = tmp_path / "export"
    first = labelbot("export", "data", "--images", "--out", str(out), cwd=tmp_path,
                     **bot_api(fake, data))  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "exported 10 photos (9 with a label)" in first.stdout
    assert "images: 9 fetched, 0 already there" in first.stdout
    for name in LABELS:
        assert len(list((out / "images" / name).glob("*.jpg"))) == PER_LABEL
    metadata = [json.loads(line) for line in (out / "images" / "metadata.jsonl").open()]
    assert {m["file_name"].split("/")[0] for m in metadata} == set(LABELS)
    assert all((out / "images" / m["file_name"]).is_file() for m in metadata)

    # One photo is gone from Telegram, and the export resumes: the rest are there already.
    rows = [json.loads(line) for line in (out / "labels.jsonl").open()]
    lost = next(r for r in rows if r["label"] == "coffee")
    kept = fake.files.pop(lost["file_id"])
    next((out / "images" / "coffee").glob(f"{lost['file_unique_id']}.*")).unlink()
    try:
        again = labelbot("export", "data", "--images", "--settled-only", "--out", str(out),
                         cwd=tmp_path, **bot_api(fake, data))  # fmt: skip
    finally:
        fake.files[lost["file_id"]] = kept
    assert again.returncode == 0, again.stderr
    assert "images: 0 fetched, 8 already there" in again.stdout
    assert "1 no longer to be had" in again.stdout
    gone = [json.loads(line) for line in (out / "gone.jsonl").open()]
    assert gone == [{"sample_id": lost["sample_id"], "why": "Invalid file_id"}]


def test_an_images_export_imports_back_to_the_same_model(labeled, tmp_path):
    fake, data, running = labeled
    out = tmp_path / "export"
    exported = labelbot("export", "data", "--images", "--out", str(out), cwd=tmp_path,
                        **bot_api(fake, data))  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    copy = tmp_path / "copy"
    imported = labelbot("import", str(out / "images"), cwd=tmp_path,
                        LABELBOT_DATA_DIR=str(copy))  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    original = running.application.bot_data.desk.snapshot
    again = House(Settings(data_dir=copy)).snapshot()
    assert sorted(x.name for x in again.labels) == sorted(LABELS)
    for name in LABELS:
        a, b = original.labels.get(name).id, again.labels.get(name).id
        assert np.allclose(original.predictor.kernel[:, a], again.predictor.kernel[:, b],
                           atol=1e-5)  # fmt: skip
        assert np.isclose(original.predictor.bias[a], again.predictor.bias[b], atol=1e-5)


RUN_EXPORTS = """
import json, sys
for name in ("labelbot", "model_core", "bot", "benchmarks"):
    sys.modules[name] = None  # any import of the project now fails
import numpy as np, keras, tensorflow as tf
folder, pixels = sys.argv[1], np.load(sys.argv[2]).astype(np.float32)
out = {"keras": keras.saving.load_model(f"{folder}/model.keras").predict(pixels, verbose=0)}
served = tf.saved_model.load(f"{folder}/saved_model")  # keep it: its variables live in it
out["saved_model"] = served.serve(tf.constant(pixels))
interpreter = tf.lite.Interpreter(model_path=f"{folder}/model.tflite")
index = interpreter.get_input_details()[0]["index"]
interpreter.resize_tensor_input(index, pixels.shape)
interpreter.allocate_tensors()
interpreter.set_tensor(index, pixels)
interpreter.invoke()
out["tflite"] = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
print(json.dumps({k: np.asarray(v).tolist() for k, v in out.items()}))
"""


def test_the_exported_model_agrees_with_predict_without_labelbot(labeled, tmp_path, backbone,
                                                                  photos):  # fmt: skip
    from model_core.embedder import ImageEmbedder

    _, data, running = labeled
    running.run(running.application.bot_data.desk.service.checkpoint())
    env = {"LABELBOT_DATA_DIR": str(data)}
    model = tmp_path / "model"
    exported = labelbot("export", "model", "--out", str(model), cwd=tmp_path, **env)
    assert exported.returncode == 0, exported.stderr
    labels = (model / "labels.txt").read_text().splitlines()
    assert labels == list(LABELS)

    files = []
    for name in LABELS:  # photos the model has not seen
        files.append(tmp_path / f"{name}.jpg")
        files[-1].write_bytes(encode(photos[name][40:, 30:]))
    predicted = labelbot("predict", "--json", "--top-k", "3", *map(str, files), cwd=tmp_path,
                         **env)  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    expected = [{p["label"]: p["probability"] for p in row["predictions"]}
                for row in json.loads(predicted.stdout)]  # fmt: skip

    embedder = ImageEmbedder(backbone)
    np.save(tmp_path / "pixels.npy", np.stack([embedder.prepare(f.read_bytes()) for f in files]))
    bare = {k: v for k, v in clean_environment().items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-I", "-c", RUN_EXPORTS, str(model),
                          str(tmp_path / "pixels.npy")], cwd=tmp_path, env=bare,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    for fmt, probabilities in json.loads(run.stdout).items():
        for row, want in zip(probabilities, expected, strict=True):
            top = labels[int(np.argmax(row))]
            assert top == max(want, key=want.get), fmt
            for name, probability in want.items():
                assert abs(row[labels.index(name)] - probability) < 1e-4, (fmt, name)
