"""The console's pages. Each is a shell (the same for everyone: no data, no sign-in needed,
so a Mini App can load it before it has said who it is) whose script fetches the page's part,
rendered here with its data for the person who asks. Admin parts answer 403 to others."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from bot.web.auth import SESSION_TTL, NotSignedIn, visitor_of
from bot.web.console.access import (
    SESSION_COOKIE,
    admin,
    console_of,
    desk_of,
    visitor,
)
from bot.web.console.admin import DOWNLOADS
from bot.web.console.charts import bar_chart, confusion_shades

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
TEMPLATES.env.globals.update(bar_chart=bar_chart, confusion_shades=confusion_shades)
TEMPLATES.env.filters["when"] = lambda t: datetime.fromtimestamp(t, UTC).strftime(
    "%Y-%m-%d %H:%M UTC"
)


@dataclass(frozen=True)
class Page:
    path: str
    title: str
    admins_only: bool


PAGES = {
    page.path: page
    for page in (
        Page("review", "Review", False),
        Page("campaign", "Campaign", False),
        Page("model", "Model", True),
        Page("people", "People", True),
        Page("export", "Export", True),
    )
}


async def home(request: Request) -> Response:
    return RedirectResponse("/console/review", status_code=303)


async def shell(request: Request) -> Response:
    page = PAGES.get(request.path_params["page"])
    if page is None:
        return HTMLResponse(message("No such page", "Try the menu above."), status_code=404)
    return TEMPLATES.TemplateResponse(request, "page.html", {"page": page, "pages": PAGES})


async def part(request: Request) -> Response:
    page = PAGES.get(request.path_params["page"])
    if page is None:
        return HTMLResponse("", status_code=404)
    person = admin(request) if page.admins_only else visitor(request)
    desk = desk_of(request)
    context: dict[str, object] = {"person": person, "admin": desk.is_admin(person.user_id)}
    match page.path:
        case "campaign":
            context["campaign"] = await desk.insight.campaign()
        case "model":
            context["report"] = await desk.model.report(person.user_id)
            context["quality"] = await desk.insight.quality(person.user_id)
        case "people":
            context["people"] = await desk.people.contributors(person.user_id)
        case "export":
            seals, now = console_of(request).seals, time.time()
            context["seals"] = {name: seals.download(person, name, now) for name in DOWNLOADS}
    return TEMPLATES.TemplateResponse(request, f"part_{page.path}.html", context)


async def login(request: Request) -> Response:
    """A one-time login link from the bot: sets the session cookie, opens the review."""
    console, now = console_of(request), time.time()
    sealed = request.query_params.get("t", "")
    content = console.seals.unseal("login", sealed, now)
    if not await desk_of(request).store.logins.use(content["nonce"], content["exp"], now):
        raise NotSignedIn("this login link was used before: send /console again for a new one")
    person = visitor_of(content)
    response = RedirectResponse("/console/review", status_code=303)
    response.set_cookie(
        SESSION_COOKIE, console.seals.session(person, now), max_age=int(SESSION_TTL),
        path="/console", httponly=True, samesite="strict", secure=console.secure,
    )  # fmt: skip
    return response


def message(title: str, text: str) -> str:
    return TEMPLATES.get_template("message.html").render(title=title, text=text)
