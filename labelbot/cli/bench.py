"""`labelbot bench`: the benchmark's arguments and outputs (the harness is `benchmarks`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from benchmarks.run import BENCH_LEARNERS, AccuracyRun, BenchError
from labelbot.cli.errors import CommandError
from labelbot.cli.progress import bar
from labelbot.house import House
from labelbot.settings import Settings

LEARNER_CHOICES = ",".join(BENCH_LEARNERS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="folder-per-class tree: DIR/<label>/… or DIR/{train,test}/<label>/… "
        "(default: Fashion-MNIST from Debian)",
    )
    parser.add_argument(
        "--train-per-class",
        type=int,
        metavar="N",
        help="training photos per label (default: 300 for Fashion-MNIST, all for --data)",
    )
    parser.add_argument(
        "--test-per-class",
        type=int,
        metavar="N",
        help="test photos per label (default: 100 for Fashion-MNIST, all for --data)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="label orders to average (3)")
    parser.add_argument("--base", type=int, default=2, help="labels in the first phase (2)")
    parser.add_argument(
        "--stream",
        default="mixed",
        choices=("mixed", "blocks", "addlabel"),
        help="mixed: photos of every known label interleaved, as the bot sees them (default); "
        "blocks: each phase brings only its new label's photos; addlabel: each of 8 labels "
        "added last to a model that knows the others, then taught one photo at a time",
    )
    parser.add_argument(
        "--learners",
        default=LEARNER_CHOICES,
        help=f"comma-separated subset of {LEARNER_CHOICES} (default: all)",
    )
    parser.add_argument(
        "--backbone",
        metavar="NAME[,NAME…]",
        help="the backbone to measure with (default: LABELBOT_BACKBONE); several, comma-"
        "separated, compares them side by side on the same photos: accuracy, a label added "
        "mid-campaign, photos per second",
    )
    parser.add_argument("--out", type=Path, metavar="FILE.json", help="write every figure")
    parser.add_argument(
        "--chart", type=Path, metavar="FILE.png", help="accuracy chart (default: beside --out)"
    )
    parser.add_argument(
        "--latency",
        action="store_true",
        help="measure end-to-end predict from JPEG bytes against the bare backbone instead",
    )
    parser.add_argument(
        "--flood",
        action="store_true",
        help="measure honest contributors' waits with and without one flooding the bot",
    )
    parser.add_argument(
        "--replicas",
        action="store_true",
        help="the replicated deployment on loopback (PostgreSQL, trainer, two replicas behind "
        "haproxy) against one process, with a replica and the trainer killed mid-burst",
    )
    parser.add_argument(
        "--store",
        action="store_true",
        help="a vote's time in the store's unit of work, against the same statements through "
        "SQLAlchemy's async engine, and the share of a whole vote each would take; and one "
        "/review pick on a store of 100,000 photos",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="seconds until a bot killed and started again answers a command, an Undo and a "
        "photo sent while it was down; and the store's damage check on 100,000 photos",
    )
    parser.add_argument(
        "--console",
        action="store_true",
        help="reviewers voting through the console's HTTP API at once: vote to next photo, "
        "a page's HTML, /metrics (live, and its work at 100,000 votes), nothing lost",
    )
    parser.add_argument(
        "--votes-each", type=int, default=10, help="--console: votes per reviewer (10)"
    )
    parser.add_argument(
        "--restarts", type=int, default=5, help="--restart: restarts to take the median of (5)"
    )
    parser.add_argument(
        "--contributors",
        type=int,
        default=50,
        help="--flood, --replicas: contributors; --console: reviewers (50)",
    )
    parser.add_argument(
        "--crowd",
        action="store_true",
        help="simulate a noisy crowd voting on the data: every-vote, majority and consensus "
        "at 1-5 votes a photo, and the bot's adaptive policy (votes only where needed)",
    )
    parser.add_argument(
        "--mix",
        default="0.7,0.2,0.1",
        metavar="C,R,A",
        help="--crowd: shares of careful, random and adversarial voters (0.7,0.2,0.1)",
    )
    parser.add_argument(
        "--voters", type=int, default=20, help="--crowd: simulated contributors (20)"
    )
    parser.add_argument(
        "--drifting",
        type=int,
        default=0,
        metavar="N",
        help="--crowd: careful voters who turn careless halfway through the photos (0)",
    )
    parser.add_argument("--requests", type=int, default=512, help="--latency: requests (512)")
    parser.add_argument(
        "--in-flight",
        default="1,8,32,128",
        metavar="N,N,…",
        help="--latency: requests kept in flight, one throughput run each (1,8,32,128)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Runs the benchmark and prints its table; bad arguments raise CommandError."""
    from model_core.datasets import DatasetError

    learners = _names(args.learners)
    backbones = _backbones(args.backbone, settings)
    if len(backbones) == 1:
        settings = dataclasses.replace(settings, backbone=backbones[0])
    in_flight = _counts(args.in_flight)
    modes = (args.latency, args.flood, args.crowd, args.replicas, args.store, args.restart,
             args.console)  # fmt: skip
    if sum(modes) > 1:
        raise CommandError(
            "choose one of --latency, --flood, --crowd, --replicas, --store, --restart and "
            "--console"
        )
    if min(args.requests, args.contributors, args.restarts, args.votes_each) < 1 or not in_flight:
        raise CommandError(
            "--requests, --contributors, --restarts, --votes-each and every --in-flight count "
            "must be at least 1"
        )
    try:
        options = AccuracyRun(
            args.data,
            args.train_per_class,
            args.test_per_class,
            args.seeds,
            args.base,
            learners,
            args.stream,
        )
        house = House(settings)
        if args.latency:
            return _latency(args, in_flight, house)
        if args.flood:
            return _flood(args, house)
        if args.replicas:
            return _replicas(args, house)
        if args.store:
            return _store(args)
        if args.restart:
            return _restart(args, house)
        if args.console:
            return _console(args, house)
        if args.crowd:
            return _crowd(args, options, _mix(args.mix, args.voters, args.drifting), house)
        if len(backbones) > 1:
            return _backbones_side_by_side(args, options, backbones, settings)
        return _accuracy(args, options, house)
    except (BenchError, DatasetError) as error:
        raise CommandError(str(error)) from error


def _names(raw: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def _backbones(raw: str | None, settings: Settings) -> tuple[str, ...]:
    """The backbones named by --backbone (each checked), or the configured one."""
    from model_core.backbone.registry import BACKBONE_HELP, is_known_backbone

    names = _names(raw) if raw is not None else (settings.backbone,)
    unknown = [name for name in names if not is_known_backbone(name)]
    if unknown or not names or len(set(names)) < len(names):
        raise CommandError(f"--backbone: unknown, missing or repeated {unknown}. {BACKBONE_HELP}")
    return names


def _backbones_side_by_side(args, options, names: tuple[str, ...], settings: Settings) -> int:
    from benchmarks.backbones import backbones_table, compare_backbones
    from benchmarks.data import EmbeddingCache
    from benchmarks.run import latency_photos, load_split

    def load(name: str):
        house = House(dataclasses.replace(settings, backbone=name))
        embedder = house.embedder()
        split, _ = load_split(options, embedder, EmbeddingCache(house.data.bench_cache, name), bar)
        return split, embedder

    photos = latency_photos(args.data)
    figures = compare_backbones(names, load, photos, range(options.seeds), bar)
    data = args.data.resolve().name if args.data else "fashion-mnist"
    title = f"{data}: the default head on each backbone, {options.seeds} seeds"
    return _report({"data": data, "backbones": figures}, f"{title}\n\n{backbones_table(figures)}",
                   args.out)  # fmt: skip


def _accuracy(args: argparse.Namespace, options, house: House) -> int:
    from benchmarks.data import EmbeddingCache
    from benchmarks.report import markdown_tables, write_chart, write_json
    from benchmarks.run import ADDLABEL, accuracy, headline, load_split

    cache = EmbeddingCache(house.data.bench_cache, house.settings.backbone)
    split, name = load_split(options, house.embedder(), cache, bar)
    summary, meta = accuracy(options, split, name, bar)
    meta |= {"backbone": house.settings.backbone, "command": "labelbot " + " ".join(sys.argv[1:])}
    chart = args.chart or (args.out.with_suffix(".png") if args.out else Path(f"bench-{name}.png"))
    from benchmarks.targets import targets_table

    targets = targets_table(summary, addlabel=options.stream == ADDLABEL)
    if options.stream == ADDLABEL:
        from benchmarks.addlabel import addlabel_tables, write_addlabel_chart

        print(f"\n{headline(meta)}\n\n{addlabel_tables(summary)}\n\n{targets}")
        write_addlabel_chart(chart, summary, f"{name}: a label added to {len(split.names) - 1}")
    else:
        print(f"\n{headline(meta)}\n\n{markdown_tables(summary)}\n\n{targets}")
        title = f"{name}: {len(split.names)} labels, {options.seeds} label orders"
        write_chart(chart, summary, title)
    if args.out:
        write_json(args.out, summary, meta)
        print(f"\nwrote {args.out}", file=sys.stderr)
    print(f"wrote {chart}", file=sys.stderr)
    return 0


def _latency(args: argparse.Namespace, in_flight: tuple[int, ...], house: House) -> int:
    from benchmarks.latency import measure_latency
    from benchmarks.run import latency_photos, latency_table

    jpegs, labels = latency_photos(args.data)
    figures = measure_latency(house.embedder(), jpegs, labels, args.requests, in_flight, bar)
    return _report(figures, latency_table(figures), args.out)


def _flood(args: argparse.Namespace, house: House) -> int:
    from labelbot_testkit.flood import measure_flood

    figures = measure_flood(house.settings, house.backbone(), args.data, args.contributors, 4, bar)
    return _report(figures, flood_table(figures), args.out)


def _replicas(args: argparse.Namespace, house: House) -> int:
    from labelbot_testkit.topology import measure_replicas, replicas_table

    house.backbone()  # built once into the data dir, which every process then shares
    figures = measure_replicas(house.settings, args.data, args.contributors, 4, bar)
    return _report(figures, replicas_table(figures), args.out)


def _store(args: argparse.Namespace) -> int:
    from labelbot_testkit.pg_server import PostgresServer
    from labelbot_testkit.store_bench import measure_review_pick, measure_store, store_table

    figures = measure_store(progress=bar)
    try:
        server = PostgresServer().start()
    except RuntimeError as error:  # no PostgreSQL here: SQLite's figure alone, and why
        print(f"PostgreSQL left out: {error}", file=sys.stderr)
        figures["review_pick"] = measure_review_pick(progress=bar)
    else:
        try:
            url = server.new_database()
            figures["review_pick"] = measure_review_pick(progress=bar, postgres_url=url)
        finally:
            server.stop()
    return _report(figures, store_table(figures), args.out)


def _restart(args: argparse.Namespace, house: House) -> int:
    from labelbot_testkit.restart import measure_restart, restart_table

    house.backbone()  # built once into the data dir; the restarted bots load it from there
    figures = measure_restart(house.data.backbones, args.data, args.restarts, progress=bar)
    return _report(figures, restart_table(figures), args.out)


def _console(args: argparse.Namespace, house: House) -> int:
    from labelbot_testkit.console_bench import console_table, measure_console

    house.backbone()  # built once into the data dir; the bot process loads it from there
    figures = measure_console(
        house.data.backbones, args.data, args.contributors, args.votes_each, progress=bar
    )
    return _report(figures, console_table(figures), args.out)


def _crowd(args: argparse.Namespace, options, mix, house: House) -> int:
    from benchmarks.crowd import crowd_table, measure_crowd, write_crowd_chart
    from benchmarks.data import EmbeddingCache
    from benchmarks.run import load_split

    cache = EmbeddingCache(house.data.bench_cache, house.settings.backbone)
    split, name = load_split(options, house.embedder(), cache, bar)
    figures = measure_crowd(split, mix=mix, progress=bar) | {"data": name}
    chart = args.chart or (args.out.with_suffix(".png") if args.out else Path("bench-crowd.png"))
    write_crowd_chart(chart, figures, f"{name}: {len(split.names)} labels, a noisy crowd")
    print(f"wrote {chart}", file=sys.stderr)
    return _report(
        figures, f"{name}: {len(split.names)} labels\n\n{crowd_table(figures)}", args.out
    )


def _mix(raw: str, voters: int, drifting: int = 0):
    """ "0.7,0.2,0.1" as a CrowdMix of `voters` contributors, `drifting` of the careful ones
    turning careless halfway."""
    from benchmarks.crowd import CrowdMix

    try:
        careful, random, adversaries = (float(part) for part in raw.split(","))
    except ValueError:
        raise CommandError(f"--mix: expected three shares like 0.7,0.2,0.1; got {raw!r}") from None
    shares = (careful, random, adversaries)
    if min(shares) < 0 or abs(sum(shares) - 1) > 1e-6 or voters < 3:
        raise CommandError("--mix shares must be at least 0 and add up to 1; --voters at least 3")
    mix = CrowdMix(contributors=voters, careful=careful, random=random, drifting=drifting)
    if not 0 <= drifting <= mix.kinds().count("careful"):
        raise CommandError("--drifting must be from 0 to the number of careful voters")
    return mix


def _report(figures: dict, table: str, out: Path | None) -> int:
    """Prints the table; writes the figures, with the command that made them, to `out`."""
    print(table)
    if out:
        figures["command"] = "labelbot " + " ".join(sys.argv[1:])
        out.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nwrote {out}", file=sys.stderr)
    return 0


def flood_table(f: dict) -> str:
    rows = [
        f"{f['contributors']} honest contributors, {f['photos_each']} photos each",
        "",
        "| run | honest answered | p50 ms | p99 ms | hostile uploads | replies to them | "
        "peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("calm", "flood"):
        r = f[name]
        rows.append(
            f"| {name} | {r['honest_answered']}/{r['honest_sent']} | {r['p50_ms']:.0f} | "
            f"{r['p99_ms']:.0f} | {r['hostile_sent']} | {r['hostile_replies']} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    rows += ["", f"honest p99 with the flood / without = **{f['p99_ratio']:.2f}**"]
    return "\n".join(rows)


def _counts(raw: str) -> tuple[int, ...]:
    """ "1,8,32" as (1, 8, 32); empty if any part is not a positive whole number."""
    parts = [part.strip() for part in raw.split(",")]
    if not all(part.isdigit() and int(part) > 0 for part in parts):
        return ()
    return tuple(int(part) for part in parts)
