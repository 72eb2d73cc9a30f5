"""The web app a bot process serves beside Telegram (`bot.web`): health, readiness and metrics
over real HTTP, on the polling bot's loopback port and on the webhook's own port."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from helpers import ADMIN, ALICE, desk_of, say, send_photo, start_bot, tap_label
from prometheus_client.parser import text_string_to_metric_families

from bot.store import EventKind
from labelbot_testkit.fake_telegram.web_app import init_data

pytestmark = pytest.mark.slow


def get(url: str, method: str = "GET", body: bytes | None = None, **headers: str):
    """(status, body text) of one request."""
    request = urllib.request.Request(url, body, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus page, parsed by prometheus_client's own parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def timed(route: str) -> tuple[str, tuple]:
    """The key of the count of GET requests to `route` in `samples`."""
    return ("labelbot_http_request_duration_seconds_count", (("method", "GET"), ("route", route)))


def test_health_readiness_and_metrics_follow_the_bot(fake, tmp_path, backbone, photos):
    running = start_bot(fake, tmp_path / "data", backbone, web=True)
    try:
        web = running.web_url
        assert get(f"{web}/healthz") == (200, "ok\n")
        assert json.loads(get(f"{web}/readyz")[1]) == {"ready": True, "problems": []}

        say(fake, ADMIN, "/addlabel coffee")
        reply = send_photo(fake, ALICE, photos["coffee"])
        tap_label(fake, ALICE, reply, "coffee")
        fake.wait_for(lambda: reply.text.startswith("Saved: coffee (model version"))
        status, page = get(f"{web}/metrics")
        assert status == 200
        seen = samples(page)
        assert seen[("labelbot_photos_answered_total", ())] == 1
        assert seen[("labelbot_votes_total", (("action", "vote"), ("via", "chat")))] == 1
        assert seen[("labelbot_updates_received_total", ())] >= 3
        assert seen[("labelbot_model_version", ())] == desk_of(running).snapshot.version
        assert seen[("labelbot_journal_lag_events", ())] == 0
        assert seen[("labelbot_photos", (("standing", "waiting"),))] == 1  # one vote of two
        assert seen[("labelbot_inbox_open_updates", ())] == 0
        assert seen[timed("/healthz")] == 1
        assert get(f"{web}/no-such-page")[0] == 404
        assert timed("other") in samples(get(f"{web}/metrics")[1])  # a scanner's path: one series
    finally:
        running.stop()


def test_readyz_fails_while_the_model_is_behind_its_journal(fake, tmp_path, backbone):
    running = start_bot(fake, tmp_path / "data", backbone, web=True)
    try:
        desk = desk_of(running)
        # An event committed a minute ago that the model never applied (a replica's vote while
        # the trainer was down looks the same).
        event = running.run(desk.store.events.add(EventKind.ADD_LABEL, ADMIN["id"], name="tea"))
        running.run(desk.store.database.commit_one(
            "UPDATE events SET created_at = created_at - 60 WHERE id = ?", (event,)))  # fmt: skip
        status, body = get(f"{running.web_url}/readyz")
        assert status == 503
        (problem,) = json.loads(body)["problems"]
        assert "the model is 1 events behind the journal" in problem
        lag = samples(get(f"{running.web_url}/metrics")[1])[("labelbot_journal_lag_events", ())]
        assert lag == 1
        running.run(desk.journal.catch_up())
        assert get(f"{running.web_url}/readyz")[0] == 200
    finally:
        running.stop()


def test_the_webhook_port_serves_health_and_refuses_what_is_not_an_update(fake, tmp_path, backbone):
    running = start_bot(fake, tmp_path / "data", backbone, webhook=True, console=True)
    try:
        base, hook = f"http://127.0.0.1:{running.webhook.port}", running.webhook
        assert get(f"{base}/healthz") == (200, "ok\n")
        assert get(f"{base}/readyz")[0] == 200
        assert get(hook.url)[0] == 405  # Telegram only posts
        secret = {"X-Telegram-Bot-Api-Secret-Token": hook.secret}
        json_type = {"Content-Type": "application/json"}
        assert get(hook.url, "POST", b"{}", **secret)[0] == 403  # not JSON: refused as PTB does
        assert get(hook.url, "POST", b"{not json", **json_type, **secret)[0] == 400
        huge = b'{"update_id": 1, "x": "' + b"x" * (2 << 20) + b'"}'
        assert get(hook.url, "POST", huge, **json_type, **secret)[0] == 413
        assert "Added label tea" in say(fake, ADMIN, "/addlabel tea").text  # still serving
        proof = {"X-Telegram-Init-Data": init_data(fake.token, ALICE)}
        assert get(f"{base}/console/review")[0] == 200  # the console on the webhook's port
        assert "tea" in get(f"{base}/console/part/campaign", **proof)[1]
        page = get(f"{base}/metrics")[1]
        assert samples(page)[("labelbot_updates_received_total", ())] == 1
        assert hook.secret not in page and fake.token not in page
    finally:
        running.stop()
