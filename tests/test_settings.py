"""Settings: read from the environment and .env, fail fast with the variable's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


def settings(tmp_path: Path, dotenv: str = "", **environ: str) -> Settings:
    path = tmp_path / ".env"
    path.write_text(dotenv)
    return Settings.from_env(environ, path)


def test_defaults_without_configuration(tmp_path):
    result = settings(tmp_path)
    assert result.token is None
    assert result.admins == frozenset()
    assert result.data_dir == Path("data")
    assert result.backbone == "efficientnet_lite0"
    assert result.learner in ("analytic", "cgan")


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
    ],
)
def test_invalid_values_name_the_variable(tmp_path, variable, value, expected):
    with pytest.raises(SettingsError, match=expected):
        settings(tmp_path, **{variable: value})


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
    example = Path(__file__).parents[1] / ".env.example"
    settings = Settings.from_env({}, example)
    assert settings.token is None and settings.group_photos == "mentions"
    text = example.read_text()
    keys = ["TELEGRAM_BOT_TOKEN", "LABELBOT_ADMINS", "LABELBOT_DATA_DIR", "LABELBOT_LEARNER"]
    keys += ["LABELBOT_GROUP_PHOTOS", "LABELBOT_API_BASE_URL", "LABELBOT_API_FILE_URL"]
    assert all(key in text for key in keys)


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
