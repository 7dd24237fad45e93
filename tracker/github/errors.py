"""Errors of the GitHub webhook layer, each with the HTTP status the
receiver answers with (the edge maps them; this package does no I/O)."""

from __future__ import annotations

from ..errors import TrackerError


class WebhookError(TrackerError):
    """A delivery that cannot be accepted. ``status`` is the HTTP answer."""

    status = 400
    code = "bad_request"


class SignatureError(WebhookError):
    """``X-Hub-Signature-256`` is missing, malformed or matches no secret."""

    status = 401
    code = "bad_signature"


class UnsupportedContentType(WebhookError):
    """The body is neither JSON nor GitHub's form encoding."""

    status = 415
    code = "unsupported_media_type"


class PayloadError(WebhookError):
    """The payload is valid JSON but lacks (or mistypes) a field we need."""

    status = 422
    code = "invalid_payload"
