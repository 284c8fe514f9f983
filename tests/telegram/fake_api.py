"""A fake Telegram Bot API server on 127.0.0.1: the real python-telegram-bot polls it in the end-to-end tests.

It speaks the real URL layout (`/bot<token>/<method>`) and encodings (form fields, JSON-encoded unless they
are strings), queues injected updates for `getUpdates`, records every call, keeps the messages it has seen so
that edits and replies can be checked, and answers like Telegram, including its errors: 400 for bad HTML,
empty or too long text, long callback data, unchanged edits, unknown or re-answered queries; 401 for a wrong
token; and whatever a test injects with `fail` (429 with `retry_after`, 409 Conflict, ...).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

JSONDict = dict[str, Any]

MESSAGE_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
INLINE_RESULTS_LIMIT = 50
# Fields Telegram types as String: sent raw by PTB, never JSON-decoded (pitfall 2: text="123" stays a string).
STRING_FIELDS = frozenset(
    {"text", "parse_mode", "callback_query_id", "inline_query_id", "next_offset", "action", "url",
     "language_code", "message_effect_id", "business_connection_id", "inline_message_id"}
)  # fmt: skip
ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji",
     "code", "pre", "blockquote"}
)  # fmt: skip
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"

_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>\w+)$")
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:=\"[^\"<>]*\"|='[^'<>]*')?)*)\s*>")
_ENTITY = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
_ENTITY_CHARS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{5,32})?")
_MENTION = re.compile(r"(?<!\w)@[A-Za-z0-9_]{5,32}")


class ApiError(Exception):
    """An error answer, as Telegram gives it: HTTP status, description and optional parameters."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: JSONDict
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Failure:
    method: str
    error: ApiError
    times: int
    when: Callable[[JSONDict], bool] | None


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(markup: str) -> str:
    """The plain text Telegram keeps after parsing `markup` as HTML; ApiError where Telegram refuses."""
    text: list[str] = []
    open_tags: list[str] = []
    position = 0
    while position < len(markup):
        char = markup[position]
        if char == "<":
            match = _TAG.match(markup, position)
            offset = len(markup[:position].encode())
            if match is None:
                raise ApiError(400, f"Bad Request: can't parse entities: unexpected '<' at byte offset {offset}")
            closing, name = match.group(1) == "/", match.group(2).lower()
            if name not in ALLOWED_TAGS:
                kind = "end" if closing else "start"
                where = f"at byte offset {offset}"
                raise ApiError(400, f"Bad Request: can't parse entities: unsupported {kind} tag {name!r} {where}")
            if closing:
                if not open_tags or open_tags[-1] != name:
                    raise ApiError(
                        400, f"Bad Request: can't parse entities: unexpected end tag at byte offset {offset}"
                    )
                open_tags.pop()
            else:
                if name == "blockquote" and "blockquote" in open_tags:
                    raise ApiError(400, "Bad Request: can't parse entities: nested blockquotes")
                open_tags.append(name)
            position = match.end()
        elif char == "&":
            match = _ENTITY.match(markup, position)
            if match is None:
                offset = len(markup[:position].encode())
                raise ApiError(400, f"Bad Request: can't parse entities: unsupported entity at byte offset {offset}")
            name = match.group(1)
            if name.startswith("#x"):
                text.append(chr(int(name[2:], 16)))
            elif name.startswith("#"):
                text.append(chr(int(name[1:])))
            else:
                text.append(_ENTITY_CHARS[name])
            position = match.end()
        elif char == ">":
            raise ApiError(400, "Bad Request: can't parse entities: unexpected '>'")
        else:
            text.append(char)
            position += 1
    if open_tags:
        tag = open_tags[-1]
        raise ApiError(400, f"Bad Request: can't parse entities: can't find end tag corresponding to start tag {tag!r}")
    return "".join(text)


def entities_for(text: str) -> list[JSONDict]:
    """The bot_command and mention entities Telegram attaches to a user's text (offsets in UTF-16 units)."""
    found = []
    for kind, pattern in (("bot_command", _COMMAND), ("mention", _MENTION)):
        for match in pattern.finditer(text):
            offset = utf16_len(text[: match.start()])
            found.append({"type": kind, "offset": offset, "length": utf16_len(match.group())})
    return sorted(found, key=lambda entity: entity["offset"])


class FakeTelegram:
    """The fake Bot API: start(), inject updates, let the bot run, then look at `calls` and `messages`."""

    def __init__(self, token: str, username: str = "verbatim_test_bot") -> None:
        self.token = token
        self.bot_user: JSONDict = {
            "id": int(token.split(":", maxsplit=1)[0]),
            "is_bot": True,
            "first_name": "Verbatim",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], JSONDict] = {}  # (chat id, message id) -> stored message
        self.commands: list[JSONDict] = []
        self._changed = threading.Condition()
        self._updates: list[JSONDict] = []
        self._next_update = 1
        self._next_message: dict[int, int] = {}
        self._chats: dict[int, JSONDict] = {}
        self._open_queries: set[str] = set()
        self._next_query = 1
        self._failures: list[_Failure] = []
        self._closing = False
        self._server: _Server | None = None
        self.listener: Callable[[JSONDict], None] | None = None  # called with each message the bot sends
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        """Listen on a free port of 127.0.0.1 in a daemon thread."""
        fake = self

        class Handler(_Handler):
            api = fake

        server = _Server(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False  # keep-alive threads must not hold up close
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-telegram", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake pending long polls, stop serving and close the socket."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        """What the bot's base URL setting must be: PTB appends the token."""
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_port}/bot"

    # -- what tests inject -----------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        code: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
        when: Callable[[JSONDict], bool] | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` (matching `when`) with this error."""
        with self._changed:
            self._failures.append(_Failure(method, ApiError(code, description, retry_after), times, when))

    def send_text(
        self,
        user: JSONDict,
        text: str,
        *,
        chat: JSONDict | None = None,
        reply_to: JSONDict | None = None,
    ) -> JSONDict:
        """A user writes `text` (in a private chat unless `chat` is given); returns the message."""
        chat = chat or {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        message: JSONDict = {"from": user, "text": text}
        if entities := entities_for(text):
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        stored = self.store(chat, message)
        self.push({"message": stored})
        return stored

    def send_other(self, user: JSONDict, content: JSONDict) -> JSONDict:
        """A user sends a non-text message (a sticker, a photo, ...) in their private chat."""
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        stored = self.store(chat, {"from": user, **content})
        self.push({"message": stored})
        return stored

    def edit_text(self, message: JSONDict, text: str) -> None:
        """The user edits one of their messages."""
        edited = {**message, "text": text, "edit_date": int(time.time())}
        self.push({"edited_message": edited})

    def press(self, user: JSONDict, message: JSONDict, data: str) -> str:
        """The user taps an inline button with `data` under `message`; returns the callback query id."""
        query_id = self.open_query()
        current = self.messages[(message["chat"]["id"], message["message_id"])]
        self.push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user,
                    "message": current,
                    "chat_instance": "1",
                    "data": data,
                }
            }
        )
        return query_id

    def inline(self, user: JSONDict, query: str, offset: str = "") -> str:
        """The user types `@bot query` in some chat; returns the inline query id."""
        query_id = self.open_query()
        update = {"id": query_id, "from": user, "query": query, "offset": offset, "chat_type": "sender"}
        self.push({"inline_query": update})
        return query_id

    def push(self, update: JSONDict) -> None:
        """Queue a raw update (give it only what Telegram would deliver)."""
        with self._changed:
            self._updates.append({"update_id": self._next_update, **update})
            self._next_update += 1
            self._changed.notify_all()

    # -- what tests look at ----------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Block the test (never the bot's loop) until `predicate()` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (value := predicate()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met in {timeout} s; calls: {self.summary()}")
                self._changed.wait(min(remaining, 0.02))  # also notice changes made outside the fake
            return value

    def calls_to(self, method: str) -> list[Call]:
        """Every recorded call of `method`, in order."""
        with self._changed:
            return [call for call in self.calls if call.method == method]

    def wait_calls(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait until `method` was called at least `count` times; return those calls."""
        return self.wait_for(lambda: len(calls := self.calls_to(method)) >= count and calls, timeout)

    def sent_to(self, chat_id: int) -> list[JSONDict]:
        """The bot's messages in a chat, in order, as currently stored (edits applied)."""
        with self._changed:
            found = [m for (chat, _), m in self.messages.items() if chat == chat_id and m["from"] == self.bot_user]
        return sorted(found, key=lambda message: message["message_id"])

    def pending_updates(self) -> int:
        """Updates not yet confirmed by the bot."""
        with self._changed:
            return len(self._updates)

    def summary(self) -> str:
        """The recorded methods, for failure messages."""
        return ", ".join(call.method for call in self.calls if call.method != "getUpdates")

    def button_data(self, message: JSONDict) -> list[str]:
        """The callback data of the inline keyboard under a stored message."""
        keyboard = message.get("reply_markup", {}).get("inline_keyboard", [])
        return [button["callback_data"] for row in keyboard for button in row if "callback_data" in button]

    # -- the API ---------------------------------------------------------------------------------------

    def handle(self, token: str, method: str, params: JSONDict) -> Any:
        """Answer one API call: the `result` on success, ApiError otherwise."""
        if token != self.token:
            raise ApiError(401, "Unauthorized")
        with self._changed:
            self.calls.append(Call(method, params))
            self._changed.notify_all()
            for failure in self._failures:
                if failure.method == method and (failure.when is None or failure.when(params)):
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                    raise failure.error
        if method == "getUpdates":
            return self._get_updates(params)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        with self._changed:
            result = handler(params)
            self._changed.notify_all()
            return result

    def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + timeout
        with self._changed:
            self._updates = [update for update in self._updates if update["update_id"] >= offset]
            while not self._updates and not self._closing and (remaining := deadline - time.monotonic()) > 0:
                self._changed.wait(remaining)
            return self._updates[:limit]

    def _api_getMe(self, params: JSONDict) -> JSONDict:
        return self.bot_user

    def _api_deleteWebhook(self, params: JSONDict) -> bool:
        return True

    def _api_setMyCommands(self, params: JSONDict) -> bool:
        commands = params["commands"]
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands = commands
        return True

    def _api_getMyCommands(self, params: JSONDict) -> list[JSONDict]:
        return self.commands

    def _api_sendChatAction(self, params: JSONDict) -> bool:
        self._chat(params["chat_id"])
        return True

    def _api_sendMessage(self, params: JSONDict) -> JSONDict:
        sent = self._send_message(params)
        if self.listener is not None:
            self.listener(sent)
        return sent

    def _send_message(self, params: JSONDict) -> JSONDict:
        chat = self._chat(params["chat_id"])
        message: JSONDict = {"from": self.bot_user, **self._content(params)}
        reply = params.get("reply_parameters")
        if reply:
            replied = self.messages.get((chat["id"], reply["message_id"]))
            if replied is None and not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
            if replied is not None:
                message["reply_to_message"] = replied
        return self.store(chat, message)

    def _api_editMessageText(self, params: JSONDict) -> JSONDict:
        stored = self._editable(params)
        content = self._content(params)
        if content["html"] == stored["html"] and content.get("reply_markup") == stored.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        stored.pop("reply_markup", None)
        stored.update(content, edit_date=int(time.time()))
        return stored

    def _api_editMessageReplyMarkup(self, params: JSONDict) -> JSONDict:
        stored = self._editable(params)
        markup = self._markup(params)
        if markup == stored.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        stored.pop("reply_markup", None)
        if markup:
            stored["reply_markup"] = markup
        return stored

    def _api_answerCallbackQuery(self, params: JSONDict) -> bool:
        self._close_query(params["callback_query_id"])
        if len(params.get("text") or "") > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _api_answerInlineQuery(self, params: JSONDict) -> bool:
        results = params["results"]
        if len(results) > INLINE_RESULTS_LIMIT:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        ids = [result["id"] for result in results]
        if len(set(ids)) != len(ids) or any(len(i.encode()) > 64 for i in ids):
            raise ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
        for result in results:
            content = result["input_message_content"]
            self._content({"text": content["message_text"], "parse_mode": content.get("parse_mode")})
            self._check_keyboard(result.get("reply_markup"))
        offset = params.get("next_offset")
        if offset is not None and (not isinstance(offset, str) or len(offset.encode()) > 64):
            raise ApiError(400, "Bad Request: NEXT_OFFSET_INVALID")
        self._close_query(params["inline_query_id"])
        return True

    # -- internals -------------------------------------------------------------------------------------

    def open_query(self) -> str:
        """A new callback or inline query id the bot may answer (without delivering an update)."""
        with self._changed:
            query_id = str(1000 + self._next_query)
            self._next_query += 1
            self._open_queries.add(query_id)
            return query_id

    def _close_query(self, query_id: str) -> None:
        if query_id not in self._open_queries:
            raise ApiError(400, QUERY_TOO_OLD)
        self._open_queries.remove(query_id)

    def _chat(self, chat_id: Any) -> JSONDict:
        chat = self._chats.get(int(chat_id))
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def store(self, chat: JSONDict, message: JSONDict) -> JSONDict:
        """Keep a message as Telegram would (numbered per chat), without delivering it to the bot."""
        with self._changed:
            self._chats[chat["id"]] = chat
            number = self._next_message.get(chat["id"], 1)
            self._next_message[chat["id"]] = number + 1
            stored = {"message_id": number, "date": int(time.time()), "chat": chat, **message}
            self.messages[(chat["id"], number)] = stored
            self._changed.notify_all()
            return stored

    def _editable(self, params: JSONDict) -> JSONDict:
        stored = self.messages.get((int(self._chat(params["chat_id"])["id"]), int(params["message_id"])))
        if stored is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not stored["from"]["is_bot"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return stored

    def _content(self, params: JSONDict) -> JSONDict:
        markup = params.get("text")
        if not isinstance(markup, str):
            raise ApiError(400, "Bad Request: message text is empty")
        text = parse_html(markup) if str(params.get("parse_mode", "")).upper() == "HTML" else markup
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text.strip()) > MESSAGE_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        content: JSONDict = {"text": text.strip(), "html": markup}
        if keyboard := self._markup(params):
            content["reply_markup"] = keyboard
        return content

    def _markup(self, params: JSONDict) -> JSONDict | None:
        markup = params.get("reply_markup")
        self._check_keyboard(markup)
        return markup or None

    @staticmethod
    def _check_keyboard(markup: JSONDict | None) -> None:
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise ApiError(400, "Bad Request: BUTTON_TEXT_EMPTY")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


class _Server(ThreadingHTTPServer):
    """Threads per connection that end when the fake stops, even while a client keeps its connection open."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up on every client, so that no handler thread waits for another request."""
        with self._connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a long poll cancelled at shutdown) is normal, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """HTTP plumbing: decode the form like Telegram does, call the API, encode the answer."""

    api: FakeTelegram
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    disable_nagle_algorithm = True  # else every small answer waits ~40 ms for an ACK

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _PATH.match(self.path.split("?", 1)[0])
        if match is None:
            self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        try:
            params = dict(self._decode(body))
            result = self.api.handle(match["token"], match["method"], params)
        except ApiError as error:
            answer: JSONDict = {"ok": False, "error_code": error.code, "description": error.description}
            if error.retry_after is not None:
                answer["parameters"] = {"retry_after": error.retry_after}
            self._reply(error.code, answer)
            return
        self._reply(200, {"ok": True, "result": result})

    def _decode(self, body: bytes) -> Iterator[tuple[str, Any]]:
        kind = self.headers.get("Content-Type", "")
        if kind.startswith("application/json"):
            yield from json.loads(body or b"{}").items()
            return
        for name, value in parse_qsl(body.decode(), keep_blank_values=True):
            if name in STRING_FIELDS:
                yield name, value
                continue
            try:
                yield name, json.loads(value)
            except json.JSONDecodeError:
                yield name, value  # e.g. chat_id="@channel"

    def _reply(self, status: int, answer: JSONDict) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests look at `calls`, not at an access log."""
