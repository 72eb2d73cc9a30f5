"""What admins do from the console: roll the model back, ban and unban, download the data
and the model. Each is the desk call the chat command makes."""

from __future__ import annotations

import io
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
from bot.web.console.access import Forbidden, admin, console_of, desk_of

DOWNLOADS = {
    "labels.jsonl": "application/x-ndjson",
    "labels.csv": "text/csv",
    "model.zip": "application/zip",
}


async def rollback(request: Request) -> JSONResponse:
    person, desk = admin(request), desk_of(request)
    rolled = await desk.model.rollback(person.user_id, await _int_field(request, "version"))
    return JSONResponse({"outcome": texts.restored(rolled.restored, rolled.version)})


async def ban(request: Request) -> JSONResponse:
    return await _set_banned(request, True)


async def unban(request: Request) -> JSONResponse:
    return await _set_banned(request, False)


async def _set_banned(request: Request, banned: bool) -> JSONResponse:
    person, desk = admin(request), desk_of(request)
    user_id = await _int_field(request, "user")
    photos = await desk.people.ban(person.user_id, str(user_id), banned)
    return JSONResponse({"outcome": texts.banned(str(user_id), banned, photos)})


async def download(request: Request) -> Response:
    """An export, at the sealed link the Export page gave an admin: labels.jsonl or
    labels.csv written fresh (as /export writes them), or the model."""
    name = request.path_params["name"]
    if name not in DOWNLOADS:
        return JSONResponse({"error": "no such download"}, status_code=404)
    person, desk = _download_seal(request, name), desk_of(request)
    if name == "model.zip":
        return await _model_zip(request)
    written = await desk.exports.tables(person.user_id)
    return FileResponse(written.folder / name, media_type=DOWNLOADS[name], filename=name)


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


async def _model_zip(request: Request) -> Response:
    """The model as `labelbot export model` writes it (Keras, SavedModel, TFLite), zipped."""
    export = console_of(request).export_model
    if export is None:
        raise Forbidden("this process cannot export the model: use `labelbot export model`")
    folder = Path(tempfile.mkdtemp(prefix="labelbot-model-"))
    version = desk_of(request).snapshot.version
    paths = await export(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            for file in [path] if path.is_file() else sorted(path.rglob("*")):
                if file.is_file():
                    archive.write(file, file.relative_to(folder))
    name = f"labelbot-model-v{version}.zip"
    return Response(
        buffer.getvalue(), media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
        background=BackgroundTask(_remove, folder),
    )  # fmt: skip


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


async def _int_field(request: Request, key: str) -> int:
    try:
        value = (await request.json()).get(key)
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, int) or isinstance(value, bool):
        raise texts.refused("bad_request")
    return value
