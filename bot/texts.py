"""Everything the bot says. Messages use no parse mode, so label names such as `Oat-Milk`
or `a_b*c` are shown exactly as stored and can never inject markup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.desk.views import DeskError
from model_core.consensus import State
from model_core.model import Guess

if TYPE_CHECKING:
    from bot.desk.views import Contributor, LabelCount, ModelReport, Standing, Stats, Tally
    from bot.journal import Stall

HELP = (
    "Hi! I learn to recognise photos from your answers.\n\n"
    "Send me a photo (or an image file). I reply with my best guesses; tap the right label, "
    "pick another one under “Other…”, propose a “New label”, or “Skip”. Every tap teaches me "
    "a little, and you can undo it for a few minutes.\n\n"
    "Commands: /help, /labels, /review (label photos others sent), /me, /top, /hideme, "
    "/forgetme (delete your votes, photos and data)"
)
ADMIN_HELP = (
    "Admin commands:\n"
    "/addlabel NAME — add a label\n"
    "/renamelabel OLD NEW — rename (use quotes for names with spaces)\n"
    "/retirelabel NAME — stop offering a label (its examples are kept)\n"
    "/labels — labels and example counts\n"
    "/stats — chart of examples per label and first-guess accuracy; how many photos are "
    "settled, waiting for votes and disputed\n"
    "/disputed — a photo the crowd could not settle, for your deciding vote (/review gives "
    "you those first too)\n"
    "/model — model versions and rollback\n"
    "/export — the labels as files\n"
    "/contributors — every voter's record\n"
    "/ban USER_ID, /unban USER_ID — stop or restore a contributor's votes counting"
)
OUR_FAULT = "Sorry, something went wrong on my side. Please try again."
NOT_ADMIN = "Sorry, only the bot's admins can do that."
NO_LABELS = (
    "I don't know any labels yet. Tap “New label” to propose the first one, "
    "or ask an admin to /addlabel."
)
NO_EXAMPLES = "I can't guess yet: no label has examples. Pick one from “Other…”."
UNSURE = "I'm not sure about this one. My best guesses:"
SURE = "My guesses:"
OPEN_CONSOLE = "Open console"
OPEN_IN_BROWSER = "Open in a browser"
CONSOLE_INTRO = (
    "The console: review photos with your keyboard, see the campaign at a glance (and, for "
    "admins, the model, the people and the exports).\n\nOpen it here, or in a browser with "
    "the second button: that link signs you in once and works for 10 minutes."
)
NO_CONSOLE = "This bot has no console: its operator has not given it a public address."


def console_in_group(username: str) -> str:
    return f"The console opens from a private chat with me: https://t.me/{username}?start=console"


BAD_REQUEST = "That request is not valid: reload the page and try again."
BAD_BUTTON = "This button is not valid (any more). Send the photo again to get fresh buttons."
WRONG_MESSAGE = "This button does not belong to this message."
UNKNOWN_SAMPLE = "I no longer know this photo. Please send it again."
UNKNOWN_LABEL = "That label does not exist (any more). Please pick another one."
SKIPPED = "Skipped. Thanks anyway!"
UNDONE = "Undone: your vote was withdrawn."
MEDIA_REFUSED = {
    "sticker": "Stickers can't be labeled. Please send a photo.",
    "video": "Videos can't be labeled yet. Please send a photo.",
    "animation": "GIFs and animations can't be labeled. Please send a photo.",
    "voice": "I can only label photos, not voice messages.",
    "audio": "I can only label photos, not audio.",
    "document": "That file is not an image I can read. Please send a photo (JPEG, PNG or WebP).",
}
HIDDEN = "You no longer appear on /top. Send /showme to appear again."
SHOWN = "You appear on /top again."


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def standing(s: Standing) -> str:
    if s.me is None:
        return "You have not voted yet. Send a photo, or /review to label someone else's."
    me = s.me
    lines = [
        f"Your votes: {me.votes} (#{s.rank} of {s.of} contributors).",
        f"Agreement with the crowd: {_share(me.agreement)} of {me.compared} votes on photos "
        "others voted on too.",
    ]
    if me.gold_votes:
        lines.append(f"On photos an admin settled: {_share(me.gold_accuracy)} right.")
    lines.append(f"Your votes count with a reliability of {me.reliability:.0%}.")
    return "\n".join(lines)


def leaderboard(rows: Sequence[Contributor]) -> str:
    if not rows:
        return "No votes yet. Be the first: send a photo, or /review."
    lines = ["Top contributors:"]
    lines += [f"{n}. {c.name} — {c.votes} votes" for n, c in enumerate(rows, start=1)]
    lines.append("\n(/hideme leaves this list.)")
    return "\n".join(lines)


def contributors(rows: Sequence[Contributor]) -> str:
    if not rows:
        return "No contributor has voted yet."
    lines = ["id · name · votes · agreement · gold · reliability"]
    for c in rows[:50]:
        flags = " ⚠️ likely spam" if c.likely_spam else ""
        flags += " (banned)" if c.banned else ""
        lines.append(
            f"{c.user_id} · {c.name} · {c.votes} · {_share(c.agreement)} · "
            f"{_share(c.gold_accuracy)} · {c.reliability:.0%}{flags}"
        )
    if len(rows) > 50:
        lines.append(f"… and {len(rows) - 50} more (labelbot export data has every vote).")
    return "\n".join(lines)


NOTHING_TO_REVIEW = (
    "Nothing needs your vote right now: every photo you could label is settled or has your "
    "vote. Thank you!"
)
NOTHING_DISPUTED = "No photo is disputed: the crowd settles every photo it has voted on enough."
FORGET_ASK = (
    "/forgetme deletes your votes, the photos you sent and everything this bot keeps about "
    "you, and takes back all they taught the model. It cannot be undone. To go ahead, send: "
    "/forgetme confirm"
)
FORGOTTEN = (
    "Done: your votes, your photos and your data are deleted, and the model has unlearned them."
)


def banned(user: str, banning: bool, photos: int) -> str:
    if banning:
        return f"Banned {user}: their votes no longer count; {photos} photos were re-decided."
    return f"Unbanned {user}: their votes count again; {photos} photos were re-decided."


def exported(folder: str, photos: int, labeled: int, sent: list[str], kept: list[str]) -> str:
    lines = [f"Exported {photos} photos ({labeled} with a label) to {folder}."]
    if sent:
        lines.append("Sending: " + ", ".join(sent) + ".")
    if kept:
        lines.append("Too large to send, on the server: " + ", ".join(kept) + ".")
    lines.append("For the photos themselves, run: labelbot export data --images --out DIR")
    return "\n".join(lines)


SLOW_DOWN = (
    "You are sending photos faster than I can read them. Please wait for my answers to the "
    "ones I have; I will skip the rest for a moment."
)
IMAGE_REFUSED = {
    "empty": "That file is empty. Please send a photo.",
    "not_an_image": "That file is not an image I can read. Please send a JPEG, PNG or WebP photo.",
    "corrupt": "That image is damaged and can't be read. Please send it again.",
    "too_large": "That file is too large (the limit is {limit} MB). Please send a smaller photo.",
    "too_many_pixels": "That image has too many pixels. Please send it as a photo, or a smaller "
    "one.",
    "too_heavy": "That image is too heavy to read (too many pixels, colour depth or layers). "
    "Please send it as a photo.",
}


def image_refused(reason: str, max_bytes: int) -> str:
    return IMAGE_REFUSED.get(reason, IMAGE_REFUSED["not_an_image"]).format(limit=max_bytes >> 20)


def help_text(admin: bool, label_names: Sequence[str]) -> str:
    parts = [HELP, ADMIN_HELP] if admin else [HELP]
    parts.append("Labels: " + (", ".join(label_names) if label_names else "none yet"))
    return "\n\n".join(parts)


NAME_PROMPT = "What should the new label be called? Reply to this message with its name."
NOT_YOUR_PROMPT = "Only the person who asked for this label can name it."


def guesses(top: Sequence[Guess], sure: bool) -> str:
    lines = [SURE if sure else UNSURE]
    lines += [f"{rank}. {g.name} — {g.probability:.0%}" for rank, g in enumerate(top, start=1)]
    lines.append("\nTap the right label.")
    return "\n".join(lines)


def saved(name: str, version: int) -> str:
    return f"Saved: {name} (model version {version}). Thanks!"


def tally(votes: Tally) -> str:
    """`Votes: Oat-Milk 2 · 98% sure ✓`: the votes, and how settled the photo is."""
    parts = [f"{name} {count}" for name, count in votes.counts]
    if votes.skips:
        parts.append(f"skipped {votes.skips}")
    if votes.state is State.DISPUTED:
        parts.append("disputed: an admin decides")
    elif votes.confidence is not None:
        parts.append(
            f"{votes.confidence:.0%} sure" + (" ✓" if votes.state is State.SETTLED else "")
        )
    return "Votes: " + (" · ".join(parts) if parts else "none yet")


def seen_before(label: str | None) -> str:
    if label is None:
        return "I've seen this photo before."
    return f"I've seen this photo before; people labeled it {label}."


def labels(rows: Sequence[LabelCount]) -> str:
    if not rows:
        return "There are no labels yet. Admins add them with /addlabel NAME."
    lines = [f"{'(retired) ' if x.retired else ''}{x.name}: {x.examples} examples" for x in rows]
    return "Labels:\n" + "\n".join(lines)


def proposal_for_admins(name: str, who: str) -> str:
    return f"{who} proposes a new label: {name}\nApprove it?"


def model(report: ModelReport) -> str:
    lines = [
        f"Model version {report.version}: the {report.learner} head on the {report.backbone} "
        "backbone."
    ]
    lines.append("Stored versions: " + (", ".join(map(str, report.versions)) or "none yet"))
    if report.temperature is not None:
        sure = (
            "never, until some confidence earns 95% right"
            if report.sure_threshold >= 1
            else f"from {report.sure_threshold:.0%}"
        )
        lines.append(
            f"Percentages: softmax temperature {report.temperature:.3g}, calibrated on the "
            f"answers to its own guesses; shown as sure {sure}."
        )
    if report.stall is not None:
        lines += ["", model_stalled(report.stall)]
    if report.recent:
        lines += ["", "Recent changes:", *report.recent]
    return "\n".join(lines)


def model_stalled(stall: Stall) -> str:
    return (
        f"⚠️ The model stopped learning at event #{stall.event_id} ({stall.kind}): "
        f"{stall.error}. Answers are still saved; restart labelbot to apply them, and see its "
        "log for the details."
    )


def rollback_question(version: int) -> str:
    return f"Restore version {version}? Votes since then stay recorded but leave the model."


def stats_caption(stats: Stats) -> str:
    history, crowd = stats.first_guess_right, stats.crowd
    right = sum(history)
    share = f" ({right / len(history):.0%})." if history else "."
    each = (f" ({crowd.votes_per_settled:.1f} votes each)"
            if crowd.votes_per_settled is not None else "")  # fmt: skip
    return (
        f"{len(history)} votes; the first guess was right {right} times{share}\n"
        f"Photos: {crowd.settled} settled{each} · {crowd.waiting} waiting for votes "
        f"({crowd.unvoted} with none yet) · {crowd.disputed} disputed"
        + (" (/disputed)" if crowd.disputed else "")
    )


# ---- the desk's refusals and outcomes ------------------------------------------------------

ADMINS_CANNOT_BE_BANNED = "Admins cannot be banned."
ALREADY_DECIDED = "This proposal has already been decided."
IMPORT_LABEL_RETIRED = "that label is retired"
NO_EARLIER_VERSION = "There is no earlier version to roll back to."
RENAME_USAGE = (
    'Usage: /renamelabel OLD NEW; quote names with spaces: /renamelabel "Ankle boot" Boot'
)


def usage(command: str, why: str | None = None) -> str:
    return f"Usage: {command}" + (f" ({why})" if why else "")


def usage_user_id(command: str) -> str:
    return usage(f"{command} USER_ID", "their numeric Telegram user id")


def saved_at_once(label: str) -> str:
    return f"Saved: {label}"


def label_exists(name: str, retired: bool) -> str:
    return f"There is already {'a retired label' if retired else 'a label'} called {name}."


def no_such_label(name: str) -> str:
    return f"There is no label called {name}. See /labels."


def already_retired(name: str) -> str:
    return f"{name} is already retired."


def version_gone(version: int, stored: Sequence[int] | None = None) -> str:
    return f"Version {version} is no longer stored" + (
        f"; stored: {list(stored)}." if stored is not None else "."
    )


def name_again(refusal: str) -> str:
    return f"{refusal} Reply to my question again with another name."


def asked_admins(name: str) -> str:
    return f"Thanks! I asked the admins to approve the label {name}."


def label_rejected(name: str) -> str:
    return f"The admins did not add the label {name}, sorry."


def label_not_added(name: str, refusal: str) -> str:
    return f"The label {name} could not be added: {refusal}"


def label_added(name: str) -> str:
    return f"New label {name} added."


def label_added_from_photo(name: str) -> str:
    return f"New label {name} added; this photo is its first example."


# ---- what the handlers say -------------------------------------------------------------------

SKIPPED_SHORT = "Skipped"
NAME_HINT = "Reply to my question with the new label's name."
NAME_FIELD = "Label name"
ROLLBACK_CANCELLED = "Rollback cancelled."
ANOTHER_PHOTO = "Here is another photo."
NOT_APPLIED_YET = (
    "Saved. The model is not being updated right now; your answer will be applied as soon as it is."
)


def label_added_by_command(name: str) -> str:
    return f"Added label {name}. Send photos of it and tap its button."


def renamed(old: str, new: str) -> str:
    return f"Renamed {old} to {new}; examples kept."


def retired(name: str) -> str:
    return f"Retired {name}: it is no longer offered or guessed."


def restored(restored: int, version: int) -> str:
    return f"Restored version {restored} as model version {version}."


def decided_short(approved: bool) -> str:
    return "Approved" if approved else "Rejected"


def decided(name: str | None, approved: bool, by: str) -> str:
    return f"{name}: {'approved' if approved else 'rejected'} by {by}."


def vote_refused(why: str) -> str:
    """A vote or undo the store refused, by its code (`bot.store.VoteRefused.code`)."""
    return VOTE_REFUSALS[why]


VOTE_REFUSALS = {
    "already_voted": "You already voted on this photo.",
    "nothing_to_undo": "There is no vote of yours to undo on this photo.",
    "too_late_to_undo": "Too late to undo this vote.",
    "label_retired": "That label has just been retired. Please pick another one.",
}


def did_not_work(refusal: str) -> str:
    return f"That did not work: {refusal}"


# ---- buttons -----------------------------------------------------------------------------------

BUTTON_OTHER = "Other…"
BUTTON_SKIP = "Skip"
BUTTON_NEW_LABEL = "➕ New label"
BUTTON_BACK = "« Back"
BUTTON_PREVIOUS = "‹ Previous"
BUTTON_NEXT = "Next »"
BUTTON_UNDO = "↩️ Undo"
BUTTON_UNDO_MINE = "↩️ Undo my vote"
BUTTON_LABEL_ANOTHER = "➡️ Label another"
BUTTON_APPROVE = "✅ Approve"
BUTTON_REJECT = "✖️ Reject"
BUTTON_CANCEL = "Cancel"


def guess_button(name: str, probability: float, top: bool) -> str:
    return f"{'✅ ' if top else ''}{name} {probability:.0%}"


def button_roll_back(version: int) -> str:
    return f"Roll back to version {version}"


def button_restore(version: int) -> str:
    return f"Yes, restore version {version}"


# ---- label names that could pass for something else (bot.desk.names) --------------------------

NAME_LOOKS_LIKE_COMMAND = "A label name cannot start with / or @: it would look like a command."
NAME_LOOKS_LIKE_LINK = "A label name cannot be a link."
NAME_LOOKS_LIKE_BUTTON = "A label name cannot look like one of my buttons or a guess with its %."


def name_looks_like(existing: str) -> str:
    return f"That name looks just like the label {existing}; please choose another one."


# ---- refusals: a code and its details, said here --------------------------------------------


def refused(code: str, **details: object) -> DeskError:
    """The desk's refusal `code`, with what it says in English as the exception's text."""
    return DeskError(code, refusal(code, **details), **details)


def refusal(code: str, **details: object) -> str:
    """What a refusal says to the person (handlers render DeskError's code and details)."""
    said = REFUSALS[code]
    return said(**details) if callable(said) else said


def _model_refusal(said: str) -> str:
    return said  # the model's own words (model_core.labels)


REFUSALS = {
    "not_admin": NOT_ADMIN,
    "not_applied_yet": NOT_APPLIED_YET,
    "did_not_work": did_not_work,
    "vote_refused": vote_refused,
    "unknown_sample": UNKNOWN_SAMPLE,
    "wrong_message": WRONG_MESSAGE,
    "unknown_label": UNKNOWN_LABEL,
    "model_refusal": _model_refusal,
    "label_exists": label_exists,
    "no_such_label": no_such_label,
    "import_label_retired": IMPORT_LABEL_RETIRED,
    "usage": usage,
    "already_retired": already_retired,
    "version_gone": version_gone,
    "no_earlier_version": NO_EARLIER_VERSION,
    "rename_usage": RENAME_USAGE,
    "name_looks_like_command": NAME_LOOKS_LIKE_COMMAND,
    "name_looks_like_link": NAME_LOOKS_LIKE_LINK,
    "name_looks_like_button": NAME_LOOKS_LIKE_BUTTON,
    "name_looks_like": name_looks_like,
    "admins_cannot_be_banned": ADMINS_CANNOT_BE_BANNED,
    "usage_user_id": usage_user_id,
    "slow_down": SLOW_DOWN,
    "image_refused": image_refused,
    "already_decided": ALREADY_DECIDED,
    "nothing_to_review": NOTHING_TO_REVIEW,
    "nothing_disputed": NOTHING_DISPUTED,
    "bad_button": BAD_BUTTON,
    "bad_request": BAD_REQUEST,
}
