"""`labelbot bench --console`: reviewers voting through the console's HTTP API, and what its
pages and `/metrics` cost.

The console issue set these targets, measured here against the real `labelbot run` process
(long polling the fake Bot API, its web server on loopback):

- **Vote to next photo** (p50 ≤ 100 ms, p99 ≤ 500 ms): `reviewers` people vote at once, each
  as the console's page does: while a photo is on screen the next is handed out and its image
  fetched (the preload), the person looks for a while, then votes; the figure is from the
  vote's request to the next photo shown (the vote's answer, and the preload if it was still
  under way). The vote's own answer and a hand-out are reported too.
- **A page's HTML** (p50 ≤ 50 ms): a page's shell, and the Campaign page's part (rendered
  with its data).
- **`/metrics`** (≤ 50 ms at 100,000 votes): the live scrape over HTTP at the end, and the
  scrape's work (the store's queries and the rendering) on a store of 100,000 votes.
- **Nothing lost**: every vote the console acknowledged is in the store, and the model has
  applied every event of the journal once the bot has stopped (SIGTERM).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import sqlite3
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from bot.store import Store
from labelbot.demo import ADMIN, load_demo_photos
from labelbot.net import free_port
from labelbot_testkit.fake_telegram import FakeTelegram, say, user
from labelbot_testkit.fake_telegram.web_app import init_data
from labelbot_testkit.restart import START_TIMEOUT, BotProcess
from labelbot_testkit.store_bench import fill_store
from model_core.checkpoints import CheckpointStore
from model_core.progress import ProgressFactory, no_progress

TOKEN = "123456:" + "C" * 35
LABELS = ("first", "second", "third")
SENDERS = 20  # people who sent the photos; the reviewers are others
THINK = (0.3, 1.0)  # seconds a reviewer looks at a photo before voting
PAGE_REQUESTS = 200


def measure_console(
    backbones: Path, data: Path | None, reviewers: int = 50, votes_each: int = 10,
    metrics_votes: int = 100_000, progress: ProgressFactory = no_progress,
) -> dict:  # fmt: skip
    """Milliseconds of the console's answers under `reviewers` people voting at once."""
    per_label = -(-reviewers * votes_each // len(LABELS))  # two votes settle most photos
    photos = load_demo_photos(data, len(LABELS), per_label)
    with tempfile.TemporaryDirectory() as scratch:
        figures = _live(Path(scratch), backbones, photos, reviewers, votes_each, progress)
    figures["metrics_at_scale"] = measure_metrics_at(metrics_votes, progress)
    return figures


def _live(root: Path, backbones: Path, photos: dict, reviewers: int, each: int, progress) -> dict:
    data_dir = root / "data"
    data_dir.mkdir()
    (data_dir / "backbones").symlink_to(backbones.resolve())
    fake = FakeTelegram(token=TOKEN).start()
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    bot = BotProcess(fake, data_dir, root / "bot.log", {
        "LABELBOT_CONSOLE_PORT": str(port), "LABELBOT_PUBLIC_URL": web})  # fmt: skip
    try:
        bot.start()
        bot.wait_polling()
        _send_photos(fake, photos, progress)
        done = progress("reviewers voting (counted when all are done)", reviewers)
        figures = _review_apart(web, fake.token, reviewers, each)
        done(reviewers)
        figures["server_ms"] = _server_side(httpx.get(f"{web}/metrics").text)
        figures |= asyncio.run(_pages(web, fake.token))
        code = bot.stop()
        figures["stopped_cleanly"] = code == 0
        figures |= _nothing_lost(data_dir, figures.pop("acknowledged"))
        figures["reviewers"], figures["votes_each"] = reviewers, each
        return figures
    finally:
        bot.kill()
        fake.stop()


def _send_photos(fake: FakeTelegram, photos: dict, progress) -> None:
    """The labels, then every photo, in rounds of one photo from each of SENDERS people (more at
    once from one person would be a flood, which the bot stops answering), each answered."""
    for label in LABELS:
        say(fake, ADMIN, f"/addlabel {label}")
    flat = [p for ps in photos.values() for p in ps]
    done = progress("photos sent", len(flat))
    for start in range(0, len(flat), SENDERS):
        sent = [
            (fake.send_photo(user(500 + n, f"Sender {n}"), photo), 500 + n)
            for n, photo in enumerate(flat[start : start + SENDERS])
        ]
        for message_id, chat in sent:
            fake.wait_reply(message_id, chat, timeout=START_TIMEOUT)
            done(1)


def _review_apart(web: str, token: str, reviewers: int, each: int) -> dict:
    """The reviewers in a process of their own: in this one the fake Bot API's threads would
    share the interpreter's lock with them, and their waits would be the load generator's."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as apart:
        return apart.submit(_review_sync, web, token, reviewers, each).result()


def _review_sync(web: str, token: str, reviewers: int, each: int) -> dict:
    return asyncio.run(_review(web, token, reviewers, each, lambda n: None))


async def _review(web: str, token: str, reviewers: int, each: int, done) -> dict:
    # A client each, as each person has a browser of their own (and one pool shared by all
    # would measure httpx's pool more than the bot).
    clients = [httpx.AsyncClient(base_url=web, timeout=30) for _ in range(reviewers + 1)]
    try:
        probes: list[float] = []
        probing = asyncio.ensure_future(_probe(clients[-1], probes))
        runs = await asyncio.gather(*(
            _reviewer(client, token, 10_000 + n, each, random.Random(n), done)
            for n, client in enumerate(clients[:-1])
        ))  # fmt: skip
        probing.cancel()
        await asyncio.gather(probing, return_exceptions=True)
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    shown = [t for run in runs for t in run["shown"]]
    votes = [t for run in runs for t in run["vote"]]
    handed = [t for run in runs for t in run["hand_out"]]
    return {
        "vote_to_next_ms": _spread(shown),
        "vote_ms": _spread(votes),
        "hand_out_ms": _spread(handed),
        "healthz_during_ms": _spread(probes),
        "acknowledged": sum(run["acknowledged"] for run in runs),
        "queue_ran_out": sum(run["ran_out"] for run in runs),
    }


async def _probe(client, times: list[float]) -> None:
    """/healthz every 50 ms meanwhile: what any request waits, beyond the console's work."""
    while True:
        started = time.perf_counter()
        (await client.get("/healthz")).raise_for_status()
        times.append(time.perf_counter() - started)
        await asyncio.sleep(0.05)


async def _reviewer(client, token: str, user_id: int, each: int, draw, done) -> dict:
    """One person on the Review page: vote, and the preloaded next photo shows."""
    headers = {"X-Telegram-Init-Data": init_data(token, {"id": user_id, "first_name": "R"})}
    times: dict = {"shown": [], "vote": [], "hand_out": [], "acknowledged": 0, "ran_out": 0}

    async def hand_out(showing: list[int]) -> dict:
        started = time.perf_counter()
        query = {"showing": ",".join(map(str, showing))} if showing else {}
        next_photo = (await client.get("/console/api/next", params=query, headers=headers)).json()
        if not next_photo.get("done"):
            (await client.get(next_photo["photo"])).raise_for_status()  # the image, preloaded
        times["hand_out"].append(time.perf_counter() - started)
        return next_photo

    current = await hand_out([])
    for _ in range(each):
        if current.get("done"):
            times["ran_out"] += 1
            break
        preload = asyncio.ensure_future(hand_out([current["sample"]]))
        await asyncio.sleep(draw.uniform(*THINK))
        choices = current["guesses"] + current["labels"]
        chosen = choices[0] if draw.random() < 0.8 else draw.choice(choices)  # mostly agreeing
        body = {"sample": current["sample"], "token": current["token"], "label": chosen["id"]}
        started = time.perf_counter()
        answer = await client.post("/console/api/vote", json=body, headers=headers)
        times["vote"].append(time.perf_counter() - started)
        answer.raise_for_status()
        times["acknowledged"] += 1
        current = await preload
        times["shown"].append(time.perf_counter() - started)
        done(1)
    return times


SERVER_ROUTES = {"/console/api/vote": "vote", "/console/api/next": "hand-out",
                 "/console/photo/{sample_id:int}": "photo"}  # fmt: skip


def _server_side(page: str) -> dict:
    """p50 and p99 of each console route as the bot itself timed it (its latency histogram,
    read back from `/metrics`): what the reviewers' times include beyond it is the network
    and the load generator itself, which shares this machine's two cores with the bot."""
    buckets: dict[str, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            route = sample.labels.get("route")
            if sample.name.endswith("_bucket") and route in SERVER_ROUTES:
                buckets.setdefault(SERVER_ROUTES[route], []).append(
                    (float(sample.labels["le"]), sample.value)
                )
    return {name: {"p50": _quantile(b, 0.5), "p99": _quantile(b, 0.99), "n": max(c for _, c in b)}
            for name, b in buckets.items()}  # fmt: skip


def _quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """A quantile in milliseconds from cumulative histogram buckets, as Prometheus'
    histogram_quantile interpolates it within the bucket."""
    buckets = sorted(buckets)
    total, low, below = buckets[-1][1], 0.0, 0.0
    for upper, count in buckets:
        if count >= q * total:
            if upper == float("inf"):
                return 1000 * low
            share = (q * total - below) / max(count - below, 1e-9)
            return 1000 * (low + (upper - low) * share)
        low, below = upper, count
    return 1000 * low


async def _pages(web: str, token: str) -> dict:
    headers = {"X-Telegram-Init-Data": init_data(token, ADMIN)}
    async with httpx.AsyncClient(base_url=web, timeout=30) as client:
        shell = await _timed(client, "/console/review", {})
        campaign = await _timed(client, "/console/part/campaign", headers)
        scrape = await _timed(client, "/metrics", {}, PAGE_REQUESTS // 4)
    return {"page_shell_ms": shell, "campaign_part_ms": campaign, "metrics_live_ms": scrape}


async def _timed(client, path: str, headers: dict, requests: int = PAGE_REQUESTS) -> dict:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        (await client.get(path, headers=headers)).raise_for_status()
        times.append(time.perf_counter() - started)
    return _spread(times)


def _nothing_lost(data_dir: Path, acknowledged: int) -> dict:
    """Acknowledged console votes against the store's, and the model against its journal."""
    with sqlite3.connect(data_dir / "labelbot.sqlite3") as db:
        stored = db.execute("SELECT COUNT(*) FROM votes WHERE user_id >= 10000").fetchone()[0]
        last_event = db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
    applied = CheckpointStore(data_dir / "models").load_latest().last_event_id
    return {"acknowledged_votes": acknowledged, "stored_votes": stored,
            "journal_events": last_event, "model_applied_events": applied,
            "nothing_lost": stored == acknowledged and applied == last_event}  # fmt: skip


def measure_metrics_at(votes: int, progress: ProgressFactory = no_progress) -> dict:
    """Milliseconds of a scrape's work on a store of `votes` votes (a third as many photos)."""
    with tempfile.TemporaryDirectory() as scratch:
        return asyncio.run(_scrapes(Path(scratch) / "labelbot.sqlite3", votes, progress))


async def _scrapes(path: Path, votes: int, progress) -> dict:
    store = await Store.connect(path)
    try:
        await fill_store(store, max(votes // 3, 1), votes, progress)
        last = await store.events.last_id()
        metrics, times = Metrics(), []
        for _ in range(50):
            started = time.perf_counter()
            await metrics.observe_store(store, 1, last, False)
            times.append(time.perf_counter() - started)
        return {"votes": votes, "scrape_ms": _spread(times)}
    finally:
        await store.close()


def _spread(seconds: list[float]) -> dict:
    ms = np.asarray(seconds, float) * 1000
    if not len(ms):
        return {"n": 0}
    return {"n": len(ms), "p50": float(np.percentile(ms, 50)),
            "p99": float(np.percentile(ms, 99)), "max": float(ms.max()),
            "mean": statistics.fmean(ms)}  # fmt: skip


def console_table(f: dict) -> str:
    def row(name: str, spread: dict, target: str) -> str:
        return (f"| {name} | {spread['p50']:.1f} | {spread['p99']:.1f} | {spread['max']:.1f} | "
                f"{spread['n']} | {target} |")  # fmt: skip

    at_scale = f["metrics_at_scale"]
    return "\n".join([
        f"{f['reviewers']} reviewers voting at once through the console's HTTP API, "
        f"{f['votes_each']} votes each, against one `labelbot run` process on loopback "
        "(milliseconds)",
        "",
        "| what | p50 | p99 | max | n | target |",
        "|---|---|---|---|---|---|",
        row("vote to next photo shown (preloaded)", f["vote_to_next_ms"], "p50 ≤ 100, p99 ≤ 500"),
        row("the vote's answer", f["vote_ms"], ""),
        row("a hand-out: next photo and its image", f["hand_out_ms"], ""),
        row("`/healthz` meanwhile (a request with no work)", f["healthz_during_ms"], ""),
        row("a page's HTML (the shell)", f["page_shell_ms"], "p50 ≤ 50"),
        row("the Campaign page's part", f["campaign_part_ms"], ""),
        row("`/metrics`, live", f["metrics_live_ms"], ""),
        row(f"`/metrics`' work at {at_scale['votes']:,} votes", at_scale["scrape_ms"], "≤ 50"),
        "",
        "The same requests as the bot timed them (its own latency histogram, interpolated "
        "within its buckets, so only roughly): " + "; ".join(
            f"{name} p50 {s['p50']:.1f}, p99 {s['p99']:.1f}" for name, s in f["server_ms"].items()
        ) + ".",
        "",
        f"Acknowledged console votes {f['acknowledged_votes']}, in the store "
        f"{f['stored_votes']}; journal events {f['journal_events']}, applied by the model "
        f"{f['model_applied_events']}: "
        + ("nothing lost." if f["nothing_lost"] else "**something was lost**.")
        + f" Reviewers who ran out of photos: {f['queue_ran_out']}.",
    ])  # fmt: skip
