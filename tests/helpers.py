"""What several test modules share: photo encoding, the `labelbot` command as a subprocess,
photo trees on disk, and the real bot started against the fake Bot API."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from bot.app import build_application
from labelbot.house import House
from labelbot.net import free_port
from labelbot.settings import Settings
from labelbot_testkit.fake_telegram import (  # noqa: F401  (scripted users, re-exported for the tests)
    BackgroundBot,
    FakeTelegram,
    Webhook,
    say,
    send_photo,
    tap,
    tap_label,
    user,
)
from model_core.datasets import FASHION_MNIST_LABELS, load_fashion_mnist

ROOT = Path(__file__).parents[1]
ADMIN = user(1, "Ada")
ALICE = user(2, "Alice")
BOB = user(3, "Bob")
TREE_LABELS = {0: "T-shirt", 1: "Trouser", 8: "Bag"}


def encode(image_rgb: np.ndarray, ext: str = ".jpg", params: list[int] | None = None) -> bytes:
    """Encodes an RGB (or grey, or RGBA) array the way a camera or an editor would save it."""
    if image_rgb.ndim == 3 and image_rgb.shape[2] == 3:
        image = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    elif image_rgb.ndim == 3 and image_rgb.shape[2] == 4:
        image = cv2.cvtColor(image_rgb, cv2.COLOR_RGBA2BGRA)
    else:
        image = image_rgb
    ok, buffer = cv2.imencode(ext, image, params or [])
    assert ok
    return buffer.tobytes()


def clean_environment(**env: str) -> dict[str, str]:
    """This process's environment without labelbot's settings (and no .env), plus `env`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("LABELBOT_", "TELE"))}
    return {**environment, "LABELBOT_ENV_FILE": os.devnull, "PYTHONPATH": str(ROOT), **env}


def labelbot_process(*args: str, cwd: Path, **env: str) -> subprocess.Popen:
    """`labelbot ARGS` started in the background, stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "labelbot", *args],
        cwd=cwd, env=clean_environment(**env), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def labelbot(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`labelbot ARGS` as a user runs it, to the end."""
    return subprocess.run(
        [sys.executable, "-m", "labelbot", *args],
        cwd=cwd, env=clean_environment(**env), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def write_tree(root: Path, split: str, per_class: int) -> list[tuple[str, str]]:
    """Writes real Fashion-MNIST photos as PNGs in a folder-per-class tree."""
    images, labels = load_fashion_mnist(split, per_class=per_class, seed=1)
    written = []
    for n, (image, label) in enumerate(zip(images, labels, strict=True)):
        if label not in TREE_LABELS:
            continue
        folder = root / FASHION_MNIST_LABELS[label]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{n}.png"
        cv2.imwrite(str(path), image)
        written.append((str(path), FASHION_MNIST_LABELS[label]))
    return written


def start_bot(
    fake: FakeTelegram,
    data_dir: Path,
    backbone,
    webhook: bool = False,
    web: bool = False,
    console: bool = False,
    **settings,
) -> BackgroundBot:
    """The real bot on the fake API, built by the composition root: polling (with `web`, its
    web app on a free port; with `console`, the console too, at that port's address), or with
    `webhook` the fake delivering updates to the bot's web app on a free port."""
    web_port = free_port() if (web or console) and not webhook else None
    hook = Webhook(free_port(), secrets.token_urlsafe(24)) if webhook else None
    if console:
        port = hook.port if hook is not None else web_port
        settings |= {"public_url": f"http://127.0.0.1:{port}", "console_port": port}
    config = Settings(admins=frozenset({ADMIN["id"]}), data_dir=data_dir, **settings)
    house = House(config, command="labelbot test", backbone=backbone)
    app = build_application(
        fake.token, house, base_url=fake.base_url, base_file_url=fake.base_file_url,
        public_url=config.public_url,
    )  # fmt: skip
    return BackgroundBot(app, hook, web_port, house.console(app.bot)).__enter__()


def desk_of(running: BackgroundBot):
    return running.application.bot_data.desk


def weighted_ridge(learner, X: np.ndarray, y, weights=None) -> np.ndarray:
    """The ridge solution, computed at once, that an analytic head must equal: one-hot targets,
    each sample with its weight, at the lambda the head has chosen (`alpha_`)."""
    features = learner._features()(np.asarray(X)).astype(np.float64)
    w = np.ones(len(features)) if weights is None else np.asarray(weights, np.float64)
    targets = np.eye(learner.n_classes_)[np.asarray(y)]
    gram = features.T @ (w[:, None] * features) + learner.alpha_ * np.eye(features.shape[1])
    return np.linalg.solve(gram, features.T @ (w[:, None] * targets))


async def schema_drift(url: str) -> list:
    """What Alembic's autogenerate finds between the database at `url` (migrated by the
    revisions) and `bot.store.schema`: nothing, when the two agree."""
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.store.schema import metadata

    def compare(connection: sa.Connection) -> list:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, poolclass=sa.NullPool)
        with engine.connect() as connection:
            return compare(connection)
    engine = create_async_engine(parsed.set(drivername="postgresql+asyncpg"), poolclass=sa.NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()
