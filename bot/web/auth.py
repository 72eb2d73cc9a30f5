"""Who is asking the console, and proof of it that nobody else can make.

Inside Telegram the Mini App sends its `initData` with every request, and it is checked every
time: Telegram signs it with a key only the bot's token gives (HMAC-SHA256 keyed by
`HMAC("WebAppData", token)`), and it is refused an hour after Telegram issued it. A browser
gets in through a login link the bot sends in a private chat (`/console`): sealed, valid for
ten minutes, good once (`bot.store.logins`); it sets a session cookie, sealed the same way.
Photos are served at sealed, expiring URLs. Every seal is an HMAC with a key derived from the
token, so a token rotated with @BotFather signs everyone out, and the token itself never
leaves the process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl

INIT_DATA_MAX_AGE = 3600.0  # seconds a Mini App's initData is accepted after Telegram signed it
LOGIN_TTL = 600.0  # seconds a login link works
SESSION_TTL = 12 * 3600.0  # seconds a browser session lasts
PHOTO_TTL = 600.0  # seconds a photo URL works
DOWNLOAD_TTL = 600.0  # seconds an export's download link works


class NotSignedIn(Exception):
    """Answered with 401: no proof, a forged one, an expired one or a login link used before.
    The message says which, for the person (never the secret)."""


@dataclass(frozen=True)
class Visitor:
    """A person the console knows by their Telegram account."""

    user_id: int
    name: str


class Seals:
    """The console's signatures, every key derived from the bot's token."""

    def __init__(self, token: str) -> None:
        self._web_app = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
        self._own = hmac.new(b"labelbot console", token.encode(), hashlib.sha256).digest()

    def seal(self, purpose: str, content: dict, expires_at: float) -> str:
        """`content` with its expiry, readable but not forgeable, for `purpose` only."""
        body = _b64(json.dumps({**content, "exp": expires_at}, separators=(",", ":")).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def unseal(self, purpose: str, sealed: str, now: float) -> dict:
        """What `seal` sealed for `purpose`; NotSignedIn if forged or expired."""
        body, _, mac = sealed.partition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(purpose, body).encode()):
            raise NotSignedIn("this link or session is not one labelbot made")
        content = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if now > content["exp"]:
            raise NotSignedIn("this link or session has expired")
        return content

    def web_app_visitor(self, init_data: str, now: float) -> Visitor:
        """The person a Mini App's `initData` names, if Telegram signed it within the hour."""
        try:
            fields = dict(parse_qsl(init_data, keep_blank_values=True, strict_parsing=True))
        except ValueError:
            raise NotSignedIn("the Mini App's data is malformed") from None
        received = fields.pop("hash", "")
        checked = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
        expected = hmac.new(self._web_app, checked.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(received.encode(), expected.encode()):
            raise NotSignedIn("the Mini App's data is not signed by Telegram for this bot")
        if now - float(fields.get("auth_date", 0)) > INIT_DATA_MAX_AGE:
            raise NotSignedIn("the Mini App's data is over an hour old: open it again")
        user = json.loads(fields.get("user", "{}"))
        if not isinstance(user.get("id"), int):
            raise NotSignedIn("the Mini App's data names no user")
        name = " ".join(filter(None, (user.get("first_name"), user.get("last_name"))))
        return Visitor(user["id"], name or str(user["id"]))

    def login_link(self, visitor: Visitor, now: float) -> str:
        """The sealed part of a one-time login link for this person."""
        content = {"u": visitor.user_id, "n": visitor.name, "nonce": secrets.token_urlsafe(12)}
        return self.seal("login", content, now + LOGIN_TTL)

    def session(self, visitor: Visitor, now: float) -> str:
        return self.seal("session", {"u": visitor.user_id, "n": visitor.name}, now + SESSION_TTL)

    def photo(self, sample_id: int, now: float) -> str:
        return self.seal("photo", {"s": sample_id}, now + PHOTO_TTL)

    def download(self, visitor: Visitor, name: str, now: float) -> str:
        """A download link for an admin: a plain link (no header) works in a Mini App too."""
        content = {"u": visitor.user_id, "n": visitor.name, "f": name}
        return self.seal("download", content, now + DOWNLOAD_TTL)

    def _mac(self, purpose: str, body: str) -> str:
        message = f"{purpose}\n{body}".encode()
        return _b64(hmac.new(self._own, message, hashlib.sha256).digest())


def visitor_of(content: dict) -> Visitor:
    """The person a login link or session was sealed for."""
    return Visitor(int(content["u"]), str(content["n"]))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
