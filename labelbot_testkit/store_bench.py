"""`labelbot bench --store`: a vote's time in the store, and in SQLAlchemy's async engine.

The rooms issue asked for SQLAlchemy's async engine (`sqlite+aiosqlite`) under the store
unless it measurably slows a vote. This measures, on a fresh SQLite store in a scratch folder
with the real analytic model (no backbone: a vote needs none):

- a vote end to end through the desk (the store's unit of work, then the model's exact update
  through the journal);
- the store's part alone (`store.votes.record`: the vote, the verdict, the contribution and
  the journal events, in one transaction);
- the same statements, in the same transaction, through SQLAlchemy's async engine.

Rounds are taken in turns and medians reported, so that the shared machine's noise falls on
both sides alike.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bot.desk.views import TapIn
from bot.store import NewSample, Prediction, Sample, Store
from labelbot.house import House
from labelbot.settings import Settings
from model_core.consensus import Ballot, Judgement, State, Verdict
from model_core.progress import ProgressFactory, no_progress

ADMIN, CHAT = 1, 100
LABELS = ("a", "b", "c")
ENGINE_VOTE = (  # votes.record's statements for a first vote on a photo, as SQLAlchemy text
    "INSERT INTO votes (sample_id, user_id, label_id, first_guess_right, created_at) "
    "VALUES (:s, :u, :l, 1, 0) RETURNING id",
    "SELECT user_id, label_id FROM votes WHERE sample_id = :s AND undone_at IS NULL "
    "AND label_id IS NOT NULL ORDER BY id",
    "INSERT INTO verdicts VALUES (:s, :l, 0.6, 0) ON CONFLICT(sample_id) DO UPDATE SET "
    "label_id = excluded.label_id, confidence = excluded.confidence, "
    "decided_at = excluded.decided_at",
    "UPDATE samples SET standing = 0, votes = 1, certainty = 0.6 WHERE id = :s",
    "SELECT label_id, weight FROM contributions WHERE sample_id = :s",
    "DELETE FROM contributions WHERE sample_id = :s",
    "INSERT INTO events (kind, user_id, sample_id, vote_id, label_id, weight, created_at) "
    "VALUES ('reinforce', :u, :s, :v, :l, 0.6, 0)",
    "INSERT INTO contributions VALUES (:s, :l, 0.6)",
)


def measure_store(
    votes: int = 300, rounds: int = 3, progress: ProgressFactory = no_progress
) -> dict:
    """Median milliseconds per vote of each path, per round and over all rounds."""
    per_round = []
    for n in range(rounds):
        done = progress(f"round {n + 1}: votes", 3 * votes)
        with tempfile.TemporaryDirectory() as scratch:
            per_round.append(asyncio.run(_round(Path(scratch), votes, done)))
    medians = {key: statistics.median(r[key] for r in per_round) for key in per_round[0]}
    store, engine, vote = medians["store_ms"], medians["engine_ms"], medians["vote_ms"]
    return {
        "votes": votes,
        "rounds": per_round,
        **medians,
        "store_share": store / vote,
        "engine_share": engine / (vote - store + engine),
        "engine_over_store": engine / store,
    }


async def _round(scratch: Path, votes: int, done) -> dict:
    house = House(Settings(admins=frozenset({ADMIN}), data_dir=scratch / "data"))
    desk = await house.open_desk(reads_photos=False)
    try:
        for name in LABELS:
            await desk.labels.add(ADMIN, name)
        vote_ms = await _desk_votes(desk, votes, done)
        store_ms = await _store_votes(desk.store, votes, done)
    finally:
        await house.close()
    engine_ms = await _engine_votes(scratch / "engine.sqlite3", votes, done)
    return {"vote_ms": vote_ms, "store_ms": store_ms, "engine_ms": engine_ms}


async def _photos(store: Store, votes: int, first: int) -> list[Sample]:
    rng = np.random.default_rng(first)
    photos = []
    for n in range(first, first + votes):
        sample = await store.samples.add(NewSample(
            chat_id=CHAT, photo_message_id=10 * n, user_id=ADMIN + 1, file_id=f"F{n}",
            file_unique_id=f"U{n}", embedding=rng.standard_normal(1280).astype(np.float32),
            prediction=(Prediction(0, 0.6), Prediction(1, 0.3)), model_version=1,
        ))  # fmt: skip
        await store.samples.set_reply_message(sample.id, 10 * n + 1)
        photos.append(sample)
    return photos


async def _desk_votes(desk, votes: int, done) -> float:
    async def acknowledge(text: str) -> None:
        pass

    times = []
    for n, sample in enumerate(await _photos(desk.store, votes, 1)):
        tap = TapIn(1000 + n, CHAT, sample.photo_message_id + 1, sample.photo_message_id, True)
        started = time.perf_counter()
        await desk.votes.vote(tap, sample.id, n % len(LABELS), acknowledge)
        times.append(time.perf_counter() - started)
        done(1)
    return 1000 * statistics.median(times)


async def _store_votes(store: Store, votes: int, done) -> float:
    def judge(ballots: list[Ballot]) -> Judgement:
        return Judgement(Verdict(ballots[-1].label_id, 0.6), len(ballots), State.WAITING)

    times = []
    for n, sample in enumerate(await _photos(store, votes, 10 * votes)):
        started = time.perf_counter()
        await store.votes.record(sample, 5000 + n, n % len(LABELS), judge)
        times.append(time.perf_counter() - started)
        done(1)
    return 1000 * statistics.median(times)


async def _engine_votes(path: Path, votes: int, done) -> float:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    store = await Store.open(path)  # the same schema, photos stored the store's way
    photos = await _photos(store, votes, 1)
    await store.close()
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    statements = [sa.text(sql) for sql in ENGINE_VOTE]
    times = []
    try:
        for n, sample in enumerate(photos):
            values = {"s": sample.id, "u": 5000 + n, "l": n % len(LABELS)}
            started = time.perf_counter()
            async with engine.begin() as connection:
                values["v"] = (await connection.execute(statements[0], values)).scalar()
                for statement in statements[1:]:
                    result = await connection.execute(statement, values)
                    if result.returns_rows:
                        result.all()
            times.append(time.perf_counter() - started)
            done(1)
    finally:
        await engine.dispose()
    return 1000 * statistics.median(times)


def measure_review_pick(
    photos: int = 100_000, votes: int = 300_000, picks: int = 200,
    progress: ProgressFactory = no_progress, postgres_url: str | None = None,
) -> dict:  # fmt: skip
    """Milliseconds one `/review` pick takes (the queue's first photo a contributor may vote
    on) on a store of `photos` photos and `votes` votes, median and worst: on SQLite, and on
    PostgreSQL when a database URL is given."""
    figures: dict = {"photos": photos, "votes": votes, "picks": picks}
    with tempfile.TemporaryDirectory() as scratch:
        stores = {"sqlite": Path(scratch) / "labelbot.sqlite3"}
        if postgres_url:
            stores["postgresql"] = postgres_url
        for engine, where in stores.items():
            times = asyncio.run(_filled_then_picked(where, photos, votes, picks, progress))
            figures[engine] = {"pick_p50_ms": 1000 * statistics.median(times),
                               "pick_max_ms": 1000 * max(times)}  # fmt: skip
    return figures


async def _filled_then_picked(
    where: Path | str, photos: int, votes: int, picks: int, progress: ProgressFactory
) -> list[float]:
    store = await Store.connect(where)
    try:
        await fill_store(store, photos, votes, progress)
        times = []
        for n in range(picks):
            started = time.perf_counter()
            await store.reviews.first(State.WAITING, 1000 + 13 * n % 3000)  # a voter's pick
            times.append(time.perf_counter() - started)
        return times
    finally:
        await store.close()


EMBEDDING_BYTES = 1280 * 4  # EfficientNet-Lite0's embedding, float32
BATCH = 10_000


async def fill_store(store: Store, photos: int, votes: int, progress: ProgressFactory) -> None:
    """Rows as the bot writes them, into a fresh store: each photo with its embedding and
    prediction, three in four settled and the rest waiting for votes (the review queue's keys
    set as votes leave them); each vote with its journal event; a verdict per photo."""
    rng = np.random.default_rng(0)
    db = store.database
    done = progress(f"building a store of {photos:,} photos", photos + votes)
    async with db.transaction():
        await db.execute("INSERT INTO labels VALUES (0, 'first', 0, 0), (1, 'second', 0, 0)")
    for start in range(0, photos, BATCH):
        ids = range(start + 1, min(start + BATCH, photos) + 1)
        waits = [i % 4 == 0 for i in ids]  # a quarter still waits for votes
        async with db.transaction():
            await db.execute_many(
                "INSERT INTO samples (id, chat_id, photo_message_id, user_id, file_id, "
                "file_unique_id, embedding, prediction, model_version, created_at, standing, "
                "votes, certainty) VALUES (?, ?, ?, ?, ?, ?, ?, '[]', 1, 0, ?, ?, ?)",
                [(i, i % 500, i, i % 500, f"file-{i}", f"unique-{i}", rng.bytes(EMBEDDING_BYTES),
                  0 if w else 1, i % 3 if w else 3, (i * 7919 % 1000) / 1000)
                 for i, w in zip(ids, waits, strict=True)],
            )  # fmt: skip
            await db.execute_many(
                "INSERT INTO verdicts VALUES (?, ?, 0.99, 0)", [(i, i % 2) for i in ids]
            )
        done(len(ids))
    for start in range(0, votes, BATCH):
        ids = range(start + 1, min(start + BATCH, votes) + 1)
        rows = [(i, 1 + i % photos, 1000 + i % 3000, i % 2) for i in ids]
        async with db.transaction():
            await db.execute_many(
                "INSERT INTO votes (id, sample_id, user_id, label_id, first_guess_right, "
                "created_at) VALUES (?, ?, ?, ?, 1, 0)",
                rows,
            )
            await db.execute_many(
                "INSERT INTO events (kind, user_id, sample_id, vote_id, label_id, weight, "
                "created_at) VALUES ('reinforce', ?, ?, ?, ?, 1.0, 0)",
                [(u, s, v, label) for v, s, u, label in rows],
            )
        done(len(ids))


def store_table(f: dict) -> str:
    rows = [
        f"{f['votes']} votes a round, {len(f['rounds'])} rounds taken in turns (medians)",
        "",
        "| path | ms per vote | share of a vote |",
        "|---|---|---|",
        f"| a vote through the desk (store + the model's exact update) | {f['vote_ms']:.2f} | 1 |",
        f"| the store's unit of work (aiosqlite, our connection) | {f['store_ms']:.2f} | "
        f"{f['store_share']:.2f} |",
        f"| the same statements through SQLAlchemy's async engine | {f['engine_ms']:.2f} | "
        f"{f['engine_share']:.2f} |",
        "",
        f"SQLAlchemy's engine ÷ the store's connection = **{f['engine_over_store']:.2f}×**",
    ]
    if "review_pick" in f:
        p = f["review_pick"]
        rows += [
            "",
            f"One `/review` pick on a store of {p['photos']:,} photos and {p['votes']:,} votes "
            f"({p['picks']} picks)",
            "",
            "| store | ms median | ms at most |",
            "|---|---|---|",
            *(f"| {engine} | {p[engine]['pick_p50_ms']:.2f} | {p[engine]['pick_max_ms']:.2f} |"
              for engine in ("sqlite", "postgresql") if engine in p),
        ]  # fmt: skip
    return "\n".join(rows)
