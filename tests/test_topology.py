"""`labelbot bench --replicas`: the replicated deployment on loopback, run small.

Real processes throughout (PostgreSQL, the trainer, two replicas behind haproxy, the fake Bot
API delivering by webhook), with one replica and then the trainer killed with SIGKILL in the
middle of a burst. What the figures are worth is the benchmark's business; this checks that
the topology runs and that nothing is lost or doubled.
"""

from __future__ import annotations

import json

import pytest
from helpers import labelbot

pytestmark = pytest.mark.slow


def test_the_loopback_topology_answers_everything_once_through_kills(
    tmp_path, backbone, backbone_cache
):
    data = tmp_path / "data"
    data.mkdir()
    (data / "backbones").symlink_to(backbone_cache)  # built once by the session's backbone
    out = tmp_path / "replicas.json"
    result = labelbot(
        "bench", "--replicas", "--contributors", "3", "--out", str(out),
        cwd=tmp_path, LABELBOT_DATA_DIR=str(data),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "two replicas ÷ one process" in result.stdout
    figures = json.loads(out.read_text())
    assert list(figures["runs"]) == ["one process", "two replicas", "two replicas, kills"]
    sent = {"one process": 36, "two replicas": 36, "two replicas, kills": 12}  # 3 rounds, 1
    for name, run in figures["runs"].items():
        assert run["photos_answered"] == run["photos_sent"] == sent[name], name
        assert run["votes_acknowledged"] == run["votes_stored"] == sent[name], name
        assert run["exactly_once"] and run["model_samples"] == sent[name], name
    assert len(figures["round_ratios"]) == 3
    assert figures["throughput_ratio"] == sorted(figures["round_ratios"])[1]  # their median
    assert 0.2 < figures["throughput_ratio"] < 5
