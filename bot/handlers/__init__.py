"""Telegram handlers: read the update, make one desk call, answer with texts and keyboards.

Grouped by what arrives: photos (photos.py), taps on buttons and replies naming a label
(taps.py), commands and the error handler (commands.py), the console's buttons (console.py);
what they share is in common.py.
Only `bot.app.build_app` registers them.
"""

from __future__ import annotations

from bot.handlers.commands import (
    add_label,
    ban,
    contributors,
    export,
    forget_me,
    hide_me,
    me,
    model,
    on_error,
    rename_label,
    retire_label,
    show_labels,
    show_me,
    start,
    stats,
    top,
    unban,
)
from bot.handlers.common import BotData, Context, desk_of
from bot.handlers.console import console
from bot.handlers.photos import disputed, on_other_media, on_photo, review
from bot.handlers.taps import on_label_name, on_tap

__all__ = [
    "BotData", "Context", "add_label", "ban", "console", "contributors", "desk_of", "disputed",
    "export", "forget_me",
    "hide_me", "me", "model", "on_error", "on_label_name", "on_other_media", "on_photo",
    "on_tap", "rename_label", "retire_label", "review", "show_labels", "show_me", "start",
    "stats", "top", "unban",
]  # fmt: skip
