"""Calling the GitHub API with bounded retries.

Retried: 5xx answers, connection errors and timeouts, and rate limits
(403/429 with ``Retry-After``, a "secondary rate limit" message, or
``X-RateLimit-Remaining: 0``). ``Retry-After`` (or the rate limit's reset
time) is respected; other waits back off exponentially. A wait beyond the
bound, too many attempts, or any other 4xx ends in :class:`GitHubCallFailed`,
which the caller records for replay.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from github import GithubException

from tracker.errors import TrackerError

T = TypeVar("T")


class GitHubCallFailed(TrackerError):
    """An API call that retries did not save. ``status`` is GitHub's (0 for
    a network error)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``max_attempts`` calls, waits from ``base_delay``
    doubling, none longer than ``max_delay``, at most ``max_total_wait``
    seconds of waiting in all."""

    max_attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_total_wait: float = 60.0


def _header(headers: dict[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def retry_after(headers: dict[str, str] | None, now: float) -> float | None:
    """Seconds GitHub asked us to wait: ``Retry-After`` (seconds or an HTTP
    date), else the rate limit's reset when none is left.

    >>> retry_after({"Retry-After": "7"}, 0.0)
    7.0
    >>> retry_after({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "130"}, 100.0)
    30.0
    """
    value = _header(headers, "Retry-After")
    if value is not None:
        text = value.strip()
        if text.isascii() and text.isdigit():
            return float(text)
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - now)
    if _header(headers, "x-ratelimit-remaining") == "0":
        reset = _header(headers, "x-ratelimit-reset")
        if reset is not None and reset.strip().isascii() and reset.strip().isdigit():
            return max(0.0, float(reset) - now)
    return None


def _describe(exc: GithubException) -> str:
    data = exc.data
    message = data.get("message") if isinstance(data, dict) else None
    return f"{exc.status} {message or exc.message or 'error'}".strip()


def _retryable(exc: Exception, now: float) -> tuple[bool, float | None, str]:
    """(retry?, wait GitHub asked for, description)."""
    if isinstance(exc, GithubException):
        text = _describe(exc)
        asked = retry_after(exc.headers, now)
        if exc.status >= 500:
            return True, asked, text
        if exc.status in (403, 429):
            limited = asked is not None or "rate limit" in text.lower()
            return limited, asked, text
        return False, None, text
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True, None, f"network error: {type(exc).__name__}"
    return False, None, f"request error: {type(exc).__name__}: {exc}"


def call_with_retries(
    what: str,
    call: Callable[[], T],
    *,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    before_attempt: Callable[[], None] | None = None,
) -> T:
    """``call()``, retried as the module says. ``before_attempt`` runs
    before each attempt (a worker renews its lease there); what it raises
    ends the retries.

    :raises GitHubCallFailed: naming ``what``, GitHub's status and message,
        and how many attempts were made.
    """
    waited = 0.0
    for attempt in range(1, policy.max_attempts + 1):
        if before_attempt is not None:
            before_attempt()
        try:
            return call()
        except (GithubException, requests.exceptions.RequestException) as exc:
            retry, asked, text = _retryable(exc, clock())
            status = exc.status if isinstance(exc, GithubException) else 0
            if not retry:
                raise GitHubCallFailed(f"{what}: {text}", status) from exc
            if attempt == policy.max_attempts:
                raise GitHubCallFailed(f"{what}: {text} (gave up after {attempt} attempts)", status) from exc
            delay = asked if asked is not None else policy.base_delay * 2 ** (attempt - 1)
            if delay > policy.max_delay or waited + delay > policy.max_total_wait:
                raise GitHubCallFailed(
                    f"{what}: {text}; GitHub asked to wait {delay:.0f} s, beyond the retry bound "
                    f"(after {attempt} attempts)",
                    status,
                ) from exc
            sleep(delay)
            waited += delay
    raise AssertionError("unreachable")  # pragma: no cover
