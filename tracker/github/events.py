"""Reading a webhook delivery: headers and raw body in, an :class:`Event` out.

Pure (no I/O). Call it only after :func:`~tracker.github.signature.verify_signature`
has accepted the body: nothing here should ever see unsigned input.

>>> e = parse_event({"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1",
...     "Content-Type": "application/json"}, b'{"zen": "Keep it simple.", "hook_id": 7}')
>>> e.name, e.delivery_id, e.action, e.hook_id
('ping', 'd-1', None, '7')
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from .errors import UnsupportedContentType, WebhookError
from .fields import clean_name

EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
HOOK_HEADER = "X-GitHub-Hook-ID"
SIGNATURE_HEADER = "X-Hub-Signature-256"
CONTENT_TYPE_HEADER = "Content-Type"

#: What fits the ``webhook_delivery`` columns: GitHub sends GUIDs.
_DELIVERY = re.compile(r"^[!-~]{1,100}$")
_EVENT = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


@dataclass(frozen=True)
class Event:
    """One parsed delivery."""

    name: str
    delivery_id: str
    payload: dict[str, Any]
    action: str | None = None
    hook_id: str | None = None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """``headers[name]``, case-insensitively; ``None`` when absent or blank."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            text = str(value).strip()
            return text or None
    return None


def delivery_id_of(headers: Mapping[str, str]) -> str:
    """The ``X-GitHub-Delivery`` id (the idempotency key).

    :raises WebhookError: when missing or not 1-100 printable ASCII characters.
    """
    value = header(headers, DELIVERY_HEADER)
    if value is None:
        raise WebhookError(f"missing {DELIVERY_HEADER} header")
    if not _DELIVERY.match(value):
        raise WebhookError(f"{DELIVERY_HEADER} must be 1-100 printable ASCII characters without spaces")
    return value


def _decode(body: bytes, content_type: str | None) -> Any:
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        # GitHub's "form" content type: the JSON is the value of `payload`.
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise WebhookError(f"the form-encoded body cannot be read: {exc}") from None
        values = form.get("payload")
        if not values or len(values) != 1:
            raise WebhookError("a form-encoded delivery needs exactly one 'payload' field")
        text = values[0]
    elif media == "application/json" or media.endswith("+json"):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WebhookError(f"the body is not UTF-8: {exc}") from None
    else:
        raise UnsupportedContentType(
            f"Content-Type {media!r} is not supported: use application/json "
            "(or application/x-www-form-urlencoded)"
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WebhookError(f"the body is not valid JSON: {exc}") from None


def parse_event(headers: Mapping[str, str], body: bytes) -> Event:
    """Read the event name, delivery id, action and JSON payload.

    :raises WebhookError: (400) a missing ``X-GitHub-Event`` or
        ``X-GitHub-Delivery`` header, a body that is not JSON, or JSON that
        is not an object.
    :raises UnsupportedContentType: (415) a body that is neither JSON nor
        form-encoded.
    """
    delivery_id = delivery_id_of(headers)
    name = header(headers, EVENT_HEADER)
    if name is None:
        raise WebhookError(f"missing {EVENT_HEADER} header")
    name = name.lower()
    if not _EVENT.match(name):
        raise WebhookError(f"{EVENT_HEADER} {name[:100]!r} is not an event name")
    payload = _decode(body, header(headers, CONTENT_TYPE_HEADER))
    if not isinstance(payload, dict):
        raise WebhookError(f"the payload must be a JSON object, not {type(payload).__name__}")
    action = payload.get("action")
    hook_id = header(headers, HOOK_HEADER)
    if hook_id is None and isinstance(payload.get("hook_id"), int):
        hook_id = str(payload["hook_id"])
    return Event(
        name=name,
        delivery_id=delivery_id,
        payload=payload,
        action=(clean_name(action, 100) or None) if isinstance(action, str) else None,
        hook_id=hook_id[:100] if hook_id else None,
    )
