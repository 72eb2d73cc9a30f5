"""Groups (mention mode, one vote per person, the tally) and fifty people at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import pytest
from helpers import ADMIN, ALICE, BOB, desk_of, say, send_photo, start_bot, tap

from labelbot_testkit.fake_telegram import BOT_USERNAME, group, user
from model_core.datasets import FASHION_MNIST_LABELS, load_fashion_mnist

pytestmark = pytest.mark.slow
TEAM = group()


def test_in_a_group_only_photos_for_the_bot_and_everyone_votes_once(fake, bot, photos):
    say(fake, ADMIN, "/addlabel cat")
    ignored = fake.send_photo(ALICE, photos["chelsea"], TEAM)
    reply = send_photo(fake, ALICE, photos["chelsea"], TEAM, caption=f"@{BOT_USERNAME} what?")
    assert fake.reply_to(ignored, TEAM["id"]) is None
    sample = reply.button("New label")["callback_data"].split(":")[1]
    cat = f"v:{sample}:0"  # the only label, from the "Other…" list
    assert tap(fake, ALICE, reply, cat)["text"] == "Saved: cat"
    fake.wait_for(lambda: "Votes: cat 1" in reply.text)
    assert tap(fake, BOB, reply, reply.button("Skip")["callback_data"])["text"] == "Skipped"
    fake.wait_for(lambda: "Votes: cat 1 · skipped 1" in reply.text)
    assert tap(fake, ALICE, reply, cat)["text"] == "Saved: cat"  # the same vote: still one
    fake.wait_for(lambda: "Votes: cat 1 · skipped 1" in reply.text)
    assert reply.button("Undo my vote")
    tap(fake, BOB, reply, reply.button("Undo my vote")["callback_data"])
    fake.wait_for(lambda: reply.text.endswith("Votes: cat 1 · 80% sure"))  # one newcomer


def test_every_group_photo_when_configured(fake, tmp_path, backbone, photos):
    running = start_bot(fake, tmp_path / "data", backbone, group_photos="all")
    try:
        assert send_photo(fake, BOB, photos["coffee"], TEAM).button("New label")
    finally:
        running.stop()


def fashion_photos(n: int):
    images, labels = load_fashion_mnist("test", per_class=n // 10, seed=3)
    big = [cv2.cvtColor(cv2.resize(i, (256, 256)), cv2.COLOR_GRAY2BGR) for i in images]
    return big, [FASHION_MNIST_LABELS[int(y)] for y in labels]


def test_fifty_people_at_once_lose_no_vote_and_apply_none_twice(fake, bot):
    for name in FASHION_MNIST_LABELS:
        say(fake, ADMIN, f"/addlabel {name}")
    images, names = fashion_photos(50)
    people = [user(100 + i) for i in range(50)]
    desk = desk_of(bot)
    start_version = desk.snapshot.version
    label_ids = {label.name: label.id for label in desk.snapshot.labels}

    def contribute(i: int) -> str:
        reply = send_photo(fake, people[i], images[i])
        sample = reply.button("New label")["callback_data"].split(":")[1]
        answer = tap(fake, people[i], reply, f"v:{sample}:{label_ids[names[i]]}")
        again = tap(fake, people[i], reply, f"v:{sample}:{label_ids[names[i]]}")  # a double tap
        return answer["text"] + " | " + again["text"]

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(contribute, range(50)))
    assert all(o.startswith("Saved: ") and o.count("Saved: ") == 2 for o in outcomes)
    fake.wait_for(lambda: desk.snapshot.version == start_version + 50, what="50 updates")
    assert sum(desk.snapshot.example_counts) == 50
    for label in desk.labels.counts():
        assert label.examples == names.count(label.name)
    assert bot.run(desk.store.votes.count()) == 50
    assert "labels" in say(fake, ALICE, "/labels").text.lower()  # still answering
