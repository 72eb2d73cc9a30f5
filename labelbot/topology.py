"""`labelbot bench --replicas`: the replicated deployment on one machine, on loopback.

PostgreSQL (a throwaway cluster from Debian's package), `labelbot run --role trainer`, two
`labelbot run --role replica` processes behind haproxy, and the fake Bot API delivering updates
by webhook to haproxy, all real processes. Contributors send photos and confirm their label,
three times: against one `--role all` process (the baseline), against the replicas, and
against the replicas while one replica and then the trainer are killed with SIGKILL in the
middle of the burst and restarted. It reports photos per second, answers, acknowledged votes,
and whether the model holds every vote in the store exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg

from bot.fake_telegram import FakeTelegram, say, tap_label, user
from labelbot.demo import ADMIN, load_demo_photos
from labelbot.net import free_port
from labelbot.pg_server import PostgresServer
from labelbot.settings import Settings
from model_core.progress import ProgressFactory, no_progress

TOKEN = "123456:" + "R" * 35
SECRET = "loopback-webhook-secret-0123456789"
START_TIMEOUT = 300.0  # seconds for a process to import TensorFlow and listen
REPLY_TIMEOUT = 60.0  # a photo unanswered after this counts as lost
HAPROXY = """global
    maxconn 2000
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
    retry-on conn-failure empty-response
frontend telegram
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance roundrobin
    default-server inter 300ms fall 1 rise 2
{servers}
"""


class Deployment:
    """The processes of one run, started and killed by name."""

    def __init__(self, root: Path, fake: FakeTelegram, url: str, data_dir: Path) -> None:
        self.root, self.fake, self.url, self.data_dir = root, fake, url, data_dir
        self.processes: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}
        self.webhook_url = ""  # what every webhook process registers: haproxy, or the one bot

    def start(self, name: str, role: str) -> None:
        env = {
            **os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "LABELBOT_ADMINS": str(ADMIN["id"]),
            "LABELBOT_DATABASE_URL": self.url, "LABELBOT_WEBHOOK_SECRET": SECRET,
            "LABELBOT_DATA_DIR": str(self._data_dir(name, role)),
        }  # fmt: skip
        command = [sys.executable, "-m", "labelbot", "run", "--role", role]
        if role != "trainer":
            self.ports.setdefault(name, free_port())
            command += [
                "--api-base-url", self.fake.base_url, "--api-file-url", self.fake.base_file_url,
                "--webhook-url", self.webhook_url,
                "--listen", "127.0.0.1", "--port", str(self.ports[name]),
            ]  # fmt: skip
        log = (self.root / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(command, env=env, stdout=log, stderr=log)

    def _data_dir(self, name: str, role: str) -> Path:
        """Replicas share the data dir (its backbone cache); writers get their own, with the
        backbone cache linked in, since each holds a writer lock and checkpoints."""
        if role == "replica":
            return self.data_dir
        own = self.root / name
        own.mkdir(exist_ok=True)
        cache = self.data_dir / "backbones"
        if cache.is_dir() and not (own / "backbones").exists():
            (own / "backbones").symlink_to(cache.resolve())
        return own

    def wait_listening(self, name: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited; see {self.root / (name + '.log')}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.ports[name])) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not start listening in {START_TIMEOUT:.0f} s")

    def kill(self, name: str) -> None:
        self.processes[name].kill()
        self.processes[name].wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def measure_replicas(
    settings: Settings,
    data: Path | None,
    contributors: int = 50,
    photos_each: int = 4,
    progress: ProgressFactory = no_progress,
) -> dict:
    photos = load_demo_photos(data, 5, 20)
    server = PostgresServer().start()
    try:
        runs = {}
        for name, replicas, kills in (("one process", 0, False), ("two replicas", 2, False),
                                      ("two replicas, kills", 2, True)):  # fmt: skip
            done = progress(f"{name}: photos", contributors * photos_each)
            runs[name] = _run(server, settings, photos, contributors, photos_each, replicas,
                              kills, done)  # fmt: skip
    finally:
        server.stop()
    one, two = runs["one process"], runs["two replicas"]
    return {
        "contributors": contributors,
        "photos_each": photos_each,
        "cores": len(os.sched_getaffinity(0)),
        "runs": runs,
        "throughput_ratio": two["photos_per_second"] / one["photos_per_second"],
    }


def _run(server, settings, photos, contributors, each, replicas, kills, done) -> dict:
    url = server.new_database()
    fake = FakeTelegram(token=TOKEN).start()
    root = Path(tempfile.mkdtemp(prefix="labelbot-loopback-"))
    deployment = Deployment(root, fake, url, settings.data_dir)
    haproxy = None
    try:
        if replicas:
            deployment.start("trainer", "trainer")
            proxy_port = free_port()
            deployment.webhook_url = f"http://127.0.0.1:{proxy_port}/telegram"
            names = [f"replica{i}" for i in range(1, replicas + 1)]
            for name in names:
                deployment.ports[name] = free_port()
                deployment.start(name, "replica")
            haproxy = _start_haproxy(root, proxy_port, [deployment.ports[n] for n in names])
            for name in names:
                deployment.wait_listening(name)
        else:
            deployment.ports["bot"] = free_port()
            deployment.webhook_url = f"http://127.0.0.1:{deployment.ports['bot']}/telegram"
            deployment.start("bot", "all")
            deployment.wait_listening("bot")
        labels = list(photos)
        for label in labels:
            say(fake, ADMIN, f"/addlabel {label}")
        warm = fake.send_photo(ADMIN, photos[labels[0]][0])  # each process traces once
        fake.wait_reply(warm, ADMIN["id"], timeout=START_TIMEOUT)
        figures = _burst(fake, photos, contributors, each, done, deployment if kills else None)
        figures |= asyncio.run(_exactly_once(url))
        shutil.rmtree(root, ignore_errors=True)  # kept, with every process's log, on failure
        return figures
    finally:
        deployment.stop_all()
        if haproxy is not None:
            haproxy.terminate()
            haproxy.wait()
        fake.stop()


def _start_haproxy(root: Path, port: int, backends: list[int]) -> subprocess.Popen:
    servers = "\n".join(f"    server r{i} 127.0.0.1:{p} check" for i, p in enumerate(backends, 1))
    config = root / "haproxy.cfg"
    config.write_text(HAPROXY.format(port=port, servers=servers))
    log = (root / "haproxy.log").open("ab")
    return subprocess.Popen(["haproxy", "-f", str(config), "-db"], stdout=log, stderr=log)


def _burst(fake, photos, contributors, each, done, deployment) -> dict:
    """Every contributor sends `each` photos one after another and confirms each one's label;
    with a deployment, a replica and then the trainer are killed and restarted meanwhile."""
    items = [(label, image) for label, images in photos.items() for image in images]
    answered, acknowledged = [], []  # list.append is atomic: the threads share them
    total = contributors * each

    def contribute(n: int) -> None:
        person = user(20_000 + n)
        for k in range(each):
            label, image = items[(n * each + k) % len(items)]
            message_id = fake.send_photo(person, image)
            try:
                reply = fake.wait_reply(message_id, person["id"], timeout=REPLY_TIMEOUT)
            except TimeoutError:
                done(1)
                continue
            answered.append(time.perf_counter())
            try:
                if tap_label(fake, person, reply, label).get("text", "").startswith("Saved"):
                    acknowledged.append(1)  # the vote is on disk: the bot said so at once
                fake.wait_for(lambda r=reply: _outcome(fake, r), REPLY_TIMEOUT)
            except (TimeoutError, KeyError, LookupError):
                pass  # no answer in time: the tallies tell
            done(1)

    killer = threading.Thread(target=_kill_midway, args=(deployment, answered, total), daemon=True)
    started = time.perf_counter()
    if deployment is not None:
        killer.start()
    with ThreadPoolExecutor(contributors) as pool:
        list(pool.map(contribute, range(contributors)))
    seconds = time.perf_counter() - started
    return {
        "photos_sent": total,
        "photos_answered": len(answered),
        "votes_acknowledged": len(acknowledged),
        "seconds": seconds,
        "photos_per_second": len(answered) / seconds,
    }


def _outcome(fake: FakeTelegram, reply) -> bool:
    """The vote's outcome is shown: the guesses message edited to "Saved … (model version
    N)", or, with the trainer away, a reply saying the vote will be applied when it is back."""
    return (
        reply.text.startswith("Saved") or fake.reply_to(reply.message_id, reply.chat_id) is not None
    )


def _kill_midway(deployment, answered: list, total: int) -> None:
    """SIGKILL replica1 a third of the way through, the trainer at two thirds; each restarted
    at once (the proxy sends updates to the other replica meanwhile)."""
    for name, share in (("replica1", 1 / 3), ("trainer", 2 / 3)):
        while len(answered) < share * total:
            time.sleep(0.05)
        deployment.kill(name)
        deployment.start(name, "trainer" if name == "trainer" else "replica")


async def _exactly_once(url: str) -> dict:
    """Waits for the trainer (or the bot) to apply every committed event, then compares what
    the store says each photo teaches with what the published model holds."""
    connection = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pending = await connection.fetchval("SELECT COUNT(*) FROM events WHERE result IS NULL")
            published = await connection.fetchval(
                "SELECT COALESCE(MAX(last_event_id), 0) >= (SELECT COALESCE(MAX(id), 0) FROM "
                "events) OR NOT EXISTS (SELECT 1 FROM model_heads) FROM model_heads"
            )
            if pending == 0 and published:
                break
            await asyncio.sleep(0.5)
        head = await connection.fetchval(
            "SELECT meta FROM model_heads ORDER BY version DESC LIMIT 1"
        )
        votes = await connection.fetchval(
            "SELECT COUNT(*) FROM votes WHERE undone_at IS NULL AND label_id IS NOT NULL"
        )
        taught = await connection.fetchval("SELECT COUNT(DISTINCT sample_id) FROM contributions")
        applied = await connection.fetch(
            "SELECT kind, COUNT(*) FROM events WHERE result = 'ok' GROUP BY kind"
        )
        taken_over = await connection.fetchval("SELECT COUNT(*) FROM inbox WHERE attempts > 1")
        learned = await connection.fetchval(
            "SELECT COALESCE(SUM(CASE WHEN kind = 'reinforce' THEN 1 ELSE -1 END), 0) FROM events "
            "WHERE result = 'ok' AND kind IN ('reinforce', 'unlearn')"
        )
    finally:
        await connection.close()
    # The published model's own count of learned samples (one process publishes none: there
    # the applied events stand for it).
    held = sum(json.loads(head)["example_counts"]) if head else int(learned)
    return {
        "votes_stored": int(votes),
        "photos_taught": int(taught),
        "events_pending": int(pending),
        "events_applied": {row[0]: int(row[1]) for row in applied},
        "model_samples": held,
        "updates_taken_over": int(taken_over),  # left open by a killed process (bot.inbox)
        "exactly_once": held == int(taught) == int(learned) and int(pending) == 0,
    }


def replicas_table(f: dict) -> str:
    rows = [
        f"{f['contributors']} contributors, {f['photos_each']} photos each, {f['cores']} cores",
        "",
        "| run | photos answered | votes acknowledged | votes stored | updates taken over "
        "| photos/s | exactly once |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in f["runs"].items():
        rows.append(
            f"| {name} | {r['photos_answered']}/{r['photos_sent']} | {r['votes_acknowledged']} | "
            f"{r['votes_stored']} | {r.get('updates_taken_over', 0)} | "
            f"{r['photos_per_second']:.1f} | {'yes' if r['exactly_once'] else 'NO'} |"
        )
    rows.append(f"\ntwo replicas ÷ one process: {f['throughput_ratio']:.2f}× photos/s")
    return "\n".join(rows)
