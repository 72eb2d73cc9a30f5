"""Runs the bot in a thread of its own, for the offline demo and the tests.

Scripted users then act from the calling thread with plain blocking calls on the fake API,
while the real python-telegram-bot stack polls it over HTTP exactly as it polls Telegram.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

from telegram.ext import Application

from bot.web.console import Console
from bot.web.server import BotServer, Listen, Polling
from bot.web.server import Webhook as WebhookAt

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
    """`bot.web.server.BotServer` on a thread: long polling (with the web app on `web_port`
    if given), or the fake posting to the webhook with the web app on its port."""

    def __init__(
        self, application: Application, webhook: Webhook | None = None,
        web_port: int | None = None, console: Console | None = None,
    ) -> None:  # fmt: skip
        self.application = application
        self.webhook = webhook
        if webhook is not None:
            receive: Polling | WebhookAt = WebhookAt(webhook.url, webhook.secret)
            web_port = webhook.port
        else:
            receive = Polling(timeout=1, interval=0)
        self.web_port = web_port
        listen = None if web_port is None else Listen("127.0.0.1", web_port)
        self.server = BotServer(application, receive, listen, console)
        self._thread = threading.Thread(target=self._main, name="labelbot", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None

    @property
    def web_url(self) -> str:
        """Where the web app answers (`/healthz`, `/metrics`...)."""
        if self.web_port is None:
            raise RuntimeError("this bot serves no web app: give it a web_port")
        return f"http://127.0.0.1:{self.web_port}"

    def __enter__(self) -> BackgroundBot:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.server.started.wait(0.05):
            if self.error is not None or not self._thread.is_alive():
                raise RuntimeError("the bot failed to start") from self.error
            if time.monotonic() > deadline:
                raise TimeoutError("the bot did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, timeout: float = 30.0) -> None:
        self.server.stop()
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

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.server.serve()
