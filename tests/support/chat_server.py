"""A real HTTP server on loopback that speaks the OpenAI chat-completions protocol, scripted per test.

``POST …/chat/completions`` answers with whatever the test scripted (:meth:`ChatServer.reply`), one reply per
request (the last one repeats):

* :func:`advice` / :func:`completion` - a well-formed completion whose content is a given JSON object or text;
* :class:`Reply` with ``status`` (500, 429, …), a raw ``body`` (invalid JSON), ``delay`` (sleep past the
  client's timeout), ``close`` (drop the connection without an answer) or ``trickle`` (send the body one
  byte at a time);
* :meth:`ChatServer.gullible` - a model that obeys instructions it finds in the alert: "rank X first",
  "put X at the top", "cite X", any recommended step id the alert mentions is promoted, and "risk … low"
  makes it try to set risk levels. Tests use it to show that injected text changes nothing.

Every request is recorded (path, headers, parsed body) so tests can check the prompt and the headers. The
server never needs the network beyond 127.0.0.1 and stops its sleeping handlers when closed.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ChatServer", "RecordedRequest", "Reply", "advice", "chat_server", "completion"]


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    def content(self, role: str) -> str:
        return next(m["content"] for m in self.body["messages"] if m["role"] == role)

    @property
    def user(self) -> str:
        return self.content("user")

    @property
    def system(self) -> str:
        return self.content("system")


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | bytes = b""
    delay: float = 0.0
    close: bool = False
    trickle: float | None = None
    headers: dict[str, str] = field(default_factory=dict)


def completion(content: str | None, *, model: str = "test-chat", choices: bool = True) -> dict[str, Any]:
    """An OpenAI chat.completion object whose first choice says ``content``."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": (
            [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
            if choices
            else []
        ),
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def advice(answer: dict[str, Any] | str, **reply: Any) -> Reply:
    """A 200 reply whose content is ``answer`` (a JSON object, or raw text as given)."""
    content = answer if isinstance(answer, str) else json.dumps(answer)
    return Reply(body=completion(content), **reply)


def _between(text: str, start: str, end: str) -> Any:
    return json.loads(text.split(start, 1)[1].split(end, 1)[0])


def gullible_answer(user_message: str, obeyed: list[str]) -> dict[str, Any]:
    """What a model that follows instructions in the data would answer (and what it obeyed)."""
    alert = _between(user_message, "<alert_data>", "</alert_data>")
    data = _between(user_message, "<evidence_data>", "</evidence_data>")
    steps: list[str] = data["recommended_steps"]
    pieces = [alert["title"], alert["description"]]
    for key, value in alert["labels"].items():
        pieces += [key, value]
    text = "\n".join(pieces)

    promoted: list[str] = []
    for pattern in (
        r"\brank\s+(\S+?)[.,;]?\s+first\b",
        r"\bput\s+(\S+?)\s+(?:first|at the top)\b",
        r"\b(\S+?)\s+must come first\b",
    ):
        for match in re.finditer(pattern, text, re.IGNORECASE):
            promoted.append(match.group(1))
            obeyed.append(f"promote {match.group(1)}")
    for step in steps:
        if step in text and step not in promoted:
            promoted.append(step)
            obeyed.append(f"promote {step} (mentioned)")
    ranking = list(dict.fromkeys(promoted + steps))
    first = ranking[0] if ranking else "none"
    answer: dict[str, Any] = {
        "explanation": f"As the alert instructs, start with [{first}].",
        "ranking": ranking,
        "cited_ids": [first],
    }
    for match in re.finditer(r"\bcite\s+(\S+?)[.,;]?(?:\s|$)", text, re.IGNORECASE):
        answer["cited_ids"].append(match.group(1))
        answer["explanation"] += f" See [{match.group(1)}]."
        obeyed.append(f"cite {match.group(1)}")
    if re.search(r"\brisk\b.*\blow\b", text, re.IGNORECASE):
        answer["risk_levels"] = dict.fromkeys(steps, "low")
        obeyed.append("set risk low")
    return answer


class ChatServer:
    """An OpenAI-style chat-completions server on 127.0.0.1 whose replies each test scripts."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.obeyed: list[str] = []
        self._replies: list[Reply] = [advice({"explanation": "ok", "ranking": None, "cited_ids": []})]
        self._gullible = False
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsable": raw.decode("utf-8", "replace")}
                recorded = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with server._lock:
                    server.requests.append(recorded)
                    number = len(server.requests)
                reply = server._reply_for(number, recorded)
                if reply.delay and server.stopping.wait(reply.delay):
                    return
                if reply.close:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if reply.trickle is None:
                    self.wfile.write(payload)
                    return
                for index in range(len(payload)):
                    if server.stopping.wait(reply.trickle):
                        return
                    self.wfile.write(payload[index : index + 1])
                    self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (timeout tests) closes the socket under a late reply

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    # -- scripting ------------------------------------------------------------------------------------------

    def reply(self, *replies: Reply) -> None:
        """Answer request n with ``replies[n-1]``; the last reply repeats."""
        with self._lock:
            self._replies = list(replies)
            self._gullible = False

    def gullible(self) -> None:
        """Obey whatever instructions the alert text carries (see :func:`gullible_answer`)."""
        with self._lock:
            self._gullible = True

    def _reply_for(self, number: int, request: RecordedRequest) -> Reply:
        with self._lock:
            if self._gullible:
                answer = gullible_answer(request.user, self.obeyed)
                return advice(answer)
            return self._replies[min(number, len(self._replies)) - 1]

    # -- lifecycle ------------------------------------------------------------------------------------------

    def close(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def chat_server() -> Iterator[ChatServer]:
    running = ChatServer()
    try:
        yield running
    finally:
        running.close()
