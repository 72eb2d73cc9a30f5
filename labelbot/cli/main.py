"""The `labelbot` command: argument parsing and dispatch, nothing else.

Heavy imports (TensorFlow, the Telegram stack) happen inside the commands, so that `--help` and
argument errors answer at once. Every failure a user can act on ends in one line on stderr and
a non-zero exit; the traceback goes to the log at debug level (`-v`).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import secrets
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.store import StoreError
from labelbot.cli import bench
from labelbot.cli.errors import CommandError
from labelbot.house import DataDirError
from labelbot.logs import Logs
from labelbot.settings import ROLES, Secret, Settings, SettingsError
from labelbot.writer_lock import DataDirBusy
from model_core.learners import DEFAULT_LEARNER, LEARNER_NAMES

log = logging.getLogger("labelbot")
ONE_LINE_ERRORS = (SettingsError, CommandError, DataDirBusy, DataDirError, StoreError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelbot",
        description="A Telegram bot for crowd-sourced image labeling that learns from every "
        "answer. Configuration comes from the environment or .env (see docs/configuration.md).",
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
        "--webhook-url",
        metavar="URL",
        help="receive updates by webhook at this public https URL instead of long polling "
        "(default: $LABELBOT_WEBHOOK_URL)",
    )
    runner.add_argument(
        "--listen", metavar="HOST", help="webhook server's address (default: 127.0.0.1)"
    )
    runner.add_argument("--port", type=int, help="webhook server's port (default: 8443)")
    runner.add_argument(
        "--role",
        choices=ROLES,
        help="all: one process (default, $LABELBOT_ROLE); replica: answers Telegram by "
        "webhook and writes votes; trainer: the one model writer (both need PostgreSQL)",
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
        choices=LEARNER_NAMES,
        help=f"incremental head of a new model (default: $LABELBOT_LEARNER or {DEFAULT_LEARNER})",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="machine-readable output on stdout")

    importer = commands.add_parser(
        "import", parents=[learner], help="teach the model a folder-per-class tree of photos"
    )
    importer.add_argument("directory", type=Path, metavar="DIR", help="DIR/<label>/<image>")
    importer.add_argument("--seed", type=int, default=0, help="seed of the shuffled order")

    predictor = commands.add_parser(
        "predict", parents=[as_json], help="print the model's top guesses per image"
    )
    predictor.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    predictor.add_argument("--top-k", type=int, default=3, help="guesses per image (default 3)")

    commands.add_parser("labels", parents=[as_json], help="list labels and examples")
    adder = commands.add_parser("addlabel", parents=[learner], help="add a label")
    adder.add_argument("name", metavar="NAME")
    roller = commands.add_parser("rollback", help="restore a stored model version as the newest")
    roller.add_argument(
        "version", nargs="?", type=int, metavar="VERSION", help="default: the one before"
    )
    _add_export(commands)
    rebuilder = commands.add_parser(
        "rebuild",
        help="switch backbones: read every stored photo again and rebuild the model (with the "
        "bot stopped; resumes if interrupted)",
    )
    rebuilder.add_argument(
        "--backbone", required=True, metavar="NAME",
        help="e.g. efficientnet_lite2 (see docs/configuration.md)",
    )  # fmt: skip
    commands.add_parser(
        "reset-model",
        help="set the model's checkpoints aside; the next start rebuilds it from the store",
    )
    mover = commands.add_parser(
        "migrate-db", help="move the store from its SQLite file into an empty PostgreSQL database"
    )
    mover.add_argument(
        "--from", dest="source", metavar="sqlite:///FILE",
        help="the SQLite store (default: the data dir's labelbot.sqlite3)",
    )  # fmt: skip
    mover.add_argument(
        "--to", dest="target", metavar="postgresql://…",
        help="the empty PostgreSQL database (default: LABELBOT_DATABASE_URL)",
    )  # fmt: skip
    bench.add_arguments(
        commands.add_parser("bench", help="benchmark of the learners (docs/benchmarks.md)")
    )
    return parser


def _add_export(commands) -> None:
    exporter = commands.add_parser("export", help="export the labeled data or the model")
    kinds = exporter.add_subparsers(dest="what", metavar="WHAT", required=True)
    data = kinds.add_parser("data", help="labels.jsonl/.csv, embeddings and, with --images, photos")
    data.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    data.add_argument(
        "--images",
        action="store_true",
        help="also fetch the photos from Telegram into DIR/images/<label>/ (resumable)",
    )
    data.add_argument("--settled-only", action="store_true", help="only photos whose votes agree")
    data.add_argument("--since", metavar="DATE", help="only photos sent on or after DATE (UTC)")
    data.add_argument("--labels", metavar="A,B", help="only photos labeled one of these")
    model = kinds.add_parser("model", help="the model as .keras, SavedModel and .tflite")
    model.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs = Logs(args.verbose)
    try:
        settings = Settings.from_env()
        if settings.token is not None:
            logs.hide(settings.token.reveal())
        if settings.database_url is not None:
            logs.hide(settings.database_url.reveal())
        if settings.log_file is not None:
            logs.add_file(settings.log_file)
        if getattr(args, "learner", None):
            settings = settings.with_learner(args.learner)
        return _dispatch(args, settings, logs)
    except ONE_LINE_ERRORS as error:
        return _fail(logs, args.command, str(error), 2)
    except sqlite3.OperationalError as error:  # e.g. "database is locked" by another program
        return _fail(logs, args.command, f"the database cannot be used: {error}", 2)
    except KeyboardInterrupt:
        return _fail(logs, args.command, "interrupted", 130)
    except Exception as error:  # a bug: one line for the user, the traceback for -v
        log.debug("unexpected error", exc_info=True)
        hint = "" if args.verbose else " (run with -v for details)"
        return _fail(logs, args.command, f"unexpected error: {error}{hint}", 1)


def _fail(logs: Logs, command: str, message: str, code: int) -> int:
    log.debug("%s failed", command, exc_info=True)
    print(logs.redact(f"labelbot {command}: {message}"), file=sys.stderr)
    return code


def _with_webhook(settings: Settings, args: argparse.Namespace, logs: Logs) -> Settings:
    """The webhook flags over the settings; a random secret when none is configured (Telegram
    sends it with every update, so it only has to outlive this process)."""
    webhook = dict(webhook_url=args.webhook_url, webhook_listen=args.listen, webhook_port=args.port)
    settings = dataclasses.replace(settings, **{k: v for k, v in webhook.items() if v is not None})
    if settings.webhook_url and settings.webhook_secret is None:
        settings = dataclasses.replace(settings, webhook_secret=Secret(secrets.token_urlsafe(32)))
    if settings.webhook_secret is not None:
        logs.hide(settings.webhook_secret.reveal())
    return settings


def _dispatch(args: argparse.Namespace, settings: Settings, logs: Logs) -> int:
    from labelbot.cli import bot_commands, db_commands, export_commands, model_commands

    match args.command:
        case "run":
            settings = _with_webhook(settings, args, logs)
            if args.role:
                settings = dataclasses.replace(settings, role=args.role)
            return bot_commands.run(settings, args.api_base_url, args.api_file_url)
        case "demo":
            return bot_commands.demo(settings, args.data, args.labels, args.rounds, args.per_round)
        case "embed":
            return model_commands.embed(settings, args.images, args.out)
        case "import":
            return model_commands.import_tree(settings, args.directory, args.seed)
        case "predict":
            return model_commands.predict(settings, args.images, args.top_k, args.json)
        case "labels":
            return model_commands.labels(settings, args.json)
        case "addlabel":
            return model_commands.add_label(settings, args.name)
        case "rollback":
            return model_commands.rollback(settings, args.version)
        case "reset-model":
            return model_commands.reset_model(settings)
        case "rebuild":
            return model_commands.rebuild(settings, args.backbone)
        case "export" if args.what == "data":
            return export_commands.export_data(
                settings, args.out, images=args.images, settled_only=args.settled_only,
                since=args.since, labels=args.labels,
            )  # fmt: skip
        case "export":
            return export_commands.export_model(settings, args.out)
        case "migrate-db":
            return db_commands.migrate_db(settings, args.source, args.target)
        case "bench":
            return bench.run(args, settings)
    raise AssertionError(f"unhandled command {args.command}")
