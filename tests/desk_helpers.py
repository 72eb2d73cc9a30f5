"""What the desk-level tests share: people, stored photos, and the exactness check. Used by
test_desk (SQLite and PostgreSQL), test_postgres and test_replicas."""

from __future__ import annotations

import numpy as np
from helpers import weighted_ridge

from bot.desk.desk import Desk
from bot.desk.views import TapIn
from bot.store import NewSample, Prediction
from labelbot.house import House

ADMIN, ALICE, BOB = 1, 2, 3
CHAT = 100  # Alice's private chat


def embedding(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(1280).astype(np.float32)


async def open_desk(house: House) -> Desk:
    return await house.open_desk(reads_photos=False)


async def photo(desk: Desk, n: int, *, chat: int = CHAT, sender: int = ALICE) -> tuple[TapIn, int]:
    """A stored photo (as `take_photo` leaves it) and a tap on its reply's buttons."""
    guesses = (await desk.service.predict(embedding(n)[None]))[0]
    sample = await desk.store.samples.add(
        NewSample(
            chat_id=chat, photo_message_id=10 * n, user_id=sender, file_id=f"F{n}",
            file_unique_id=f"U{n}", embedding=embedding(n),
            prediction=tuple(Prediction(g.label_id, g.probability) for g in guesses),
            model_version=desk.snapshot.version,
        )
    )  # fmt: skip
    await desk.store.samples.set_reply_message(sample.id, 10 * n + 1)
    return TapIn(ALICE, chat, 10 * n + 1, 10 * n, private=chat > 0), sample.id


async def accept(text: str) -> None:
    pass


async def assert_model_holds_the_contributions(desk: Desk) -> None:
    """The analytic head equals the weighted ridge solution on what the store says each photo
    contributes now: the exactness contract of following the consensus."""
    held = await desk.store.consensus.contributions()
    learner = desk.service._model.learner
    X = np.stack([(await desk.store.samples.get(s)).embedding for s, _, _ in held])
    y = np.array([label for _, label, _ in held])
    w = np.array([weight for _, _, weight in held])
    np.testing.assert_allclose(learner.coef_, weighted_ridge(learner, X, y, w), atol=1e-8)
