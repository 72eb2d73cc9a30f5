"""`labelbot import`: photos from a folder tree learnt exactly like votes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from bot import texts
from bot.desk.context import DeskContext, predictions
from bot.desk.views import Imported
from bot.store import IMPORT_USER, NewSample
from model_core.labels import Label, LabelError


class Imports:
    def __init__(self, context: DeskContext) -> None:
        self.ctx = context

    async def label(self, raw: str) -> Label:
        """The label a folder name stands for, added if new; DeskError if unusable."""
        try:
            existing = self.ctx.snapshot.labels.find(raw)
        except LabelError as error:
            raise texts.refused("model_refusal", said=str(error)) from error
        if existing is not None and existing.retired:
            raise texts.refused("import_label_retired")
        return existing or await self.ctx.add_label(raw, None)

    async def already_imported(self, hashes: Sequence[str]) -> set[str]:
        known = await self.ctx.store.samples.known_files(_import_key(h) for h in hashes)
        return {h for h in hashes if _import_key(h) in known}

    async def photos(self, photos: Sequence[Imported]) -> None:
        """Learns imported photos through the journal, exactly like votes: each is a sample
        with a vote by IMPORT_USER, so a re-import skips it and a crash replays it."""
        rows = [
            (
                NewSample(
                    chat_id=0, photo_message_id=0, user_id=IMPORT_USER, file_id=p.path,
                    file_unique_id=_import_key(p.sha256), embedding=p.reading.embedding,
                    prediction=predictions(p.reading.guesses),
                    model_version=p.reading.version,
                ),
                p.label_id,
            )
            for p in photos
        ]  # fmt: skip
        await self.ctx.applied(
            await self.ctx.store.votes.import_samples(rows, self.ctx.crowd.judge)
        )


def _import_key(sha256: str) -> str:
    """An imported photo's stand-in for Telegram's file_unique_id: its content hash."""
    return f"sha256:{sha256}"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
