"""Telegram's side of a Mini App: the launch data it signs and hands the page (`initData`),
made here the way Telegram makes it, so tests can open the console as Telegram would."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import quote, urlencode


def init_data(token: str, user: dict, auth_date: float | None = None) -> str:
    """The query string Telegram signs: the user and auth_date, and the hash over the sorted
    `key=value` lines with the key `HMAC_SHA256("WebAppData", token)`."""
    fields = {
        "user": json.dumps({k: user[k] for k in ("id", "first_name") if k in user}),
        "auth_date": str(int(time.time() if auth_date is None else auth_date)),
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
    }
    checked = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, checked.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


def launch_fragment(data: str, theme: dict | None = None) -> str:
    """The URL fragment Telegram opens a Mini App with."""
    parts = {"tgWebAppData": data, "tgWebAppVersion": "8.0", "tgWebAppPlatform": "tdesktop"}
    if theme is not None:
        parts["tgWebAppThemeParams"] = json.dumps(theme)
    return "#" + "&".join(f"{key}={quote(value, safe='')}" for key, value in parts.items())
