"""A photo arrives: read it (or recognise it), store it as a sample, show the guesses."""

from __future__ import annotations

from bot import texts
from bot.admission import Admission, SlowDown
from bot.desk.context import DeskContext, predictions
from bot.desk.views import DeskError, GuessView, PhotoIn, Show, TapIn
from bot.store import NewSample, Sample
from model_core.intake import ImageError
from model_core.labels import Label
from model_core.service import Reading


class Photos:
    def __init__(self, context: DeskContext) -> None:
        self.ctx = context
        policy = context.policy
        self.admission = Admission(policy.photos_per_user, policy.photos_at_once)

    async def take(self, photo: PhotoIn, show: Show) -> None:
        """Reads a photo (or recognises one seen before), stores it as a sample and shows the
        guesses; raises DeskError with the reason for an image that cannot be read, unless
        its sender has been told often enough lately (see `bot.admission`). The same message
        handled again (taken over from a killed process, see `bot.inbox`) is answered once."""
        store = self.ctx.store
        handled = await store.samples.by_message(photo.chat_id, photo.message_id)
        if handled is not None:
            if handled.reply_message_id is None:
                await store.samples.set_reply_message(
                    handled.id, await show(self.ctx.view(handled))
                )
            return None
        await store.people.touch(photo.user_id, photo.user_name)
        limit = self.ctx.service.intake_limits.max_bytes
        if photo.file_size is not None and photo.file_size > limit:
            return self._refuse(
                photo, texts.refused("image_refused", reason="too_large", max_bytes=limit)
            )
        try:
            async with self.admission.turn(photo.user_id):
                earlier, reading = await self._read(photo)
        except SlowDown as over:
            if over.tell:
                raise texts.refused("slow_down") from None
            return None
        if isinstance(reading, ImageError):
            return self._refuse(
                photo, texts.refused("image_refused", reason=reading.reason, max_bytes=limit)
            )
        sample = await store.samples.add(
            NewSample(
                chat_id=photo.chat_id, photo_message_id=photo.message_id, user_id=photo.user_id,
                file_id=photo.file_id, file_unique_id=photo.file_unique_id,
                embedding=reading.embedding, prediction=predictions(reading.guesses),
                model_version=reading.version,
            )
        )  # fmt: skip
        note = None if earlier is None else texts.seen_before(await self._consensus(earlier))
        # Binds the reply to its sample: its buttons are valid on that message only.
        await store.samples.set_reply_message(sample.id, await show(self.ctx.view(sample, note)))
        return None

    async def guesses_again(self, tap: TapIn, sample_id: int) -> GuessView:
        return self.ctx.view(await self.ctx.bound_sample(tap, sample_id))

    async def label_page(self, tap: TapIn, sample_id: int) -> list[Label]:
        """Every active label, by name, for the "Other…" pages."""
        await self.ctx.bound_sample(tap, sample_id)
        return self.ctx.active_labels()

    def _refuse(self, photo: PhotoIn, refusal: DeskError) -> None:
        """Raises the refusal, or lets a stream of bad files go unanswered for a while."""
        if self.admission.may_refuse(photo.user_id):
            raise refusal

    async def _read(self, photo: PhotoIn) -> tuple[Sample | None, Reading | ImageError]:
        """The same photo again needs no download and no backbone; a new one gets both."""
        earlier = await self.ctx.store.samples.by_file(photo.file_unique_id)
        if earlier is None:
            return None, (await self.ctx.service.read_images([await photo.download()]))[0]
        snapshot = self.ctx.snapshot
        guesses = snapshot.predict(earlier.embedding[None])[0]
        return earlier, Reading(earlier.embedding, guesses, snapshot.version)

    async def _consensus(self, sample: Sample) -> str | None:
        """The name of the label the crowd's verdict on this photo gives, if any."""
        verdict = await self.ctx.store.consensus.verdict_for_file(sample.file_unique_id)
        return None if verdict is None else self.ctx.snapshot.labels[verdict.label_id].name
