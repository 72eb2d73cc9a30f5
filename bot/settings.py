"""One settings object, read from the environment and an optional git-ignored `.env` file.

Every value is checked here, at start-up, so that a typo fails fast with a message naming the
variable, instead of surfacing later as a confusing error deep inside a handler.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from model_core.backbone.registry import BACKBONE_HELP, is_known_backbone

LEARNERS = ("analytic", "cgan")
DEFAULT_LEARNER = "analytic"
GROUP_PHOTO_MODES = ("mentions", "all")  # in groups: photos that address the bot, or every one
_TOKEN_PATTERN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{30,}$")


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


class Secret:
    """Holds a value that must never reach a log line, a traceback or a repr."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    """Everything labelbot reads from its environment."""

    token: Secret | None = None
    admins: frozenset[int] = field(default_factory=frozenset)
    data_dir: Path = Path("data")
    backbone: str = "efficientnet_lite0"
    learner: str = DEFAULT_LEARNER
    group_photos: str = "mentions"
    api_base_url: str | None = None
    api_file_url: str | None = None

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
    ) -> Settings:
        """Reads the settings; `.env` fills in only what the real environment leaves unset."""
        values = dict(read_dotenv(dotenv)) if dotenv is not None else {}
        values.update(os.environ if environ is None else environ)
        return cls(
            token=_parse_token(values.get("TELEGRAM_BOT_TOKEN", "")),
            admins=_parse_admins(values.get("LABELBOT_ADMINS", "")),
            data_dir=_parse_data_dir(values.get("LABELBOT_DATA_DIR", "") or "data"),
            backbone=_parse_backbone(values.get("LABELBOT_BACKBONE", "") or "efficientnet_lite0"),
            learner=_parse_learner(values.get("LABELBOT_LEARNER", "") or DEFAULT_LEARNER),
            group_photos=_parse_group_photos(values.get("LABELBOT_GROUP_PHOTOS", "") or "mentions"),
            api_base_url=_parse_url("LABELBOT_API_BASE_URL", values.get("LABELBOT_API_BASE_URL")),
            api_file_url=_parse_url("LABELBOT_API_FILE_URL", values.get("LABELBOT_API_FILE_URL")),
        )


def read_dotenv(path: Path) -> dict[str, str]:
    """Parses `KEY=value` lines; blank lines, `#` comments and `export ` prefixes are allowed."""
    if not path.is_file():
        return {}
    values = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip().isidentifier():
            raise SettingsError(f"{path}, line {number}: expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _parse_token(raw: str) -> Secret | None:
    raw = raw.strip()
    if not raw:
        return None
    if not _TOKEN_PATTERN.match(raw):
        # Never echo the value: a near-miss token is still a secret.
        raise SettingsError(
            "TELEGRAM_BOT_TOKEN does not look like a bot token; expected the form "
            "'123456789:AA...' exactly as @BotFather gave it"
        )
    return Secret(raw)


def _parse_admins(raw: str) -> frozenset[int]:
    admins = set()
    for part in filter(None, (p.strip() for p in raw.split(","))):
        if not part.isdigit() or int(part) == 0:
            raise SettingsError(
                f"LABELBOT_ADMINS must be comma-separated Telegram user ids (positive numbers); "
                f"got {part!r}"
            )
        admins.add(int(part))
    return frozenset(admins)


def _parse_data_dir(raw: str) -> Path:
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise SettingsError(f"LABELBOT_DATA_DIR must be a directory; {raw!r} is a file")
    return path


def _parse_backbone(raw: str) -> str:
    name = raw.strip()
    if not is_known_backbone(name):
        raise SettingsError(f"LABELBOT_BACKBONE: unknown backbone {name!r}. {BACKBONE_HELP}")
    return name


def _parse_learner(raw: str) -> str:
    name = raw.strip().lower()
    if name not in LEARNERS:
        raise SettingsError(f"LABELBOT_LEARNER must be one of {', '.join(LEARNERS)}; got {raw!r}")
    return name


def _parse_group_photos(raw: str) -> str:
    if raw not in GROUP_PHOTO_MODES:
        raise SettingsError(
            f"LABELBOT_GROUP_PHOTOS must be one of {', '.join(GROUP_PHOTO_MODES)}; got {raw!r}"
        )
    return raw


def _parse_url(key: str, raw: str | None) -> str | None:
    """A Bot API server in python-telegram-bot's form, e.g. http://127.0.0.1:8081/bot."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if not raw.startswith(("http://", "https://")):
        raise SettingsError(f"{key} must start with http:// or https://; got {raw!r}")
    return raw
