"""parse_event: headers and raw body in, an Event or a precise error out."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests.webhooks.helpers import raw
from tracker.github.errors import UnsupportedContentType, WebhookError
from tracker.github.events import parse_event

PING = raw("ping/payload.json")


def headers(**extra: str) -> dict[str, str]:
    base = {
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "Content-Type": "application/json",
    }
    base.update(extra)
    return base


class TestParseEvent:
    def test_ping_fixture(self) -> None:
        event = parse_event(headers(), PING)
        assert (event.name, event.delivery_id, event.action, event.hook_id) == (
            "ping",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            None,
            "109948940",
        )
        assert event.payload["zen"] == "Anything added dilutes everything else."

    def test_headers_are_case_insensitive_and_hook_header_wins(self) -> None:
        event = parse_event(
            {
                "x-github-event": "WORKFLOW_JOB",
                "x-github-delivery": "d-1",
                "x-github-hook-id": "42",
                "content-type": "application/json; charset=utf-8",
            },
            raw("workflow_job/queued.payload.json"),
        )
        assert (event.name, event.action, event.hook_id) == ("workflow_job", "queued", "42")

    def test_form_encoded_delivery(self) -> None:
        form = urlencode({"payload": PING.decode()}).encode()
        event = parse_event(headers(**{"Content-Type": "application/x-www-form-urlencoded"}), form)
        assert event.payload["hook_id"] == 109948940

    @pytest.mark.parametrize(
        ("drop", "message"),
        [("X-GitHub-Event", "missing X-GitHub-Event"), ("X-GitHub-Delivery", "missing X-GitHub-Delivery")],
    )
    def test_missing_header(self, drop: str, message: str) -> None:
        h = headers()
        del h[drop]
        with pytest.raises(WebhookError, match=message) as info:
            parse_event(h, PING)
        assert info.value.status == 400

    def test_delivery_id_with_spaces(self) -> None:
        with pytest.raises(WebhookError, match="printable ASCII"):
            parse_event(headers(**{"X-GitHub-Delivery": "a b"}), PING)

    def test_broken_json(self) -> None:
        with pytest.raises(WebhookError, match="not valid JSON") as info:
            parse_event(headers(), PING[:-10])
        assert info.value.status == 400

    def test_json_that_is_not_an_object(self) -> None:
        with pytest.raises(WebhookError, match="must be a JSON object, not list"):
            parse_event(headers(), json.dumps([1, 2]).encode())

    def test_not_utf8(self) -> None:
        with pytest.raises(WebhookError, match="not UTF-8"):
            parse_event(headers(), b'{"a": "\xff"}')

    def test_unsupported_content_type(self) -> None:
        with pytest.raises(UnsupportedContentType, match="text/plain") as info:
            parse_event(headers(**{"Content-Type": "text/plain"}), PING)
        assert info.value.status == 415

    def test_form_without_payload_field(self) -> None:
        with pytest.raises(WebhookError, match="'payload' field"):
            parse_event(headers(**{"Content-Type": "application/x-www-form-urlencoded"}), b"other=1")
