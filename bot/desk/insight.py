"""The campaign and the model's record, for the console's pages: read from the store, never
written. The model's first guess on a photo is the one it showed when the photo arrived."""

from __future__ import annotations

import numpy as np

from bot.desk.context import DeskContext
from bot.desk.labels import Labels, crowd_progress
from bot.desk.views import CalibrationBin, Campaign, Quality, TimeBin

TIMELINE_BINS = 24  # stretches the campaign's time is cut into
CALIBRATION_BINS = 10  # of the shown certainty, 0-10%, ..., 90-100%


class Insight:
    def __init__(self, context: DeskContext) -> None:
        self.ctx = context

    async def campaign(self) -> Campaign:
        """Labels and their examples, where the photos stand, votes over time (for everyone)."""
        store = self.ctx.store
        timeline = _bins(await store.votes.timeline(), TIMELINE_BINS)
        progress = crowd_progress(await store.consensus.progress())
        return Campaign(Labels(self.ctx).counts(), progress, timeline)

    async def quality(self, user_id: int) -> Quality:
        """The confusion matrix, recall and calibration of first guesses (admins only)."""
        self.ctx.check_admin(user_id)
        labels = self.ctx.snapshot.labels
        matrix = np.zeros((len(labels), len(labels)), int)
        shown, right = [], []
        for voted, guesses in await self.ctx.store.votes.against_guesses():
            if not guesses or voted >= len(labels) or guesses[0].label_id >= len(labels):
                continue
            matrix[voted, guesses[0].label_id] += 1
            shown.append(guesses[0].probability)
            right.append(guesses[0].label_id == voted)
        used = [i for i in range(len(labels)) if matrix[i].any() or matrix[:, i].any()]
        votes = matrix.sum(axis=1)
        return Quality(
            [labels[i].name for i in used],
            [[int(matrix[i, j]) for j in used] for i in used],
            [float(matrix[i, i] / votes[i]) if votes[i] else None for i in used],
            _calibration(np.asarray(shown, float), np.asarray(right, bool)),
            self.ctx.snapshot.sure_threshold,
        )


def _bins(timeline: list[tuple[float, bool]], count: int) -> list[TimeBin]:
    if not timeline:
        return []
    times = np.array([t for t, _ in timeline])
    right = np.array([r for _, r in timeline], bool)
    edges = np.linspace(times[0], max(times[-1], times[0] + 1.0), count + 1)
    which = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, count - 1)
    return [
        TimeBin(float(edges[b]), float(edges[b + 1]), int((which == b).sum()),
                int(right[which == b].sum()))
        for b in range(count)
    ]  # fmt: skip


def _calibration(shown: np.ndarray, right: np.ndarray) -> list[CalibrationBin]:
    which = np.minimum((shown * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    return [
        CalibrationBin(float(shown[which == b].mean()), float(right[which == b].mean()),
                       int((which == b).sum()))
        for b in range(CALIBRATION_BINS) if (which == b).any()
    ]  # fmt: skip
