"""The labeled data set as files: tables, embeddings and, on request, the photos themselves.

`labelbot export data` and an admin's `/export` both come here. One row per stored photo:
where it came from, every live vote, the label the votes settle on and how sure they are, and
what the model guessed first. Photos are not kept by labelbot (Telegram keeps them), so the
images are fetched again by `file_id` through a `Fetch` callable the caller supplies; a photo
taught by `labelbot import` is copied from the path it was imported from.

A photo's label is its crowd consensus (`model_core.consensus`): the label, its posterior
probability as the confidence, and whether enough voters agree for it to be settled. A photo
the consensus gives no label has none here either (never, say, the plurality of its votes,
which the consensus may have weighed otherwise); its `status` says why.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from telegram import Bot
from telegram.error import BadRequest

from bot.store import IMPORT_USER, Store, StoredPhoto
from model_core.image_header import sniff_format
from model_core.labels import LabelSet
from model_core.progress import ProgressFactory, no_progress

TABLES = ("labels.jsonl", "labels.csv", "embeddings.npy", "embeddings.index.jsonl")
IMAGES = "images"
CSV_COLUMNS = (
    "sample_id", "source", "file_id", "file_unique_id", "chat_id", "message_id", "sender_id",
    "created_at", "label", "confidence", "settled", "status", "votes", "vote_labels", "voters",
    "first_guess", "first_guess_probability", "model_version",
)  # fmt: skip
_EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "bmp": ".bmp"}

Fetch = Callable[[str], Awaitable[bytes]]
"""Downloads a Telegram file by `file_id`; raises PhotoGone if Telegram no longer has it."""


class PhotoGone(Exception):
    """Telegram (or the import's folder) no longer has this photo; the message says why."""


def telegram_fetch(bot: Bot) -> Fetch:
    """Fetch through the Bot API: getFile, then the file's download."""

    async def fetch(file_id: str) -> bytes:
        try:
            return bytes(await (await bot.get_file(file_id)).download_as_bytearray())
        except BadRequest as error:  # "wrong file_id or the file is temporarily unavailable"
            raise PhotoGone(error.message) from None

    return fetch


@dataclass(frozen=True)
class ExportFilter:
    settled_only: bool = False
    since: datetime | None = None
    labels: frozenset[str] | None = None  # keep photos whose label is one of these

    def keeps(self, row: PhotoRow) -> bool:
        if self.settled_only and not row.settled:
            return False
        return self.labels is None or row.label in self.labels


@dataclass(frozen=True)
class Vote:
    user_id: int
    label: str
    time: str


@dataclass(frozen=True)
class PhotoRow:
    """One photo of the export, as `labels.jsonl` holds it."""

    sample_id: int
    source: str  # "telegram", or "import" for `labelbot import`
    file_id: str
    file_unique_id: str
    chat_id: int
    message_id: int
    sender_id: int
    created_at: str
    votes: tuple[Vote, ...]
    label: str | None
    confidence: float | None
    settled: bool
    status: str  # settled; waiting (for more votes); undecided (votes, no label); unvoted
    first_guess: str | None
    first_guess_probability: float | None
    model_version: int
    embedding: np.ndarray = field(repr=False, compare=False)

    def as_json(self) -> dict:
        fields = dataclasses.asdict(self)
        del fields["embedding"]
        return fields

    def as_csv(self) -> dict:
        fields = self.as_json()
        fields["votes"] = len(self.votes)
        fields["vote_labels"] = ";".join(vote.label for vote in self.votes)
        fields["voters"] = ";".join(str(vote.user_id) for vote in self.votes)
        return fields


@dataclass
class ImageReport:
    """What `--images` did: fetched now, already there, and photos no longer to be had."""

    fetched: int = 0
    kept: int = 0
    gone: list[tuple[int, str]] = field(default_factory=list)  # (sample id, why)


async def read_rows(store: Store, chosen: ExportFilter = ExportFilter()) -> list[PhotoRow]:
    """The rows the filter keeps, in sample order."""
    since = chosen.since.timestamp() if chosen.since is not None else 0.0
    labels = await store.labels.all()
    rows = (_row(photo, labels) for photo in await store.samples.for_export(since))
    return [row for row in rows if chosen.keeps(row)]


def write_tables(rows: Sequence[PhotoRow], out: Path) -> list[Path]:
    """Writes `TABLES` into `out` (created if need be); returns their paths."""
    return [write_table(rows, name, out) for name in TABLES]


def write_table(rows: Sequence[PhotoRow], name: str, out: Path) -> Path:
    """Writes one of `TABLES` into `out` (created if need be); returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    _TABLE_WRITERS[name](rows, path)
    return path


def _write_labels(rows: Sequence[PhotoRow], path: Path) -> None:
    _write_jsonl(path, (row.as_json() for row in rows))


def _write_csv(rows: Sequence[PhotoRow], path: Path) -> None:
    with _replacing(path) as part, part.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(row.as_csv() for row in rows)


def _write_embeddings(rows: Sequence[PhotoRow], path: Path) -> None:
    dim = rows[0].embedding.shape[0] if rows else 0
    with _replacing(path) as part, part.open("wb") as file:
        embeddings = np.stack([row.embedding for row in rows]) if rows else np.zeros((0, dim))
        np.save(file, embeddings.astype(np.float32))


def _write_index(rows: Sequence[PhotoRow], path: Path) -> None:
    _write_jsonl(
        path,
        ({"row": n, "sample_id": r.sample_id, "file_unique_id": r.file_unique_id,
          "label": r.label} for n, r in enumerate(rows)),
    )  # fmt: skip


_TABLE_WRITERS = dict(
    zip(TABLES, (_write_labels, _write_csv, _write_embeddings, _write_index), strict=True)
)


async def fetch_images(
    rows: Sequence[PhotoRow],
    out: Path,
    fetch: Fetch,
    *,
    concurrency: int = 8,
    progress: ProgressFactory = no_progress,
) -> ImageReport:
    """Writes each labeled photo to `out/images/<label>/<file_unique_id>.<ext>`, skipping
    those already there (an interrupted export resumes), and `metadata.jsonl` in Hugging
    Face's imagefolder format beside them."""
    root = out / IMAGES
    labeled = [row for row in rows if row.label is not None]
    report, gate = ImageReport(), asyncio.Semaphore(concurrency)
    done = progress("photos", len(labeled))
    files: dict[int, Path] = {}

    async def one(row: PhotoRow) -> None:
        folder = root / label_folder(row.label)
        existing = next(iter(folder.glob(f"{_file_stem(row)}.*")), None)
        if existing is not None:
            files[row.sample_id], report.kept = existing, report.kept + 1
        else:
            async with gate:
                try:
                    files[row.sample_id] = await _fetch_one(row, folder, fetch)
                    report.fetched += 1
                except PhotoGone as gone:
                    report.gone.append((row.sample_id, str(gone)))
        done(1)

    await asyncio.gather(*(one(row) for row in labeled))
    _write_jsonl(root / "metadata.jsonl", _metadata(labeled, files, root))
    return report


def label_folder(label: str) -> str:
    """A label name as a folder name. A "/" becomes a full-width solidus, which
    `labelbot import` reads back as "/" (label names are NFKC-normalised)."""
    return label.replace("/", "\uff0f")


async def photo_bytes(sender_id: int, file_id: str, fetch: Fetch) -> bytes:
    """A stored photo's file: from Telegram by `file_id`, or, for a photo `labelbot import`
    taught, from the path it was imported from. PhotoGone if neither has it any more."""
    return await (_read_imported(file_id) if sender_id == IMPORT_USER else fetch(file_id))


async def _fetch_one(row: PhotoRow, folder: Path, fetch: Fetch) -> Path:
    data = await photo_bytes(row.sender_id, row.file_id, fetch)
    fmt = sniff_format(data)
    if fmt is None:
        raise PhotoGone("what came back is not an image")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_file_stem(row)}{_EXTENSIONS[fmt]}"
    with _replacing(path) as part:
        part.write_bytes(data)
    return path


async def _read_imported(file_id: str) -> bytes:
    path = Path(file_id)
    try:
        return await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        raise PhotoGone(f"imported from {path}, which cannot be read: {error.strerror}") from None


def _metadata(rows: Iterable[PhotoRow], files: dict[int, Path], root: Path) -> Iterable[dict]:
    for row in rows:
        if row.sample_id in files:
            yield {"file_name": files[row.sample_id].relative_to(root).as_posix(),
                   "label": row.label, "sample_id": row.sample_id,
                   "confidence": row.confidence, "votes": len(row.votes)}  # fmt: skip


def _row(photo: StoredPhoto, labels: LabelSet) -> PhotoRow:
    votes = tuple(Vote(v.user_id, labels[v.label_id].name, _iso(v.created_at))
                  for v in photo.votes)  # fmt: skip
    verdict = photo.verdict
    label, confidence = (None, None) if verdict is None else (
        labels[verdict.label_id].name, verdict.confidence
    )  # fmt: skip
    first = photo.prediction[0] if photo.prediction else None
    return PhotoRow(
        sample_id=photo.id, source="import" if photo.sender_id == IMPORT_USER else "telegram",
        file_id=photo.file_id, file_unique_id=photo.file_unique_id, chat_id=photo.chat_id,
        message_id=photo.message_id, sender_id=photo.sender_id,
        created_at=_iso(photo.created_at), votes=votes, label=label, confidence=confidence,
        settled=verdict is not None and verdict.settled, status=_status(photo),
        first_guess=labels[first.label_id].name if first else None,
        first_guess_probability=first.probability if first else None,
        model_version=photo.model_version, embedding=photo.embedding,
    )  # fmt: skip


def _status(photo: StoredPhoto) -> str:
    if photo.verdict is not None:
        return "settled" if photo.verdict.settled else "waiting"
    return "undecided" if photo.votes else "unvoted"


def _file_stem(row: PhotoRow) -> str:
    return row.file_unique_id.replace(":", "-").replace("/", "-")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _write_jsonl(path: Path, records: Iterable[dict]) -> None:
    with _replacing(path) as part, part.open("w", encoding="utf-8") as file:
        for record in records:
            file.write(json.dumps(record, ensure_ascii=False) + "\n")


class _replacing:
    """Yields a temporary path beside `path` and renames it over `path` on success, so an
    interrupted export never leaves a half-written file under the final name."""

    def __init__(self, path: Path) -> None:
        self.path, self.part = path, path.with_name(path.name + ".part")

    def __enter__(self) -> Path:
        return self.part

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.part.replace(self.path)
        else:
            self.part.unlink(missing_ok=True)
