"""A fake Telegram Bot API on 127.0.0.1: the real bot talks HTTP to it, scripted users act.

It serves what labelbot uses (getMe, getUpdates with long polling, sendMessage, sendPhoto,
getFile and file downloads, answerCallbackQuery, editMessageText, editMessageReplyMarkup,
setMyCommands, setWebhook/deleteWebhook) and honours the real API's quirks: dates in seconds,
`is_bot` in getMe, `chat_instance` in callback queries, callback data of at most 64 bytes,
photos as several sizes. Tests and the offline demo drive it through `FakeTelegram`'s methods.
A stdlib threaded server keeps it free of extra dependencies and of the bot's event loop.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

BOT_ID = 4242
# Ids for updates, messages, queries and files, shared by every fake in the process: as on
# Telegram, a bot never sees an update id twice, even from a new fake on an old data dir.
_IDS = itertools.count(1)
BOT_USERNAME = "labelbot_test_bot"
PHOTO_SIDES = (90, 320, 800)  # Telegram stores a photo at several sizes; these are typical


class TelegramError(Exception):
    """An API call the real Telegram would refuse; becomes {"ok": false} with this text."""


class FloodWait(TelegramError):
    """Telegram's 429: the bot must wait `seconds` before it sends again."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"retry after {seconds}")
        self.seconds = seconds


@dataclass
class Sent:
    """A message the bot sent (or edited), as a user's client would show it."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: dict | None = None
    reply_to: int | None = None
    photo: bytes | None = None
    edits: int = 0
    document: bytes | None = None

    def buttons(self) -> list[dict]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]

    def button(self, contains: str) -> dict:
        """The first button whose text contains `contains` (fails loudly, listing them)."""
        for button in self.buttons():
            if contains in button["text"]:
                return button
        raise LookupError(f"no button with {contains!r}: {[b['text'] for b in self.buttons()]}")


@dataclass
class FakeTelegram:
    """The server's state; every public method is safe to call from any thread."""

    token: str = "123456:TEST-token"
    updates: list[dict] = field(default_factory=list)
    sent: dict[tuple[int, int], Sent] = field(default_factory=dict)
    answers: dict[str, dict] = field(default_factory=dict)
    commands: dict[str, list[dict]] = field(default_factory=dict)
    menu_buttons: dict[str, dict] = field(default_factory=dict)  # by chat id, or "default"
    files: dict[str, bytes] = field(default_factory=dict)
    webhook: str = ""
    webhook_secret: str = ""
    calls: list[str] = field(default_factory=list)
    flood_waits: dict[str, list[int]] = field(default_factory=dict)
    deliveries: int = 0  # updates accepted by the bot's webhook
    pushed: list[dict] = field(default_factory=list)  # every update, in the order sent
    download_delay: float = 0.0  # seconds each file download takes, as over a slow link
    # Updates POSTed to a webhook at once. Telegram uses up to setWebhook's max_connections
    # (40 by default) and then keeps no order; the tests' one keeps their order.
    webhook_connections: int = 1

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._ids = _IDS
        self._server: ThreadingHTTPServer | None = None
        self._stopped = False
        self._deliverers: list[threading.Thread] = []

    # ---- server lifecycle ----------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeTelegram:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _QuietServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/file/bot"

    # ---- what scripted users do ----------------------------------------------------------------

    def send_text(self, user: dict, text: str, chat: dict | None = None, reply_to=None) -> int:
        message = self._message(user, chat, text=text)
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if reply_to is not None:
            message["reply_to_message"] = self._as_message(reply_to)
        return self._push({"message": message})

    def send_photo(self, user: dict, image: bytes | np.ndarray, chat=None, caption=None) -> int:
        """Sends a photo as Telegram stores it: re-encoded as JPEG at several sizes. An array is
        in OpenCV's channel order (BGR), as `cv2.imread` gives it."""
        picture = image if isinstance(image, np.ndarray) else _decode(image)
        sizes = [self._photo_size(picture, side) for side in PHOTO_SIDES]
        message = self._message(user, chat, photo=sizes)
        if caption:
            message["caption"] = caption
        return self._push({"message": message})

    def send_document(self, user: dict, data: bytes, mime: str, name: str, chat=None) -> int:
        file_id = self._store_file(data)
        document = {"file_name": name, "mime_type": mime, **file_id}
        return self._push({"message": self._message(user, chat, document=document)})

    def send_sticker(self, user: dict, chat=None) -> int:
        sticker = {"width": 512, "height": 512, "is_animated": False, "is_video": False,
                   "type": "regular", **self._store_file(b"RIFF....WEBP")}  # fmt: skip
        return self._push({"message": self._message(user, chat, sticker=sticker)})

    def send_video(self, user: dict, chat=None) -> int:
        video = {"width": 320, "height": 240, "duration": 3, **self._store_file(b"\0\0\0 ftyp")}
        return self._push({"message": self._message(user, chat, video=video)})

    def deliver_again(self, message_id: int) -> None:
        """Sends the update that carried this message once more, with its update id, as
        Telegram does when it did not see the bot acknowledge it."""
        with self._lock:
            update = next(
                u for u in self.pushed if u.get("message", {}).get("message_id") == message_id
            )
            self.updates.append(update)
            self._lock.notify_all()

    def tap(self, user: dict, sent: Sent, data: str) -> str:
        """Presses an inline button (or forges one: any data) on a message the bot sent."""
        query_id = str(next(self._ids))
        query = {
            "id": query_id,
            "from": user,
            "chat_instance": f"ci{sent.chat_id}",
            "data": data,
            "message": self._as_message(sent),
        }
        self._push({"callback_query": query})
        return query_id

    def tap_again(self, query_id: str) -> None:
        """Sends a tap's update once more under a new update id, as a process that took it
        over from a killed one handles it again: its query was answered already."""
        with self._lock:
            update = next(
                u for u in self.pushed if u.get("callback_query", {}).get("id") == query_id
            )
        self._push({"callback_query": update["callback_query"]})

    # ---- what tests read -----------------------------------------------------------------------

    def wait_for(self, predicate, timeout: float = 30.0, what: str = "the bot"):
        """Blocks until `predicate()` returns something truthy; returns it."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not (result := predicate()):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
                self._lock.wait(0.05)
            return result

    def reply_to(self, message_id: int, chat_id: int | None = None) -> Sent | None:
        for sent in list(self.sent.values()):
            if sent.reply_to == message_id and (chat_id is None or sent.chat_id == chat_id):
                return sent
        return None

    def wait_reply(self, message_id: int, chat_id: int | None = None, timeout=30.0) -> Sent:
        return self.wait_for(lambda: self.reply_to(message_id, chat_id), timeout, "a reply")

    def wait_answer(self, query_id: str, timeout: float = 30.0) -> dict:
        return self.wait_for(lambda: self.answers.get(query_id), timeout, "answerCallbackQuery")

    def messages_to(self, chat_id: int) -> list[Sent]:
        return [s for s in list(self.sent.values()) if s.chat_id == chat_id]

    # ---- the Bot API methods -------------------------------------------------------------------

    def flood_wait(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` calls of `method` are refused with 429, as Telegram refuses a bot
        that sends too fast: "retry after `retry_after` seconds"."""
        with self._lock:
            self.flood_waits.setdefault(method, []).extend([retry_after] * times)

    def call(self, method: str, params: dict[str, Any]) -> Any:
        with self._lock:
            self.calls.append(method)
            waits = self.flood_waits.get(method)
            if waits:
                raise FloodWait(waits.pop(0))
            handler = getattr(self, f"_api_{method.lower()}", None)
            if handler is None:
                raise TelegramError(f"Not Found: method {method} is not in this fake")
            result = handler(params)
            self._lock.notify_all()
            return result

    def _api_getme(self, params):
        return {"id": BOT_ID, "is_bot": True, "first_name": "labelbot", "username": BOT_USERNAME,
                "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}  # fmt: skip

    def _api_getupdates(self, params):
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 5.0)
        deadline = time.monotonic() + timeout
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        while not self.updates and time.monotonic() < deadline:
            self._lock.wait(deadline - time.monotonic())
        return list(self.updates[: int(params.get("limit") or 100)])

    def _api_deletewebhook(self, params):
        self.webhook, self.webhook_secret = "", ""
        return True

    def _api_setwebhook(self, params):
        """From now on updates are POSTed to `url` with the secret in the
        X-Telegram-Bot-Api-Secret-Token header, retried until accepted: `webhook_connections`
        at a time (one: in order)."""
        self.webhook = params.get("url", "")
        self.webhook_secret = params.get("secret_token", "")
        while len(self._deliverers) < self.webhook_connections:
            self._deliverers.append(threading.Thread(target=self._deliver, daemon=True))
            self._deliverers[-1].start()
        return True

    def _deliver(self) -> None:
        while True:
            with self._lock:
                while not self._stopped and not (self.webhook and self.updates):
                    self._lock.wait(0.5)
                if self._stopped:
                    return
                update, url, secret = self.updates.pop(0), self.webhook, self.webhook_secret
            delivered = _post_update(url, secret, update)
            with self._lock:
                if delivered:
                    self.deliveries += 1
                else:
                    self.updates.insert(0, update)  # Telegram retries a refused delivery
                self._lock.notify_all()
            if not delivered:
                time.sleep(0.1)  # later

    def _api_setmycommands(self, params):
        scope = params.get("scope") or {"type": "default"}
        key = scope["type"] + (f":{scope['chat_id']}" if "chat_id" in scope else "")
        self.commands[key] = params["commands"]
        return True

    def _api_setchatmenubutton(self, params):
        """Telegram checks a Web App's URL is https; the fake lets loopback http through."""
        button = params.get("menu_button") or {"type": "default"}
        url = button.get("web_app", {}).get("url", "")
        if button.get("type") == "web_app" and not url.startswith(("https://", "http://127.")):
            raise TelegramError("Bad Request: WEB_APP_URL_INVALID")
        self.menu_buttons[str(params.get("chat_id", "default"))] = button
        return True

    def _api_sendmessage(self, params):
        return self._record_sent(params, text=params["text"])

    def _api_sendphoto(self, params):
        self._check_file(params["photo"])
        return self._record_sent(params, text=params.get("caption", ""), photo=params["photo"])

    def _api_senddocument(self, params):
        self._check_file(params["document"])
        sent = self._record_sent(params, text=params.get("caption", ""))
        self.sent[(int(params["chat_id"]), sent["message_id"])].document = params["document"]
        return sent

    def _api_editmessagetext(self, params):
        sent = self._find(params)
        _refuse_unchanged(sent, params["text"], params.get("reply_markup"))
        sent.text, sent.reply_markup = params["text"], params.get("reply_markup")
        sent.edits += 1
        return self._as_message(sent)

    def _api_editmessagereplymarkup(self, params):
        sent = self._find(params)
        _refuse_unchanged(sent, sent.text, params.get("reply_markup"))
        sent.reply_markup = params.get("reply_markup")
        sent.edits += 1
        return self._as_message(sent)

    def _api_answercallbackquery(self, params):
        query_id = params["callback_query_id"]
        if query_id in self.answers:
            raise TelegramError("Bad Request: query is too old and response timeout expired")
        self.answers[query_id] = {"text": params.get("text", ""), **params}
        return True

    def _api_getfile(self, params):
        file_id = params["file_id"]
        if file_id not in self.files:
            raise TelegramError("Bad Request: invalid file_id")
        return {"file_id": file_id, "file_unique_id": "u" + file_id,
                "file_size": len(self.files[file_id]), "file_path": f"files/{file_id}"}  # fmt: skip

    # ---- helpers -------------------------------------------------------------------------------

    def _record_sent(self, params: dict, text: str, photo: bytes | None = None) -> dict:
        markup = params.get("reply_markup")
        for button in _flat(markup):
            if len(button.get("callback_data", "").encode()) > 64:
                raise TelegramError("Bad Request: BUTTON_DATA_INVALID")
            if "web_app" in button and int(params["chat_id"]) < 0:  # private chats only
                raise TelegramError("Bad Request: BUTTON_TYPE_INVALID")
        if len(text) > 4096:
            raise TelegramError("Bad Request: message is too long")
        chat_id = int(params["chat_id"])
        reply = params.get("reply_parameters") or {}
        reply_to = reply.get("message_id") or params.get("reply_to_message_id")
        sent = Sent(chat_id, next(self._ids), text, markup, int(reply_to) if reply_to else None,
                    photo)  # fmt: skip
        self.sent[(chat_id, sent.message_id)] = sent
        return self._as_message(sent)

    def _check_file(self, file: bytes | str) -> None:
        """A file re-sent by its id must be one this server still has."""
        if isinstance(file, str) and file not in self.files:
            raise TelegramError("Bad Request: wrong file identifier/HTTP URL specified")

    def _find(self, params: dict) -> Sent:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.sent:
            raise TelegramError("Bad Request: message to edit not found")
        return self.sent[key]

    def _as_message(self, sent: Sent | dict) -> dict:
        if isinstance(sent, dict):
            return sent
        message = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": sent.chat_id, "type": "private" if sent.chat_id > 0 else "group"},
            "from": self._api_getme({}),
            "text": sent.text,
        }
        if sent.reply_to is not None:
            chat = message["chat"]
            message["reply_to_message"] = {"message_id": sent.reply_to, "date": 0, "chat": chat}
        if sent.reply_markup and "inline_keyboard" in sent.reply_markup:  # as Telegram echoes it
            message["reply_markup"] = sent.reply_markup
        return message

    def _message(self, user: dict, chat: dict | None, **content) -> dict:
        chat = chat or {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        return {"message_id": next(self._ids), "date": int(time.time()), "chat": chat,
                "from": user, **content}  # fmt: skip

    def _push(self, update: dict) -> int:
        with self._lock:
            update["update_id"] = next(self._ids)
            self.updates.append(update)
            self.pushed.append(update)
            self._lock.notify_all()
            key = "message" if "message" in update else "callback_query"
            return update[key].get("message_id", update["update_id"])

    def _photo_size(self, picture: np.ndarray, side: int) -> dict:
        scale = side / max(picture.shape[:2])
        width, height = round(picture.shape[1] * scale), round(picture.shape[0] * scale)
        jpeg = cv2.imencode(".jpg", cv2.resize(picture, (width, height)))[1].tobytes()
        return {"width": width, "height": height, **self._store_file(jpeg)}

    def _store_file(self, data: bytes) -> dict:
        with self._lock:
            file_id = f"F{next(self._ids)}"
            self.files[file_id] = data
        unique = "U" + hashlib.sha1(data).hexdigest()[:16]  # the same bytes: the same unique id
        return {"file_id": file_id, "file_unique_id": unique, "file_size": len(data)}


def user(user_id: int, name: str = "") -> dict:
    """A Telegram user as updates carry it."""
    return {"id": user_id, "is_bot": False, "first_name": name or f"user{user_id}"}


def group(chat_id: int = -1001, title: str = "Labeling team") -> dict:
    return {"id": chat_id, "type": "supergroup", "title": title}


def _flat(markup: dict | None) -> list[dict]:
    return [button for row in (markup or {}).get("inline_keyboard", []) for button in row]


def _decode(data: bytes) -> np.ndarray:
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if picture is None:
        raise ValueError("send_photo needs a real image (Telegram re-encodes photos)")
    return picture


class _QuietServer(ThreadingHTTPServer):
    request_queue_size = 256  # the stdlib's 5 drops connections when fifty users act at once

    def handle_error(self, request, client_address) -> None:
        """A client that hung up mid long-poll (the bot stopping) is normal, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTelegram

    def log_message(self, *args) -> None:  # quiet: the tests read the state, not the log
        pass

    def do_GET(self) -> None:
        prefix, path = f"/file/bot{self.fake.token}/files/", urllib.parse.unquote(self.path)
        file_id = path[len(prefix) :] if path.startswith(prefix) else None
        data = self.fake.files.get(file_id or "")
        time.sleep(self.fake.download_delay)
        if data is None:
            self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        prefix = f"/bot{self.fake.token}/"
        if not self.path.startswith(prefix):
            self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        try:
            result = self.fake.call(self.path[len(prefix) :], self._params())
        except FloodWait as wait:
            description = f"Too Many Requests: retry after {wait.seconds}"
            self._reply(429, {"ok": False, "error_code": 429, "description": description,
                              "parameters": {"retry_after": wait.seconds}})  # fmt: skip
        except TelegramError as error:
            self._reply(400, {"ok": False, "error_code": 400, "description": str(error)})
        else:
            self._reply(200, {"ok": True, "result": result})

    def _params(self) -> dict[str, Any]:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        kind = self.headers.get("Content-Type", "")
        if kind.startswith("application/json"):
            return json.loads(body or b"{}")
        if kind.startswith("multipart/form-data"):
            raw = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {kind}\r\n\r\n".encode() + body
            )
            params = {
                part.get_param("name", header="content-disposition"): (
                    part.get_payload(decode=True)
                    if part.get_filename()
                    else part.get_payload(decode=True).decode()
                )
                for part in raw.iter_parts()
            }
        else:
            params = dict(urllib.parse.parse_qsl(body.decode()))
        return {k: _json_or_text(v) for k, v in params.items()}

    def _reply(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _post_update(url: str, secret: str, update: dict) -> bool:
    """One webhook delivery as Telegram makes it; True if the bot accepted it (HTTP 200)."""
    request = urllib.request.Request(
        url, data=json.dumps(update).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _json_or_text(value):
    """Form fields hold JSON for objects (reply_markup, commands) and plain text otherwise."""
    if isinstance(value, bytes) or value[:1] not in ("{", "["):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _refuse_unchanged(sent: Sent, text: str, markup) -> None:
    """Telegram refuses an edit that changes nothing."""
    if sent.text == text and sent.reply_markup == markup:
        raise TelegramError(
            "Bad Request: message is not modified: specified new message content and reply "
            "markup are exactly the same as a current content and reply markup of the message"
        )
