"""Reads a legacy (pre-1.6, non-zip) PyTorch checkpoint of float tensors without torch.

A `.pth` file is a pickle, and unpickling runs whatever callables the file names. The unpickler
here resolves only the handful of globals that rebuilding a state dict of tensors needs, and
maps each to a harmless stand-in of our own; anything else is refused before it can run.

Legacy layout: four pickles (magic number, protocol version, system info, the state dict whose
tensors point at storages by key), then the list of storage keys, then each storage's raw bytes
as an int64 element count followed by the elements, little-endian.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
}


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The checkpoint names a global that rebuilding tensors does not need."""


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise UnsafeCheckpointError("a tensor refers to something that is not a storage")
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise UnsafeCheckpointError(f"refusing to load global {module}.{name} from a checkpoint")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise UnsafeCheckpointError(f"unexpected persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise UnsafeCheckpointError("a storage has an unknown type")
        return _StorageRef(str(key), storage_type.dtype, int(numel))


def _load_pickle(stream: BinaryIO):
    return _RestrictedUnpickler(stream).load()


def load_legacy_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Returns the checkpoint's tensors as numpy arrays, keyed by their state-dict names."""
    with open(path, "rb") as stream:
        return read_legacy_state_dict(stream)


def read_legacy_state_dict(stream: BinaryIO) -> dict[str, np.ndarray]:
    if _load_pickle(stream) != LEGACY_MAGIC:
        raise pickle.UnpicklingError("not a legacy PyTorch checkpoint (bad magic number)")
    _load_pickle(stream)  # protocol version
    system = _load_pickle(stream)
    if not isinstance(system, dict) or not system.get("little_endian", False):
        raise pickle.UnpicklingError("only little-endian checkpoints are supported")
    state = _load_pickle(stream)
    keys = _load_pickle(stream)
    if not isinstance(state, dict) or not isinstance(keys, list):
        raise pickle.UnpicklingError("the checkpoint does not hold a state dict")
    refs = {ref.storage.key: ref.storage for ref in state.values() if isinstance(ref, _TensorRef)}
    storages = {key: _read_storage(stream, refs[key]) for key in keys if key in refs}
    return {name: _materialize(ref, storages) for name, ref in state.items()}


def _read_storage(stream: BinaryIO, ref: _StorageRef) -> np.ndarray:
    header = stream.read(8)
    if len(header) != 8:
        raise pickle.UnpicklingError("the checkpoint is truncated")
    (numel,) = struct.unpack("<q", header)
    if numel != ref.numel:
        raise pickle.UnpicklingError(f"storage {ref.key}: {numel} elements, expected {ref.numel}")
    data = stream.read(numel * ref.dtype.itemsize)
    if len(data) != numel * ref.dtype.itemsize:
        raise pickle.UnpicklingError("the checkpoint is truncated")
    return np.frombuffer(data, dtype=ref.dtype)


def _materialize(ref: object, storages: dict[str, np.ndarray]) -> np.ndarray:
    if not isinstance(ref, _TensorRef):
        raise pickle.UnpicklingError("the state dict holds something other than tensors")
    flat = storages[ref.storage.key]
    itemsize = flat.dtype.itemsize
    extent = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride, strict=True))
    if ref.offset < 0 or (all(ref.shape) and extent >= flat.size):
        raise pickle.UnpicklingError("a tensor reaches outside its storage")
    view = np.lib.stride_tricks.as_strided(
        flat[ref.offset :],
        shape=ref.shape,
        strides=tuple(s * itemsize for s in ref.stride),
        writeable=False,
    )
    return np.array(view)
