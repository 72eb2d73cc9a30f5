"""Logging for every labelbot command: stderr, an optional log file, and no secret in either.

A bot token is a password: whoever reads a log owns the bot. python-telegram-bot puts the
token in request URLs and in some error messages (`InvalidToken` quotes it), httpx logs those
URLs, and a traceback can carry either. So every handler gets a `Redactor`, which rewrites
the finished message, the traceback and the stack of each record, at every level and from
every library, before any handler writes it. It hides the secrets it is told (the token, and
the token's secret half on its own) and anything shaped like a bot token besides.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import re
import sys
import threading
from pathlib import Path

_TOKEN_SHAPED = re.compile(r"(\d{3,}):[A-Za-z0-9_-]{30,}")
HIDDEN = "[REDACTED]"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Redactor(logging.Filter):
    """Rewrites log records (and any text) so that no known secret survives."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: list[str] = []

    def hide(self, secret: str) -> None:
        """Hides `secret` from now on. Of a bot token, the part after the colon is the secret
        (the number before it is the bot's public user id, kept as a clue for debugging)."""
        bot_id, colon, key = secret.partition(":")
        self._secrets.append(key if colon and bot_id.isdigit() else secret)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, HIDDEN)
        return _TOKEN_SHAPED.sub(rf"\1:{HIDDEN}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = self.redact(
                record.exc_text or logging.Formatter().formatException(record.exc_info)
            )
            record.exc_info = None  # the formatter prints exc_text, already redacted
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class Logs:
    """The root logger's set-up for one command: stderr first, a log file once settings name
    one, and one redactor on every handler, to be told the secrets as they become known."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.redactor = Redactor()
        logging.basicConfig(
            level=logging.DEBUG if verbose else logging.INFO,
            handlers=[self._prepared(_StderrCopy())],
            force=True,
        )
        logging.captureWarnings(True)
        # httpx logs every request URL at INFO; redacted, they are still noise without -v.
        logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        # Alembic says which engine it drives on every start; the store logs what it upgraded.
        logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)
        _route_uncaught_exceptions()

    def hide(self, secret: str) -> None:
        self.redactor.hide(secret)

    def redact(self, text: str) -> str:
        return self.redactor.redact(text)

    def add_file(self, path: Path) -> None:
        """Also logs to `path`, rotated at 10 MB with five old files kept."""
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8"
        )
        logging.getLogger().addHandler(self._prepared(handler))

    def _prepared(self, handler: logging.Handler) -> logging.Handler:
        if not self.verbose:
            handler.addFilter(_library_tracebacks_for_verbose_only)
        handler.addFilter(self.redactor)  # last: it rewrites what the filters above kept
        handler.setFormatter(logging.Formatter(FORMAT))
        return handler


class _StderrCopy(logging.StreamHandler):
    """Writes to a copy of stderr's descriptor: while TensorFlow loads on a thread beside the
    running bot, its noise is diverted from descriptor 2 (see `labelbot.quiet`), and the bot's
    own lines must not go with it."""

    def __init__(self) -> None:
        try:
            descriptor = os.dup(sys.stderr.fileno())
        except (AttributeError, OSError, io.UnsupportedOperation):  # stderr is no file here
            super().__init__(sys.stderr)
            self._owned = False
            return
        encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
        super().__init__(
            open(descriptor, "w", buffering=1, encoding=encoding, errors="backslashreplace")  # noqa: SIM115 (closed in close)
        )
        self._owned = True

    def close(self) -> None:
        """Closes the copy too (a new `Logs` replaces this handler, in tests many times)."""
        try:
            if self._owned:
                self.stream.close()
        finally:
            super().close()


def _library_tracebacks_for_verbose_only(record: logging.LogRecord) -> bool:
    """python-telegram-bot logs a network failure with its whole traceback; the message says
    enough (and the command prints one line after it), so the traceback waits for -v."""
    if record.name.startswith("telegram") and record.exc_info:
        record.exc_info, record.exc_text = None, None
    return True


def _route_uncaught_exceptions() -> None:
    """Uncaught exceptions, in the main thread or any other, go through the redacted log
    instead of Python's own printer, which writes to stderr unfiltered."""
    log = logging.getLogger("labelbot")

    def main_thread(kind, error, traceback) -> None:
        log.critical("uncaught exception", exc_info=(kind, error, traceback))

    def other_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not SystemExit:
            log.critical(
                "uncaught exception in thread %s",
                getattr(args.thread, "name", "?"),
                exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
            )

    sys.excepthook = main_thread
    threading.excepthook = other_thread
