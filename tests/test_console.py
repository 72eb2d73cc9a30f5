"""The console in a real browser: Debian's Chromium driven by Playwright, against the real
bot on the fake Bot API. A reviewer opens it as Telegram opens a Mini App (signed launch data
in the URL's fragment), an admin steers the model, a browser signs in by a one-time link.

With LABELBOT_SCREENSHOTS=DIR set, each page's screenshot from this run is written to DIR
(the docs' are: `LABELBOT_SCREENSHOTS=docs/images/console`)."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from desk_helpers import assert_model_holds_the_contributions
from helpers import ADMIN, ALICE, BOB, desk_of, say, send_photo, start_bot, tap_label

from bot.web.auth import Seals, Visitor
from labelbot_testkit.fake_telegram.server import BOT_USERNAME
from labelbot_testkit.fake_telegram.web_app import init_data, launch_fragment

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"  # Debian's package (scripts/setup.sh installs it)
THEME = {"bg_color": "#17212b", "text_color": "#f5f5f5", "button_color": "#5288c1",
         "button_text_color": "#ffffff", "secondary_bg_color": "#232e3c",
         "hint_color": "#708499", "link_color": "#6ab3f3"}  # fmt: skip


@pytest.fixture
def running(fake, tmp_path, backbone, photos):
    """A bot with a console; Bob has sent five photos and labeled the first two, each after
    the model had guessed it (the second guessed wrong: the confusion matrix has both)."""
    bot = start_bot(fake, tmp_path / "data", backbone, console=True)
    for name in ("coffee", "cat", "person"):
        say(fake, ADMIN, f"/addlabel {name}")
    bgr = {name: np.ascontiguousarray(image[..., ::-1]) for name, image in photos.items()}
    for image, label in ((bgr["coffee"], "coffee"), (bgr["chelsea"], "cat")):
        tap_label(fake, BOB, send_photo(fake, BOB, image), label)
    for image in (bgr["astronaut"], bgr["coffee"][:, :300], bgr["chelsea"][:200, :300]):
        send_photo(fake, BOB, image)
    yield bot
    bot.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def mini_app(browser, running, fake, who: dict, page: str):
    """A page opened as Telegram opens the Mini App: its launch data in the fragment."""
    tab = browser.new_page(viewport={"width": 420, "height": 860})
    launch = launch_fragment(init_data(fake.token, who), THEME)
    tab.goto(f"{running.web_url}/console/{page}{launch}")
    return tab


def screenshot(tab, name: str) -> None:
    folder = os.environ.get("LABELBOT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def http(url: str, timeout: float = 10, **headers: str) -> int | bytes:
    """The body of a 200, else the status."""
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        return error.code


def test_a_reviewer_votes_with_the_keyboard_and_undoes_one(browser, running, fake):
    desk = desk_of(running)
    tab = mini_app(browser, running, fake, ALICE, "review")
    shown = []
    for _ in range(3):
        tab.wait_for_selector("#labels button.label")
        sample = tab.get_attribute("#photo", "data-sample")
        assert sample not in shown  # each vote brings the next photo
        shown.append(sample)
        assert tab.evaluate("document.getElementById('photo').naturalWidth") > 0  # it loaded
        tab.keyboard.press("1")  # the first choice: the model's best guess
        tab.wait_for_function(f"document.getElementById('photo').dataset.sample !== '{sample}'")
    screenshot(tab, "review")
    tab.keyboard.press("u")
    tab.wait_for_selector("#toast:has-text('Undone')")
    voted = running.run(desk.store.votes.samples_voted_by(ALICE["id"]))
    assert len(voted) == 2 and {str(sample) for sample in voted} < set(shown)
    running.run(assert_model_holds_the_contributions(desk))  # the exact model, as from chat
    tab.close()


def test_an_admin_sees_the_confusion_matrix_and_rolls_back(browser, running, fake):
    desk = desk_of(running)
    tab = mini_app(browser, running, fake, ADMIN, "campaign")
    for page in ("campaign", "people", "export"):
        tab.goto(f"{running.web_url}/console/{page}")  # the launch data kept for the session
        tab.wait_for_selector("main#part :is(section, table, ul)")
        assert fake.token not in tab.content() and fake.token.split(":")[1] not in tab.content()
        screenshot(tab, page)
    csv = tab.get_attribute("a[href*='labels.csv']", "href")
    assert http(f"{running.web_url}{csv}").startswith(b"sample_id,")  # the sealed download
    assert http(f"{running.web_url}{csv.split('?')[0]}") == 403
    assert not desk.context.exports.exists()  # a download leaves no export folder behind
    tab.goto(f"{running.web_url}/console/people")
    tab.click(f"button.ban[data-user='{BOB['id']}']")
    tab.wait_for_selector(f"button.unban[data-user='{BOB['id']}']")
    assert BOB["id"] in running.run(desk.store.people.banned())
    tab.goto(f"{running.web_url}/console/model")
    tab.wait_for_selector("table.confusion")
    assert tab.inner_text("table.confusion thead").count("coffee") == 1
    screenshot(tab, "model")
    target = int(tab.get_attribute("button.rollback", "data-version"))
    before = desk.snapshot.version
    tab.click("button.rollback")
    tab.wait_for_selector("#confirm:not([hidden])")
    tab.click("#confirm-yes")
    tab.wait_for_selector("#toast:has-text('Restored')")
    assert desk.snapshot.version == before + 1
    last = running.run(desk.store.events.last_id())
    event, result, _ = running.run(desk.store.events.outcome(last))
    assert (event.kind, event.version, result) == ("rollback", target, "ok")
    tab.close()


def test_admin_pages_refuse_others(browser, running, fake):
    tab = mini_app(browser, running, fake, ALICE, "people")
    tab.wait_for_selector(".refusal[data-status='403']")
    assert "only the bot's admins" in tab.inner_text(".refusal")
    proof = {"X-Telegram-Init-Data": init_data(fake.token, ALICE)}
    for page in ("model", "people", "export"):
        assert http(f"{running.web_url}/console/part/{page}", **proof) == 403
    assert b"Labels" in http(f"{running.web_url}/console/part/campaign", **proof)
    stale = {"X-Telegram-Init-Data": init_data(fake.token, ALICE, time.time() - 7200)}
    assert http(f"{running.web_url}/console/part/campaign", **stale) == 401
    forged = {"X-Telegram-Init-Data": init_data("123:" + "x" * 35, ALICE)}
    assert http(f"{running.web_url}/console/part/campaign", **forged) == 401
    tab.close()


def test_a_browser_signs_in_once_by_link_and_photos_need_their_seal(browser, running, fake):
    reply = say(fake, ALICE, "/console")
    (web_app, link) = reply.buttons()
    assert web_app["web_app"]["url"] == f"{running.web_url}/console"
    login = link["url"]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    assert tab.goto(login).status == 200 and tab.url.endswith("/console/review")
    tab.wait_for_selector("#labels button.label")
    cookie = next(c for c in context.cookies() if c["name"] == "labelbot_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    tab.keyboard.press("2")  # a vote through the session cookie
    tab.wait_for_selector("#toast:has-text('Saved')")
    assert context.new_page().goto(login).status == 401  # used once already
    forged = login[:-3] + ("AAA" if not login.endswith("AAA") else "BBB")
    assert context.new_page().goto(forged).status == 401
    seals = Seals(fake.token)
    expired = seals.login_link(Visitor(ALICE["id"], "Alice"), time.time() - 700)
    assert context.new_page().goto(f"{running.web_url}/console/login?t={expired}").status == 401
    photo = tab.get_attribute("#photo", "src")
    assert http(f"{running.web_url}{photo}")[:3] == b"\xff\xd8\xff"  # the JPEG itself
    assert http(f"{running.web_url}{photo.split('?')[0]}") == 403
    assert http(f"{running.web_url}{photo[:-4]}") == 403  # its seal tampered with
    context.close()


def test_a_vote_from_another_site_is_refused(running, fake):
    """A session cookie is not enough for a change: the request must come from the console."""
    seals, person = Seals(fake.token), Visitor(ALICE["id"], "Alice")
    cookie = f"labelbot_session={seals.session(person, time.time())}"
    body = json.dumps({"sample": 1, "token": -5, "label": 0}).encode()
    headers = {"Cookie": cookie, "Origin": "https://evil.example"}
    request = urllib.request.Request(
        f"{running.web_url}/console/api/vote", body, method="POST",
        headers={**headers, "Content-Type": "application/json"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert running.run(desk_of(running).store.votes.samples_voted_by(ALICE["id"])) == []


def test_the_bot_offers_the_console_where_telegram_allows(running, fake):
    console = f"{running.web_url}/console"
    assert fake.menu_buttons["default"] == {
        "type": "web_app", "text": "Console", "web_app": {"url": console}}  # fmt: skip
    assert "console" in {c["command"] for c in fake.commands["default"]}
    (button,) = say(fake, ALICE, "/me").buttons()
    assert button["web_app"]["url"] == console
    group = {"id": -100, "type": "group", "title": "Labelers"}
    in_group = say(fake, ALICE, "/console", chat=group)
    assert "private chat" in in_group.text and not in_group.buttons()
    assert f"t.me/{BOT_USERNAME}?start=console" in in_group.text


def test_an_admin_downloads_the_model_as_the_command_line_exports_it(running, fake):
    import io
    import zipfile

    proof = {"X-Telegram-Init-Data": init_data(fake.token, ADMIN)}
    page = http(f"{running.web_url}/console/part/export", **proof).decode()
    link = page.split('href="')[3].split('"')[0].replace("&amp;", "&")
    assert link.startswith("/console/download/model.zip?t=")
    exported = http(f"{running.web_url}{link}", timeout=180)  # TFLite conversion takes a while
    archive = zipfile.ZipFile(io.BytesIO(exported))
    names = set(archive.namelist())
    assert {"model.keras", "model.tflite", "labels.txt", "model.json"} <= names
    assert any(name.startswith("saved_model/") for name in names)
    assert archive.read("labels.txt").decode().split() == ["coffee", "cat", "person"]
    assert json.loads(archive.read("model.json"))["version"] == desk_of(running).snapshot.version
