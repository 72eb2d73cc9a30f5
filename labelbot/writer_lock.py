"""One writer per data dir: an OS advisory lock that the kernel drops when its process dies.

Every process that writes the model or the store (`labelbot run`, `import`, `addlabel`,
`rollback`, the demo on its own data dir) holds it for as long as it writes. A second writer is
refused at once with the first one's pid and command, so two writers can never interleave
checkpoints or journal events. Read-only commands take no lock. A crashed holder leaves a stale
file but no lock: `flock` belongs to the open file, which the kernel closes with the process.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path


class DataDirBusy(RuntimeError):
    """Another process writes this data dir; the message names it and says what to do."""


class WriterLock:
    def __init__(self, path: Path, command: str) -> None:
        self.path = Path(path)
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> WriterLock:
        """Takes the lock without waiting; raises DataDirBusy naming the holder."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(os.read(fd, 4096))
            os.close(fd)
            raise DataDirBusy(
                f"{holder} is using {self.path.parent}; stop it or point LABELBOT_DATA_DIR "
                "elsewhere"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "command": self.command}).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _describe(raw: bytes) -> str:
    """'labelbot run (pid 1234)' from the holder's note, or a plain word if it is unreadable."""
    try:
        note = json.loads(raw)
        return f"{note['command']} (pid {int(note['pid'])})"
    except (ValueError, KeyError, TypeError):
        return "another labelbot process"
