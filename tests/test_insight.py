"""What the console's Campaign and Model pages show (`bot.desk.insight`), on a real desk: the
first guess each photo got when it arrived, against what people voted."""

from __future__ import annotations

import pytest
from desk_helpers import ADMIN, accept, open_desk, photo

from bot.desk.insight import TIMELINE_BINS
from bot.desk.views import DeskError
from labelbot.house import House
from labelbot.settings import Settings


@pytest.fixture
async def desk(tmp_path):
    house = House(Settings(admins=frozenset({ADMIN}), data_dir=tmp_path), command="labelbot run")
    yield await open_desk(house)
    await house.close()


async def test_the_campaign_and_the_model_s_record_follow_the_votes(desk):
    cat, dog = [await desk.labels.add(ADMIN, name) for name in ("cat", "dog")]
    first_guesses = []
    for n, voted in enumerate([cat, cat, dog, dog, cat]):  # the first arrives with no guess
        tap, sample_id = await photo(desk, n)
        guesses = (await desk.store.samples.get(sample_id)).prediction
        first_guesses.append(guesses[0].label_id if guesses else None)
        await desk.votes.vote(tap, sample_id, voted.id, accept)
    campaign = await desk.insight.campaign()
    assert {c.name: c.examples for c in campaign.counts} == {"cat": 3, "dog": 2}
    assert campaign.crowd.waiting == 5  # one vote each: none settled yet
    assert len(campaign.timeline) == TIMELINE_BINS
    votes = [cat, cat, dog, dog, cat]
    right = sum(v.id == g for v, g in zip(votes, first_guesses, strict=True))
    assert sum(b.votes for b in campaign.timeline) == 5  # a photo with no guess: not right
    assert sum(b.right for b in campaign.timeline) == right
    guessed = [g for g in first_guesses if g is not None]

    quality = await desk.insight.quality(ADMIN)
    assert quality.labels == ["cat", "dog"]
    expected = [[0, 0], [0, 0]]
    for voted, guess in zip([cat, cat, dog, dog, cat], first_guesses, strict=True):
        if guess is not None:
            expected[voted.id][guess] += 1
    assert quality.confusion == expected
    for i, (row, recall) in enumerate(zip(expected, quality.recall, strict=True)):
        assert recall == (row[i] / sum(row) if sum(row) else None)
    assert sum(point.photos for point in quality.calibration) == len(guessed)
    with pytest.raises(DeskError, match="admin"):
        await desk.insight.quality(2)
