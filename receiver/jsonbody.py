"""Reading a JSON request body under the JSON API's limits, and the 400
that names a field: shared by every endpoint that takes JSON."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from . import db
from .errors import error_response


def bad(field: str, message: str) -> Response:
    """A 400 that names the field."""
    return error_response(400, "bad_request", message, field=field)


def read_json(what: str = "the body") -> Any | Response:
    """The parsed JSON body, or the answer that refuses it: 415 unless the
    content type is JSON, 413 above ``max_body_bytes``, 400 when it does not
    parse (broken JSON, bad UTF-8, nesting too deep)."""
    if not request.is_json:
        return error_response(415, "unsupported_media_type", f"send {what} as Content-Type: application/json")
    # Lower than the app-wide limit (which leaves room for webhooks);
    # werkzeug answers 413 before reading past it.
    limit = db.settings().max_body_bytes
    # A chunked body has no Content-Length: werkzeug then stops reading at
    # the cap without complaint, so read one byte past the limit and refuse
    # a body that reached it (cut short, it could even parse).
    request.max_content_length = limit + 1
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raw = None
    if raw is None or len(raw) > limit:
        return error_response(413, "payload_too_large", f"the body is larger than {limit} bytes")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return bad("body", f"the request body is not valid JSON: {exc}")
