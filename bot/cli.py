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

from bot.errors import CommandError
from bot.settings import Settings, SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelbot",
        description="A Telegram bot for crowd-sourced image labeling that learns from every "
        "answer. Configuration comes from the environment or .env (see README).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    commands.add_parser("run", help="run the Telegram bot (the offline demo without a token)")

    embed = commands.add_parser("embed", help="write backbone embeddings of images to a .npy")
    embed.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    embed.add_argument("--out", required=True, type=Path, help="output .npy file (N x D)")
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
    if args.command == "embed":
        from bot.model_commands import embed

        return embed(settings, args.images, args.out)
    if args.command == "run":
        from bot.runner import run

        return run(settings)
    raise AssertionError(f"unhandled command {args.command}")


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
