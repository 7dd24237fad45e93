"""gunicorn responses with headers and body in one write, over a real
socket pair: what the client reads must be the same HTTP response."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from receiver import one_write
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


def respond(
    pair: tuple[socket.socket, socket.socket],
    status: str,
    headers: list[tuple[str, str]],
    body: list[bytes],
    method: str = "POST",
) -> tuple[list[bytes], http.client.HTTPResponse]:
    """Serve one request as gunicorn's workers do; the server's writes and
    the response as the client parses it."""
    client, server = pair
    client.sendall(
        f"{method} /api/v1/stage-results HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    )
    cfg = Config()
    request = next(RequestParser(cfg, server, ("127.0.0.1", 1)))
    spy = Spy(server)
    response = OneWriteResponse(request, spy, cfg)
    response.start_response(status, headers)
    for chunk in body:
        response.write(chunk)
    response.close()
    parsed = http.client.HTTPResponse(client, method=method)
    parsed.begin()
    return spy.writes, parsed


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
    monkeypatch.setattr(wsgi, "Response", wsgi.Response)  # undone after the test
    assert one_write.install()
    assert wsgi.Response is OneWriteResponse
    monkeypatch.setattr(wsgi, "Response", type("OldResponse", (), {}))
    assert not one_write.install()
    assert wsgi.Response.__name__ == "OldResponse"
