"""The journal tells the model's refusals from faults: a refusal is recorded and skipped, a
fault stops the journal at that event until the next start, and no answer is lost either way.
Real parts: the desk over a real SQLite file and the real analytic model; the fault is real
damage to a stored embedding, below the journal."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from desk_helpers import ADMIN, ALICE, accept, assert_model_holds_the_contributions, open_desk
from desk_helpers import photo as stored_photo

from bot.desk.views import DeskError
from bot.journal import JournalError
from bot.store import EventKind
from bot.texts import NOT_APPLIED_YET
from bot.texts import model as model_text
from labelbot.house import House
from labelbot.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(admins=frozenset({ADMIN}), data_dir=tmp_path / "data")


def event_results(settings: Settings) -> dict[int, str | None]:
    with sqlite3.connect(settings.data_dir / "labelbot.sqlite3") as db:
        return dict(db.execute("SELECT id, result FROM events ORDER BY id"))


def damage_embedding(settings: Settings, sample_id: int) -> bytes:
    """Cuts the sample's stored embedding to one number; returns what it held."""
    with sqlite3.connect(settings.data_dir / "labelbot.sqlite3") as db:
        (whole,) = db.execute("SELECT embedding FROM samples WHERE id = ?", (sample_id,)).fetchone()
        db.execute("UPDATE samples SET embedding = ? WHERE id = ?", (whole[:2], sample_id))
    return whole


def repair_embedding(settings: Settings, sample_id: int, whole: bytes) -> None:
    with sqlite3.connect(settings.data_dir / "labelbot.sqlite3") as db:
        db.execute("UPDATE samples SET embedding = ? WHERE id = ?", (whole, sample_id))


async def test_a_fault_stops_the_journal_keeps_every_answer_and_the_next_start_applies_them(
    settings, caplog
):
    house = House(settings, command="labelbot run")
    desk = await open_desk(house)
    cat, dog = [await desk.labels.add(ADMIN, name) for name in ("cat", "dog")]
    tap1, first = await stored_photo(desk, 1)
    await desk.votes.vote(tap1, first, cat.id, accept)
    tap2, damaged = await stored_photo(desk, 2)
    tap3, third = await stored_photo(desk, 3)
    whole = damage_embedding(settings, damaged)
    version = desk.snapshot.version

    with caplog.at_level(logging.ERROR, logger="bot.journal"):
        for tap, sample_id in ((tap2, damaged), (tap3, third)):
            with pytest.raises(DeskError, match="^" + NOT_APPLIED_YET):
                await desk.votes.vote(tap, sample_id, dog.id, accept)
    stalled = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(stalled) == 1 and stalled[0].exc_info is not None  # once, with its traceback
    assert desk.snapshot.version == version  # the model learnt neither vote ...
    results = event_results(settings)
    pending = [event for event, result in results.items() if result is None]
    assert len(pending) == 2  # ... and both stay pending, not "refused"
    assert "refused" not in " ".join(filter(None, results.values()))
    assert desk.journal.stall.event_id == pending[0]
    assert "stopped learning at event" in model_text(await desk.model.report(ADMIN))
    assert len(desk.journal._results) == 0  # no outcome kept that nobody awaits
    await house.close()

    repair_embedding(settings, damaged, whole)
    house = House(settings, command="labelbot run")
    desk = await open_desk(house)  # the next start retries from the stalled event
    assert desk.journal.stall is None
    assert all(result == "ok" for result in event_results(settings).values())
    assert "stopped learning" not in model_text(await desk.model.report(ADMIN))
    await assert_model_holds_the_contributions(desk)
    await house.close()


async def test_a_refusal_is_recorded_and_the_journal_goes_on(settings):
    house = House(settings, command="labelbot run")
    desk = await open_desk(house)
    cat, dog = [await desk.labels.add(ADMIN, name) for name in ("cat", "dog")]
    tap, sample_id = await stored_photo(desk, 1)
    await desk.labels.retire(ADMIN, "dog")
    refused = await desk.store.events.add(
        EventKind.REINFORCE, ALICE, sample_id=sample_id, label_id=dog.id
    )
    with pytest.raises(JournalError, match="retired"):
        await desk.journal.apply(refused)
    await desk.votes.vote(tap, sample_id, cat.id, accept)  # the next event is applied as usual
    results = event_results(settings)
    assert results[refused].startswith("refused: ") and desk.journal.stall is None
    assert list(results.values())[-1] == "ok"
    await house.close()


async def test_a_model_ahead_of_an_empty_store_is_refused_until_set_aside(settings):
    """A store deleted (or replaced by an empty one) beside a trained model: the model's
    votes are no longer in any journal, so the bot refuses, naming both sides and the way out."""
    from labelbot.house import DataDirError

    house = House(settings, command="labelbot run")
    desk = await open_desk(house)
    cat = await desk.labels.add(ADMIN, "cat")
    tap, sample_id = await stored_photo(desk, 1)
    await desk.votes.vote(tap, sample_id, cat.id, accept)
    await house.close()
    for leftover in settings.data_dir.glob("labelbot.sqlite3*"):
        leftover.unlink()
    with pytest.raises(DataDirError, match=r"ahead of the store.*labelbot reset-model"):
        await open_desk(House(settings, command="labelbot run"))
    aside = House(settings, command="labelbot reset-model").reset_model()
    assert aside is not None and (aside / "v000001").is_dir()  # set aside, not deleted
    house = House(settings, command="labelbot run")
    desk = await open_desk(house)
    assert len(desk.snapshot.labels) == 0  # rebuilt from the (empty) journal
    await house.close()


async def test_another_bots_store_with_a_longer_journal_is_refused(settings, tmp_path):
    """Event ids alone cannot tell two bots apart: another bot's store, with more events than
    this model holds, would have its events replayed onto this model. Each checkpoint records
    when the journal it follows began, so the bot refuses, naming both."""
    from labelbot.house import DataDirError

    other = Settings(admins=frozenset({ADMIN}), data_dir=tmp_path / "other")
    for where, names in ((other, ["tea", "milk", "oats"]), (settings, ["cat"])):
        house = House(where, command="labelbot run")
        desk = await open_desk(house)
        for name in names:
            await desk.labels.add(ADMIN, name)
        await house.close()
    for leftover in settings.data_dir.glob("labelbot.sqlite3*"):
        leftover.unlink()
    (other.data_dir / "labelbot.sqlite3").replace(settings.data_dir / "labelbot.sqlite3")
    with pytest.raises(DataDirError, match=r"follows another store: .* this store's journal "
                       r"began at .*labelbot reset-model"):  # fmt: skip
        await open_desk(House(settings, command="labelbot run"))


async def test_checkpoints_from_before_journal_origins_are_used_and_then_stamped(settings):
    """A checkpoint written before origins were kept says nothing about its journal: it is
    trusted as before, and the next checkpoint records the store's."""
    import hashlib
    import json

    house = House(settings, command="labelbot run")
    desk = await open_desk(house)
    await desk.labels.add(ADMIN, "cat")
    await house.close()
    with sqlite3.connect(settings.data_dir / "labelbot.sqlite3") as db:
        (began,) = db.execute("SELECT created_at FROM events ORDER BY id LIMIT 1").fetchone()
    newest = max((settings.data_dir / "models").iterdir())
    meta = json.loads((newest / "meta.json").read_text())
    assert meta.pop("journal_origin") == began
    written = json.dumps(meta, indent=1).encode()
    (newest / "meta.json").write_bytes(written)
    (newest / "meta.sha256").write_text(hashlib.sha256(written).hexdigest())
    house = House(settings, command="labelbot run")
    desk = await open_desk(house)
    assert [label.name for label in desk.snapshot.labels] == ["cat"]
    await desk.labels.add(ADMIN, "dog")
    await house.close()
    newest = max((settings.data_dir / "models").iterdir())
    assert json.loads((newest / "meta.json").read_text())["journal_origin"] == began


async def test_an_older_store_brings_the_model_back_to_what_it_holds(settings, caplog):
    """A store restored from an older backup (or one that lost its WAL): the model starts from
    the newest checkpoint the store's journal can carry on from, and says so."""
    house = House(settings, command="labelbot run")
    desk = await open_desk(house)
    await desk.labels.add(ADMIN, "cat")
    await desk.service.checkpoint()
    store = settings.data_dir / "labelbot.sqlite3"
    with sqlite3.connect(store) as live, sqlite3.connect(settings.data_dir / "backup") as backup:
        live.backup(backup)
    await desk.labels.add(ADMIN, "dog")
    await house.close()
    assert await labels_on(settings, settings.data_dir / "backup", caplog) == ["cat"]
    assert "after the journal's last (#1): the model starts from" in caplog.text


async def test_a_store_that_lost_its_wal_brings_the_model_back_to_what_it_holds(settings, caplog):
    """The store's last commits sit in its WAL until SQLite checkpoints it; a WAL deleted
    after a crash takes them along, while the model's checkpoint already holds them."""
    import shutil

    house = House(settings, command="labelbot run")
    desk = await open_desk(house)
    await desk.labels.add(ADMIN, "cat")
    await desk.service.checkpoint()
    await desk.store.database.value("PRAGMA wal_checkpoint(TRUNCATE)")  # "cat" in the file
    await desk.labels.add(ADMIN, "dog")  # committed to the WAL only ...
    await desk.service.checkpoint()  # ... and held by the model
    store = settings.data_dir / "labelbot.sqlite3"
    shutil.copy(store, settings.data_dir / "without-wal")  # the file as a crash leaves it
    await house.close()
    assert await labels_on(settings, settings.data_dir / "without-wal", caplog) == ["cat"]
    assert "after the journal's last (#1)" in caplog.text


async def labels_on(settings: Settings, copy, caplog) -> list[str]:
    """The model's labels once the bot starts on `copy` of its store, WAL deleted (as a
    restore, or a crash that lost the WAL, leaves it); warnings in `caplog`."""
    copy.replace(settings.data_dir / "labelbot.sqlite3")
    for wal in settings.data_dir.glob("labelbot.sqlite3-*"):
        wal.unlink()
    with caplog.at_level(logging.WARNING, logger="model_core.checkpoints"):
        house = House(settings, command="labelbot run")
        desk = await open_desk(house)
    try:
        return [label.name for label in desk.snapshot.labels]
    finally:
        await house.close()
