"""Shared fixtures: real photos from scikit-image and the real backbone, built once per run."""

from __future__ import annotations

import os
import subprocess

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from skimage import data

from model_core.learners.analytic import limit_blas_threads

# As the model service and the benchmark do: a rank-1 update of the analytic head is 1 ms on
# one BLAS thread and 8 ms on two, and tests that teach a learner directly would pay the 8.
limit_blas_threads()


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Real colour photos (RGB uint8) that scikit-image ships, no download needed."""
    return {"coffee": data.coffee(), "chelsea": data.chelsea(), "astronaut": data.astronaut()}


@pytest.fixture(scope="session")
def backbone_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("backbones")


@pytest.fixture(scope="session")
def backbone(backbone_cache):
    from model_core.backbone.loader import load_backbone

    return load_backbone("efficientnet_lite0", backbone_cache)


@pytest.fixture(scope="session")
def fashion(backbone):
    """Real Fashion-MNIST product photos through the real backbone: 30 train, 10 test a label."""
    from model_core.datasets import grey_to_rgb, load_fashion_mnist

    train_images, train_labels = load_fashion_mnist("train", per_class=30, seed=0)
    test_images, test_labels = load_fashion_mnist("test", per_class=10, seed=0)
    return (
        backbone.embed(grey_to_rgb(train_images, backbone.input_size)),
        train_labels,
        backbone.embed(grey_to_rgb(test_images, backbone.input_size)),
        test_labels,
    )


@pytest.fixture
def fake():
    """The fake Telegram Bot API on 127.0.0.1, fresh for each test."""
    from labelbot_testkit.fake_telegram import FakeTelegram

    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture
def bot(fake, tmp_path, backbone):
    """The real bot polling the fake API, with an empty data dir."""
    from helpers import start_bot

    running = start_bot(fake, tmp_path / "data", backbone)
    yield running
    running.stop()


HEAVY_FIXTURES = {"backbone", "backbone_cache", "fashion", "bot", "embeddings", "postgres"}


TENSORFLOW_MODULES = {"test_backbone.py", "test_cgan.py", "test_model_export.py"}


def pytest_ignore_collect(collection_path, config):
    """The unit layer (`-m "not slow"`) does not import the modules whose every test is slow
    and which import TensorFlow at the top: that import alone costs 5 s of a 20 s budget.
    The full suite collects them as usual."""
    if config.getoption("markexpr") == "not slow" and collection_path.name in TENSORFLOW_MODULES:
        return True
    return None


def pytest_collection_modifyitems(items):
    """A test that needs TensorFlow, Fashion-MNIST or a server through a fixture is in the slow
    layer: `pytest -m "not slow"` is the fast unit layer."""
    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (labelbot_testkit/pg_server.py)."""
    from labelbot_testkit.pg_server import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """The unit layer stays fast because it starts no process: one that does fails here, with
    the remedy (mark it slow), instead of slowing every run."""
    if request.node.get_closest_marker("slow"):
        return

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} starts a process: mark it slow")

    monkeypatch.setattr(subprocess, "Popen", refuse)
