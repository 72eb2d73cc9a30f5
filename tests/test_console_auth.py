"""The console's proofs (`bot.web.auth`): Telegram's Mini App signature checked as Telegram
makes it, seals that cannot be forged, moved to another purpose or used past their time, and
sign-in links that work once (`bot.store.logins`)."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.store import Store
from bot.web.auth import INIT_DATA_MAX_AGE, NotSignedIn, Seals, Visitor, visitor_of
from labelbot_testkit.fake_telegram.web_app import init_data

TOKEN = "123456:" + "A" * 35
ALICE = {"id": 2, "first_name": "Alice"}


def test_telegram_s_signed_launch_data_names_the_person():
    seals = Seals(TOKEN)
    assert seals.web_app_visitor(init_data(TOKEN, ALICE), time.time()) == Visitor(2, "Alice")


@pytest.mark.parametrize(
    ("tamper", "said"),
    [
        (lambda f: f | {"user": '{"id": 1, "first_name": "Ada"}'}, "not signed by Telegram"),
        (lambda f: {k: v for k, v in f.items() if k != "hash"}, "not signed by Telegram"),
        (lambda f: f | {"hash": f["hash"].upper()}, "not signed by Telegram"),
    ],
)
def test_launch_data_changed_on_the_way_is_refused(tamper, said):
    fields = dict(parse_qsl(init_data(TOKEN, ALICE)))
    with pytest.raises(NotSignedIn, match=said):
        Seals(TOKEN).web_app_visitor(urlencode(tamper(fields)), time.time())


def test_launch_data_for_another_bot_or_over_an_hour_old_is_refused():
    with pytest.raises(NotSignedIn, match="not signed"):
        Seals(TOKEN).web_app_visitor(init_data("654321:" + "B" * 35, ALICE), time.time())
    old = init_data(TOKEN, ALICE, time.time() - INIT_DATA_MAX_AGE - 5)
    with pytest.raises(NotSignedIn, match="over an hour old"):
        Seals(TOKEN).web_app_visitor(old, time.time())
    with pytest.raises(NotSignedIn, match="malformed"):
        Seals(TOKEN).web_app_visitor("hash", time.time())


def test_a_seal_holds_only_for_its_purpose_its_time_and_its_token():
    seals, now = Seals(TOKEN), time.time()
    session = seals.session(Visitor(2, "Alice"), now)
    assert visitor_of(seals.unseal("session", session, now + 60)) == Visitor(2, "Alice")
    with pytest.raises(NotSignedIn, match="not one labelbot made"):
        seals.unseal("login", session, now)  # a session is no sign-in link
    with pytest.raises(NotSignedIn, match="not one labelbot made"):
        Seals("654321:" + "B" * 35).unseal("session", session, now)
    with pytest.raises(NotSignedIn, match="expired"):
        seals.unseal("session", session, now + 13 * 3600)
    mac = session.partition(".")[2]
    forged = seals.seal("session", {"u": 1, "n": "Ada"}, now + 60).partition(".")[0]
    with pytest.raises(NotSignedIn):
        seals.unseal("session", f"{forged}.{mac}", now)  # another body under Alice's MAC


async def test_a_sign_in_link_works_once(tmp_path):
    store = await Store.connect(tmp_path / "labelbot.sqlite3")
    try:
        now = time.time()
        assert await store.logins.use("nonce-1", now + 600, now)
        assert not await store.logins.use("nonce-1", now + 600, now)  # replayed
        assert await store.logins.use("nonce-2", now + 600, now)
        assert await store.logins.use("nonce-1", now + 600, now + 700)  # forgotten once expired
    finally:
        await store.close()
