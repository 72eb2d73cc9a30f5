"""The crowd through the real bot over HTTP: consensus, bans and forgetting, end to end."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ADMIN, ALICE, BOB, desk_of, say, send_photo, tap, tap_label, weighted_ridge

from bot import texts
from labelbot_testkit.fake_telegram import BOT_USERNAME, group, user
from model_core.consensus import State

pytestmark = pytest.mark.slow
TEAM = group()
CAROL = user(4, "Carol")
DAVE = user(5, "Dave")


def model_matches_contributions(bot) -> list[tuple[int, int, float]]:
    """Checks that the analytic head is the weighted ridge solution on the store's
    contributions (what each photo teaches now); returns them."""
    desk = desk_of(bot)
    held = bot.run(desk.store.consensus.contributions())
    learner = desk.service._model.learner
    X = np.stack([bot.run(desk.store.samples.get(s)).embedding for s, _, _ in held])
    y, w = np.array([h[1] for h in held]), np.array([h[2] for h in held])
    np.testing.assert_allclose(learner.coef_, weighted_ridge(learner, X, y, w), atol=1e-8)
    return held


def test_two_disagree_two_more_settle_a_ban_and_forgetting(fake, bot, photos):
    for name in ("cat", "dog", "bird"):
        say(fake, ADMIN, f"/addlabel {name}")
    reply = send_photo(fake, ALICE, photos["chelsea"], TEAM, caption=f"@{BOT_USERNAME}")
    sample = int(reply.button("New label")["callback_data"].split(":")[1])
    store = desk_of(bot).store
    for person, label in ((ALICE, 0), (BOB, 1)):  # Alice says cat, Bob says dog
        assert tap(fake, person, reply, f"v:{sample}:{label}")["text"].startswith("Saved")
    split = bot.run(store.consensus.verdict(sample))
    assert not split.settled
    assert tap(fake, CAROL, reply, f"v:{sample}:1")["text"] == "Saved: dog"  # 2 to 1: dog ...
    fake.wait_for(lambda: "Votes: dog 2 · cat 1 · 88% sure" in reply.text)  # ... not sure yet
    assert not bot.run(store.consensus.verdict(sample)).settled
    assert tap(fake, DAVE, reply, f"v:{sample}:1")["text"] == "Saved: dog"  # 3 to 1 settles it
    fake.wait_for(lambda: "Votes: dog 3 · cat 1 · 98% sure ✓" in reply.text)
    settled = bot.run(store.consensus.verdict(sample))
    assert settled.label_id == 1 and settled.settled and settled.confidence > split.confidence
    assert [(s, label) for s, label, _ in model_matches_contributions(bot)] == [(sample, 1)]

    assert "only the bot's admins" in say(fake, BOB, f"/ban {BOB['id']}").text
    assert say(fake, ADMIN, f"/ban {BOB['id']}").text.startswith(f"Banned {BOB['id']}")
    without_bob = bot.run(store.consensus.verdict(sample))
    assert not without_bob.settled and without_bob.confidence < settled.confidence  # 2 to 1
    model_matches_contributions(bot)

    assert "cannot be undone" in say(fake, CAROL, "/forgetme").text
    assert bot.run(store.people.rows_naming(CAROL["id"])) > 0
    assert say(fake, CAROL, "/forgetme confirm").text.startswith("Done")
    assert bot.run(store.people.rows_naming(CAROL["id"])) == 0
    assert say(fake, DAVE, "/forgetme confirm").text.startswith("Done")
    assert bot.run(store.consensus.verdict(sample)).label_id == 0  # Alice's cat is all that counts
    model_matches_contributions(bot)


def test_review_sends_someone_elses_photo_and_label_another_goes_on(fake, bot, photos):
    for name in ("cat", "coffee"):
        say(fake, ADMIN, f"/addlabel {name}")
    mine = send_photo(fake, ALICE, photos["chelsea"])  # Alice's own photos, in her chat
    other = send_photo(fake, ALICE, photos["coffee"])
    assert say(fake, ALICE, "/review").text == texts.NOTHING_TO_REVIEW  # never her own
    photo = say(fake, BOB, "/review")  # Bob gets one of hers, re-sent by its file id
    assert photo.photo
    prompt = fake.wait_reply(photo.message_id, BOB["id"])
    assert prompt.buttons()
    assert not any("New label" in b["text"] for b in prompt.buttons())
    sample = sample_of(prompt)
    tap_label(fake, BOB, prompt, "cat")
    fake.wait_for(lambda: prompt.text.startswith("Saved: cat"))
    assert "\nVotes: cat 1 · 80% sure" in prompt.text  # how settled it is, for the reviewer
    assert bot.run(desk_of(bot).store.consensus.verdict(sample)).label_id == 0
    # Bob's vote settles nothing alone; the next photo is the other one, then none is left.
    another = next(b for b in prompt.buttons() if b["text"] == texts.BUTTON_LABEL_ANOTHER)
    assert tap(fake, BOB, prompt, another["callback_data"])["text"] == "Here is another photo."
    second = fake.wait_for(lambda: [s for s in fake.messages_to(BOB["id"]) if s.buttons()
                                    and s.message_id > prompt.message_id] or None)[0]  # fmt: skip
    assert sample_of(second) != sample
    tap_label(fake, BOB, second, "coffee")
    fake.wait_for(lambda: second.text.startswith("Saved"))
    more = next(b for b in second.buttons() if b["text"] == texts.BUTTON_LABEL_ANOTHER)
    assert tap(fake, BOB, second, more["callback_data"])["text"] == texts.NOTHING_TO_REVIEW
    # The review binds the photo's buttons to Bob's message too; Alice's own message keeps its
    # own, and one photo's id on another photo's message is refused.
    assert sample_of(mine) == sample  # among equals, the oldest photo comes first
    assert "does not belong" in tap(fake, ALICE, other, f"v:{sample}:0")["text"]
    assert "Saved" in tap(fake, ALICE, mine, f"v:{sample}:0")["text"]

    # People: their standing, the leaderboard (by display name, with an opt-out), and the
    # admins' view of every contributor.
    assert say(fake, BOB, "/me").text.startswith("Your votes: 2 (#1 of 2 contributors)")
    assert "1. Bob — 2 votes" in say(fake, ALICE, "/top").text
    assert say(fake, BOB, "/hideme").text == texts.HIDDEN
    assert "Bob" not in say(fake, ALICE, "/top").text
    assert "only the bot's admins" in say(fake, BOB, "/contributors").text
    assert f"{BOB['id']} · Bob · 2 ·" in say(fake, ADMIN, "/contributors").text


def sample_of(message) -> int | None:
    """The sample id a message's buttons carry, if it has any."""
    buttons = message.buttons()
    return int(buttons[0]["callback_data"].split(":")[1]) if buttons else None


def test_review_in_a_group_posts_the_photo_for_anyone_to_vote(fake, bot, photos):
    say(fake, ADMIN, "/addlabel coffee")
    send_photo(fake, ALICE, photos["coffee"])  # sent privately to the bot
    photo = say(fake, BOB, "/review", chat=TEAM)  # Bob asks in the group
    assert photo.photo and photo.chat_id == TEAM["id"]
    prompt = fake.wait_reply(photo.message_id, TEAM["id"])
    sample = sample_of(prompt)
    assert tap(fake, CAROL, prompt, f"v:{sample}:0")["text"] == "Saved: coffee"
    fake.wait_for(lambda: "Votes: coffee 1" in prompt.text)  # the group sees the tally
    assert bot.run(desk_of(bot).store.consensus.verdict(sample)).label_id == 0


def test_a_photo_telegram_no_longer_has_leaves_the_review_queue(fake, bot, photos):
    say(fake, ADMIN, "/addlabel coffee")
    oldest = sample_of(send_photo(fake, ALICE, photos["coffee"]))  # the queue's first pick
    newer = sample_of(send_photo(fake, ALICE, photos["chelsea"]))
    store = desk_of(bot).store
    del fake.files[bot.run(store.samples.get(oldest)).file_id]  # Telegram has lost it
    photo = say(fake, BOB, "/review")
    assert sample_of(fake.wait_reply(photo.message_id, BOB["id"])) == newer
    assert bot.run(store.reviews.first(State.WAITING, CAROL["id"])) == newer  # gone for good


def test_careful_voters_settle_a_photo_and_doubtful_ones_keep_it_in_the_queue(fake, bot, photos):
    for name in ("cat", "dog", "bird"):
        say(fake, ADMIN, f"/addlabel {name}")
    desk = desk_of(bot)
    eve, mallory = user(6, "Eve"), user(7, "Mallory")
    trust = {ALICE["id"]: 0.95, BOB["id"]: 0.95, eve["id"]: 0.45, mallory["id"]: 0.45}
    bot.run(desk.store.people.save_reliabilities(trust))
    bot.run(desk.crowd.load())
    careful = send_photo(fake, CAROL, photos["chelsea"], TEAM, caption=f"@{BOT_USERNAME}")
    doubtful = send_photo(fake, CAROL, photos["coffee"], TEAM, caption=f"@{BOT_USERNAME}")
    for person in (ALICE, BOB):
        tap_label(fake, person, careful, "cat")
    for person in (eve, mallory):
        tap_label(fake, person, doubtful, "cat")
    fake.wait_for(lambda: "Votes: cat 2 · 100% sure ✓" in careful.text)
    fake.wait_for(lambda: "Votes: cat 2 · 57% sure" in doubtful.text)  # not settled
    asked = say(fake, DAVE, "/review")  # the queue hands out the doubtful photo, not the other
    assert sample_of(fake.wait_reply(asked.message_id, DAVE["id"])) == sample_of(doubtful)
    model_matches_contributions(bot)


def test_five_votes_without_confidence_are_disputed_and_an_admin_settles_them(fake, bot, photos):
    for name in ("cat", "dog", "bird"):
        say(fake, ADMIN, f"/addlabel {name}")
    reply = send_photo(fake, ALICE, photos["chelsea"], TEAM, caption=f"@{BOT_USERNAME}")
    sample = sample_of(reply)
    for person, label in zip((ALICE, BOB, CAROL, DAVE, user(6)), (0, 1, 0, 1, 2), strict=True):
        assert tap(fake, person, reply, f"v:{sample}:{label}")["text"].startswith("Saved")
    fake.wait_for(lambda: "disputed: an admin decides" in reply.text)
    assert "1 disputed (/disputed)" in say(fake, ADMIN, "/stats").text
    assert say(fake, BOB, "/disputed").text == texts.NOT_ADMIN
    assert say(fake, BOB, "/review").text == texts.NOTHING_TO_REVIEW  # not for contributors
    photo = say(fake, ADMIN, "/disputed")
    prompt = fake.wait_reply(photo.message_id, ADMIN["id"])
    assert sample_of(prompt) == sample
    tap_label(fake, ADMIN, prompt, "cat")
    verdict = bot.run(desk_of(bot).store.consensus.verdict(sample))
    assert (verdict.label_id, verdict.confidence, verdict.settled) == (0, 1.0, True)
    assert say(fake, ADMIN, "/disputed").text == texts.NOTHING_DISPUTED
    model_matches_contributions(bot)
