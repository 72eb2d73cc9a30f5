"""Commands that work on the model without Telegram: embed, import, predict, labels, addlabel,
rollback.

Writers (import, addlabel, rollback) go through the same desk and journal as the bot's votes, so
the store records every change and a crash replays it; they hold the data dir's writer lock.
Readers (predict, labels, embed) take no lock: they read the newest checkpoint, beside a
running bot. Photos are read through `ModelReader.read_images`, the bot's own path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.desk.imports import content_hash
from bot.desk.views import DeskError, Imported
from labelbot.cli.errors import CommandError
from labelbot.cli.progress import bar
from labelbot.house import House
from labelbot.settings import Settings
from labelbot.writer_lock import DataDirBusy
from model_core.datasets import DatasetError, scan_labeled_images
from model_core.intake import ImageError
from model_core.progress import Progress
from model_core.service import ModelReader, Reading

BATCH = 64  # photos read and embedded together


@dataclass(frozen=True)
class FileReading:
    """One file as a command read it: its reading, or why it could not be read."""

    path: Path
    reading: Reading | None
    error: str | None = None


async def read_files(
    reader: ModelReader, paths: Sequence[Path], progress: Progress, top_k: int = 3
) -> list[FileReading]:
    """Reads image files in batches; a missing or bad file is reported, never fatal."""
    results: list[FileReading] = []
    for start in range(0, len(paths), BATCH):
        batch = paths[start : start + BATCH]
        contents = [_read_bytes(path) for path in batch]
        readable = [data for data in contents if isinstance(data, bytes)]
        readings = iter(await reader.read_images(readable, top_k))
        for path, data in zip(batch, contents, strict=True):
            outcome = next(readings) if isinstance(data, bytes) else data
            if isinstance(outcome, Reading):
                results.append(FileReading(path, outcome))
            else:
                results.append(FileReading(path, None, str(outcome)))
        progress(len(batch))
    return results


def _read_bytes(path: Path) -> bytes | str:
    try:
        return path.read_bytes()
    except OSError as error:
        return error.strerror or str(error)


def _report_failures(command: str, results: Sequence[FileReading]) -> int:
    """One line per file that failed; the exit code (1 if any did)."""
    failed = [r for r in results if r.reading is None]
    for result in failed:
        print(f"labelbot {command}: {result.path}: {result.error}", file=sys.stderr)
    return 1 if failed else 0


def _read_with(house: House, paths: Sequence[Path], top_k: int = 3) -> list[FileReading]:
    async def run() -> list[FileReading]:
        reader = house.open_reader()
        try:
            return await read_files(reader, paths, bar("reading", len(paths)), top_k)
        finally:
            await reader.close()

    return asyncio.run(run())


def embed(settings: Settings, images: list[Path], out: Path) -> int:
    """Writes an (N, D) float32 array of the readable images' embeddings, in argument order,
    and beside it `<out>.files.txt` naming the file of each row."""
    results = _read_with(House(settings), images)
    good = [r for r in results if r.reading is not None]
    code = _report_failures("embed", results)
    if not good:
        raise CommandError("no image could be read; nothing written")
    rows = np.stack([r.reading.embedding for r in good]).astype(np.float32)
    index = out.with_suffix(".files.txt")
    try:
        np.save(out, rows)
        index.write_text("".join(f"{r.path}\n" for r in good), encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot write {out}: {error.strerror}") from error
    print(
        f"wrote {len(good)} x {rows.shape[1]} embeddings to {out} (files: {index})", file=sys.stderr
    )
    return code


def predict(settings: Settings, images: list[Path], top_k: int, as_json: bool) -> int:
    """Prints the top guesses per image; with --json, only the JSON document on stdout."""
    if top_k < 1:
        raise CommandError("--top-k must be at least 1")
    results = _read_with(House(settings), images, top_k)
    rows = [_prediction_row(result) for result in results]
    if as_json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        for row in rows:
            if "predictions" in row:
                shown = ", ".join(
                    f"{p['label']} {p['probability']:.0%}" for p in row["predictions"]
                )
                print(f"{row['image']}: {shown or 'no labels with examples yet'}")
    return _report_failures("predict", results)


def _prediction_row(result: FileReading) -> dict:
    if result.reading is None:
        return {"image": str(result.path), "error": result.error}
    guesses = [{"label": g.name, "probability": g.probability} for g in result.reading.guesses]
    return {"image": str(result.path), "predictions": guesses}


def labels(settings: Settings, as_json: bool) -> int:
    snapshot = House(settings).snapshot()
    rows = [
        {"id": x.id, "name": x.name, "retired": x.retired, "examples": snapshot.examples_of(x.id)}
        for x in snapshot.labels
    ]
    if as_json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1)
        print()
    elif not rows:
        print("no labels yet; add one with `labelbot addlabel NAME`")
    else:
        for row in rows:
            state = " (retired)" if row["retired"] else ""
            print(f"{row['id']:>4}  {row['name']}{state}  {row['examples']} examples")
    return 0


def add_label(settings: Settings, name: str) -> int:
    async def run(desk) -> None:
        label = await desk.labels.add(None, name)
        print(f"added label {label.name!r} with id {label.id} (version {desk.snapshot.version})")

    return _write(House(settings, command="labelbot addlabel"), run, reads_photos=False)


def rollback(settings: Settings, version: int | None) -> int:
    async def run(desk) -> None:
        done = await desk.model.rollback(None, version)
        print(f"rolled back to version {done.restored}: version {done.version} now holds its state")

    return _write(House(settings, command="labelbot rollback"), run, reads_photos=False)


def rebuild(settings: Settings, backbone: str) -> int:
    """`labelbot rebuild --backbone NAME` (see `labelbot.rebuild`), with the bot stopped."""
    from model_core.backbone.registry import BACKBONE_HELP, is_known_backbone

    if not is_known_backbone(backbone):
        raise CommandError(f"--backbone: unknown backbone {backbone!r}. {BACKBONE_HELP}")
    house = House(settings, command="labelbot rebuild")
    try:
        house.claim()
    except DataDirBusy as busy:
        raise DataDirBusy(f"{busy}. labelbot rebuild runs with the bot stopped") from None
    try:
        report = asyncio.run(_rebuild(house, backbone))
    finally:
        house.release()
    print(_rebuilt_line(report))
    for sample_id, why in report.gone[:5]:
        print(f"  photo {sample_id}: {why}", file=sys.stderr)
    if settings.backbone != backbone:
        print(f"Now set LABELBOT_BACKBONE={backbone} (in .env or the environment) and start it.")
    return 0


async def _rebuild(house: House, backbone: str):
    from bot.store import IMPORT_USER
    from labelbot.cli.export_commands import photo_fetch
    from labelbot.rebuild import rebuild as rebuild_model
    from model_core.model import LabelModel

    store = await house.open_store()
    try:
        sources = await store.samples.sources()
        from_telegram = any(sender != IMPORT_USER for _, sender, _, _ in sources)
        embedder = House(dataclasses.replace(house.settings, backbone=backbone)).embedder()
        reader = ModelReader(LabelModel.new(house.settings.learner).snapshot(), embedder=embedder)
        try:
            async with photo_fetch(house.settings, from_telegram, "labelbot rebuild") as fetch:
                return await rebuild_model(
                    store, house.data.models, house.data.rebuild, reader, backbone,
                    house.settings.learner, fetch, bar, configured=house.settings.backbone,
                )  # fmt: skip
        finally:
            await reader.close()
    finally:
        await store.close()


def _rebuilt_line(report) -> str:
    line = (
        f"rebuilt the model for {report.backbone}: {report.photos} photos ({report.read_now} "
        f"read now, {report.read_before} by an earlier run)"
    )
    if report.gone:
        line += f", {len(report.gone)} no longer to be had (they leave the model and the store)"
    return line + (
        f"; model version {report.version} (version {report.previous_version}, before the "
        "rebuild, stays on disk)"
    )


def reset_model(settings: Settings) -> int:
    """The way out when the model is ahead of its store (see `House.reset_model`)."""
    aside = House(settings, command="labelbot reset-model").reset_model()
    if aside is None:
        print("there is no model to set aside; the next start builds one from the store")
    else:
        print(f"moved the model to {aside}; the next start rebuilds it from the store's journal")
    return 0


def _write(house: House, change, *, reads_photos: bool) -> int:
    """Runs one change on the desk, holding the writer lock; a refusal is one line."""

    async def run() -> None:
        desk = await house.open_desk(reads_photos=reads_photos)
        try:
            await change(desk)
        except DeskError as refused:
            raise CommandError(str(refused)) from refused
        finally:
            await house.close()

    asyncio.run(run())
    return 0


# ---- import ------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    taught: int = 0
    known: int = 0  # learned by an earlier import: skipped
    duplicates: int = 0  # the same photo twice in this tree
    unreadable: int = 0
    bad_folders: int = 0
    other_files: int = 0

    def line(self, labels: int, version: int) -> str:
        return (
            f"imported {self.taught} images into {labels} labels (model version {version}); "
            f"skipped {self.known} already imported, {self.duplicates} duplicates, "
            f"{self.unreadable} unreadable files, {self.other_files} non-image files and "
            f"{self.bad_folders} bad folder names"
        )


def import_tree(settings: Settings, root: Path, seed: int) -> int:
    """Teaches the model every image of a folder-per-class tree through the journal, one
    sample at a time. Photos already imported (same content) are skipped, so an interrupted
    import resumes where it stopped."""
    try:
        tree = scan_labeled_images(root)
    except DatasetError as error:
        raise CommandError(str(error)) from error
    order = np.random.default_rng(seed).permutation(len(tree.files))
    files = [tree.files[i] for i in order]
    report = ImportReport(other_files=tree.other_files)
    house = House(settings, command="labelbot import")
    return asyncio.run(_import(house, files, report))


async def _import(house: House, files: list[tuple[Path, str]], report: ImportReport) -> int:
    desk = await house.open_desk()
    try:
        label_ids = await _import_labels(desk, sorted({label for _, label in files}), report)
        wanted = [(path, label_ids[label]) for path, label in files if label in label_ids]
        progress, seen = bar("importing", len(wanted)), set()
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start : start + BATCH]
            await _import_batch(desk, batch, seen, report)
            progress(len(batch))
        version = desk.snapshot.version
    finally:
        await house.close()
    print(report.line(len(label_ids), version), file=sys.stderr)
    return 0


async def _import_labels(desk, names: list[str], report: ImportReport) -> dict[str, int]:
    """Maps folder names to label ids, adding the labels that do not exist yet."""
    ids = {}
    for name in names:
        try:
            ids[name] = (await desk.imports.label(name)).id
        except DeskError as refused:
            print(f"skipped folder {name!r}: {refused}", file=sys.stderr)
            report.bad_folders += 1
    return ids


async def _import_batch(desk, batch, seen: set[str], report: ImportReport) -> None:
    """Reads, hashes and embeds one batch, then teaches the photos no import has taught."""
    readable = []
    for path, label_id in batch:
        data = _read_bytes(path)
        if isinstance(data, bytes):
            readable.append((path, label_id, data, content_hash(data)))
        else:
            _skip_unreadable(path, data, report)
    known = await desk.imports.already_imported([digest for *_, digest in readable])
    fresh = []
    for item in readable:
        digest = item[3]
        if digest in known:
            report.known += 1
        elif digest in seen:
            report.duplicates += 1
        else:
            seen.add(digest)
            fresh.append(item)
    readings = await desk.service.read_images([data for _, _, data, _ in fresh])
    photos = []
    for (path, label_id, _, digest), reading in zip(fresh, readings, strict=True):
        if isinstance(reading, ImageError):
            _skip_unreadable(path, str(reading), report)
        else:
            photos.append(Imported(digest, str(path), reading, label_id))
    await desk.imports.photos(photos)
    report.taught += len(photos)


def _skip_unreadable(path: Path, reason: str, report: ImportReport) -> None:
    print(f"skipped {path}: {reason}", file=sys.stderr)
    report.unreadable += 1
