"""The /stats chart: examples per label, and how often the first guess was right over time."""

from __future__ import annotations

import io

import numpy as np

from bot.desk.views import Stats

ROLLING_WINDOW = 50  # votes per point of the accuracy curve


def stats_chart(stats: Stats) -> bytes:
    """A PNG: a bar per active label, and the rolling first-guess accuracy vote by vote."""
    counts, history = stats.counts, stats.first_guess_right
    from matplotlib.figure import Figure  # no pyplot: its global state is not thread-safe

    active = [(x.name, x.examples) for x in counts if not x.retired]
    bar_height = max(2.0, 0.25 * len(active))  # 43 grocery labels stay readable
    figure = Figure(figsize=(8, bar_height + 4), dpi=100)
    bars, curve = figure.subplots(2, 1, height_ratios=[bar_height, 3])
    if active:
        names, values = zip(*active, strict=True)
        bars.barh(range(len(names)), values, color="#4c72b0")
        bars.set_yticks(range(len(names)), names, fontsize="small")
        bars.invert_yaxis()
    bars.set_title("Examples per label")
    bars.set_xlabel("examples")
    if history:
        right = np.asarray(history, float)
        window = min(ROLLING_WINDOW, len(right))
        rolling = np.convolve(right, np.ones(window) / window, mode="valid")
        curve.plot(np.arange(window, len(right) + 1), rolling, color="#dd8452")
    curve.set(ylim=(0, 1.02), xlabel="votes", ylabel="share right")
    curve.set_title(f"First guess right (last {ROLLING_WINDOW} votes)")
    curve.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
