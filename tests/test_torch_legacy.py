"""The restricted reader of legacy PyTorch checkpoints: real weights load, hostile pickles don't."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest

from model_core.backbone.registry import weights_path
from model_core.backbone.torch_legacy import (
    LEGACY_MAGIC,
    UnsafeCheckpointError,
    load_legacy_state_dict,
    read_legacy_state_dict,
)


class _RunsCommand:
    """Unpickling this calls os.system: what a malicious checkpoint would do."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def legacy_file(state: object) -> bytes:
    buffer = io.BytesIO()
    for part in (LEGACY_MAGIC, 1001, {"little_endian": True}, state, []):
        pickle.dump(part, buffer, protocol=2)
    return buffer.getvalue()


def test_real_weights_load_as_float_arrays():
    state = load_legacy_state_dict(weights_path())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.weight"].dtype == np.float32
    assert np.isfinite(state["_fc.weight"]).all() and state["_fc.weight"].std() > 0.01


def test_malicious_pickle_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = legacy_file({"weight": _RunsCommand(f"touch {marker}")})
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system|os\.system"):
        read_legacy_state_dict(io.BytesIO(payload))
    assert not marker.exists()


def test_malicious_header_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    pickle.dump(_RunsCommand(f"touch {marker}"), buffer, protocol=2)
    with pytest.raises(UnsafeCheckpointError):
        read_legacy_state_dict(io.BytesIO(buffer.getvalue()))
    assert not marker.exists()


def test_truncated_checkpoint_is_an_error():
    data = weights_path().read_bytes()
    with pytest.raises(pickle.UnpicklingError, match="truncated"):
        read_legacy_state_dict(io.BytesIO(data[: len(data) - 1000]))


def test_a_file_that_is_not_a_checkpoint_is_an_error():
    with pytest.raises(pickle.UnpicklingError):
        read_legacy_state_dict(io.BytesIO(legacy_file({})[:-3] + b"xyz"))
    buffer = io.BytesIO()
    pickle.dump(12345, buffer, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="magic"):
        read_legacy_state_dict(io.BytesIO(buffer.getvalue()))
