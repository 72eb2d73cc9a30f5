"""TensorFlow's start-up noise kept off the user's terminal.

TensorFlow's C++ side writes absl and oneDNN notices straight to file descriptor 2 while it is
imported, before any logging setting applies. Importing it with that descriptor pointed at a
temporary file keeps the terminal clean; the notices go to the debug log, and if the import
fails they are shown with the error. The bot does this on a thread while it already answers
(see `model_core.backbone.background`): its log lines keep flowing meanwhile, because
`labelbot.logs` writes them through a copy of the descriptor of its own.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile

log = logging.getLogger(__name__)


def import_tensorflow_quietly() -> None:
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        for line in captured.read().decode(errors="replace").splitlines():
            log.debug("tensorflow: %s", line)
