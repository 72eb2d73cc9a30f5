"""One settings object, read from the environment and an optional git-ignored `.env` file.

Every value is checked here, at start-up, so that a typo fails fast with a message naming the
variable, instead of surfacing later as a confusing error deep inside a handler.

Where `.env` is: `$LABELBOT_ENV_FILE` if set, else the project root (the folder holding
`pyproject.toml`) when labelbot runs from a checkout; never the current directory, so the same
command means the same bot wherever it is started. A relative `LABELBOT_DATA_DIR` written in
`.env` is relative to the `.env` file's folder; one from the real environment is relative to
the current directory, as every shell path is. Unset, the data dir is `data/` in the project
root (from a checkout) or in the current directory (an installed package).

Each setting is declared once, as a field of `Settings` with its variable, its default, how it
is read and what it means; the configuration reference (docs/configuration.md) is generated
from these declarations (`python -m labelbot.settings`), and a test keeps the two equal.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from bot.web import RESERVED_PATHS
from model_core.backbone.registry import BACKBONE_HELP, DEFAULT_BACKBONE, is_known_backbone
from model_core.learners import DEFAULT_LEARNER, LEARNER_NAMES

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


Parse = Callable[[str, str], object]  # (variable, its text) -> the value, or SettingsError


@dataclass(frozen=True)
class Variable:
    """One environment variable: how it reads and what the reference says of it."""

    name: str
    meaning: str
    parse: Parse | None = None  # None: the text as it is
    shown_default: str | None = None  # the reference's default, when not the field's value


def setting(name: str, default: object, meaning: str, parse: Parse | None = None,
            shown: str | None = None, factory: Callable[[], object] | None = None):  # fmt: skip
    """A field of `Settings`, read from `name`; `default` when unset."""
    variable = Variable(name, meaning, parse, shown)
    if factory is not None:
        return field(default_factory=factory, metadata={"variable": variable})
    return field(default=default, metadata={"variable": variable})


def _parse_token(key: str, raw: str) -> Secret:
    if not _TOKEN_PATTERN.match(raw):
        # Never echo the value: a near-miss token is still a secret.
        raise SettingsError(
            f"{key} does not look like a bot token; expected the form "
            "'123456789:AA...' exactly as @BotFather gave it"
        )
    return Secret(raw)


def _parse_admins(key: str, raw: str) -> frozenset[int]:
    admins = set()
    for part in filter(None, (p.strip() for p in raw.split(","))):
        if not (part.isascii() and part.isdigit()) or int(part) == 0:
            raise SettingsError(
                f"{key} must be comma-separated Telegram user ids (positive numbers); got {part!r}"
            )
        admins.add(int(part))
    return frozenset(admins)


def _parse_data_dir(key: str, raw: str) -> Path:
    """Checked once it is resolved (relative to .env's folder, maybe): `__post_init__`."""
    return Path(raw).expanduser()


def _parse_backbone(key: str, raw: str) -> str:
    if not is_known_backbone(raw):
        raise SettingsError(f"{key}: unknown backbone {raw!r}. {BACKBONE_HELP}")
    return raw


def _parse_learner(key: str, raw: str) -> str:
    name = raw.strip().lower()
    if name not in LEARNER_NAMES:
        raise SettingsError(f"{key} must be one of {', '.join(LEARNER_NAMES)}; got {raw!r}")
    return name


def _one_of(choices: tuple[str, ...]) -> Parse:
    def parse(key: str, raw: str) -> str:
        if raw not in choices:
            raise SettingsError(f"{key} must be one of {', '.join(choices)}; got {raw!r}")
        return raw

    return parse


def _parse_url(key: str, raw: str) -> str:
    """A Bot API server in python-telegram-bot's form, e.g. http://127.0.0.1:8081/bot."""
    if not raw.startswith(("http://", "https://")):
        raise SettingsError(f"{key} must start with http:// or https://; got {raw!r}")
    return raw


def _check_webhook_path(url: str) -> None:
    """The webhook's path routes to it in the web app, so it may not be one of the app's own."""
    path = "/" + urllib.parse.urlparse(url).path.strip("/")
    if any(path == own or path.startswith(own + "/") for own in RESERVED_PATHS):
        raise SettingsError(
            f"LABELBOT_WEBHOOK_URL's path {path} is the web app's own; use e.g. /telegram"
        )


def _parse_public_url(key: str, raw: str) -> str:
    """Telegram opens Mini Apps over HTTPS only; plain HTTP is for this machine's own tests."""
    parts = urllib.parse.urlsplit(raw)
    local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if not (parts.scheme == "https" or local) or not parts.hostname:
        raise SettingsError(f"{key} must be an https:// address, e.g. https://bot.example.org")
    if parts.query or parts.fragment:
        raise SettingsError(f"{key} must be a plain address without ? or #; got {raw!r}")
    return raw.rstrip("/")


def _parse_port(key: str, raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 65535:
        raise SettingsError(f"{key} must be a port number from 1 to 65535; got {raw!r}")
    return int(raw)


def _parse_log_file(key: str, raw: str) -> Path:
    path = Path(raw).expanduser()
    if path.is_dir():
        raise SettingsError(f"{key} must name a file; {raw!r} is a directory")
    if not path.parent.is_dir():
        raise SettingsError(f"{key}: the folder of {raw!r} does not exist")
    return path


def _parse_count(key: str, raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise SettingsError(f"{key} must be a whole number of at least 1; got {raw!r}")
    return int(raw)


def _parse_share(key: str, raw: str) -> float:
    try:
        share = float(raw)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise SettingsError(f"{key} must be a number from 0 to 1; got {raw!r}")
    return share


def _parse_confidence(key: str, raw: str) -> float:
    try:
        confidence = float(raw)
    except ValueError:
        confidence = 0.0
    if not 0.5 <= confidence < 1:
        raise SettingsError(f"{key} must be a number from 0.5 to below 1; got {raw!r}")
    return confidence


def _parse_database_url(key: str, raw: str) -> Secret:
    """A PostgreSQL URL (kept secret: it may hold a password)."""
    if not raw.startswith(("postgresql://", "postgres://")):
        raise SettingsError(
            f"{key} must be a PostgreSQL URL such as "
            "postgresql://labelbot@localhost/labelbot; leave it unset for the SQLite file"
        )
    return Secret(raw)


def _parse_webhook_secret(key: str, raw: str) -> Secret:
    if not _WEBHOOK_SECRET.match(raw):
        raise SettingsError(
            f"{key} must be 16 to 256 letters, digits, '_' or '-' (Telegram's "
            "rule, and long enough to guess never)"
        )
    return Secret(raw)


def _default_data_dir() -> Path:
    return PROJECT_ROOT / "data" if IN_CHECKOUT else Path("data")


@dataclass(frozen=True)
class Settings:
    """Everything labelbot reads from its environment."""

    token: Secret | None = setting(
        "TELEGRAM_BOT_TOKEN", None,
        "the bot's token from @BotFather (`123456789:AA...`)", _parse_token,
    )  # fmt: skip
    admins: frozenset[int] = setting(
        "LABELBOT_ADMINS", frozenset(),
        "comma-separated numeric Telegram user ids allowed to run admin commands",
        _parse_admins, shown="none",
    )  # fmt: skip
    data_dir: Path = setting(
        "LABELBOT_DATA_DIR", None,
        "where the backbone cache, the database and model checkpoints live",
        _parse_data_dir,
        shown="`data/` beside `pyproject.toml` (installed: `./data`)", factory=_default_data_dir,
    )  # fmt: skip
    backbone: str = setting(
        "LABELBOT_BACKBONE", DEFAULT_BACKBONE,
        "the frozen feature extractor: `efficientnet_lite0`, `efficientnet_lite1` or "
        "`efficientnet_lite2` (offline), or `keras:<Name>` (see Learning); a bot with photos "
        "switches with `labelbot rebuild --backbone NAME`",
        _parse_backbone,
    )  # fmt: skip
    learner: str = setting(
        "LABELBOT_LEARNER", DEFAULT_LEARNER,
        "the incremental head of a new model: `analytic` or `cgan` (see Learning)",
        _parse_learner,
    )  # fmt: skip
    group_photos: str = setting(
        "LABELBOT_GROUP_PHOTOS", "mentions",
        "in groups: `mentions` (photos whose caption mentions the bot, or that reply to it) "
        "or `all`", _one_of(GROUP_PHOTO_MODES),
    )  # fmt: skip
    api_base_url: str | None = setting(
        "LABELBOT_API_BASE_URL", None,
        "another Bot API server, python-telegram-bot's `base_url` form: "
        "`http://127.0.0.1:8081/bot`", _parse_url, shown="Telegram",
    )  # fmt: skip
    api_file_url: str | None = setting(
        "LABELBOT_API_FILE_URL", None,
        "that server's file URL: `http://127.0.0.1:8081/file/bot`", _parse_url, shown="Telegram",
    )  # fmt: skip
    log_file: Path | None = setting(
        "LABELBOT_LOG_FILE", None,
        "also log to this file (rotated at 10 MB, 5 kept); the token is redacted there as on "
        "stderr", _parse_log_file,
    )  # fmt: skip
    photos_per_user: int = setting(
        "LABELBOT_PHOTOS_PER_USER", 4,
        'photos one contributor may have waiting at once; more get a polite "slow down"',
        _parse_count,
    )  # fmt: skip
    photos_at_once: int = setting(
        "LABELBOT_PHOTOS_AT_ONCE", 64,
        "photos downloaded and read at once across everyone; the rest queue fairly, user by "
        "user", _parse_count,
    )  # fmt: skip
    votes_to_settle: int = setting(
        "LABELBOT_VOTES_TO_SETTLE", 2,
        "the fewest agreeing votes that settle a photo's label, however sure they make it (an "
        "admin's vote settles it at once; see the admin guide's Crowd consensus)", _parse_count,
    )  # fmt: skip
    label_confidence: float = setting(
        "LABELBOT_LABEL_CONFIDENCE", 0.98,
        "how sure the crowd must be of a photo's label (its posterior, from every vote weighed "
        "by its voter's reliability) to settle it; until then the photo waits for more votes",
        _parse_confidence,
    )  # fmt: skip
    max_votes: int = setting(
        "LABELBOT_MAX_VOTES", 5,
        "votes a photo gets at most: one that has them and is still not settled is disputed, "
        "for an admin to decide", _parse_count,
    )  # fmt: skip
    review_gold_share: float = setting(
        "LABELBOT_REVIEW_GOLD_SHARE", 0.1,
        "of the photos `/review` sends, the share already settled by an admin, to measure each "
        "voter's accuracy", _parse_share,
    )  # fmt: skip
    webhook_url: str | None = setting(
        "LABELBOT_WEBHOOK_URL", None,
        "receive updates by webhook at this URL (see Deployment)", _parse_url,
        shown="none (long polling)",
    )  # fmt: skip
    webhook_secret: Secret | None = setting(
        "LABELBOT_WEBHOOK_SECRET", None,
        "the secret Telegram sends with each update: 16–256 of `A-Z a-z 0-9 _ -`",
        _parse_webhook_secret, shown="random per start",
    )  # fmt: skip
    webhook_listen: str = setting(
        "LABELBOT_WEBHOOK_LISTEN", "127.0.0.1",
        "the web server's address, with a webhook or LABELBOT_CONSOLE_PORT (behind a TLS proxy "
        "on the same machine; `0.0.0.0` in a container)",
    )  # fmt: skip
    webhook_port: int = setting(
        "LABELBOT_WEBHOOK_PORT", 8443,
        "the web server's port with a webhook: the webhook, `/healthz`, `/readyz`, `/metrics`",
        _parse_port,
    )  # fmt: skip
    console_port: int | None = setting(
        "LABELBOT_CONSOLE_PORT", None,
        "with long polling, serve the console, `/healthz`, `/readyz` and `/metrics` at this "
        "port (with a webhook they share its port)", _parse_port,
        shown="none",
    )  # fmt: skip
    public_url: str | None = setting(
        "LABELBOT_PUBLIC_URL", None,
        "the https address people reach this bot's web server at, e.g. "
        "`https://bot.example.org`: the console (a Telegram Mini App, and a page in any "
        "browser) opens at its `/console`", _parse_public_url,
        shown="none (no console)",
    )  # fmt: skip
    database_url: Secret | None = setting(
        "LABELBOT_DATABASE_URL", None,
        "`postgresql://user:password@host/db`: keep the store in PostgreSQL (see Deployment); "
        "the password is redacted from every log", _parse_database_url,
        shown="none (the data dir's SQLite file)",
    )  # fmt: skip
    role: str = setting(
        "LABELBOT_ROLE", "all",
        "`all`: one process; `replica` (answers Telegram by webhook) or `trainer` (the one "
        "model writer), both with PostgreSQL (see Deployment); also `labelbot run --role`",
        _one_of(ROLES),
    )  # fmt: skip
    instance: str = setting(
        "LABELBOT_INSTANCE", "",
        "this process's name in the inbox of received updates: a restart under the same name "
        "handles at once what the killed process had received, another process does after "
        "30 s (see Deployment)", shown="host name and webhook port",
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise SettingsError(f"LABELBOT_DATA_DIR must be a directory; {self.data_dir} is a file")
        if self.max_votes < self.votes_to_settle:
            raise SettingsError(
                f"LABELBOT_MAX_VOTES ({self.max_votes}) must be at least LABELBOT_VOTES_TO_SETTLE "
                f"({self.votes_to_settle})"
            )
        if self.webhook_url:
            _check_webhook_path(self.webhook_url)
        if self.public_url and not (self.webhook_url or self.console_port):
            raise SettingsError(
                "LABELBOT_PUBLIC_URL needs a web server to point at: a webhook "
                "(LABELBOT_WEBHOOK_URL) or, with long polling, LABELBOT_CONSOLE_PORT"
            )

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
        real environment leaves unset, and a setting set in neither keeps its default."""
        environ = os.environ if environ is None else environ
        dotenv = dotenv if dotenv is not None else env_file_for(environ)
        values = {**(read_dotenv(dotenv) if dotenv is not None else {}), **environ}
        read = {}
        for name, variable in _variables(cls):
            raw = values.get(variable.name, "").strip()
            if raw:
                read[name] = variable.parse(variable.name, raw) if variable.parse else raw
        if "data_dir" in read and "LABELBOT_DATA_DIR" not in environ and dotenv is not None:
            read["data_dir"] = dotenv.parent / read["data_dir"]  # relative to the .env file
        return cls(**read)

    def with_learner(self, learner: str) -> Settings:
        return replace(self, learner=_parse_learner("--learner", learner))


ENV_FILE = Variable(
    "LABELBOT_ENV_FILE", "another settings file (it must exist)",
    shown_default="`.env` beside `pyproject.toml`",
)  # fmt: skip


def _variables(cls: type = Settings) -> list[tuple[str, Variable]]:
    return [(f.name, f.metadata["variable"]) for f in fields(cls) if "variable" in f.metadata]


def reference() -> str:
    """The configuration reference's table, generated from the declarations above."""
    defaults = {f.name: f.default for f in fields(Settings)}
    rows = [(variable, defaults[name]) for name, variable in _variables()]
    rows.insert(2, (ENV_FILE, None))
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for variable, default in rows:
        shown = variable.shown_default or _shown(default)
        lines.append(f"| `{variable.name}` | {shown} | {variable.meaning} |")
    return "\n".join(lines) + "\n"


def _shown(default: object) -> str:
    if default is None:
        return "none"
    if isinstance(default, str):
        return f"`{default}`"
    return str(default)


VARIABLES = (*(variable.name for _, variable in _variables()), ENV_FILE.name)
"""Every variable labelbot reads; .env.example and docs/configuration.md document each."""


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


if __name__ == "__main__":  # the configuration reference's table (docs/configuration.md)
    sys.stdout.write(reference())
