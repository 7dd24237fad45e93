"""A small real HTTP server that stands in for the receiver in the Action's
unit tests: it records every request, keeps DESIGN.md's idempotency rule
(a key is stored once; a repeat gets the first answer with duplicate=true),
and answers from a script of behaviours so tests can make it fail."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Behaviours a test can queue, one per request:
#: an int status (stores nothing unless 201), "store" (store, answer 201 or
#: the duplicate 200), "store-and-drop" (store, then close the connection
#: without answering: the answer is lost), "drop" (close without storing),
#: "hang" (answer nothing until the client gives up), ("retry-after", status, seconds).
Behaviour = Any


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ReceiverDouble:
    url: str = ""
    script: list[Behaviour] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    #: idempotency key -> stored body (what the database would hold)
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The phase the double answers with (a real receiver maps the stage).
    answer_phase: str = "execution"
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stored_bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.stored.values())

    def keys(self) -> list[str]:
        with self.lock:
            return [r.headers.get("Idempotency-Key", "") for r in self.requests]


def _handler(double: ReceiverDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _store(self, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            with double.lock:
                duplicate = key in double.stored
                if not duplicate:
                    double.stored[key] = body
                first = double.stored[key]
            if duplicate and first != body:
                return 422, {"error": "unprocessable", "message": "key reused with another body"}
            ctx = body["context"]
            answer = {
                "id": list(double.stored).index(key) + 1,
                "session_id": f"{ctx['pipeline_name']}-{ctx['build_number']}",
                "workflow_phase": double.answer_phase,
                "duplicate": duplicate,
            }
            return (200 if duplicate else 201), answer

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            body = json.loads(raw)
            headers = dict(self.headers.items())
            key = headers.get("Idempotency-Key", "")
            with double.lock:
                double.requests.append(Request(self.path, headers, body))
                behaviour = double.script.pop(0) if double.script else "store"
            if behaviour == "store":
                self._answer(*self._store(key, body))
            elif behaviour == "store-and-drop":
                self._store(key, body)
                self.close_connection = True
            elif behaviour == "drop":
                self.close_connection = True
            elif behaviour == "hang":
                double.release.wait(10)
                self.close_connection = True
            elif isinstance(behaviour, tuple) and behaviour[0] == "retry-after":
                busy = {"error": "busy", "message": "busy"}
                self._answer(behaviour[1], busy, {"Retry-After": behaviour[2]})
            else:
                status = int(behaviour)
                self._answer(status, {"error": "scripted", "message": f"scripted answer {status}"})

    return Handler


@contextmanager
def receiver_double(*script: Behaviour) -> Iterator[ReceiverDouble]:
    """Serve a :class:`ReceiverDouble` on a free loopback port."""
    double = ReceiverDouble(script=list(script))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(double))
    server.daemon_threads = True
    double.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield double
    finally:
        double.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
