"""The console under `/console`: a Telegram Mini App and a browser page for reviewers and
admins (review, campaign, model, people, export). See `access` for who may do what."""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from telegram.error import TelegramError

from bot.desk.views import DeskError
from bot.web.auth import NotSignedIn
from bot.web.console import admin, pages, review
from bot.web.console.access import Console, Forbidden

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent.parent / "static"

__all__ = ["ERRORS", "Console", "routes"]


def routes() -> list[BaseRoute]:
    return [
        Route("/console", pages.home, methods=["GET"]),
        Route("/console/login", pages.login, methods=["GET"]),
        Route("/console/part/{page}", pages.part, methods=["GET"]),
        Route("/console/api/next", review.next_photo, methods=["GET"]),
        Route("/console/api/vote", review.vote, methods=["POST"]),
        Route("/console/api/skip", review.skip, methods=["POST"]),
        Route("/console/api/undo", review.undo, methods=["POST"]),
        Route("/console/api/rollback", admin.rollback, methods=["POST"]),
        Route("/console/api/ban", admin.ban, methods=["POST"]),
        Route("/console/api/unban", admin.unban, methods=["POST"]),
        Route("/console/photo/{sample_id:int}", review.photo, methods=["GET"]),
        Route("/console/download/{name}", admin.download, methods=["GET"]),
        Mount("/console/static", StaticFiles(directory=STATIC), name="static"),
        Route("/console/{page}", pages.shell, methods=["GET"]),
    ]


async def _not_signed_in(request: Request, error: Exception) -> Response:
    return _error(request, 401, "Not signed in", str(error))


async def _forbidden(request: Request, error: Exception) -> Response:
    return _error(request, 403, "Not allowed", str(error))


async def _refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, DeskError)
    status = 403 if error.code == "not_admin" else 409
    return _error(request, status, "Not done", str(error))


async def _telegram_away(request: Request, error: Exception) -> Response:
    log.warning("the console could not reach Telegram: %s", error)
    return _error(request, 503, "Telegram did not answer", "Try again in a moment.")


def _error(request: Request, status: int, title: str, text: str) -> Response:
    """A page a person opened gets a page; the console's script gets JSON it shows."""
    if request.url.path == "/console/login":
        return HTMLResponse(pages.message(title, text), status_code=status)
    return JSONResponse({"error": text}, status_code=status)


ERRORS: dict[type[Exception] | int, object] = {
    NotSignedIn: _not_signed_in,
    Forbidden: _forbidden,
    DeskError: _refused,
    TelegramError: _telegram_away,
}
