"""One settings object, read from the environment and an optional git-ignored `.env` file.

Every value is checked here, at start-up, so that a typo fails fast with a message naming the
variable, instead of surfacing later as a confusing error deep inside a handler.

Where `.env` is: `$LABELBOT_ENV_FILE` if set, else the project root (the folder holding
`pyproject.toml`) when labelbot runs from a checkout; never the current directory, so the same
command means the same bot wherever it is started. A relative `LABELBOT_DATA_DIR` written in
`.env` is relative to the `.env` file's folder; one from the real environment is relative to
the current directory, as every shell path is. Unset, the data dir is `data/` in the project
root (from a checkout) or in the current directory (an installed package).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from model_core.backbone.registry import BACKBONE_HELP, DEFAULT_BACKBONE, is_known_backbone
from model_core.learners import DEFAULT_LEARNER, LEARNER_NAMES

VARIABLES = (  # every setting labelbot reads; .env.example and docs/configuration.md document each
    "TELEGRAM_BOT_TOKEN",
    "LABELBOT_ADMINS",
    "LABELBOT_DATA_DIR",
    "LABELBOT_BACKBONE",
    "LABELBOT_LEARNER",
    "LABELBOT_GROUP_PHOTOS",
    "LABELBOT_API_BASE_URL",
    "LABELBOT_API_FILE_URL",
    "LABELBOT_ENV_FILE",
    "LABELBOT_LOG_FILE",
    "LABELBOT_PHOTOS_PER_USER",
    "LABELBOT_PHOTOS_AT_ONCE",
    "LABELBOT_VOTES_TO_SETTLE",
    "LABELBOT_REVIEW_GOLD_SHARE",
    "LABELBOT_WEBHOOK_URL",
    "LABELBOT_WEBHOOK_SECRET",
    "LABELBOT_WEBHOOK_LISTEN",
    "LABELBOT_WEBHOOK_PORT",
    "LABELBOT_DATABASE_URL",
    "LABELBOT_ROLE",
    "LABELBOT_INSTANCE",
)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
IN_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file()
ROLES = ("all", "replica", "trainer")  # one process, or answering Telegram / the model's writer
GROUP_PHOTO_MODES = ("mentions", "all")  # in groups: photos that address the bot, or every one
_TOKEN_PATTERN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{30,}$")
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}$")  # Telegram allows 1-256 of these


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
    backbone: str = DEFAULT_BACKBONE
    learner: str = DEFAULT_LEARNER
    group_photos: str = "mentions"
    api_base_url: str | None = None
    api_file_url: str | None = None
    log_file: Path | None = None
    photos_per_user: int = 4
    photos_at_once: int = 64
    votes_to_settle: int = 2
    review_gold_share: float = 0.1
    webhook_url: str | None = None  # set: Telegram posts updates here instead of long polling
    webhook_secret: Secret | None = None
    webhook_listen: str = "127.0.0.1"  # behind a TLS proxy on the same machine
    webhook_port: int = 8443
    database_url: Secret | None = None  # postgresql://…: the store lives there, not in SQLite
    role: str = "all"  # all: one process; replica or trainer: see docs/deployment.md
    instance: str = ""  # this process's name in the inbox; "" = host name and webhook port

    @property
    def instance_name(self) -> str:
        """Stable across restarts of the same process, distinct between replicas (each
        listens on its own host or port), so a restart takes over its own unhandled updates."""
        if self.instance:
            return self.instance
        where = self.webhook_port if self.webhook_url else "polling"
        return f"{socket.gethostname()}:{where}"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = None
    ) -> Settings:
        """Reads the settings; `.env` (`dotenv`, else `env_file_for`) fills in only what the
        real environment leaves unset."""
        environ = os.environ if environ is None else environ
        dotenv = dotenv if dotenv is not None else env_file_for(environ)
        from_file = read_dotenv(dotenv) if dotenv is not None else {}
        values = {**from_file, **environ}

        def get(key: str, default: str = "") -> str:
            return values.get(key, "").strip() or default

        return cls(
            token=_parse_token(get("TELEGRAM_BOT_TOKEN")),
            admins=_parse_admins(get("LABELBOT_ADMINS")),
            data_dir=_parse_data_dir(
                get("LABELBOT_DATA_DIR"),
                base=dotenv.parent if "LABELBOT_DATA_DIR" not in environ and dotenv else None,
            ),
            backbone=_parse_backbone(get("LABELBOT_BACKBONE", DEFAULT_BACKBONE)),
            learner=_parse_learner(get("LABELBOT_LEARNER", DEFAULT_LEARNER)),
            group_photos=_parse_group_photos(get("LABELBOT_GROUP_PHOTOS", "mentions")),
            api_base_url=_parse_url("LABELBOT_API_BASE_URL", values.get("LABELBOT_API_BASE_URL")),
            api_file_url=_parse_url("LABELBOT_API_FILE_URL", values.get("LABELBOT_API_FILE_URL")),
            log_file=_parse_log_file(get("LABELBOT_LOG_FILE")),
            photos_per_user=_parse_count(
                "LABELBOT_PHOTOS_PER_USER", get("LABELBOT_PHOTOS_PER_USER"), 4
            ),
            webhook_url=_parse_url("LABELBOT_WEBHOOK_URL", values.get("LABELBOT_WEBHOOK_URL")),
            webhook_secret=_parse_webhook_secret(get("LABELBOT_WEBHOOK_SECRET")),
            webhook_listen=get("LABELBOT_WEBHOOK_LISTEN", "127.0.0.1"),
            webhook_port=_parse_count("LABELBOT_WEBHOOK_PORT", get("LABELBOT_WEBHOOK_PORT"), 8443),
            database_url=_parse_database_url(get("LABELBOT_DATABASE_URL")),
            role=_parse_choice("LABELBOT_ROLE", get("LABELBOT_ROLE", "all"), ROLES),
            instance=get("LABELBOT_INSTANCE"),
            review_gold_share=_parse_share(
                "LABELBOT_REVIEW_GOLD_SHARE", get("LABELBOT_REVIEW_GOLD_SHARE"), 0.1
            ),
            votes_to_settle=_parse_count(
                "LABELBOT_VOTES_TO_SETTLE", get("LABELBOT_VOTES_TO_SETTLE"), 2
            ),
            photos_at_once=_parse_count(
                "LABELBOT_PHOTOS_AT_ONCE", get("LABELBOT_PHOTOS_AT_ONCE"), 64
            ),
        )

    def with_learner(self, learner: str) -> Settings:
        return replace(self, learner=_parse_learner(learner))


def env_file_for(environ: Mapping[str, str]) -> Path | None:
    """`$LABELBOT_ENV_FILE` (which must exist), else the checkout's `.env`, else none."""
    chosen = environ.get("LABELBOT_ENV_FILE", "").strip()
    if chosen:
        path = Path(chosen).expanduser()
        if not path.exists():
            raise SettingsError(f"LABELBOT_ENV_FILE: {chosen!r} does not exist")
        return path
    return PROJECT_ROOT / ".env" if IN_CHECKOUT else None


def read_dotenv(path: Path) -> dict[str, str]:
    """Parses `KEY=value` lines; blank lines, `#` comments and `export ` prefixes are allowed."""
    if not path.exists():
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


def _parse_data_dir(raw: str, base: Path | None) -> Path:
    """`raw` relative to `base` (the .env file's folder) when given; the default is `data/`
    in the project root from a checkout, else in the current directory."""
    if not raw:
        path = PROJECT_ROOT / "data" if IN_CHECKOUT else Path("data")
    else:
        path = Path(raw).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
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
    if name not in LEARNER_NAMES:
        raise SettingsError(
            f"LABELBOT_LEARNER must be one of {', '.join(LEARNER_NAMES)}; got {raw!r}"
        )
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


def _parse_log_file(raw: str) -> Path | None:
    if not raw:
        return None
    path = Path(raw).expanduser()
    if path.is_dir():
        raise SettingsError(f"LABELBOT_LOG_FILE must name a file; {raw!r} is a directory")
    if not path.parent.is_dir():
        raise SettingsError(f"LABELBOT_LOG_FILE: the folder of {raw!r} does not exist")
    return path


def _parse_count(key: str, raw: str, default: int) -> int:
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{key} must be a whole number of at least 1; got {raw!r}")
    return int(raw)


def _parse_share(key: str, raw: str, default: float) -> float:
    if not raw:
        return default
    try:
        share = float(raw)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise SettingsError(f"{key} must be a number from 0 to 1; got {raw!r}")
    return share


def _parse_choice(key: str, raw: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise SettingsError(f"{key} must be one of {', '.join(choices)}; got {raw!r}")
    return raw


def check_role(settings: Settings) -> None:
    """Replicas and the trainer share the store through PostgreSQL; replicas receive updates
    by webhook (Telegram lets one process poll a token)."""
    if settings.role == "all":
        return
    if settings.database_url is None:
        raise SettingsError(
            f"--role {settings.role} needs LABELBOT_DATABASE_URL: replicas and the trainer "
            "share the store through PostgreSQL"
        )
    if settings.role == "replica" and not settings.webhook_url:
        raise SettingsError(
            "--role replica needs --webhook-url (or LABELBOT_WEBHOOK_URL): Telegram lets only "
            "one process poll a token, so replicas receive updates by webhook"
        )


def _parse_database_url(raw: str) -> Secret | None:
    """A PostgreSQL URL (kept secret: it may hold a password); empty keeps SQLite."""
    if not raw:
        return None
    if not raw.startswith(("postgresql://", "postgres://")):
        raise SettingsError(
            "LABELBOT_DATABASE_URL must be a PostgreSQL URL such as "
            "postgresql://labelbot@localhost/labelbot; leave it unset for the SQLite file"
        )
    return Secret(raw)


def _parse_webhook_secret(raw: str) -> Secret | None:
    if not raw:
        return None
    if not _WEBHOOK_SECRET.match(raw):
        raise SettingsError(
            "LABELBOT_WEBHOOK_SECRET must be 16 to 256 letters, digits, '_' or '-' (Telegram's "
            "rule, and long enough to guess never)"
        )
    return Secret(raw)
