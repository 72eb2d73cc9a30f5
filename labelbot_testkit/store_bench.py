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
    return "\n".join(rows)
