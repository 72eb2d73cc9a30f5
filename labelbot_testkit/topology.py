"""`labelbot bench --replicas`: the replicated deployment on one machine, on loopback.

PostgreSQL (a throwaway cluster from Debian's package), `labelbot run --role trainer`, two
`labelbot run --role replica` processes behind haproxy, and the fake Bot API delivering updates
by webhook to haproxy, all real processes. Contributors send photos (every one different) and
confirm their label: in bursts taken in turns by one `--role all` process (the baseline) and
the replicas, then against the replicas while one replica and then the trainer are killed
with SIGKILL in the middle of the burst and restarted. It reports photos per second and their
paired ratio, answers, acknowledged votes, updates taken over from a killed process, and
whether the model holds every vote in the store exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg

from labelbot.demo import ADMIN, load_demo_photos
from labelbot.net import free_port
from labelbot.settings import Settings
from labelbot_testkit.fake_telegram import FakeTelegram, say, tap_label, user
from labelbot_testkit.pg_server import PostgresServer
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
    option httpchk GET /healthz
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


WEBHOOK_CONNECTIONS = 40  # updates in flight to the bots at once: Telegram's default
ROUNDS = 3  # bursts against each layout, taken in turns, so that both see the same machine


def measure_replicas(
    settings: Settings,
    data: Path | None,
    contributors: int = 50,
    photos_each: int = 4,
    progress: ProgressFactory = no_progress,
) -> dict:
    """Throughput: one process and the replicas are both up, and take ROUNDS bursts in turns
    (this machine is shared: a paired ratio per round cancels what the neighbours do). Every
    photo is a different one, so each is downloaded and read by the backbone. Then a third
    deployment takes a burst with replica 1 and the trainer killed in the middle."""
    burst = contributors * photos_each
    photos = _distinct_photos(data, burst * (2 * ROUNDS + 1) + 5)  # and 1 + 2 + 2 warm-ups
    labels = sorted({label for label, _ in photos})
    pool = iter(photos)
    take = lambda n: [next(pool) for _ in range(n)]  # noqa: E731
    server = PostgresServer().start()
    try:
        rounds: dict[str, list[dict]] = {"one process": [], "two replicas": []}
        with (
            _deployed(server, settings, labels, take(1), 0) as one,
            _deployed(server, settings, labels, take(2), 2) as two,
        ):
            for n in range(ROUNDS):
                for name, deployment in (("one process", one), ("two replicas", two)):
                    done = progress(f"round {n + 1}, {name}: photos", burst)
                    rounds[name].append(_burst(deployment, take(burst), photos_each, n, done))
            runs = {
                name: _merged(rounds[name]) | asyncio.run(_exactly_once(deployment.url))
                for name, deployment in (("one process", one), ("two replicas", two))
            }
        with _deployed(server, settings, labels, take(2), 2) as killed:
            done = progress("two replicas, kills: photos", burst)
            figures = _burst(killed, take(burst), photos_each, ROUNDS, done, kills=True)
            runs["two replicas, kills"] = figures | asyncio.run(_exactly_once(killed.url))
    finally:
        server.stop()
    paired = zip(rounds["one process"], rounds["two replicas"], strict=True)
    ratios = [two["photos_per_second"] / one["photos_per_second"] for one, two in paired]
    return {
        "contributors": contributors,
        "photos_each": photos_each,
        "cores": len(os.sched_getaffinity(0)),
        "runs": runs,
        "round_ratios": ratios,
        "throughput_ratio": statistics.median(ratios),
    }


def _distinct_photos(data: Path | None, count: int) -> list[tuple[str, object]]:
    """`count` different photos of 5 labels, taken in turns: (label, photo)."""
    photos = load_demo_photos(data, 5, -(-count // 5))
    columns = [[(label, photo) for photo in some] for label, some in photos.items()]
    return [pair for row in zip(*columns, strict=False) for pair in row][:count]


def _merged(bursts: list[dict]) -> dict:
    """The rounds' bursts as one: counts added up, the median round's photos per second."""
    total = {key: sum(b[key] for b in bursts) for key in bursts[0] if key != "photos_per_second"}
    return total | {"photos_per_second": statistics.median(b["photos_per_second"] for b in bursts)}


@contextlib.contextmanager
def _deployed(server, settings, labels: list[str], warm: list, replicas: int):
    """One layout up and ready: its own database and fake Telegram, the labels added, and
    each bot process past its first photo (the backbone traced). Torn down on exit; its
    processes' logs are kept on failure."""
    url = server.new_database()
    fake = FakeTelegram(token=TOKEN, webhook_connections=WEBHOOK_CONNECTIONS).start()
    root = Path(tempfile.mkdtemp(prefix="labelbot-loopback-"))
    deployment = Deployment(root, fake, url, settings.data_dir)
    haproxy = None
    try:
        if replicas:
            haproxy = _start_replicas(deployment, replicas)
        else:
            deployment.ports["bot"] = free_port()
            deployment.webhook_url = f"http://127.0.0.1:{deployment.ports['bot']}/telegram"
            deployment.start("bot", "all")
            deployment.wait_listening("bot")
        for label in labels:
            say(fake, ADMIN, f"/addlabel {label}")
        for _, photo in warm:  # one per bot process: haproxy takes them in turns
            sent = fake.send_photo(ADMIN, photo)
            fake.wait_reply(sent, ADMIN["id"], timeout=START_TIMEOUT)
        yield deployment
        shutil.rmtree(root, ignore_errors=True)
    finally:
        deployment.stop_all()
        if haproxy is not None:
            haproxy.terminate()
            haproxy.wait()
        fake.stop()


def _start_replicas(deployment: Deployment, replicas: int) -> subprocess.Popen:
    """The trainer and the replicas behind haproxy; returns haproxy."""
    deployment.start("trainer", "trainer")
    proxy_port = free_port()
    deployment.webhook_url = f"http://127.0.0.1:{proxy_port}/telegram"
    names = [f"replica{i}" for i in range(1, replicas + 1)]
    for name in names:
        deployment.ports[name] = free_port()
        deployment.start(name, "replica")
    haproxy = _start_haproxy(deployment.root, proxy_port, [deployment.ports[n] for n in names])
    for name in names:
        deployment.wait_listening(name)
    return haproxy


def _start_haproxy(root: Path, port: int, backends: list[int]) -> subprocess.Popen:
    servers = "\n".join(f"    server r{i} 127.0.0.1:{p} check" for i, p in enumerate(backends, 1))
    config = root / "haproxy.cfg"
    config.write_text(HAPROXY.format(port=port, servers=servers))
    log = (root / "haproxy.log").open("ab")
    return subprocess.Popen(["haproxy", "-f", str(config), "-db"], stdout=log, stderr=log)


def _burst(deployment, items, each: int, round_: int, done, kills: bool = False) -> dict:
    """Every contributor sends `each` of `items` one after another and confirms each one's
    label; with `kills`, a replica and then the trainer are killed and restarted meanwhile.
    Each round has contributors of its own, so no one's per-person limits carry over."""
    fake = deployment.fake
    answered, acknowledged = [], []  # list.append is atomic: the threads share them
    total = len(items)
    contributors = total // each

    def contribute(n: int) -> None:
        person = user(20_000 + 1000 * round_ + n)
        for k in range(each):
            label, image = items[n * each + k]
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
    if kills:
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
    each = ", ".join(f"{r:.2f}×" for r in f.get("round_ratios", []))
    rows.append(
        f"\ntwo replicas ÷ one process: {f['throughput_ratio']:.2f}× photos/s "
        f"(median of {len(f.get('round_ratios', []))} rounds taken in turns: {each})"
    )
    return "\n".join(rows)
