"""Who may do what in the console: every request names its visitor (the Mini App's
`initData` header, or the browser's session cookie), and a request that changes something
from a browser must come from the console's own origin (no cross-site request can vote)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request

from bot import texts
from bot.desk.desk import Desk
from bot.metrics import Metrics
from bot.web.auth import NotSignedIn, Seals, Visitor, visitor_of
from bot.web.photos import PhotoCache

INIT_DATA_HEADER = "X-Telegram-Init-Data"
SESSION_COOKIE = "labelbot_session"


class Forbidden(Exception):
    """Answered with 403: the visitor is known but may not do this; the message says why."""


@dataclass(frozen=True)
class Console:
    """What the console needs besides the desk: its public address (the Mini App's URL is
    `public_url` + `/console`), the seals, the photo cache, and the model's exporter (given
    by the composition root: exporting needs TensorFlow, which `bot/` never imports)."""

    public_url: str
    seals: Seals
    photos: PhotoCache
    export_model: Callable[[Path], Awaitable[list[Path]]] | None = None

    @property
    def origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def secure(self) -> bool:
        """Cookies only over HTTPS when the console is served over HTTPS."""
        return self.public_url.startswith("https://")


def console_of(request: Request) -> Console:
    return request.app.state.console


def desk_of(request: Request) -> Desk:
    desk = request.app.state.application.bot_data.desk
    if desk is None:
        raise Forbidden("labelbot is starting; try again in a moment")
    return desk


def metrics_of(request: Request) -> Metrics:
    return request.app.state.application.bot_data.metrics


def visitor(request: Request) -> Visitor:
    """The person asking; NotSignedIn without valid proof, Forbidden for a cross-site change."""
    console, now = console_of(request), time.time()
    init_data = request.headers.get(INIT_DATA_HEADER)
    if init_data:  # a custom header: no other site can make a browser send it
        return console.seals.web_app_visitor(init_data, now)
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        raise NotSignedIn("sign in: send /console to the bot in a private chat")
    person = visitor_of(console.seals.unseal("session", session, now))
    if request.method not in ("GET", "HEAD") and request.headers.get("origin") != console.origin:
        raise Forbidden("this request did not come from the console's own page")
    return person


def admin(request: Request) -> Visitor:
    """The person asking, who must be an admin."""
    person = visitor(request)
    if not desk_of(request).is_admin(person.user_id):
        raise Forbidden("only the bot's admins can see this page")
    return person


async def int_fields(request: Request, *keys: str) -> list[int]:
    """Whole numbers from the request's JSON body, in the order asked; a refusal (409, shown
    on the page) for a body that is not JSON or lacks one."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    values = [body.get(key) if isinstance(body, dict) else None for key in keys]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise texts.refused("bad_request")
    return values
