"""`labelbot export data` and `labelbot export model`: the labels and the model leave the bot.

Both only read (the store through SQLite's WAL, the newest checkpoint), so they work beside a
running bot. The photos themselves are kept by Telegram, so `--images` fetches them again
through the Bot API server the bot uses (`getFile`), with the bot's token.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from bot.export import (
    ExportFilter,
    Fetch,
    ImageReport,
    PhotoGone,
    PhotoRow,
    fetch_images,
    read_rows,
    telegram_fetch,
    write_tables,
)
from labelbot.cli.errors import CommandError
from labelbot.cli.progress import bar
from labelbot.house import House
from labelbot.settings import Settings
from model_core.labels import LabelError, normalize_label_name

GONE_LIST = "gone.jsonl"


def export_data(
    settings: Settings,
    out: Path,
    *,
    images: bool,
    settled_only: bool,
    since: str | None,
    labels: str | None,
) -> int:
    chosen = ExportFilter(settled_only, _since(since), _label_names(labels))
    rows = asyncio.run(_rows(House(settings), chosen))
    paths = write_tables(rows, out)
    labeled = sum(row.label is not None for row in rows)
    print(
        f"exported {len(rows)} photos ({labeled} with a label) to {out}: "
        + ", ".join(path.name for path in paths)
    )
    if images:
        report = asyncio.run(_fetch_images(settings, rows, out))
        print(_image_line(report, out))
    return 0


def export_model(settings: Settings, out: Path) -> int:
    from model_core.export import ExportError
    from model_core.export import export_model as write_model

    house = House(settings)
    snapshot = house.snapshot()
    try:
        paths = write_model(house.backbone(), snapshot, out)
    except ExportError as error:
        raise CommandError(str(error)) from error
    print(
        f"exported model version {snapshot.version} ({len(snapshot.labels)} labels) to {out}: "
        + ", ".join(path.name for path in paths)
    )
    return 0


async def _rows(house: House, chosen: ExportFilter) -> list[PhotoRow]:
    store = await house.open_store()
    try:
        if chosen.labels is not None:
            known = {label.name for label in await store.labels.all()}
            unknown = sorted(chosen.labels - known)
            if unknown:
                raise CommandError(f"--labels: no label named {', '.join(unknown)}")
        return await read_rows(store, chosen)
    finally:
        await store.close()


async def _fetch_images(settings: Settings, rows: list[PhotoRow], out: Path) -> ImageReport:
    needs_telegram = any(row.source == "telegram" for row in rows)
    async with photo_fetch(settings, needs_telegram, "--images") as fetch:
        return await _fetch_all(rows, out, fetch)


@asynccontextmanager
async def photo_fetch(settings: Settings, needs_telegram: bool, why: str) -> AsyncIterator[Fetch]:
    """Fetch from the Bot API server the bot uses (`getFile`, with the bot's token); without
    a token, a fetch for which every Telegram photo is gone, unless `needs_telegram`, when
    the command (`why`) explains that it needs the token."""
    from telegram import Bot
    from telegram.error import InvalidToken

    if settings.token is None:
        if needs_telegram:
            raise CommandError(
                f"{why} needs TELEGRAM_BOT_TOKEN: Telegram keeps the photos, labelbot only "
                "their file ids"
            )
        yield _no_telegram  # imported photos only
        return
    urls = {"base_url": settings.api_base_url, "base_file_url": settings.api_file_url}
    bot = Bot(settings.token.reveal(), **{key: url for key, url in urls.items() if url})
    try:
        async with bot:
            yield telegram_fetch(bot)
    except InvalidToken:
        raise CommandError(
            "the Bot API server refused the token; check TELEGRAM_BOT_TOKEN with @BotFather"
        ) from None


async def _no_telegram(file_id: str) -> bytes:
    raise PhotoGone("no TELEGRAM_BOT_TOKEN to fetch it with")


async def _fetch_all(rows: list[PhotoRow], out: Path, fetch: Fetch) -> ImageReport:
    report = await fetch_images(rows, out, fetch, progress=bar)
    with (out / GONE_LIST).open("w", encoding="utf-8") as file:
        for sample_id, why in report.gone:
            file.write(json.dumps({"sample_id": sample_id, "why": why}) + "\n")
    return report


def _image_line(report: ImageReport, out: Path) -> str:
    line = (
        f"images: {report.fetched} fetched, {report.kept} already there, in {out / 'images'} "
        "(one folder per label, metadata.jsonl beside them)"
    )
    if report.gone:
        line += f"; {len(report.gone)} no longer to be had, listed in {out / GONE_LIST}"
        for sample_id, why in report.gone[:5]:
            print(f"  photo {sample_id}: {why}", file=sys.stderr)
    return line


def _since(raw: str | None) -> datetime | None:
    """An ISO date or date-time; without a zone it is UTC."""
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"--since: expected a date like 2026-12-01, got {raw!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _label_names(raw: str | None) -> frozenset[str] | None:
    if raw is None:
        return None
    try:
        names = frozenset(normalize_label_name(part) for part in raw.split(",") if part.strip())
    except LabelError as error:
        raise CommandError(f"--labels: {error}") from error
    if not names:
        raise CommandError("--labels: name at least one label")
    return names
