"""The `labelbot` command: argument parsing and dispatch, nothing else.

Heavy imports (TensorFlow, the Telegram stack) happen inside the commands, so that `--help` and
argument errors answer at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.cli import add_arguments as benchmark_arguments
from benchmarks.cli import run as run_benchmark
from bot.errors import CommandError
from bot.settings import DEFAULT_LEARNER, LEARNERS, Settings, SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelbot",
        description="A Telegram bot for crowd-sourced image labeling that learns from every "
        "answer. Configuration comes from the environment or .env (see README).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    runner = commands.add_parser(
        "run", help="run the Telegram bot (the offline demo without a token)"
    )
    runner.add_argument(
        "--api-base-url",
        metavar="URL",
        help="another Bot API server, e.g. http://127.0.0.1:8081/bot "
        "(default: $LABELBOT_API_BASE_URL or Telegram)",
    )
    runner.add_argument(
        "--api-file-url",
        metavar="URL",
        help="its file URL, e.g. http://127.0.0.1:8081/file/bot (default: $LABELBOT_API_FILE_URL)",
    )
    demo = commands.add_parser(
        "demo", help="the bot against a local fake Telegram with scripted contributors"
    )
    demo.add_argument("--data", type=Path, metavar="DIR", help="folder-per-class photos "
                      "(default: Fashion-MNIST from Debian)")  # fmt: skip
    demo.add_argument("--labels", type=int, default=5, help="labels to use (5)")
    demo.add_argument("--rounds", type=int, default=4, help="rounds (4)")
    demo.add_argument("--per-round", type=int, default=4, help="photos per label per round (4)")

    embed = commands.add_parser("embed", help="write backbone embeddings of images to a .npy")
    embed.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    embed.add_argument("--out", required=True, type=Path, help="output .npy file (N x D)")

    learner = argparse.ArgumentParser(add_help=False)
    learner.add_argument(
        "--learner",
        choices=LEARNERS,
        help=f"incremental head (default: $LABELBOT_LEARNER or {DEFAULT_LEARNER})",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="machine-readable output on stdout")

    importer = commands.add_parser(
        "import", parents=[learner], help="teach the model a folder-per-class tree of photos"
    )
    importer.add_argument("directory", type=Path, metavar="DIR", help="DIR/<label>/<image>")
    importer.add_argument("--seed", type=int, default=0, help="seed of the shuffled order")

    predictor = commands.add_parser(
        "predict", parents=[learner, as_json], help="print the model's top guesses per image"
    )
    predictor.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    predictor.add_argument("--top-k", type=int, default=3, help="guesses per image (default 3)")

    commands.add_parser("labels", parents=[learner, as_json], help="list labels and examples")
    adder = commands.add_parser("addlabel", parents=[learner], help="add a label")
    adder.add_argument("name", metavar="NAME")
    roller = commands.add_parser(
        "rollback", parents=[learner], help="restore a stored model version as the newest"
    )
    roller.add_argument(
        "version", nargs="?", type=int, metavar="VERSION", help="default: the one before"
    )
    bench = commands.add_parser(
        "bench", help="class-incremental benchmark of the learners (README: Benchmark)"
    )
    benchmark_arguments(bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        settings = Settings.from_env()
        return _dispatch(args, settings)
    except (SettingsError, CommandError) as error:
        print(f"labelbot {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"labelbot {args.command}: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        from bot.runner import run

        return run(settings, args.api_base_url, args.api_file_url)
    if args.command == "demo":
        return _demo(args, settings)
    from bot import model_commands as do

    learner = getattr(args, "learner", None) or settings.learner
    match args.command:
        case "embed":
            return do.embed(settings, args.images, args.out)
        case "import":
            return do.import_tree(settings, learner, args.directory, args.seed)
        case "predict":
            return do.predict(settings, learner, args.images, args.top_k, args.json)
        case "labels":
            return do.labels(settings, learner, args.json)
        case "addlabel":
            return do.add_label(settings, learner, args.name)
        case "rollback":
            return do.rollback(settings, learner, args.version)
        case "bench":
            return run_benchmark(args, settings)
    raise AssertionError(f"unhandled command {args.command}")


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import run_demo
    from model_core.datasets import DatasetError

    if min(args.labels, args.rounds, args.per_round) < 1 or args.labels < 2:
        raise CommandError("--labels must be at least 2, --rounds and --per-round at least 1")
    try:
        return run_demo(settings, args.data, args.labels, args.rounds, args.per_round)
    except DatasetError as error:
        raise CommandError(str(error)) from error


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


if __name__ == "__main__":
    sys.exit(main())
