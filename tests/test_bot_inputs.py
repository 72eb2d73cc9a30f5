"""Every bad input gets a clear reply and changes nothing."""

from __future__ import annotations

import pytest
from helpers import ADMIN, ALICE, BOB, desk_of, encode, say, send_photo, tap

pytestmark = pytest.mark.slow


def state(bot) -> tuple[int, int]:
    """(model version, live votes): what a bad input must leave alone."""
    desk = desk_of(bot)
    return desk.snapshot.version, bot.run(desk.store.votes.count())


def reply_to_document(fake, data: bytes, mime: str, name: str):
    return fake.wait_reply(fake.send_document(ALICE, data, mime, name), ALICE["id"])


def test_media_that_is_not_a_photo(fake, bot, photos):
    say(fake, ADMIN, "/addlabel cat")
    before = state(bot)
    assert "Stickers" in fake.wait_reply(fake.send_sticker(ALICE), ALICE["id"]).text
    assert "Videos" in fake.wait_reply(fake.send_video(ALICE), ALICE["id"]).text
    pdf = reply_to_document(fake, b"%PDF-1.4\n%\xe2\xe3\n1 0 obj", "application/pdf", "a.pdf")
    assert "not an image" in pdf.text
    cut = encode(photos["chelsea"])[:2000]
    corrupt = reply_to_document(fake, cut, "image/jpeg", "cut.jpg")
    assert "damaged" in corrupt.text and not corrupt.buttons()
    empty = reply_to_document(fake, b"", "image/jpeg", "empty.jpg")
    assert "empty" in empty.text
    text = reply_to_document(fake, b"just some text", "image/png", "fake.png")
    assert "not an image" in text.text
    # Three bad files a minute get an answer each; Bob's is his first.
    huge = b"\xff\xd8\xff" + bytes(21 * 2**20)
    assert (
        "too large"
        in fake.wait_reply(fake.send_document(BOB, huge, "image/jpeg", "big.jpg"), BOB["id"]).text
    )
    assert state(bot) == before


def test_an_image_sent_as_a_file_is_labeled(fake, bot, photos):
    reply = reply_to_document(fake, encode(photos["coffee"], ".png"), "image/png", "coffee.png")
    assert "don't know any labels" in reply.text and reply.button("New label")


def test_forged_stale_and_foreign_buttons(fake, bot, photos):
    say(fake, ADMIN, "/addlabel cat")
    say(fake, ADMIN, "/addlabel dog")
    mine = send_photo(fake, ALICE, photos["chelsea"])
    other = send_photo(fake, BOB, photos["coffee"])
    sample = mine.buttons()[0]["callback_data"].split(":")[1]
    before = state(bot)
    assert "not valid" in tap(fake, ALICE, mine, "drop table votes")["text"]
    assert "not valid" in tap(fake, ALICE, mine, "v:1:2:3")["text"]
    assert "no longer know" in tap(fake, ALICE, mine, "v:99999:0")["text"]
    assert "does not belong" in tap(fake, BOB, other, f"v:{sample}:0")["text"]
    assert "does not exist" in tap(fake, ALICE, mine, f"v:{sample}:7")["text"]
    assert "only the bot's admins" in tap(fake, ALICE, mine, "rc:1")["text"]
    # A keyboard shown before a label was retired is stale for that label.
    say(fake, ADMIN, "/retirelabel dog")
    assert "does not exist" in tap(fake, ALICE, mine, f"v:{sample}:1")["text"]
    assert state(bot)[1] == before[1]


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("/addlabel", "Usage"),
        ("/addlabel    ", "Usage"),
        ("/addlabel <b>bold</b>", "cannot contain"),
        ("/addlabel " + "x" * 40, "at most 32"),
        ("/addlabel \u0007bell", "cannot contain"),
        ("/addlabel ***", "letter or digit"),
        ("/addlabel CAT", "already a label"),
        ("/retirelabel nothing", "no label called"),
        ('/renamelabel "cat', "Usage"),
        ("/addlabel \u0441at", "looks just like the label cat"),  # a Cyrillic es
        ("/addlabel Skip", "one of my buttons"),
        ("/addlabel cat 99%", "one of my buttons"),
        ("/addlabel /retirelabel", "cannot start with / or @"),
        ("/addlabel https://example.org", "cannot be a link"),
        ('/renamelabel cat "Other…"', "one of my buttons"),
    ],
)
def test_bad_label_names_are_refused(fake, bot, command, answer):
    say(fake, ADMIN, "/addlabel cat")
    before = state(bot)
    assert answer in say(fake, ADMIN, command).text
    assert state(bot) == before
