"""The console's review: the queue's next photo for this person, and their vote, skip or undo
on it. Each is the same desk call a tap in chat makes (same consensus, same exact model
update, same undo window); the photo is handed out as if sent to the person's private chat,
under a console message id (negative: never one of Telegram's) that binds the vote to it."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot import texts
from bot.desk.desk import Desk
from bot.desk.views import AfterTap, DeskError, GuessView, Tally, TapIn
from bot.export import PhotoGone
from bot.store import Sample
from bot.web.auth import NotSignedIn, Visitor
from bot.web.console.access import (
    Forbidden,
    console_of,
    desk_of,
    int_fields,
    metrics_of,
    visitor,
)
from model_core.image_header import sniff_format

log = logging.getLogger(__name__)
MAX_SHOWING = 4  # photos a page may say it shows already (the current one and a preload)


async def next_photo(request: Request) -> JSONResponse:
    """The photo most worth this person's vote, fetched into the cache, with the guesses and
    every label; `showing` names photos already on their screen."""
    person, desk, console = visitor(request), desk_of(request), console_of(request)
    showing = _ids(request.query_params.get("showing", ""))
    handed: dict[str, object] = {}

    async def fetch(sample: Sample) -> int:
        await console.photos.get(sample.file_unique_id, sample.file_id)  # PhotoGone: next one
        return 0  # no photo message: the console shows it

    async def show(view: GuessView) -> int:
        handed.update(_hand_out(view, desk, console.seals.photo(view.sample.id, time.time())))
        handed["token"] = token = -1 - secrets.randbelow(2**31 - 1)
        return token

    try:
        await desk.review.send_next(person.user_id, person.user_id, fetch, show, showing=showing)
    except DeskError as nothing:  # nothing to review: not an error for the page
        return JSONResponse({"done": True, "message": texts.refusal(nothing.code)})
    return JSONResponse(handed)


async def vote(request: Request) -> JSONResponse:
    return await _answer(request, "vote")


async def skip(request: Request) -> JSONResponse:
    return await _answer(request, "skip")


async def undo(request: Request) -> JSONResponse:
    return await _answer(request, "undo")


async def _answer(request: Request, action: str) -> JSONResponse:
    person, desk = visitor(request), desk_of(request)
    sample_id, token = await int_fields(request, "sample", "token")
    tap = _tap(person, token)
    if action == "vote":
        (label_id,) = await int_fields(request, "label")
        answer = await _saved(desk, tap, sample_id, label_id)
    else:
        change = desk.votes.skip if action == "skip" else desk.votes.undo
        answer = _after(await change(tap, sample_id))
    metrics_of(request).votes.labels(action=action, via="console").inc()
    return JSONResponse(answer)


async def _saved(desk: Desk, tap: TapIn, sample_id: int, label_id: int) -> dict[str, object]:
    """A vote's answer as soon as the vote is saved, as a tap's is in chat: the model learns
    it right after (the journal applies every saved vote, a crash or not), and the page need
    not wait for it. A refused vote answers with its refusal."""
    saved: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def acknowledge(text: str) -> None:
        if not saved.done():
            saved.set_result(text)

    voting = asyncio.ensure_future(desk.votes.vote(tap, sample_id, label_id, acknowledge))
    await asyncio.wait({saved, voting}, return_when=asyncio.FIRST_COMPLETED)
    if voting.done():
        return _after(voting.result())  # refused (raises), or applied already
    LEARNING.add(voting)
    voting.add_done_callback(_learnt)
    tally = await desk.votes.tally(sample_id)
    return {"outcome": saved.result(), "tally": _tally_text(tally), "undoable": True}


LEARNING: set[asyncio.Task] = set()  # votes saved and answered, being learnt: held till done


def _learnt(voting: asyncio.Task) -> None:
    LEARNING.discard(voting)
    if not voting.cancelled() and voting.exception() is not None:  # saved: the journal retries
        log.warning("a console vote was saved but not learnt yet: %s", voting.exception())


def _hand_out(view: GuessView, desk: Desk, sealed: str) -> dict[str, object]:
    guessed = [g.label_id for g in view.guesses]
    rest = [x for x in desk.context.active_labels() if x.id not in guessed]
    return {
        "sample": view.sample.id,
        "photo": f"/console/photo/{view.sample.id}?t={sealed}",
        "sure": view.sure,
        "note": view.note,
        "guesses": [{"id": g.label_id, "name": g.name, "percent": round(100 * g.probability)}
                    for g in view.guesses],
        "labels": [{"id": x.id, "name": x.name} for x in rest],
    }  # fmt: skip


def _after(after: AfterTap) -> dict[str, object]:
    return {"outcome": after.outcome, "tally": _tally_text(after.tally), "undoable": after.undoable}


def _tally_text(tally: Tally) -> str:
    return texts.tally(tally) if tally.counts or tally.skips else ""


def _tap(person: Visitor, token: int) -> TapIn:
    if token >= 0:  # a console message id is negative; a Telegram one is not the console's
        raise texts.refused("wrong_message")
    return TapIn(person.user_id, person.user_id, token, None, True, person.name)


def _ids(raw: str) -> frozenset[int]:
    parts = [p for p in raw.split(",") if p.strip()][:MAX_SHOWING]
    if not all(p.strip().isdigit() for p in parts):
        raise texts.refused("bad_request")
    return frozenset(int(p) for p in parts)


async def photo(request: Request) -> Response:
    """A photo the console handed out, at its sealed URL only (403 without or past it)."""
    console, desk = console_of(request), desk_of(request)
    try:
        sealed = console.seals.unseal("photo", request.query_params.get("t", ""), time.time())
    except NotSignedIn as refused:
        raise Forbidden(str(refused)) from None
    sample = await desk.store.samples.get(request.path_params["sample_id"])
    if sealed["s"] != request.path_params["sample_id"] or sample is None:
        raise Forbidden("this photo's URL is not valid")
    try:
        data = await console.photos.get(sample.file_unique_id, sample.file_id)
    except PhotoGone:
        return Response(status_code=404)
    kind = sniff_format(data) or "jpeg"
    cache = {"Cache-Control": "private, max-age=600"}  # its URL expires with the seal anyway
    return Response(data, media_type=f"image/{kind}", headers=cache)
