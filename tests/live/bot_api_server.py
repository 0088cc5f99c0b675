"""A local stand-in for the Telegram Bot API's ``sendMessage``, on 127.0.0.1.

It answers as the Bot API does: ``POST /bot<token>/sendMessage`` with a JSON body ``{chat_id, text}`` gets
``{"ok": true, "result": <the Message>}``; a failure gets ``{"ok": false, "error_code": ..., "description": ...}``
(with ``parameters.retry_after`` on a 429). Its own checks follow the API's: an unknown token is 401
"Unauthorized" (when ``token`` is set), an unknown chat is 400 "Bad Request: chat not found" (when ``chats`` is
set), an empty text or one over 4,096 characters is a 400. Characters are counted here in UTF-16 code units, the
stricter of the two readings of the API's limit, so a text that passes here passes either way.

Scriptable with ``queue()``: one-off answers for the next requests, in order (``too_many_requests(retry_after)``,
``server_error()``, ``unauthorized()``, ``slow(delay_s)``, or any ``Scripted``). Every request is recorded with its
path (token included), its JSON body, the status it got and its arrival time (``time.monotonic()``).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.local_http import LocalHttpServer

MAX_TEXT_UNITS = 4096


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    token: str
    body: Any
    at: float
    status: int


@dataclass
class Scripted:
    """A one-off answer: ``status=None`` answers normally (after ``delay_s``); otherwise ``body`` (an object sent
    as JSON, or a str sent as it is) with ``status`` and ``headers``."""

    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def bot_error(status: int, description: str, **parameters: Any) -> dict[str, Any]:
    """The Bot API's error object."""
    answer: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        answer["parameters"] = parameters
    return answer


def too_many_requests(retry_after: int) -> Scripted:
    return Scripted(429, bot_error(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after))


def server_error(status: int = 500) -> Scripted:
    return Scripted(status, bot_error(status, "Internal Server Error"))


def unauthorized() -> Scripted:
    return Scripted(401, bot_error(401, "Unauthorized"))


def slow(delay_s: float) -> Scripted:
    return Scripted(None, delay_s=delay_s)


class BotApiServer(LocalHttpServer):
    """``token``: the only token accepted (None: any); ``chats``: the chats that exist (None: any)."""

    def __init__(self, *, token: str | None = None, chats: set[str] | None = None) -> None:
        self.token = token
        self.chats = chats
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._queued: list[Scripted] = []
        self._next_message_id = 1
        self._listen(_make_handler(self))

    def queue(self, *answers: Scripted) -> None:
        with self._lock:
            self._queued.extend(answers)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    @property
    def delivered(self) -> list[Any]:
        """The bodies of the messages the API accepted, in arrival order."""
        return [r.body for r in self.requests if r.status == 200]

    def wait_for_requests(self, count: int, timeout_s: float = 5.0) -> list[Recorded]:
        """The requests once at least ``count`` have arrived (or the timeout passed)."""
        end = time.monotonic() + timeout_s
        while len(self.requests) < count and time.monotonic() < end:
            time.sleep(0.005)
        return self.requests

    def _take_queued(self) -> Scripted | None:
        with self._lock:
            return self._queued.pop(0) if self._queued else None

    def answer(self, method: str, path: str, raw_body: bytes) -> tuple[int, dict[str, str], bytes, float]:
        arrived = time.monotonic()
        token, api_method = _split_path(path)
        try:
            body: Any = json.loads(raw_body or b"null")
        except json.JSONDecodeError:
            body = None
        scripted = self._take_queued()
        delay = scripted.delay_s if scripted else 0.0
        if scripted is not None and scripted.status is not None:
            status, headers = scripted.status, dict(scripted.headers)
            payload = scripted.body if isinstance(scripted.body, str) else json.dumps(scripted.body)
        else:
            status, answer = self._normal_answer(method, token, api_method, body)
            headers, payload = {"Content-Type": "application/json"}, json.dumps(answer)
        headers.setdefault("Content-Type", "application/json")
        with self._lock:
            self._requests.append(Recorded(method, path, token, body, arrived, status))
        return status, headers, payload.encode(), delay

    def _normal_answer(self, method: str, token: str, api_method: str, body: Any) -> tuple[int, dict[str, Any]]:
        if self.token is not None and token != self.token:
            return 401, bot_error(401, "Unauthorized")
        if method != "POST" or api_method != "sendMessage":
            return 404, bot_error(404, "Not Found")
        if not isinstance(body, dict):
            return 400, bot_error(400, "Bad Request: message text is empty")
        chat_id = str(body.get("chat_id") or "")
        text = body.get("text")
        if not chat_id:
            return 400, bot_error(400, "Bad Request: chat_id is empty")
        if self.chats is not None and chat_id not in self.chats:
            return 400, bot_error(400, "Bad Request: chat not found")
        if not isinstance(text, str) or not text.strip():
            return 400, bot_error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > MAX_TEXT_UNITS:
            return 400, bot_error(400, "Bad Request: message is too long")
        with self._lock:
            message_id = self._next_message_id
            self._next_message_id += 1
        chat: dict[str, Any] = {"id": int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id, "type": "private"}
        bot = {"id": 1, "is_bot": True, "first_name": "stratlab test bot", "username": "stratlab_test_bot"}
        message = {"message_id": message_id, "from": bot, "chat": chat, "date": int(time.time()), "text": text}
        return 200, {"ok": True, "result": message}


def _split_path(path: str) -> tuple[str, str]:
    """``/bot<token>/<method>`` -> (token, method); anything else -> ("", "")."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if len(parts) == 2 and parts[0].startswith("bot"):
        return parts[0].removeprefix("bot"), parts[1]
    return "", ""


def _make_handler(server: BotApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as separate writes; with Nagle's algorithm on, each answer would wait ~40 ms for
        # the client's delayed ACK.
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, headers, payload, delay = server.answer(self.command, self.path, raw)
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout under test)
                pass

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
