"""Runs the bot and its web app in one event loop, until a signal or `stop`.

python-telegram-bot's `run_polling` and `run_webhook` own the loop and serve one route. Here
the same lifecycle runs in the same order (initialize, post_init, start; then stop, post_stop,
shutdown, post_shutdown, the last ones whatever failed before), with uvicorn serving
`bot.web.app` beside it. Updates arrive by long polling (PTB's updater) or by the webhook
route; either way they go through the durable update queue (`bot.inbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

import uvicorn
from telegram import Update
from telegram.ext import Application

from bot.web.app import WebhookRoute, web_app
from bot.web.console import Console

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)  # as PTB's run_polling
GRACE = 5.0  # seconds open HTTP requests get to finish once the server stops


@dataclass(frozen=True)
class Listen:
    """The address the web app listens on."""

    host: str
    port: int


@dataclass(frozen=True)
class Webhook:
    """Telegram posts updates to `url` (public) with `secret`; they reach this process at
    the URL's path."""

    url: str
    secret: str

    @property
    def route(self) -> WebhookRoute:
        return WebhookRoute("/" + urlparse(self.url).path.lstrip("/"), self.secret)


@dataclass(frozen=True)
class Polling:
    """Long polling: `timeout` seconds per getUpdates, `interval` between them."""

    timeout: int = 10
    interval: float = 0.0


class BotServer:
    """The bot's lifecycle with its web app: `await serve()` returns once stopped."""

    def __init__(
        self, application: Application, receive: Polling | Webhook, listen: Listen | None = None,
        console: Console | None = None,
    ) -> None:  # fmt: skip
        if isinstance(receive, Webhook) and listen is None:
            raise ValueError("a webhook needs an address to listen on")
        if console is not None and listen is None:
            raise ValueError("the console needs an address to listen on")
        self.application = application
        self.receive = receive
        self.listen = listen
        self.console = console
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = threading.Event()  # set once updates flow (for threads that wait on it)

    def stop(self) -> None:
        """Stops the server from any thread; safe before it runs and more than once."""
        if self._loop is None:
            self._stopping.set()
        else:
            self._loop.call_soon_threadsafe(self._stopping.set)

    async def serve(self) -> None:
        """Binds the address first (a taken port fails before Telegram is asked anything),
        then runs until stopped; raises what stopped the start."""
        self._loop = asyncio.get_running_loop()
        app = self.application
        app.bot_data.stop = self.stop
        sock = _bind(self.listen) if self.listen is not None else None
        try:
            with self._signals_stop():
                await self._run(app, sock)
        finally:
            if sock is not None:
                sock.close()

    async def _run(self, app: Application, sock: socket.socket | None) -> None:
        try:
            await app.initialize()
            if app.post_init is not None:
                await app.post_init(app)
            await app.start()
            async with self._web(app, sock):
                await self._start_receiving(app)
                self.started.set()
                await self._stopping.wait()
        finally:
            await self._wind_down(app)

    @contextlib.asynccontextmanager
    async def _web(self, app: Application, sock: socket.socket | None):
        if sock is None:
            yield
            return
        route = self.receive.route if isinstance(self.receive, Webhook) else None
        config = uvicorn.Config(
            web_app(app, route, self.console), lifespan="off", log_config=None, access_log=False,
            server_header=False, timeout_graceful_shutdown=GRACE,
        )  # fmt: skip
        server = _QuietUvicorn(config)
        serving = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if serving.done():
            serving.result()  # raises what stopped it
        serving.add_done_callback(self._web_ended)
        log.info("serving HTTP on %s:%d", self.listen.host, self.listen.port)
        try:
            yield
        finally:
            server.should_exit = True
            await serving

    def _web_ended(self, serving: asyncio.Task) -> None:
        """A web server that ends by itself leaves the bot deaf (a webhook) or blind to its
        operators: the bot stops too, and says why."""
        if not self._stopping.is_set():
            error = None if serving.cancelled() else serving.exception()
            log.error("the web server stopped on its own (%s): stopping", error or "no error")
            self._stopping.set()

    async def _start_receiving(self, app: Application) -> None:
        if isinstance(self.receive, Webhook):
            await app.bot.set_webhook(
                self.receive.url, secret_token=self.receive.secret,
                allowed_updates=Update.ALL_TYPES,
            )  # fmt: skip
        else:
            await app.updater.start_polling(
                poll_interval=self.receive.interval, timeout=self.receive.timeout,
                allowed_updates=Update.ALL_TYPES,
            )  # fmt: skip

    @staticmethod
    async def _wind_down(app: Application) -> None:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
            if app.post_stop is not None:
                await app.post_stop(app)
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)

    @contextlib.contextmanager
    def _signals_stop(self) -> Iterator[None]:
        """SIGINT and SIGTERM stop the server cleanly (only the main thread gets signals)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._stopping.set)
        try:
            yield
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)


class _QuietUvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: `BotServer` owns the signals and stops both
    (uvicorn's would re-raise SIGTERM once it has stopped, killing the process before the
    bot's last checkpoint)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(listen: Listen) -> socket.socket:
    """The address, bound but not yet listening (uvicorn listens once the bot is up, so until
    then a connection is refused, not left waiting); OSError says why not."""
    family, kind, proto, _, address = socket.getaddrinfo(
        listen.host, listen.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock
