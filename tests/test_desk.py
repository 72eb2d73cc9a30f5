"""The desk's use cases on a real SQLite file and the real analytic model, built by the
composition root without a backbone: the fast unit layer (no TensorFlow, no Fashion-MNIST)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from desk_helpers import (
    ADMIN,
    ALICE,
    BOB,
    CHAT,
    accept,
    assert_model_holds_the_contributions,
    embedding,
    open_desk,
    photo,
)

from bot.desk.views import DeskError, Imported, TapIn
from bot.store import EventKind, ProposalState
from labelbot.house import House
from labelbot.settings import Secret, Settings
from labelbot.writer_lock import DataDirBusy
from model_core.consensus import State, Verdict
from model_core.service import Reading

DATA = Path(__file__).parent / "data"  # stores written by earlier labelbots


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
async def house(request, tmp_path):
    """The desk over each store: the data dir's SQLite file, and a real PostgreSQL."""
    url = None
    if request.param == "postgresql":
        url = Secret(request.getfixturevalue("postgres").new_database())
    settings = Settings(admins=frozenset({ADMIN}), data_dir=tmp_path / "data", database_url=url)
    built = House(settings, command="labelbot run")
    yield built
    await built.close()


async def test_rollback_then_add_never_reuses_an_id(house):
    desk = await open_desk(house)
    for name in ("A", "B"):
        await desk.labels.add(ADMIN, name)
    before_c = desk.snapshot.version
    await desk.labels.add(ADMIN, "C")
    tap, sample_id = await photo(desk, 1)
    await desk.votes.vote(tap, sample_id, 2, accept)  # a vote for C
    await desk.service.checkpoint()
    assert before_c in desk.service.versions()
    assert (await desk.model.rollback(ADMIN, before_c)).restored == before_c
    d = await desk.labels.add(ADMIN, "D")
    assert d.id == 3
    assert await desk.store.votes.label_names() == ["C"]  # C's vote still names C
    assert [(x.name, x.retired) for x in desk.snapshot.labels] == [
        ("A", False), ("B", False), ("C", True), ("D", False)
    ]  # fmt: skip

    await house.close()  # a restart keeps the high-water mark
    desk = await open_desk(house)
    assert (await desk.labels.add(ADMIN, "E")).id == 4


async def test_a_vote_teaches_undo_takes_it_back_and_a_second_vote_is_refused(house):
    desk = await open_desk(house)
    cat = await desk.labels.add(ADMIN, "cat")
    dog = await desk.labels.add(ADMIN, "dog")
    tap, sample_id = await photo(desk, 1)
    acknowledged = []

    async def acknowledge(text: str) -> None:
        acknowledged.append(text)

    after = await desk.votes.vote(tap, sample_id, cat.id, acknowledge)
    assert acknowledged == ["Saved: cat"] and after.undoable and after.private
    assert after.tally.counts == [("cat", 1)] and after.tally.confidence is not None
    assert desk.snapshot.examples_of(cat.id) == 1
    with pytest.raises(DeskError, match="already voted"):
        await desk.votes.vote(tap, sample_id, dog.id, accept)
    # The same vote again (a double tap, or a tap handled again after a crash) is that vote.
    assert (await desk.votes.vote(tap, sample_id, cat.id, acknowledge)).undoable
    assert acknowledged[-1] == "Saved: cat" and desk.snapshot.examples_of(cat.id) == 1
    after = await desk.votes.undo(tap, sample_id)
    assert not after.undoable and desk.snapshot.examples_of(cat.id) == 0
    with pytest.raises(DeskError, match="no vote of yours"):
        await desk.votes.undo(tap, sample_id)


async def test_forged_taps_and_non_admins_change_nothing(house):
    desk = await open_desk(house)
    cat = await desk.labels.add(ADMIN, "cat")
    tap, sample_id = await photo(desk, 1)
    version = desk.snapshot.version
    elsewhere = TapIn(BOB, 999, tap.message_id, tap.quoted_message_id, private=True)
    with pytest.raises(DeskError, match="does not belong"):
        await desk.votes.vote(elsewhere, sample_id, cat.id, accept)
    with pytest.raises(DeskError, match="no longer know"):
        await desk.votes.vote(tap, 12345, cat.id, accept)
    with pytest.raises(DeskError, match="does not exist"):
        await desk.votes.vote(tap, sample_id, 77, accept)
    for refused in (
        desk.labels.add(BOB, "dog"),
        desk.model.rollback(BOB, None),
        desk.model.stats(BOB),
    ):
        with pytest.raises(DeskError, match="only the bot's admins"):
            await refused
    assert desk.snapshot.version == version and await desk.store.votes.count() == 0


async def test_a_group_vote_shows_the_tally_to_the_others(house):
    desk = await open_desk(house)
    cat = await desk.labels.add(ADMIN, "cat")
    tap, sample_id = await photo(desk, 1, chat=-500)
    after = await desk.votes.vote(tap, sample_id, cat.id, accept)
    assert after.tally.counts == [("cat", 1)] and after.tally.skips == 0
    bob = TapIn(BOB, -500, tap.message_id, tap.quoted_message_id, private=False)
    assert (await desk.votes.skip(bob, sample_id)).tally.skips == 1


async def test_a_proposal_waits_for_an_admin_and_its_photo_becomes_the_first_example(house):
    desk = await open_desk(house)
    tap, sample_id = await photo(desk, 1)
    prompts = []

    async def ask(sample) -> int:
        prompts.append(sample.id)
        return 555

    await desk.proposals.propose(tap, sample_id, ask)
    assert prompts == [sample_id]
    refused = await desk.proposals.name(CHAT, 555, ALICE, "a<b")
    assert "cannot contain" in refused.reply and refused.proposal is None
    waiting = await desk.proposals.name(CHAT, 555, ALICE, "Espresso")
    assert waiting.proposal.state == ProposalState.PENDING
    decision = await desk.proposals.decide(ADMIN, waiting.proposal.id, approve=True)
    assert "New label Espresso added" in decision.announcement
    assert [(x.name, x.examples) for x in desk.labels.counts()] == [("Espresso", 1)]
    with pytest.raises(DeskError, match="already been decided"):
        await desk.proposals.decide(ADMIN, waiting.proposal.id, approve=False)


async def test_imported_photos_go_through_the_journal_and_are_known_again(house):
    desk = await open_desk(house)
    label = await desk.imports.label("Bag")
    photos = [
        Imported(f"{n:064x}", f"Bag/{n}.png", Reading(embedding(n), [], 0), label.id)
        for n in range(3)
    ]
    await desk.imports.photos(photos)
    assert desk.snapshot.examples_of(label.id) == 3
    assert desk.service.last_event_id > 0  # journaled, not written around the store
    hashes = [p.sha256 for p in photos] + [f"{99:064x}"]
    assert await desk.imports.already_imported(hashes) == set(hashes[:3])
    assert (await desk.model.stats(ADMIN)).first_guess_right == []  # imports are no guesses


async def test_a_second_writer_is_refused_with_the_holders_name(house, tmp_path):
    await open_desk(house)
    other = House(Settings(data_dir=tmp_path / "data"), command="labelbot import")
    with pytest.raises(DataDirBusy, match=r"labelbot run \(pid \d+\) is using .*data; stop it"):
        await other.open_desk(reads_photos=False)


def test_writer_lock_names_the_holder_and_frees_on_release(tmp_path):
    from labelbot.writer_lock import WriterLock

    path = tmp_path / "writer.lock"
    holder = rf"labelbot run \(pid {os.getpid()}\)"
    with WriterLock(path, "labelbot run"), pytest.raises(DataDirBusy, match=holder):
        WriterLock(path, "labelbot import").acquire()
    WriterLock(path, "labelbot import").acquire().release()  # free again


def test_an_unwritable_data_dir_is_one_clear_error(tmp_path):
    from labelbot.house import DataDir, DataDirError

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DataDirError, match=r"cannot write to the data dir .*LABELBOT_DATA_DIR"):
        DataDir(blocker / "data").create()


async def test_export_rows_carry_the_consensus_and_filters_keep_what_was_asked(house):
    import csv
    import json
    from datetime import UTC, datetime, timedelta

    from bot.export import ExportFilter, read_rows

    desk = await open_desk(house)
    cat, dog = [await desk.labels.add(ADMIN, name) for name in ("cat", "dog")]
    votes = {1: [cat, cat, dog], 2: [cat, dog], 3: [dog], 4: []}  # photo -> its votes in turn
    for n, labels in votes.items():
        tap, sample_id = await photo(desk, n, chat=-5)  # a group: anyone may vote
        for voter, label in zip((ALICE, BOB, ADMIN), labels, strict=False):
            by = dataclasses.replace(tap, user_id=voter)
            await desk.votes.vote(by, sample_id, label.id, accept)
    rows = await read_rows(desk.store)
    # The admin's vote is gold; a 1:1 split between two labels decides nothing; one vote is
    # a newcomer's 0.8 and not settled.
    assert [(r.label, r.confidence, r.settled, r.status) for r in rows] == [
        ("dog", 1.0, True, "settled"), (None, None, False, "undecided"),
        ("dog", 0.8, False, "waiting"), (None, None, False, "unvoted"),
    ]  # fmt: skip
    assert [(v.user_id, v.label) for v in rows[0].votes] == [(ALICE, "cat"), (BOB, "cat"),
                                                             (ADMIN, "dog")]  # fmt: skip
    assert rows[0].source == "telegram" and rows[0].file_id == "F1"
    settled = await read_rows(desk.store, ExportFilter(settled_only=True))
    assert [r.sample_id for r in settled] == [rows[0].sample_id]
    dogs = await read_rows(desk.store, ExportFilter(labels=frozenset({"dog"})))
    assert [r.sample_id for r in dogs] == [rows[0].sample_id, rows[2].sample_id]
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert await read_rows(desk.store, ExportFilter(since=tomorrow)) == []

    with pytest.raises(DeskError, match="admins"):
        await desk.exports.tables(ALICE)
    done = await desk.exports.tables(ADMIN)
    assert (done.photos, done.labeled) == (4, 2)
    by_name = {path.name: path for path in done.files}
    lines = by_name["labels.jsonl"].read_text().splitlines()
    assert [json.loads(line)["label"] for line in lines] == ["dog", None, "dog", None]
    with by_name["labels.csv"].open() as file:
        table = list(csv.DictReader(file))
    assert table[0]["vote_labels"] == "cat;cat;dog" and table[0]["votes"] == "3"
    embeddings = np.load(by_name["embeddings.npy"])
    assert embeddings.shape == (4, 1280)
    assert np.allclose(embeddings[2], embedding(3), atol=1e-2)  # stored as float16
    index = [
        json.loads(line) for line in by_name["embeddings.index.jsonl"].read_text().splitlines()
    ]
    assert [entry["sample_id"] for entry in index] == [r.sample_id for r in rows]


async def test_the_model_follows_the_consensus_exactly_through_votes_and_undos(house):
    desk = await open_desk(house)
    cat, dog, _ = [await desk.labels.add(ADMIN, name) for name in ("cat", "dog", "bird")]
    tap, sample_id = await photo(desk, 1, chat=-5)
    as_ = lambda user: dataclasses.replace(tap, user_id=user)  # noqa: E731
    await desk.votes.vote(as_(ALICE), sample_id, cat.id, accept)  # trains at once, weighted
    first = await desk.store.consensus.verdict(sample_id)
    assert first.label_id == cat.id and not first.settled and 0.5 < first.confidence < 1
    await desk.votes.vote(as_(BOB), sample_id, dog.id, accept)  # disagreement: less sure
    assert (await desk.store.consensus.verdict(sample_id)).confidence < first.confidence
    await desk.votes.vote(as_(4), sample_id, dog.id, accept)  # a third makes it dog ...
    leaning = await desk.store.consensus.verdict(sample_id)
    assert leaning.label_id == dog.id and 0.85 < leaning.confidence < 0.98  # ... not sure yet
    assert not leaning.settled
    await desk.votes.vote(as_(5), sample_id, dog.id, accept)  # 3 to 1: sure enough
    settled = await desk.store.consensus.verdict(sample_id)
    assert settled.label_id == dog.id and settled.confidence >= 0.98 and settled.settled
    await assert_model_holds_the_contributions(desk)
    await desk.votes.undo(as_(5), sample_id)  # undone: back to 2 to 1
    assert not (await desk.store.consensus.verdict(sample_id)).settled
    await desk.votes.vote(as_(ADMIN), sample_id, cat.id, accept)  # an admin's vote is gold
    assert await desk.store.consensus.verdict(sample_id) == Verdict(cat.id, 1.0, State.SETTLED)
    assert await desk.store.consensus.contributions() == [(sample_id, cat.id, 1.0)]
    for n in range(2, 6):  # more photos, one vote each
        tap_n, sample_n = await photo(desk, n, chat=-5)
        await desk.votes.vote(dataclasses.replace(tap_n, user_id=BOB), sample_n, n % 2, accept)
    await assert_model_holds_the_contributions(desk)
    assert desk.snapshot.examples_of(cat.id) + desk.snapshot.examples_of(dog.id) == 5


async def test_a_ban_withdraws_a_voters_influence_and_an_unban_restores_it(house):
    desk = await open_desk(house)
    labels = [await desk.labels.add(ADMIN, name) for name in ("cat", "dog", "bird")]
    MALLORY = 66
    samples = []
    for n in range(1, 5):
        tap, sample_id = await photo(desk, n, chat=-5)
        samples.append(sample_id)
        await desk.votes.vote(
            dataclasses.replace(tap, user_id=ALICE), sample_id, labels[0].id, accept
        )
        await desk.votes.vote(
            dataclasses.replace(tap, user_id=MALLORY), sample_id, labels[1].id, accept
        )
    split = await desk.store.consensus.contributions()
    with pytest.raises(DeskError, match="admins"):
        await desk.people.ban(ALICE, str(MALLORY))
    with pytest.raises(DeskError, match="Usage"):
        await desk.people.ban(ADMIN, "mallory")
    assert await desk.people.ban(ADMIN, str(MALLORY)) == 4
    alone = await desk.store.consensus.contributions()
    assert {label for _, label, _ in alone} == {labels[0].id}  # only Alice counts now
    await assert_model_holds_the_contributions(desk)
    await house.close()  # the ban outlives a restart
    desk = await open_desk(house)
    assert MALLORY in desk.banned
    await desk.people.ban(ADMIN, str(MALLORY), banned=False)
    assert await desk.store.consensus.contributions() == split
    await assert_model_holds_the_contributions(desk)


async def test_forgetting_a_person_leaves_no_row_naming_them_and_no_trace_in_the_model(house):
    desk = await open_desk(house)
    cat, dog = [await desk.labels.add(ADMIN, name) for name in ("cat", "dog")]
    tap, theirs = await photo(desk, 1, chat=-5)  # Alice sends a photo ...
    await desk.votes.vote(dataclasses.replace(tap, user_id=BOB), theirs, dog.id, accept)
    tap2, other = await photo(desk, 2, chat=-5, sender=BOB)
    tap2 = dataclasses.replace(tap2, user_id=BOB)
    await desk.votes.vote(tap2, other, cat.id, accept)  # ... and votes on another one
    await desk.votes.vote(dataclasses.replace(tap2, user_id=ALICE), other, dog.id, accept)
    assert await desk.store.people.rows_naming(ALICE) > 0
    await desk.people.forget(ALICE)
    assert await desk.store.people.rows_naming(ALICE) == 0
    assert await desk.store.samples.get(theirs) is None  # her photo is gone with her
    assert await desk.store.consensus.contributions() == [
        (other, cat.id, (await desk.store.consensus.verdict(other)).confidence)
    ]
    await assert_model_holds_the_contributions(desk)


async def test_the_export_names_no_label_the_consensus_did_not_reach(house):
    """Votes only from a voter the crowd distrusts decide nothing: the export says so, with
    the votes, instead of writing their plurality as a sure label."""
    from bot.export import read_rows

    desk = await open_desk(house)
    cat, _ = [await desk.labels.add(ADMIN, name) for name in ("cat", "dog")]
    await desk.store.people.save_reliabilities({BOB: 0.1})
    await desk.crowd.load()
    tap, sample_id = await photo(desk, 1, chat=-5)
    await desk.votes.vote(dataclasses.replace(tap, user_id=BOB), sample_id, cat.id, accept)
    (row,) = await read_rows(desk.store)
    assert (row.label, row.confidence, row.settled, row.status) == (None, None, False, "undecided")
    assert [(v.user_id, v.label) for v in row.votes] == [(BOB, "cat")]


async def test_the_queue_gives_every_photo_a_vote_before_any_gets_another(house):
    """Fewest votes first, then the least sure, then the oldest: with a budget of a few votes
    a photo, no photo is passed over for one that has had more (it used to be the newest)."""
    desk = await open_desk(house)
    desk.context.policy = dataclasses.replace(desk.policy, review_gold_share=0.0)
    cat, dog = [await desk.labels.add(ADMIN, name) for name in ("cat", "dog")]
    taps = {s: t for t, s in [await photo(desk, n, chat=-5) for n in range(1, 5)]}
    samples = list(taps)  # no guesses yet: the model is equally unsure of each

    async def vote(user: int, sample: int, label) -> None:
        await desk.votes.vote(dataclasses.replace(taps[sample], user_id=user), sample, label.id,
                              accept)  # fmt: skip

    reviewers = iter(range(100, 200))
    voted: list[int] = []
    for _ in samples:  # one vote each, oldest first among equals
        chosen = await desk.review.pick(reviewer := next(reviewers))
        voted.append(chosen)
        await vote(reviewer, chosen, cat if chosen % 2 else dog)
    assert voted == samples
    # All have one vote; a second reviewer's pick is among them, never a photo with two.
    second = await desk.review.pick(next(reviewers))
    assert second in samples
    await vote(300, second, cat)
    assert await desk.review.pick(next(reviewers)) != second
    # The console preloads: a photo already on the person's screen is not handed out again.
    reviewer = next(reviewers)
    shown = await desk.review.pick(reviewer)
    preloaded = await desk.review.pick(reviewer, frozenset({shown}))
    assert preloaded not in (None, shown)
    assert await desk.review.pick(reviewer, frozenset(samples)) is None


async def test_settled_photos_get_no_more_votes_and_disputed_ones_go_to_admins(house):
    desk = await open_desk(house)
    desk.context.policy = dataclasses.replace(desk.policy, review_gold_share=0.0, max_votes=3)
    a, b, c = [await desk.labels.add(ADMIN, name) for name in ("a", "b", "c")]
    tap, disputed = await photo(desk, 1, chat=-5)
    for voter, label in zip((20, 21, 22), (a, b, c), strict=True):  # three labels, three votes
        await desk.votes.vote(dataclasses.replace(tap, user_id=voter), disputed, label.id, accept)
    gold_tap, settled = await photo(desk, 2, chat=-5)
    await desk.votes.vote(dataclasses.replace(gold_tap, user_id=ADMIN), settled, a.id, accept)
    # Nothing waits for a contributor's vote: only a photo an admin labeled, to measure them.
    assert await desk.review.pick(30) == settled
    assert await desk.review.pick(30, frozenset({settled})) is None  # gold, on screen already
    assert await desk.review.pick(ADMIN) == disputed
    await desk.votes.vote(dataclasses.replace(tap, user_id=ADMIN), disputed, b.id, accept)
    assert (await desk.store.consensus.verdict(disputed)).settled
    assert await desk.review.pick(ADMIN) is None
    await assert_model_holds_the_contributions(desk)


async def test_a_changed_crowd_policy_judges_every_photo_again_and_spares_the_model(house):
    desk = await open_desk(house)
    cat, *_ = [await desk.labels.add(ADMIN, name) for name in ("cat", "dog", "bird")]
    tap, sample_id = await photo(desk, 1, chat=-5)
    for voter in (20, 21):  # two newcomers agree: 0.97, below the default 0.98
        await desk.votes.vote(dataclasses.replace(tap, user_id=voter), sample_id, cat.id, accept)
    assert not (await desk.store.consensus.verdict(sample_id)).settled
    version = desk.snapshot.version
    await house.close()
    lenient = dataclasses.replace(house.settings, label_confidence=0.9)
    relaxed = House(lenient, command="labelbot run")
    desk = await open_desk(relaxed)
    try:
        await desk.crowd.settle()  # judged again in the background: the bot answers meanwhile
        assert (await desk.store.consensus.verdict(sample_id)).settled
        assert desk.snapshot.version == version  # no verdict moved: nothing to correct
        assert await desk.crowd.follow_policy() == 0  # judged once per change
    finally:
        await relaxed.close()


async def test_reliabilities_are_reestimated_and_the_model_follows(house):
    desk = await open_desk(house)
    labels = [await desk.labels.add(ADMIN, name) for name in ("a", "b", "c")]
    careful, adversary = 20, 21
    for n in range(1, 13):  # an admin settles some, a careful voter agrees, an adversary not
        tap, sample_id = await photo(desk, n, chat=-5)
        right = labels[n % 3].id
        if n <= 6:
            await desk.votes.vote(dataclasses.replace(tap, user_id=ADMIN), sample_id, right, accept)
        await desk.votes.vote(dataclasses.replace(tap, user_id=careful), sample_id, right, accept)
        wrong = labels[(n + 1) % 3].id
        await desk.votes.vote(dataclasses.replace(tap, user_id=adversary), sample_id, wrong, accept)
    await desk.crowd.reestimate()
    assert desk.reliability[careful] > 0.8 and desk.reliability[adversary] < 0.3
    assert await desk.store.people.reliabilities() == desk.reliability
    await assert_model_holds_the_contributions(desk)


async def test_people_see_their_standing_the_leaderboard_and_admins_the_contributors(house):
    desk = await open_desk(house)
    cat, dog, _ = [await desk.labels.add(ADMIN, name) for name in ("cat", "dog", "bird")]
    for n in range(1, 5):
        tap, sample_id = await photo(desk, n, chat=-5, sender=99)
        voters = [(ALICE, "Alice", cat), (BOB, "Bob", cat if n < 4 else dog)]
        if n == 1:
            voters.append((ADMIN, "Ada", cat))  # gold: an admin settled photo 1
        for user, name, label in voters:
            by = dataclasses.replace(tap, user_id=user, user_name=name)
            await desk.votes.vote(by, sample_id, label.id, accept)
    alice = (await desk.people.standing(ALICE)).me
    assert (alice.votes, alice.compared, alice.agreed) == (4, 4, 4)
    assert (alice.gold_votes, alice.gold_right) == (1, 1) and alice.gold_accuracy == 1.0
    bob = await desk.people.standing(BOB)
    assert bob.me.agreement < 1 and bob.of == 2 and bob.rank == 2
    assert (await desk.people.standing(77)).me is None
    assert [c.name for c in await desk.people.leaderboard()] == [
        "Alice",
        "Bob",
    ]  # admins not ranked
    await desk.people.hide(BOB, True)
    assert [c.name for c in await desk.people.leaderboard()] == ["Alice"]
    with pytest.raises(DeskError, match="admins"):
        await desk.people.contributors(ALICE)
    rows = await desk.people.contributors(ADMIN)
    assert {c.user_id for c in rows} == {ALICE, BOB} and not any(c.likely_spam for c in rows)


async def test_an_old_store_keeps_what_its_votes_taught_until_the_next_vote(tmp_path):
    """A database labelbot wrote before consensus (schema 1, before Alembic): each live vote
    taught one example, and that is what the migration records the photo as teaching."""
    import shutil
    import sqlite3

    from bot.migrations import HEAD
    from bot.store import Store

    path = tmp_path / "old.sqlite3"
    shutil.copy(DATA / "pre-alembic-v1.sqlite3", path)
    old = sqlite3.connect(path)
    old.execute("DELETE FROM votes")
    for vote_id, user, label, undone in ((1, 2, 0, None), (2, 3, 0, None), (3, 4, 1, None),
                                         (4, 6, 1, 1.0), (5, 7, None, None)):  # fmt: skip
        old.execute(
            "INSERT INTO votes VALUES (?, 1, ?, ?, NULL, 0, ?)", (vote_id, user, label, undone)
        )
    old.commit()
    old.close()
    store = await Store.open(path)
    assert await store.consensus.contributions() == [(1, 0, 2.0), (1, 1, 1.0)]
    assert await store.schema_version() == HEAD
    await store.close()


async def test_a_rollback_brings_back_what_the_restored_model_held(house):
    desk = await open_desk(house)
    cat, dog, _ = [await desk.labels.add(ADMIN, name) for name in ("cat", "dog", "bird")]
    tap1, first = await photo(desk, 1, chat=-5)
    await desk.votes.vote(dataclasses.replace(tap1, user_id=BOB), first, cat.id, accept)
    tap2, second = await photo(desk, 2, chat=-5)
    await desk.votes.vote(dataclasses.replace(tap2, user_id=BOB), second, dog.id, accept)
    await desk.service.checkpoint()
    restored = desk.snapshot.version
    held_then = await desk.store.consensus.contributions()
    for user in (ALICE, 4):  # later: the second photo changes its mind, a third arrives
        await desk.votes.vote(dataclasses.replace(tap2, user_id=user), second, cat.id, accept)
    tap3, third = await photo(desk, 3, chat=-5)
    await desk.votes.vote(dataclasses.replace(tap3, user_id=BOB), third, dog.id, accept)
    await desk.service.checkpoint()
    await desk.model.rollback(ADMIN, restored)
    assert await desk.store.consensus.contributions() == held_then
    await assert_model_holds_the_contributions(desk)
    # Votes go on from there, exactly; a second rollback folds through the first.
    await desk.votes.vote(dataclasses.replace(tap3, user_id=ALICE), third, cat.id, accept)
    await assert_model_holds_the_contributions(desk)
    await desk.service.checkpoint()
    after_first = desk.snapshot.version
    held_after_first = await desk.store.consensus.contributions()
    await desk.votes.vote(dataclasses.replace(tap1, user_id=ALICE), first, dog.id, accept)
    await desk.model.rollback(ADMIN, after_first)
    assert await desk.store.consensus.contributions() == held_after_first
    await assert_model_holds_the_contributions(desk)


async def test_the_events_a_vote_causes_name_the_vote(house):
    """The journal says which vote moved a photo's contribution, and its undo names it too."""
    desk = await open_desk(house)
    cat = await desk.labels.add(ADMIN, "cat")
    tap, sample_id = await photo(desk, 1)
    await desk.votes.vote(tap, sample_id, cat.id, accept)
    vote_id = await desk.store.votes.last_id()
    await desk.votes.undo(tap, sample_id)
    caused = [(e.kind, e.vote_id) for e in await desk.store.events.after(0) if e.sample_id]
    assert caused == [(EventKind.REINFORCE, vote_id), (EventKind.UNLEARN, vote_id)]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("\u0455\u0435\u0430", "looks just like the label sea"),  # Cyrillic dze, ie, a
        ("SEA", "already a label"),
        ("Skip", "one of my buttons"),
        ("Other…", "one of my buttons"),
        ("➕ New label", "one of my buttons"),
        ("undo", "one of my buttons"),
        ("sea 99%", "one of my buttons"),
        ("/retirelabel", "cannot start with / or @"),
        ("@ada_admin", "cannot start with / or @"),
        ("https://example.org", "cannot be a link"),
        ("www.example.org", "cannot be a link"),
        ("t.me/somebot", "cannot be a link"),
        ("\u3164", "cannot contain"),  # an invisible Hangul filler
    ],
)
async def test_names_that_could_pass_for_something_else_are_refused(house, name, why):
    desk = await open_desk(house)
    await desk.labels.add(ADMIN, "sea")
    with pytest.raises(DeskError, match=why):
        await desk.labels.add(ADMIN, name)
    assert [label.name for label in desk.snapshot.labels] == ["sea"]
    await desk.labels.add(ADMIN, "Sea glass 2")  # a name that only shares words is fine


async def test_votes_racing_a_retirement_are_counted_or_refused_never_both(house):
    """Each vote for a label being retired is refused in its own transaction, or lands before
    the retirement in the journal: the model never refuses an event, and it equals the
    weighted ridge on what the store says each photo teaches, before and after re-estimating."""
    import asyncio

    desk = await open_desk(house)
    await desk.labels.add(ADMIN, "cat")
    dog = await desk.labels.add(ADMIN, "dog")
    photos = [await photo(desk, n, chat=-5) for n in range(1, 13)]

    async def vote(n: int) -> str:
        tap, sample_id = photos[n]
        try:
            await desk.votes.vote(dataclasses.replace(tap, user_id=100 + n), sample_id, dog.id,
                                  accept)  # fmt: skip
        except DeskError as refused:
            return str(refused)
        return "saved"

    async def voter() -> list[str]:
        return [await vote(n) for n in range(12)]

    async def retirer() -> None:
        while await desk.store.votes.count() < 3:  # retired while the votes go on
            await asyncio.sleep(0.001)
        await desk.labels.retire(ADMIN, "dog")

    outcomes, _ = await asyncio.gather(voter(), retirer())
    refusals = {"That label has just been retired. Please pick another one.",
                "That label does not exist (any more). Please pick another one."}  # fmt: skip
    assert set(outcomes) <= {"saved"} | refusals and outcomes[:3] == ["saved"] * 3
    assert outcomes[-1] in refusals
    assert await desk.store.votes.count() == outcomes.count("saved")
    results = await desk.store.database.all("SELECT result FROM events")
    assert {row[0] for row in results} == {"ok"}  # nothing refused by the model
    await assert_model_holds_the_contributions(desk)
    await desk.crowd.reestimate()  # ignores the retired label's votes
    await assert_model_holds_the_contributions(desk)


async def test_a_vote_for_a_label_whose_retirement_is_not_applied_yet_is_refused(house):
    """The window the race above can hit: the retirement is committed to the journal but the
    model has not applied it, so the model still offers the label. The store refuses the vote
    in the transaction that would record it; the journal then applies the retirement."""
    desk = await open_desk(house)
    dog = await desk.labels.add(ADMIN, "dog")
    tap, sample_id = await photo(desk, 1)
    retiring = await desk.store.events.add(EventKind.RETIRE_LABEL, ADMIN, label_id=dog.id)
    assert not desk.snapshot.labels[dog.id].retired  # not applied yet
    with pytest.raises(DeskError, match="just been retired"):
        await desk.votes.vote(tap, sample_id, dog.id, accept)
    assert await desk.store.votes.count() == 0
    await desk.journal.apply(retiring)
    assert desk.snapshot.labels[dog.id].retired


async def test_a_refusal_carries_a_code_and_details_that_texts_renders(house):
    """Handlers say a refusal with `texts.refusal(code, **details)`: a wording change or a
    translation touches bot/texts.py alone."""
    from bot import texts

    desk = await open_desk(house)
    await desk.labels.add(ADMIN, "sea")
    with pytest.raises(DeskError) as not_admin:
        await desk.labels.add(BOB, "dog")
    with pytest.raises(DeskError) as exists:
        await desk.labels.add(ADMIN, "SEA")
    assert (not_admin.value.code, not_admin.value.details) == ("not_admin", {})
    assert (exists.value.code, exists.value.details) == (
        "label_exists", {"name": "sea", "retired": False}
    )  # fmt: skip
    for refused in (not_admin.value, exists.value):
        assert texts.refusal(refused.code, **refused.details) == str(refused)


async def test_a_backbone_switch_replaces_embeddings_and_forgets_gone_photos_at_once(house):
    """The store's half of `labelbot rebuild`, on each engine: one transaction swaps every
    kept photo's embedding, deletes a gone photo with its votes and verdict, and records
    the backbone (the one a bot opened with is recorded first)."""
    desk = await open_desk(house)
    await desk.labels.add(ADMIN, "A")
    taken = []
    for n in (1, 2):
        tap, sample_id = await photo(desk, n)
        await desk.votes.vote(tap, sample_id, 0, accept)
        taken.append(sample_id)
    store = desk.store
    assert await store.samples.backbone() == "efficientnet_lite0"
    kept, gone = taken
    fresh = np.full(embedding(1).shape, 0.25, np.float32)
    await store.samples.switch_backbone("efficientnet_lite2", {kept: fresh}, [gone])
    assert await store.samples.backbone() == "efficientnet_lite2"
    assert (await store.samples.get(kept)).embedding.tolist() == fresh.tolist()
    assert await store.samples.get(gone) is None
    assert [s for s, _, _ in await store.consensus.contributions()] == [kept]
    assert gone not in await store.consensus.verdicts()
    assert await store.samples.ids() == [kept]
