"""The model service: one writer in order, snapshot reads that never tear, atomic checkpoints."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from model_core.checkpoints import AheadOfJournal, CheckpointStore
from model_core.labels import LabelError
from model_core.model import LabelModel
from model_core.service import ModelService


@pytest.fixture
def embeddings(fashion):
    X, y, _, _ = fashion
    return X, y


async def open_service(tmp_path, **kwargs) -> ModelService:
    return ModelService.open(tmp_path / "models", "analytic", **kwargs)


async def test_concurrent_reads_and_writes(tmp_path, embeddings):
    X, y = embeddings
    service = await open_service(tmp_path, checkpoint_every=25)
    for name in ("T-shirt", "Trouser", "Pullover"):
        await service.add_label(name)
    samples = np.flatnonzero(y < 3)
    seen_versions: list[int] = []
    torn: list[str] = []

    async def reader():
        for _ in range(60):
            snapshot = service.snapshot
            if snapshot.predictor is not None and len(snapshot.predictor.active) != len(
                snapshot.labels
            ):
                torn.append(f"v{snapshot.version}")
            guesses = await service.predict(X[:2])
            assert all(g.name in {"T-shirt", "Trouser", "Pullover"} for row in guesses for g in row)
            seen_versions.append(snapshot.version)
            await asyncio.sleep(0)

    async def write(event_id: int, index: int) -> int:
        return await service.reinforce(X[index], int(y[index]), event_id=event_id)

    writes = [write(100 + n, int(i)) for n, i in enumerate(samples)]
    results = await asyncio.gather(*writes, *(reader() for _ in range(5)))
    versions = results[: len(writes)]
    assert versions == list(range(4, 4 + len(writes)))  # in submission order, one each
    assert not torn
    assert service.snapshot.version == 3 + len(writes)
    assert service.last_event_id == 100 + len(writes) - 1
    # Replaying already-applied events changes nothing: exactly once.
    assert await service.reinforce(X[0], 0, event_id=100) is None
    assert service.snapshot.version == 3 + len(writes)
    await service.close()

    model = LabelModel.from_checkpoint(CheckpointStore(tmp_path / "models").load_latest())
    assert int(model.learner.counts_.sum()) == len(writes)
    ridge = LabelModel.new("analytic")
    for name in ("a", "b", "c"):
        ridge.add_label(name)
    for i in samples:
        ridge.reinforce(X[i], int(y[i]))
    np.testing.assert_allclose(model.learner.coef_, ridge.learner.coef_, atol=1e-8)


async def test_reopening_restores_the_last_checkpoint(tmp_path, embeddings):
    X, y = embeddings
    service = await open_service(tmp_path)
    await service.add_label("T-shirt", event_id=1)
    await service.add_label("Trouser", event_id=2)
    await service.reinforce(X[0], int(y[0]), event_id=3)
    before = await service.predict(X[:5])
    await service.close()

    reopened = await open_service(tmp_path)
    assert reopened.snapshot.version == service.snapshot.version
    assert reopened.last_event_id == 3
    assert await reopened.predict(X[:5]) == before
    await reopened.close()


async def test_a_damaged_checkpoint_falls_back_to_the_previous_one(tmp_path):
    service = await open_service(tmp_path)
    await service.add_label("Bag")
    await service.add_label("Sandal")
    await service.close()
    store = CheckpointStore(tmp_path / "models")
    newest = store.versions()[-1]
    state = store._path(newest) / "state.npz"
    state.write_bytes(state.read_bytes()[:-20])  # truncated
    reopened = await open_service(tmp_path)
    assert [label.name for label in reopened.snapshot.labels] == ["Bag"]
    await reopened.close()


async def test_an_edited_meta_is_damage_too(tmp_path):
    """meta.json (the last event id, the labels) is covered by its own checksum."""
    service = await open_service(tmp_path)
    await service.add_label("Bag", event_id=1)
    await service.add_label("Sandal", event_id=2)
    await service.close()
    store = CheckpointStore(tmp_path / "models")
    meta = store._path(store.versions()[-1]) / "meta.json"
    meta.write_text(meta.read_text().replace('"last_event_id": 2', '"last_event_id": 42'))
    reopened = await open_service(tmp_path)
    assert [label.name for label in reopened.snapshot.labels] == ["Bag"]
    assert reopened.last_event_id == 1
    await reopened.close()


async def test_a_model_never_starts_ahead_of_its_journal(tmp_path):
    """The newest checkpoint that holds no event after the journal's last one is loaded; when
    every checkpoint is ahead (an empty or older journal), opening refuses and names both."""
    service = await open_service(tmp_path)
    for event_id, name in enumerate(("Bag", "Sandal", "Boot"), start=1):
        await service.add_label(name, event_id=event_id)
    await service.close()
    behind = await open_service(tmp_path, journal_ends_at=2)  # the journal lost event 3
    assert [label.name for label in behind.snapshot.labels] == ["Bag", "Sandal"]
    await behind.close()
    with pytest.raises(AheadOfJournal, match=r"v\d+, holds events up to #3; .* ends at #0"):
        await open_service(tmp_path, journal_ends_at=0)  # an empty store


async def test_only_the_last_versions_are_kept(tmp_path):
    service = await open_service(tmp_path, keep=3)
    for n in range(6):
        await service.add_label(f"label {n}")
    await service.close()
    assert service.versions() == [4, 5, 6]


async def test_rollback_restores_an_old_state_as_a_new_version(tmp_path, embeddings):
    X, y = embeddings
    service = await open_service(tmp_path)
    await service.add_label("T-shirt")
    await service.add_label("Trouser")
    await service.reinforce(X[0], int(y[0]))
    good = await service.checkpoint()
    good_guesses = await service.predict(X[:5])
    await service.add_label("Bag")
    for i in np.flatnonzero(y == 8)[:5]:
        await service.reinforce(X[i], 2)
    version = await service.rollback(good)
    assert version == service.snapshot.version > good
    # Bag came after the restored version: it stays, retired, so its id is never reused.
    labels = [(x.name, x.retired) for x in service.snapshot.labels]
    assert labels == [("T-shirt", False), ("Trouser", False), ("Bag", True)]
    assert await service.predict(X[:5]) == good_guesses
    assert (await service.add_label("Coat")).id == 3
    await service.close()


async def test_bad_writes_fail_alone_and_change_nothing(tmp_path, embeddings):
    X, _ = embeddings
    service = await open_service(tmp_path)
    await service.add_label("Bag")
    version = service.snapshot.version
    with pytest.raises(LabelError, match="already a label called 'Bag'"):
        await service.add_label("  bag ")
    with pytest.raises(LabelError, match="no label with id 7"):
        await service.reinforce(X[0], 7)
    with pytest.raises(LabelError, match="empty"):
        await service.add_label("   ")
    assert service.snapshot.version == version
    await service.add_label("Sandal")  # the writer lives on
    await service.close()


async def test_unlearn_takes_an_answer_back_exactly(tmp_path, embeddings):
    X, y = embeddings
    service = await open_service(tmp_path)
    await service.add_label("T-shirt")
    await service.add_label("Trouser")
    await service.reinforce(X[0], int(y[0]))
    before = await service.predict(X[:10])
    await service.reinforce(X[40], 1)
    await service.unlearn(X[40], 1)
    after = await service.predict(X[:10])
    for row_before, row_after in zip(before, after, strict=True):
        assert [g.label_id for g in row_before] == [g.label_id for g in row_after]
        np.testing.assert_allclose(
            [g.probability for g in row_before], [g.probability for g in row_after], atol=1e-9
        )
    await service.close()


async def test_rename_keeps_the_id_and_retire_masks_the_label(tmp_path, embeddings):
    X, y = embeddings
    service = await open_service(tmp_path)
    for name in ("T-shirt", "Trouser"):
        await service.add_label(name)
    for i in np.flatnonzero(y < 2)[::3]:
        await service.reinforce(X[i], int(y[i]))
    renamed = await service.rename_label(1, "Trousers")
    assert (renamed.id, renamed.name) == (1, "Trousers")
    trousers = X[np.flatnonzero(y == 1)[:3]]
    assert {row[0].name for row in await service.predict(trousers)} == {"Trousers"}
    await service.retire_label(1)
    guesses = await service.predict(trousers)
    assert all(g.name == "T-shirt" for row in guesses for g in row)
    with pytest.raises(LabelError, match="retired"):
        await service.reinforce(X[0], 1)
    await service.close()


async def test_image_bytes_are_read_one_by_one_off_the_event_loop(tmp_path, backbone, photos):
    from helpers import encode

    from model_core.embedder import ImageEmbedder
    from model_core.intake import ImageError

    service = ModelService.open(tmp_path / "models", "analytic", embedder=ImageEmbedder(backbone))
    await service.reinforce(
        (await service.read_images([encode(photos["coffee"])]))[0].embedding,
        (await service.add_label("coffee")).id,
    )
    coffee, bad, cat = await service.read_images(
        [encode(photos["coffee"]), b"%PDF-1.4", encode(photos["chelsea"])]
    )
    assert coffee.embedding.shape == cat.embedding.shape == (1280,)
    assert isinstance(bad, ImageError) and "not an image" in str(bad)
    assert coffee.guesses[0].name == "coffee" and coffee.version == service.snapshot.version
    await service.close()


async def test_photos_read_together_share_a_backbone_batch(tmp_path, backbone, photos):
    from helpers import encode

    from model_core.embedder import ImageEmbedder

    embedder = ImageEmbedder(backbone)
    service = ModelService.open(tmp_path / "models", "analytic", embedder=embedder)
    # Sixteen different photos from sixteen callers at once, as in a busy group.
    jpegs = [encode(photos[name][n * 7 :]) for n in range(8) for name in ("coffee", "chelsea")]
    readings = await asyncio.gather(*(service.read_images([jpeg]) for jpeg in jpegs))
    assert max(service.batcher.recent_batch_sizes) > 1
    assert sum(service.batcher.recent_batch_sizes) == len(jpegs)
    # Each caller gets its own photo's embedding back, as if it had been embedded alone.
    alone = backbone.embed(np.stack([embedder.prepare(jpeg) for jpeg in jpegs]))
    got = np.stack([reading[0].embedding for reading in readings])
    assert np.allclose(got, alone, atol=1e-3)
    await service.close()
