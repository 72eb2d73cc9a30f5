"""The one ASGI app a bot process serves: Telegram's webhook, `/healthz`, `/readyz` and
`/metrics` (the console joins them under `/console`).

python-telegram-bot's own webhook server serves one route; its maintainers point to a custom
server for more (their `customwebhookbot` examples). The webhook route here keeps what theirs
does (JSON only, the secret header, 403 and 400 as they answer) and what labelbot adds: the
update is committed to the inbox (`bot.inbox.DurableQueue.put`) before Telegram gets its 200.
"""

from __future__ import annotations

import hmac
import json
import logging
import sqlite3
import time
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send
from telegram import Update
from telegram.ext import Application

from bot.metrics import CONTENT_TYPE, Metrics
from bot.postgres import DATABASE_ERRORS
from bot.web import health
from bot.web.console import ERRORS as CONSOLE_ERRORS
from bot.web.console import Console
from bot.web.console import routes as console_routes

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1 << 20  # an update is a few kilobytes; a photo comes as a file id


@dataclass(frozen=True)
class WebhookRoute:
    """Where Telegram posts updates, and the secret it sends with each (see setWebhook)."""

    path: str
    secret: str


def web_app(
    application: Application, webhook: WebhookRoute | None = None, console: Console | None = None
) -> ASGIApp:
    """The routes over `application` (its `bot_data` holds the desk and the metrics); the
    console's when it has a public address to be opened at."""
    routes: list[BaseRoute] = [
        Route("/healthz", _alive, methods=["GET"]),
        Route("/readyz", _ready, methods=["GET"]),
        Route("/metrics", _metrics, methods=["GET"]),
    ]
    if webhook is not None:
        routes.append(Route(webhook.path, _webhook, methods=["POST"]))
    if console is not None:
        routes += console_routes()
    app = Starlette(routes=routes, exception_handlers=CONSOLE_ERRORS if console else None)
    app.state.application = application
    app.state.webhook = webhook
    app.state.console = console
    return TimedRequests(app, application.bot_data.metrics)


async def _alive(request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def _ready(request: Request) -> Response:
    found = await health.problems(request.app.state.application.bot_data.desk)
    if found:
        return JSONResponse({"ready": False, "problems": found}, status_code=503)
    return JSONResponse({"ready": True, "problems": []})


async def _metrics(request: Request) -> Response:
    bot_data = request.app.state.application.bot_data
    if bot_data.desk is None:
        return PlainTextResponse("starting\n", status_code=503)
    return Response(await bot_data.metrics.observe(bot_data.desk), media_type=CONTENT_TYPE)


async def _webhook(request: Request) -> Response:
    application: Application = request.app.state.application
    webhook: WebhookRoute = request.app.state.webhook
    if request.headers.get("content-type") != "application/json":
        return Response(status_code=403)
    sent = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(sent.encode(), webhook.secret.encode()):
        log.debug("a webhook request came without the right secret token")
        return Response(status_code=403)
    body = await request.body()
    if len(body) > MAX_UPDATE_BYTES:
        return Response(status_code=413)
    try:
        update = Update.de_json(json.loads(body), application.bot)
    except Exception:  # malformed JSON or not an update: Telegram never sends those
        log.warning("a webhook request with the right secret was not an update", exc_info=True)
        return Response(status_code=400)
    application.bot.insert_callback_data(update)
    try:
        await application.update_queue.put(update)  # committed to the inbox before the 200
    except (sqlite3.Error, *DATABASE_ERRORS):
        log.warning("could not keep update %d; Telegram will send it again", update.update_id)
        return Response(status_code=503, headers={"Retry-After": "1"})
    return Response(status_code=200)


class TimedRequests:
    """Times every request into the latency histogram, labelled by its route's path (a path
    no route knows counts as "other", so scanners cannot grow the metrics without bound)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "other")
            self.metrics.requests.labels(route=path, method=scope["method"]).observe(
                time.perf_counter() - started
            )
