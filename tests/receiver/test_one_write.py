"""gunicorn responses with headers and body in one write, over a real
socket pair: what the client reads must be the same HTTP response."""

from __future__ import annotations

import http.client
import re
import runpy
import socket
from collections.abc import Iterator
from typing import Any

import gunicorn
import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from receiver import one_write
from receiver.cli.serve import GUNICORN_CONFIG
from receiver.one_write import OneWriteResponse


class Spy:
    """The server's socket, counting its ``sendall`` calls."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.writes: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    client, server = socket.socketpair()
    yield client, server
    client.close()
    server.close()


def serve_one(
    pair: tuple[socket.socket, socket.socket],
    status: str,
    headers: list[tuple[str, str]],
    body: list[Any],
    method: str = "POST",
    version: str = "1.1",
    response_class: type[Any] = OneWriteResponse,
) -> tuple[list[bytes], BaseException | None]:
    """Serve one request as gunicorn's workers do: the server's writes, and
    what the response raised (a chunk that is not bytes)."""
    client, server = pair
    client.sendall(f"{method} /x HTTP/{version}\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
    cfg = Config()
    request = next(RequestParser(cfg, server, ("127.0.0.1", 1)))
    spy = Spy(server)
    response = response_class(request, spy, cfg)
    response.start_response(status, headers)
    raised = None
    try:
        for chunk in body:
            response.write(chunk)
        response.close()
    except TypeError as exc:
        raised = exc
    return spy.writes, raised


def respond(
    pair: tuple[socket.socket, socket.socket], *args: Any, **kwargs: Any
) -> tuple[list[bytes], http.client.HTTPResponse]:
    """:func:`serve_one`, and the response as the client parses it."""
    writes, _ = serve_one(pair, *args, **kwargs)
    parsed = http.client.HTTPResponse(pair[0], method=kwargs.get("method", "POST"))
    parsed.begin()
    return writes, parsed


def test_headers_and_body_leave_in_one_write(pair: tuple[socket.socket, socket.socket]) -> None:
    body = b'{"id": 17, "duplicate": false}'
    writes, parsed = respond(
        pair,
        "201 CREATED",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        [body],
    )
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 201 CREATED\r\n") and writes[0].endswith(b"\r\n\r\n" + body)
    assert (parsed.status, parsed.getheader("Content-Type"), parsed.read()) == (201, "application/json", body)


def test_a_response_without_a_body_is_its_headers(pair: tuple[socket.socket, socket.socket]) -> None:
    # A 204 omits the body gunicorn is handed: the headers still go, once.
    writes, parsed = respond(pair, "204 NO CONTENT", [], [b"ignored"])
    assert len(writes) == 1 and writes[0].endswith(b"\r\n\r\n")
    assert (parsed.status, parsed.read()) == (204, b"")


def test_chunked_and_later_writes_as_gunicorn_sends_them(pair: tuple[socket.socket, socket.socket]) -> None:
    # No Content-Length on HTTP/1.1: chunked, which gunicorn frames itself.
    writes, parsed = respond(pair, "200 OK", [("Content-Type", "text/csv")], [b"a,b\n", b"1,2\n"])
    assert len(writes) > 2
    assert (parsed.status, parsed.read()) == (200, b"a,b\n1,2\n")
    # A known length, in two writes: headers with the first, then the second.
    client, server = socket.socketpair()
    with client, server:
        writes, parsed = respond((client, server), "200 OK", [("Content-Length", "8")], [b"a,b\n", b"1,2\n"])
    assert len(writes) == 2 and writes[1] == b"1,2\n"
    assert parsed.read() == b"a,b\n1,2\n"


def test_install_only_on_a_gunicorn_it_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    stock = wsgi.Response
    monkeypatch.setattr(wsgi, "Response", stock)  # undone after the test
    assert one_write.install()
    assert wsgi.Response is OneWriteResponse
    monkeypatch.setattr(wsgi, "Response", type("OldResponse", (), {}))
    assert not one_write.install()
    assert wsgi.Response.__name__ == "OldResponse"
    # A release it was not checked against keeps its own response too.
    monkeypatch.setattr(wsgi, "Response", stock)
    monkeypatch.setattr(gunicorn, "version_info", (28, 0, 0))
    assert not one_write.install()
    assert wsgi.Response is stock


CASES: dict[str, dict[str, Any]] = {
    "JSON body": {"status": "201 CREATED", "headers": [("Content-Length", "9")], "body": [b'{"id": 1}']},
    "HEAD": {
        "status": "200 OK",
        "headers": [("Content-Length", "9")],
        "body": [b'{"id": 1}'],
        "method": "HEAD",
    },
    "304": {"status": "304 NOT MODIFIED", "headers": [], "body": [b"dropped"]},
    "Content-Length short of the body": {
        "status": "200 OK",
        "headers": [("Content-Length", "3")],
        "body": [b"abcdef", b"gh"],
    },
    "Content-Length 0": {"status": "200 OK", "headers": [("Content-Length", "0")], "body": [b"abc"]},
    "empty first chunk": {"status": "200 OK", "headers": [("Content-Length", "3")], "body": [b"", b"abc"]},
    "HTTP/1.0, several chunks": {"status": "200 OK", "headers": [], "body": [b"ab", b"cd"], "version": "1.0"},
    "a chunk that is not bytes": {"status": "200 OK", "headers": [("Content-Length", "3")], "body": ["abc"]},
}


def _without_date(data: bytes) -> bytes:
    return re.sub(rb"Date: [^\r]*\r\n", b"", data)


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_the_same_bytes_as_gunicorn_sends(case: dict[str, Any]) -> None:
    """Whatever the response, the client gets what gunicorn's own response
    sends; only the number of writes may differ."""
    sent = []
    for response_class in (wsgi.Response, OneWriteResponse):
        client, server = socket.socketpair()
        with client, server:
            writes, raised = serve_one((client, server), **case, response_class=response_class)
            sent.append((_without_date(b"".join(writes)), type(raised)))
            assert len(writes) >= 1
    assert sent[0] == sent[1]


def test_the_config_file_installs_it_in_each_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook ``serve`` names is one gunicorn runs (a misspelt hook would
    be ignored without a word), and it installs the response."""
    monkeypatch.setattr(wsgi, "Response", wsgi.Response)  # undone after the test
    hook = runpy.run_path(str(GUNICORN_CONFIG))["post_worker_init"]
    cfg = Config()
    cfg.set("post_worker_init", hook)
    cfg.post_worker_init(object())
    assert wsgi.Response is OneWriteResponse
