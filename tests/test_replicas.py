"""Replicas and one trainer on a real PostgreSQL: replicas answer and journal, the trainer
alone changes the model and publishes it, every vote applied exactly once across restarts."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import pytest
from desk_helpers import ADMIN, accept, assert_model_holds_the_contributions, embedding, photo
from helpers import labelbot, labelbot_process

from bot.desk.views import DeskError
from bot.heads import Head
from labelbot.house import House
from labelbot.settings import Secret, Settings
from labelbot.trainer import Trainer

pytestmark = pytest.mark.slow  # every test here starts `labelbot` or PostgreSQL as a process


def settings_for(url: str, data, role: str) -> Settings:
    return Settings(
        admins=frozenset({ADMIN}), data_dir=data, database_url=Secret(url), role=role,
        webhook_url="https://bot.example.org/telegram" if role == "replica" else None,
    )  # fmt: skip


def start_trainer(url: str, data):
    """The trainer of `labelbot run --role trainer`, in this process; returns its stop."""
    stop = asyncio.Event()
    task = asyncio.create_task(Trainer(House(settings_for(url, data, "trainer"))).run(stop))

    async def stopped() -> None:
        stop.set()
        await task

    return stopped


@contextlib.asynccontextmanager
async def trainer_running(url: str, data):
    stop = start_trainer(url, data)
    try:
        yield
    finally:
        await stop()


@contextlib.asynccontextmanager
async def replica(url: str, data):
    house = House(settings_for(url, data, "replica"), command="labelbot run --role replica")
    desk = await house.open_desk(reads_photos=False)
    try:
        yield desk
    finally:
        await house.close()


async def test_two_replicas_vote_and_the_trainer_applies_each_vote_once(postgres, tmp_path):
    url = postgres.new_database()
    async with (
        trainer_running(url, tmp_path / "trainer"),
        replica(url, tmp_path / "a") as a,
        replica(url, tmp_path / "b") as b,
    ):
        cat = await a.labels.add(ADMIN, "cat")  # applied by the trainer, read off its model
        dog = await b.labels.add(ADMIN, "dog")
        assert (cat.id, dog.id) == (0, 1)
        taps = [await photo(desk, n) for n, desk in enumerate([a, b] * 4, 1)]
        versions = await asyncio.gather(
            *(
                desk.votes.vote(tap, sample_id, n % 2, accept)
                for n, (desk, (tap, sample_id)) in enumerate(zip([a, b] * 4, taps, strict=True))
            )
        )
        assert all("Saved" in str(v.outcome) for v in versions)
        for desk in (a, b):  # both follow the trainer's newest version
            head = await desk.service.wait_for(lambda h: h.snapshot.examples_of(1) == 4, 5)
            assert head.snapshot.examples_of(0) == 4
        assert a.snapshot.version == b.snapshot.version
    # The trainer's model equals the ridge on what the store says each photo holds.
    house = House(settings_for(url, tmp_path / "trainer", "all"))
    desk = await house.open_desk(reads_photos=False)
    try:
        await assert_model_holds_the_contributions(desk)
        assert desk.snapshot.examples_of(0) == desk.snapshot.examples_of(1) == 4
    finally:
        await house.close()


async def test_a_vote_without_a_trainer_is_kept_and_applied_once_it_returns(postgres, tmp_path):
    url = postgres.new_database()
    stop_trainer = start_trainer(url, tmp_path / "trainer")
    async with replica(url, tmp_path / "r") as desk:  # waits for the trainer's first model
        await desk.labels.add(ADMIN, "cat")
        tap, sample_id = await photo(desk, 1)
        await stop_trainer()
        desk.journal.timeout = 0.5
        with pytest.raises(DeskError, match=r"^Saved\. The model is not being updated"):
            await desk.votes.vote(tap, sample_id, 0, accept)
        assert desk.snapshot.examples_of(0) == 0
        async with trainer_running(url, tmp_path / "trainer"):
            head = await desk.service.wait_for(lambda h: h.snapshot.examples_of(0) == 1, 5)
        assert head.snapshot.examples_of(0) == 1


def test_a_published_head_predicts_as_the_model_does(tmp_path):
    from model_core.model import LabelModel

    model = LabelModel.new("analytic")
    for name in ("cat", "dog"):
        model.add_label(name)
    for n in range(6):
        model.reinforce(embedding(n), n % 2)
    head = Head(model.snapshot(), 6, (3, 6), 6)
    again = Head.decode(*head.encode())
    X = embedding(99)[None]
    assert again.snapshot.predict(X) == model.snapshot().predict(X)
    assert (again.last_event_id, again.versions, again.checkpointed) == (6, (3, 6), 6)
    assert again.snapshot.labels == model.labels


@pytest.mark.slow
def test_a_killed_trainer_applies_every_vote_exactly_once_after_restart(postgres, tmp_path):
    url = postgres.new_database()
    env = {"LABELBOT_DATABASE_URL": url, "LABELBOT_DATA_DIR": str(tmp_path / "trainer")}

    def start():
        return labelbot_process("run", "--role", "trainer", cwd=tmp_path, **env)

    async def campaign(trainer):
        async with replica(url, tmp_path / "r") as desk:  # waits for the trainer's first model
            await desk.labels.add(ADMIN, "cat")
            taps = [await photo(desk, n) for n in range(1, 21)]
            desk.journal.timeout = 60
            votes = [asyncio.create_task(desk.votes.vote(t, s, 0, accept)) for t, s in taps]
            await asyncio.sleep(0.3)
            trainer.send_signal(signal.SIGKILL)  # in the middle of the burst
            trainer.wait()
            restarted = start()
            try:
                await asyncio.gather(*votes)  # every vote answered once the trainer is back
                head = await desk.service.wait_for(lambda h: h.snapshot.examples_of(0) == 20, 60)
                return head, restarted
            except BaseException:
                restarted.kill()
                raise

    trainer = start()
    head, restarted = asyncio.run(campaign(trainer))
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(timeout=60) == 0
    assert head.snapshot.examples_of(0) == 20  # not 19, not 21: each vote exactly once


async def test_forgetting_a_person_through_a_replica_checkpoints_on_the_trainer(postgres, tmp_path):
    """/forgetme withdraws the person's influence, has the trainer write a checkpoint (so no
    replay can bring it back), then deletes their rows."""
    url = postgres.new_database()
    async with trainer_running(url, tmp_path / "trainer"), replica(url, tmp_path / "r") as desk:
        await desk.labels.add(ADMIN, "cat")
        tap, sample_id = await photo(desk, 1)
        await desk.votes.vote(tap, sample_id, 0, accept)
        before = desk.service.head.checkpointed
        await desk.people.forget(tap.user_id)
        assert desk.service.head.checkpointed > before
        assert await desk.store.people.rows_naming(tap.user_id) == 0
        assert desk.snapshot.examples_of(0) == 0


@pytest.mark.parametrize(
    ("arguments", "env", "message"),
    [
        (["--role", "trainer"], {}, "--role trainer needs LABELBOT_DATABASE_URL"),
        (["--role", "replica"], {"LABELBOT_DATABASE_URL": "postgresql://a@b/c"},
         "--role replica needs --webhook-url"),
        ([], {"LABELBOT_ROLE": "leader"}, "LABELBOT_ROLE must be one of all, replica, trainer"),
    ],
)  # fmt: skip
def test_a_role_without_what_it_needs_is_one_line(tmp_path, arguments, env, message):
    done = labelbot("run", *arguments, cwd=tmp_path, LABELBOT_DATA_DIR=str(tmp_path), **env)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


async def test_a_rollback_through_a_replica_is_applied_by_the_trainer(postgres, tmp_path):
    url = postgres.new_database()
    async with trainer_running(url, tmp_path / "trainer"), replica(url, tmp_path / "a") as a:
        cat = await a.labels.add(ADMIN, "cat")
        tap, sample_id = await photo(a, 1)
        await a.votes.vote(tap, sample_id, cat.id, accept)
        kept = await a.service.checkpoint()  # the trainer writes it; the replica lists it
        tap, sample_id = await photo(a, 2)
        await a.votes.vote(tap, sample_id, cat.id, accept)
        assert a.snapshot.examples_of(cat.id) == 2 and kept in a.service.versions()
        rolled = await a.model.rollback(ADMIN, kept)
        assert rolled.restored == kept and rolled.version > kept
        head = await a.service.wait_for(lambda h: h.snapshot.version == rolled.version, 5)
        assert head.snapshot.examples_of(cat.id) == 1  # the second vote's example is gone
        with pytest.raises(DeskError, match="no longer stored"):
            await a.model.rollback(ADMIN, 10**6)


async def test_the_trainer_reestimates_reliabilities_every_25_votes_not_events(postgres, tmp_path):
    from bot.desk.views import REESTIMATE_EVERY

    url = postgres.new_database()
    async with trainer_running(url, tmp_path / "trainer"), replica(url, tmp_path / "a") as a:
        for n in range(REESTIMATE_EVERY + 5):  # more events than votes will come
            await a.labels.add(ADMIN, f"label{n}")
        taps = [await photo(a, n) for n in range(1, REESTIMATE_EVERY + 1)]
        for tap, sample_id in taps[:-1]:
            await a.votes.vote(tap, sample_id, 0, accept)
        await asyncio.sleep(2)  # two of the trainer's polls
        assert await a.store.people.reliabilities() == {}
        tap, sample_id = taps[-1]
        await a.votes.vote(tap, sample_id, 0, accept)  # the 25th vote
        for _ in range(50):
            if await a.store.people.reliabilities():
                break
            await asyncio.sleep(0.1)
        assert await a.store.people.reliabilities()
