"""Signed webhook deliveries over real HTTP (end-to-end tests, benchmarks)."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tracker.github.signature import sign


@dataclass(frozen=True)
class Ack:
    status: int
    seconds: float
    answer: dict[str, Any]


class WebhookPoster:
    """One keep-alive connection to a receiver, posting signed deliveries."""

    def __init__(self, url: str, secret: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.secret = secret
        self.timeout = timeout
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def post(
        self, event: str, body: bytes, delivery: str, *, signature: str | None = None, chunked: bool = False
    ) -> Ack:
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature or sign(body, self.secret),
            "User-Agent": "GitHub-Hookshot/bench",
        }
        start = time.perf_counter()
        try:
            if chunked:
                self.conn.request(
                    "POST", "/webhooks/github", body=iter([body]), headers=headers, encode_chunked=True
                )
            else:
                self.conn.request("POST", "/webhooks/github", body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (ConnectionError, http.client.HTTPException):
            # The server closed a kept-alive connection: reconnect once.
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            return self.post(event, body, delivery, signature=signature, chunked=chunked)
        elapsed = time.perf_counter() - start
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = {"raw": data.decode(errors="replace")}
        return Ack(response.status, elapsed, answer)

    def close(self) -> None:
        self.conn.close()
