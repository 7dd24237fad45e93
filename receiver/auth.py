"""Bearer-token authentication of the write endpoints."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, request

from .db import settings
from .errors import error_response

F = TypeVar("F", bound=Callable[..., Any])


def check_token(header: str | None, tokens: tuple[str, ...]) -> int | None:
    """``None`` when ``header`` carries one of ``tokens``; else the status
    to answer: 401 without a bearer token, 403 with a wrong one.

    >>> check_token("Bearer s3cret", ("s3cret",)) is None
    True
    >>> check_token(None, ("s3cret",)), check_token("Bearer nope", ("s3cret",))
    (401, 403)
    >>> check_token("bearer s3cret", ("s3cret",)) is None
    True
    """
    # The scheme is case-insensitive (RFC 7235): "bearer x" is a bearer token.
    if not header or header[:7].lower() != "bearer " or not header[7:].strip():
        return 401
    given = header[7:].strip().encode()
    # Compare with every token, in constant time each, without stopping early.
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token.encode())
    return None if matched else 403


def _refusal(status: int) -> Response:
    if status == 401:
        response = error_response(401, "unauthorized", "send Authorization: Bearer <token>")
        response.headers["WWW-Authenticate"] = 'Bearer realm="session-buddy-ci"'
        return response
    if not settings().api_tokens:
        return error_response(
            403, "forbidden", "this receiver has no API tokens configured (SESSION_BUDDY_CI_API_TOKENS)"
        )
    return error_response(403, "forbidden", "the bearer token is not valid")


def token_required(view: F) -> F:
    """Refuse the request unless it carries a configured bearer token."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        status = check_token(request.headers.get("Authorization"), settings().api_tokens)
        if status is not None:
            return _refusal(status)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
