"""Settings: read from the environment and .env, fail fast with the variable's name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labelbot.settings import (
    PROJECT_ROOT,
    VARIABLES,
    Settings,
    SettingsError,
    read_dotenv,
    reference,
)

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


def settings(tmp_path: Path, dotenv: str = "", **environ: str) -> Settings:
    path = tmp_path / ".env"
    path.write_text(dotenv)
    return Settings.from_env(environ, path)


def test_defaults_without_configuration(tmp_path):
    result = settings(tmp_path)
    assert result.token is None
    assert result.admins == frozenset()
    assert result.data_dir == PROJECT_ROOT / "data"  # not the current directory
    assert result.backbone == "efficientnet_lite0"
    assert result.learner == "analytic"  # the benchmark's pick (docs/bench)


def test_values_come_from_dotenv_and_the_environment_wins(tmp_path):
    dotenv = f'# comment\nexport TELEGRAM_BOT_TOKEN="{TOKEN}"\nLABELBOT_ADMINS=1, 2\n'
    result = settings(tmp_path, dotenv, LABELBOT_ADMINS="7", LABELBOT_DATA_DIR=str(tmp_path))
    assert result.token.reveal() == TOKEN
    assert result.admins == {7}
    assert result.data_dir == tmp_path


def test_token_never_appears_in_repr_or_str(tmp_path):
    result = settings(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN)
    assert TOKEN not in repr(result) and TOKEN not in str(result)
    assert TOKEN.split(":")[1] not in repr(result.token)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LABELBOT_ADMINS", "12,alice", "LABELBOT_ADMINS.*'alice'"),
        ("LABELBOT_ADMINS", "-5", "LABELBOT_ADMINS"),
        ("LABELBOT_BACKBONE", "vgg16", "LABELBOT_BACKBONE.*'vgg16'.*efficientnet_lite0"),
        ("LABELBOT_BACKBONE", "keras:Nope", "LABELBOT_BACKBONE"),
        ("LABELBOT_LEARNER", "svm", "LABELBOT_LEARNER must be one of analytic, cgan"),
        ("LABELBOT_PUBLIC_URL", "http://bot.example.org", "LABELBOT_PUBLIC_URL must be an https"),
        ("LABELBOT_PUBLIC_URL", "https://bot.example.org/?x=1", "without \\? or #"),
        ("LABELBOT_CONSOLE_PORT", "70000", "LABELBOT_CONSOLE_PORT must be a port number"),
        ("LABELBOT_WEBHOOK_URL", "https://bot.example.org/metrics", "the web app's own"),
    ],
)
def test_invalid_values_name_the_variable(tmp_path, variable, value, expected):
    with pytest.raises(SettingsError, match=expected):
        settings(tmp_path, **{variable: value})


def test_the_console_needs_a_web_server_and_https_outside_loopback(tmp_path):
    with pytest.raises(SettingsError, match="LABELBOT_CONSOLE_PORT"):
        settings(tmp_path, LABELBOT_PUBLIC_URL="https://bot.example.org")
    local = settings(
        tmp_path, LABELBOT_PUBLIC_URL="http://127.0.0.1:8080/", LABELBOT_CONSOLE_PORT="8080"
    )
    assert local.public_url == "http://127.0.0.1:8080" and local.console_port == 8080
    hooked = settings(
        tmp_path, LABELBOT_PUBLIC_URL="https://bot.example.org",
        LABELBOT_WEBHOOK_URL="https://bot.example.org/telegram",
    )  # fmt: skip
    assert hooked.public_url == "https://bot.example.org"


def test_malformed_token_is_rejected_without_echoing_it(tmp_path):
    bad = "123456789:short-but-secret"
    with pytest.raises(SettingsError, match="TELEGRAM_BOT_TOKEN") as caught:
        settings(tmp_path, TELEGRAM_BOT_TOKEN=bad)
    assert "short-but-secret" not in str(caught.value)


def test_data_dir_that_is_a_file_is_rejected(tmp_path):
    file = tmp_path / "afile"
    file.write_text("x")
    with pytest.raises(SettingsError, match="LABELBOT_DATA_DIR"):
        settings(tmp_path, LABELBOT_DATA_DIR=str(file))


def test_malformed_dotenv_line_names_the_line(tmp_path):
    with pytest.raises(SettingsError, match=r"\.env, line 2"):
        settings(tmp_path, "LABELBOT_ADMINS=1\nthis is not an assignment\n")


def test_the_example_env_file_is_valid_and_documents_every_setting(tmp_path):
    example = PROJECT_ROOT / ".env.example"
    settings = Settings.from_env({}, example)
    assert settings.token is None and settings.group_photos == "mentions"
    text = example.read_text()
    assert all(variable in text for variable in VARIABLES)
    page = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    assert reference() in page  # generated from the declarations: `python -m labelbot.settings`
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", page, flags=re.M))
    assert documented == set(VARIABLES)  # every setting has its row, and no row is stale


def test_deploy_files_agree_on_a_writable_data_dir():
    # systemd lets EnvironmentFile= override Environment=: the example (copied there) must not
    # set a data dir, or data would go to the read-only checkout under ProtectSystem=strict.
    assert "LABELBOT_DATA_DIR" not in read_dotenv(PROJECT_ROOT / ".env.example")
    unit = (PROJECT_ROOT / "deploy" / "labelbot.service").read_text()
    assert "Environment=LABELBOT_DATA_DIR=/var/lib/labelbot" in unit
    assert "StateDirectory=labelbot" in unit and "ProtectSystem=strict" in unit
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data", ".env", ".git"} <= set(ignored)


def test_group_mode_and_api_server(tmp_path):
    settings = Settings.from_env(
        {"LABELBOT_GROUP_PHOTOS": "all", "LABELBOT_API_BASE_URL": "http://127.0.0.1:8081/bot"},
        None,
    )
    assert settings.group_photos == "all"
    assert settings.api_base_url == "http://127.0.0.1:8081/bot" and settings.api_file_url is None
    with pytest.raises(SettingsError, match="LABELBOT_GROUP_PHOTOS"):
        Settings.from_env({"LABELBOT_GROUP_PHOTOS": "some"}, None)
    with pytest.raises(SettingsError, match="LABELBOT_API_FILE_URL"):
        Settings.from_env({"LABELBOT_API_FILE_URL": "127.0.0.1:8081"}, None)


def test_env_file_comes_from_labelbot_env_file_and_its_data_dir_is_relative_to_it(tmp_path):
    folder = tmp_path / "deploy"
    folder.mkdir()
    (folder / "bot.env").write_text("LABELBOT_DATA_DIR=state\nLABELBOT_ADMINS=5\n")
    result = Settings.from_env({"LABELBOT_ENV_FILE": str(folder / "bot.env")})
    assert result.data_dir == folder / "state" and result.admins == {5}
    # A relative path from the real environment stays relative to the current directory.
    result = Settings.from_env({"LABELBOT_ENV_FILE": str(folder / "bot.env"),
                                "LABELBOT_DATA_DIR": "here"})  # fmt: skip
    assert result.data_dir == Path("here")
    with pytest.raises(SettingsError, match="LABELBOT_ENV_FILE"):
        Settings.from_env({"LABELBOT_ENV_FILE": str(tmp_path / "missing.env")})
    (folder / "state").write_text("a file, not a folder")  # checked where it resolves to
    with pytest.raises(SettingsError, match=r"LABELBOT_DATA_DIR must be a directory"):
        Settings.from_env({"LABELBOT_ENV_FILE": str(folder / "bot.env")})


def test_the_checkout_env_file_is_the_default_not_the_current_directory(tmp_path, monkeypatch):
    from labelbot.settings import env_file_for

    (tmp_path / ".env").write_text("LABELBOT_ADMINS=not-a-number\n")
    monkeypatch.chdir(tmp_path)  # a stray .env here must not be read
    assert env_file_for({}) == PROJECT_ROOT / ".env"
