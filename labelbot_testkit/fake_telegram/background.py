"""Runs the bot in a thread of its own, for the offline demo and the tests.

Scripted users then act from the calling thread with plain blocking calls on the fake API,
while the real python-telegram-bot stack polls it over HTTP exactly as it polls Telegram.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from telegram.ext import Application

STARTUP_TIMEOUT = 120.0  # building the backbone the first time takes a while


@dataclass(frozen=True)
class Webhook:
    """Where the bot's webhook server listens on loopback, and the secret Telegram sends."""

    port: int
    secret: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram"


class BackgroundBot:
    def __init__(self, application: Application, webhook: Webhook | None = None) -> None:
        self.application = application
        self.webhook = webhook
        self._thread = threading.Thread(target=self._main, name="labelbot", daemon=True)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.error: BaseException | None = None

    def __enter__(self) -> BackgroundBot:
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT):
            raise TimeoutError("the bot did not start")
        if self.error is not None:
            raise RuntimeError("the bot failed to start") from self.error
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the bot did not stop within {timeout} s")

    def run(self, coroutine, timeout: float = 60.0):
        """Runs a coroutine on the bot's loop (for checks on its state) and returns its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to the starting thread
            self.error = error
            self._ready.set()

    async def _serve(self) -> None:
        app = self.application
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with app:  # initialize / shutdown; post_init and post_shutdown are ours to call
            await app.post_init(app)
            await app.start()
            if self.webhook is None:
                await app.updater.start_polling(poll_interval=0, timeout=1)
            else:
                await app.updater.start_webhook(
                    listen="127.0.0.1", port=self.webhook.port, url_path="telegram",
                    webhook_url=self.webhook.url, secret_token=self.webhook.secret,
                )  # fmt: skip
            self._ready.set()
            await self._stop.wait()
            await app.updater.stop()
            await app.stop()
            await app.post_shutdown(app)
