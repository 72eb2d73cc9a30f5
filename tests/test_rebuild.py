"""`labelbot rebuild --backbone NAME` against the fake Bot API: photos read again by
`file_id` (imported ones from their paths), a kill mid-way resumed, a photo Telegram lost,
and the model it builds equal to the ridge on what each photo teaches."""

from __future__ import annotations

import asyncio
import shutil
import time

import numpy as np
import pytest
from helpers import (
    ADMIN,
    labelbot,
    labelbot_process,
    send_photo,
    start_bot,
    tap_label,
    weighted_ridge,
    write_tree,
)

from bot.store import IMPORT_USER, Store
from labelbot.house import DataDirError, House
from labelbot.rebuild import PART
from labelbot.settings import Settings
from labelbot_testkit.fake_telegram import FakeTelegram, user
from model_core.checkpoints import CheckpointError, CheckpointStore
from model_core.model import LabelModel

pytestmark = pytest.mark.slow
TOKEN = "123456:" + "R" * 35
LITE1 = "efficientnet_lite1"


@pytest.fixture(scope="module")
def taught(tmp_path_factory, backbone, photos):
    """A stopped bot's data dir: 36 imported Fashion-MNIST photos, then 4 from Telegram that an
    admin labeled. Returns (fake Telegram, data dir, the Telegram photos' sample ids)."""
    root = tmp_path_factory.mktemp("taught")
    data = root / "data"
    write_tree(root / "tree", "train", per_class=12)
    imported = labelbot("import", str(root / "tree"), cwd=root, LABELBOT_DATA_DIR=str(data))
    assert imported.returncode == 0, imported.stderr
    fake = FakeTelegram(token=TOKEN).start()
    running = start_bot(fake, data, backbone)
    try:
        for n, (name, label) in enumerate(
            [("coffee", "Bag"), ("chelsea", "T-shirt"), ("astronaut", "Trouser"), ("coffee", "Bag")]
        ):
            reply = send_photo(fake, user(200 + n), photos[name][9 * n :, 5 * n :])
            tap_label(fake, ADMIN, reply, label)
        snapshot = lambda: running.application.bot_data.desk.snapshot  # noqa: E731
        fake.wait_for(lambda: sum(snapshot().example_counts) == 40, what="40 examples")
    finally:
        running.stop()
    try:
        yield fake, data, asyncio.run(_telegram_ids(data))
    finally:
        fake.stop()


async def _telegram_ids(data) -> list[int]:
    store = await Store.connect(data / "labelbot.sqlite3")
    try:
        return [s[0] for s in await store.samples.sources() if s[1] != IMPORT_USER]
    finally:
        await store.close()


def bot_api(fake: FakeTelegram, data, **env) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": TOKEN, "LABELBOT_API_BASE_URL": fake.base_url,
            "LABELBOT_API_FILE_URL": fake.base_file_url, "LABELBOT_DATA_DIR": str(data),
            **env}  # fmt: skip


def newest(data) -> LabelModel:
    return LabelModel.from_checkpoint(CheckpointStore(data / "models").load_latest())


async def stored(data) -> tuple[np.ndarray, list[int], list[float], list[int]]:
    """The store's embeddings and contributions: (X, labels, weights, sample ids)."""
    store = await Store.connect(data / "labelbot.sqlite3")
    try:
        rows = await store.consensus.contributions()
        X = np.stack([(await store.samples.get(s)).embedding for s, _, _ in rows])
        return X, [label for _, label, _ in rows], [w for _, _, w in rows], [s for s, _, _ in rows]
    finally:
        await store.close()


def test_the_same_backbone_rebuilds_the_same_weights(taught, tmp_path):
    fake, original, _ = taught
    data = tmp_path / "data"
    shutil.copytree(original, data)
    before = newest(data)
    result = labelbot("rebuild", "--backbone", "efficientnet_lite0", cwd=tmp_path,
                      **bot_api(fake, data))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "rebuilt the model for efficientnet_lite0: 40 photos (40 read now, 0 by" in result.stdout
    assert "LABELBOT_BACKBONE" not in result.stdout  # already the configured one
    after = newest(data)
    assert after.version == before.version + 1 and after.backbone == "efficientnet_lite0"
    before.learner.settle()  # lambda chosen on all the data, as the rebuild chooses it
    assert after.learner.alpha_ == before.learner.alpha_
    np.testing.assert_allclose(after.learner.coef_, before.learner.coef_, atol=1e-4)
    assert after.learner.counts_.tolist() == before.learner.counts_.tolist()
    assert [x.name for x in after.labels] == [x.name for x in before.labels]


def test_a_killed_rebuild_resumes_and_leaves_a_lost_photo_out(taught, tmp_path):
    fake, original, telegram = taught
    data = tmp_path / "data"
    shutil.copytree(original, data)
    previous = newest(data).version
    lost = telegram[1]
    file_id = asyncio.run(_file_id(data, lost))
    kept, fake.download_delay = fake.files.pop(file_id), 1.0  # Telegram's photos come last
    try:
        parts = data / "rebuild" / LITE1
        killed = labelbot_process("rebuild", "--backbone", LITE1, cwd=tmp_path,
                                  **bot_api(fake, data))  # fmt: skip
        deadline = time.monotonic() + 120
        while not (parts / "part-000001.npz").exists() and killed.poll() is None:
            assert time.monotonic() < deadline, "no part was written"
            time.sleep(0.05)
        killed.kill()
        killed.wait()
        assert len(list(parts.glob("part-*.npz"))) == 2  # the third waits for Telegram
        fake.download_delay = 0.0
        calls = len(fake.calls)
        again = labelbot("rebuild", "--backbone", LITE1, cwd=tmp_path, **bot_api(fake, data))
    finally:
        fake.files[file_id], fake.download_delay = kept, 0.0
    assert again.returncode == 0, again.stderr
    assert f"40 photos ({40 - 2 * PART} read now, {2 * PART} by an earlier run)" in again.stdout
    assert "1 no longer to be had" in again.stdout
    assert f"photo {lost}: Invalid file_id" in again.stderr
    assert f"Now set LABELBOT_BACKBONE={LITE1}" in again.stdout
    assert fake.calls[calls:].count("getFile") == len(telegram)  # only what was not read yet

    # The model is the ridge on the new embeddings of what each photo teaches; the lost
    # photo left the model and the store.
    model = newest(data)
    assert model.backbone == LITE1 and model.version == previous + 1
    X, y, w, ids = asyncio.run(stored(data))
    assert lost not in ids and len(ids) == 39
    np.testing.assert_allclose(model.learner.coef_, weighted_ridge(model.learner, X, y, w),
                               atol=1e-8)  # fmt: skip

    # The bot starts only with the backbone its photos were read by; the old version is
    # kept, and a rollback across the switch is refused.
    with pytest.raises(DataDirError, match=f"LABELBOT_BACKBONE={LITE1}"):
        asyncio.run(_open(Settings(data_dir=data)))
    with pytest.raises(DataDirError, match=f"LABELBOT_BACKBONE={LITE1}"):
        House(Settings(data_dir=data)).open_reader()  # labelbot predict, embed
    asyncio.run(_open(Settings(data_dir=data, backbone=LITE1)))
    assert previous in CheckpointStore(data / "models").versions()
    with pytest.raises(CheckpointError, match="another backbone"):
        asyncio.run(_open(Settings(data_dir=data, backbone=LITE1), rollback_to=previous))

    # Switching back reads no photo again: the switch kept the old backbone's embeddings.
    back = labelbot("rebuild", "--backbone", "efficientnet_lite0", cwd=tmp_path,
                    **bot_api(fake, data, LABELBOT_BACKBONE=LITE1))  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert "39 photos (0 read now, 39 by an earlier run)" in back.stdout
    X0, y0, w0, _ = asyncio.run(stored(data))
    assert not np.allclose(X0, X)  # Lite0's embeddings are back in the store
    model = newest(data)
    np.testing.assert_allclose(model.learner.coef_, weighted_ridge(model.learner, X0, y0, w0),
                               atol=1e-8)  # fmt: skip
    asyncio.run(_open(Settings(data_dir=data)))


async def _file_id(data, sample_id: int) -> str:
    store = await Store.connect(data / "labelbot.sqlite3")
    try:
        return (await store.samples.get(sample_id)).file_id
    finally:
        await store.close()


async def _open(settings: Settings, rollback_to: int | None = None) -> None:
    house = House(settings)
    desk = await house.open_desk(reads_photos=False)
    try:
        if rollback_to is not None:
            await desk.service.rollback(rollback_to)
    finally:
        await house.close()


def test_rebuild_refuses_an_unknown_backbone_and_a_running_bot(taught, tmp_path, backbone):
    fake, original, _ = taught
    unknown = labelbot("rebuild", "--backbone", "resnet9000", cwd=tmp_path,
                       **bot_api(fake, original))  # fmt: skip
    assert unknown.returncode == 2 and "unknown backbone 'resnet9000'" in unknown.stderr
    data = tmp_path / "data"
    shutil.copytree(original, data)
    running = start_bot(fake, data, backbone)
    try:
        busy = labelbot("rebuild", "--backbone", LITE1, cwd=tmp_path, **bot_api(fake, data))
    finally:
        running.stop()
    assert busy.returncode == 2 and "runs with the bot stopped" in busy.stderr
