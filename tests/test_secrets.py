"""The bot token never reaches any output: stderr, stdout or the log file, at any log level."""

from __future__ import annotations

import logging

import pytest
from helpers import labelbot

from labelbot.logs import HIDDEN, Redactor
from labelbot_testkit.fake_telegram import FakeTelegram

SECRET = "S3cret-Part_of-the-token_k" + "q" * 9
TOKEN = "7654321:" + SECRET


def assert_no_secret(*outputs: str) -> None:
    for output in outputs:
        assert SECRET not in output
        assert SECRET[:12] not in output  # not even a piece of it


def run_verbose(tmp_path, *args: str):
    """`labelbot -v run …` with a log file; returns (result, the log file's text)."""
    log_file = tmp_path / "labelbot.log"
    result = labelbot(
        "-v", "run", *args, cwd=tmp_path, TELEGRAM_BOT_TOKEN=TOKEN,
        LABELBOT_DATA_DIR=str(tmp_path / "data"), LABELBOT_LOG_FILE=str(log_file),
    )  # fmt: skip
    return result, log_file.read_text()


@pytest.mark.slow
def test_a_rejected_token_is_named_but_never_printed(tmp_path):
    fake = FakeTelegram(token="1111111:" + "B" * 35).start()  # knows another bot only
    try:
        result, logged = run_verbose(
            tmp_path, "--api-base-url", fake.base_url, "--api-file-url", fake.base_file_url
        )
    finally:
        fake.stop()
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "labelbot run: the Bot API server refused the token; check TELEGRAM_BOT_TOKEN with "
        "@BotFather"
    )
    assert_no_secret(result.stdout, result.stderr, logged)
    # The debug log did see the request URLs (python-telegram-bot logs them), redacted.
    assert f"7654321:{HIDDEN}" in logged and "getMe" in logged


@pytest.mark.slow
def test_an_unreachable_server_with_debug_logging_shows_no_token(tmp_path):
    result, logged = run_verbose(tmp_path, "--api-base-url", "http://127.0.0.1:9/bot")
    assert result.returncode == 2
    assert "cannot reach the Bot API server" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" in logged  # -v keeps the library's traceback, redacted
    assert_no_secret(result.stdout, result.stderr, logged)


@pytest.fixture
def redacted_log():
    """A logger whose one handler is redacted, as `labelbot.logs.Logs` sets them up."""
    redactor = Redactor()
    redactor.hide(TOKEN)
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    handler.addFilter(redactor)
    logger = logging.getLogger("test_secrets")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield logger, records
    logger.removeHandler(handler)


def test_arguments_tracebacks_and_stacks_are_redacted(redacted_log):
    logger, records = redacted_log
    logger.debug("POST https://api.telegram.org/bot%s/getMe", TOKEN)
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
    except RuntimeError:
        logger.error("failed", exc_info=True, stack_info=True)
    logger.info("half of it: %s", SECRET)
    assert len(records) == 3
    assert "RuntimeError: The token `7654321:[REDACTED]` was rejected" in records[1]
    assert "Stack (most recent call last)" in records[1]
    assert records[2] == "half of it: [REDACTED]"
    assert_no_secret(*records)


def test_anything_shaped_like_a_token_is_redacted(redacted_log):
    logger, records = redacted_log
    other = "98765432:" + "Z" * 35  # a token we were never told about
    logger.warning("url /bot%s/getUpdates", other)
    assert records == [f"url /bot98765432:{HIDDEN}/getUpdates"]
