"""What admins do from the console: roll the model back, ban and unban, download the data
and the model. Each is the desk call the chat command makes."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from bot import texts
from bot.web.auth import NotSignedIn, Visitor, visitor_of
from bot.web.console.access import Forbidden, admin, console_of, desk_of, int_fields

DOWNLOADS = {
    "labels.jsonl": "application/x-ndjson",
    "labels.csv": "text/csv",
    "model.zip": "application/zip",
}


async def rollback(request: Request) -> JSONResponse:
    person, desk = admin(request), desk_of(request)
    (version,) = await int_fields(request, "version")
    rolled = await desk.model.rollback(person.user_id, version)
    return JSONResponse({"outcome": texts.restored(rolled.restored, rolled.version)})


async def ban(request: Request) -> JSONResponse:
    return await _set_banned(request, True)


async def unban(request: Request) -> JSONResponse:
    return await _set_banned(request, False)


async def _set_banned(request: Request, banned: bool) -> JSONResponse:
    person, desk = admin(request), desk_of(request)
    (user_id,) = await int_fields(request, "user")
    photos = await desk.people.ban(person.user_id, str(user_id), banned)
    return JSONResponse({"outcome": texts.banned(str(user_id), banned, photos)})


async def download(request: Request) -> Response:
    """An export, at the sealed link the Export page gave an admin: labels.jsonl or
    labels.csv written fresh (as /export writes them), or the model; written into a scratch
    folder off the event loop, streamed, and the folder removed after."""
    name = request.path_params["name"]
    if name not in DOWNLOADS:
        return JSONResponse({"error": "no such download"}, status_code=404)
    person = _download_seal(request, name)
    scratch = Path(tempfile.mkdtemp(prefix="labelbot-download-"))
    try:
        if name == "model.zip":
            path = await _model_zip(request, scratch)
        else:
            path = await desk_of(request).exports.table(person.user_id, name, scratch)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return FileResponse(
        path, media_type=DOWNLOADS[name], filename=path.name,
        background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True),
    )  # fmt: skip


def _download_seal(request: Request, name: str) -> Visitor:
    try:
        sealed = console_of(request).seals.unseal(
            "download", request.query_params.get("t", ""), time.time()
        )
    except NotSignedIn as refused:
        raise Forbidden(f"{refused}: reload the Export page for a new link") from None
    if sealed["f"] != name or not desk_of(request).is_admin(int(sealed["u"])):
        raise Forbidden("this download link is not for this file")
    return visitor_of(sealed)


async def _model_zip(request: Request, scratch: Path) -> Path:
    """The model as `labelbot export model` writes it (Keras, SavedModel, TFLite), zipped
    under a name that says its version."""
    export = console_of(request).export_model
    if export is None:
        raise Forbidden("this process cannot export the model: use `labelbot export model`")
    version = desk_of(request).snapshot.version
    folder = scratch / "model"
    paths = await export(folder)
    archive = scratch / f"labelbot-model-v{version}.zip"
    await asyncio.to_thread(_zip, folder, paths, archive)
    return archive


def _zip(folder: Path, paths: list[Path], archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as written:
        for path in paths:
            for file in [path] if path.is_file() else sorted(path.rglob("*")):
                if file.is_file():
                    written.write(file, file.relative_to(folder))
