"""Sending a stage result to the receiver: short timeouts, bounded retries,
then a spool file that the next step of the job sends first.

Every result gets one idempotency key when it is made; retries and a later
replay from the spool send the same bytes under the same key, so the
receiver stores it once however often it arrives.
"""

from __future__ import annotations

import enum
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .workflow import escape_data

API_PATH = "/api/v1/stage-results"
SPOOL_NAME = "session-buddy-ci-spool.jsonl"
USER_AGENT = "session-buddy-ci-action/0.1"


class Delivered(enum.Enum):
    """The ``delivered`` output."""

    TRUE = "true"
    NOT_SENT = "false"
    SPOOLED = "spooled"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one step tries before it spools."""

    attempts: int = 4
    #: Seconds for the connection and for each read.
    timeout: float = 5.0
    #: The first pause; it doubles each time (with jitter).
    first_pause: float = 0.5
    #: Longest single pause, a server's Retry-After included.
    max_pause: float = 8.0
    #: All the sending one step does (spool and its own result) stops after this.
    budget: float = 20.0


#: Tests shorten it; nobody else needs to.
POLICY = RetryPolicy()


@dataclass(frozen=True)
class Answer:
    """What one POST got: an HTTP status, or ``None`` when no answer came."""

    status: int | None
    body: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    retry_after: float | None = None
    #: The request could not even be built: sending it again cannot help.
    unsendable: bool = False

    @property
    def ok(self) -> bool:
        return self.status in (200, 201)

    @property
    def retryable(self) -> bool:
        if self.unsendable:
            return False
        return self.status is None or self.status >= 500 or self.status in (408, 429)

    def describe(self) -> str:
        if self.status is None:
            return self.reason
        return f"HTTP {self.status}" + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class Pending:
    """A result not yet acknowledged: the exact body text under its key."""

    key: str
    url: str
    body: str

    def line(self) -> str:
        return json.dumps({"key": self.key, "url": self.url, "body": self.body}) + "\n"

    @classmethod
    def parse(cls, line: str) -> Pending | None:
        try:
            data = json.loads(line)
            return cls(str(data["key"]), str(data["url"]), str(data["body"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class Report:
    """The outcome of :func:`deliver` for the step's own result."""

    outcome: Delivered
    answer: dict[str, Any]
    problems: list[str]


def where(url: str) -> str:
    """``url`` without credentials, path or query, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a receiver URL, or ``None``."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return f"receiver-url {url!r} is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "receiver-url must be an http:// or https:// URL, like https://ci-stats.example.com"
    return None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isascii() and value.strip().isdigit():
        return float(value.strip())
    from email.utils import parsedate_to_datetime

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def post(url: str, body: str, *, key: str, token: str, timeout: float) -> Answer:
    """One POST of ``body`` to ``url``; never raises for network trouble."""
    import http.client
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        # Following a redirect would resend the bearer token elsewhere, or
        # turn the POST into a GET: a redirect is an answer to report.
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Idempotency-Key": key,
        "User-Agent": USER_AGENT,
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # check_url() let only http(s) URLs through.
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")  # noqa: S310
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return Answer(response.status, _json_object(response.read()))
    except urllib.error.HTTPError as exc:
        try:
            data = _json_object(exc.read())
        except (OSError, http.client.HTTPException):
            data = {}
        reason = str(data.get("message") or exc.reason or "")
        if 300 <= exc.code < 400:
            reason = f"redirected to {exc.headers.get('Location')!r}; set receiver-url to the final address"
        return Answer(exc.code, data, reason, _retry_after(exc.headers.get("Retry-After")))
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, cut short
        cause = getattr(exc, "reason", None) or exc  # URLError wraps the socket error
        return Answer(None, reason=f"no answer from {where(url)} ({type(cause).__name__}: {cause})")
    except ValueError:
        # http.client refuses a header with a line break (ValueError) or a
        # character beyond Latin-1 (UnicodeEncodeError); its message quotes
        # the header, which may be the token: never print it.
        return Answer(
            None,
            reason="the request could not be built: a header holds a character HTTP headers cannot carry",
            unsendable=True,
        )


def send(
    item: Pending, token: str, *, policy: RetryPolicy, deadline: float, attempts: int
) -> tuple[Answer, int]:
    """POST ``item`` until it is acknowledged, refused, or the attempts or
    the time run out. Returns the last answer and the attempts made."""
    answer = Answer(None, reason="no time left to send")
    made = 0
    for attempt in range(attempts):
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            break
        answer = post(item.url, item.body, key=item.key, token=token, timeout=min(policy.timeout, remaining))
        made += 1
        if answer.ok or not answer.retryable or attempt == attempts - 1:
            break
        pause = policy.first_pause * 2**attempt * random.uniform(0.5, 1.0)  # noqa: S311 - jitter
        if answer.retry_after is not None:
            pause = answer.retry_after
        pause = min(pause, policy.max_pause)
        if time.monotonic() + pause >= deadline:
            break
        time.sleep(pause)
    return answer, made


@contextmanager
def spool(directory: Path) -> Iterator[list[Pending]]:
    """The spooled results, locked against other processes; the list as it
    stands at the end is written back (atomically: a crash keeps the old
    file whole)."""
    import fcntl  # POSIX only; imported here so that Windows gets main()'s clear error

    path = directory / SPOOL_NAME
    lock_fd = os.open(directory / (SPOOL_NAME + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        items = [p for p in map(Pending.parse, lines) if p is not None]
        before = list(items)
        yield items
        if items != before or len(items) != len(lines):
            if items:
                scratch = path.with_suffix(".tmp")
                with open(scratch, "w", encoding="utf-8") as handle:
                    handle.writelines(item.line() for item in items)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(scratch, path)
            else:
                path.unlink(missing_ok=True)
    finally:
        os.close(lock_fd)  # releases the lock


def replay(
    items: list[Pending],
    url: str,
    token: str,
    *,
    policy: RetryPolicy,
    deadline: float,
    log: Callable[[str], None],
) -> tuple[bool, list[str]]:
    """Send the spooled results meant for ``url``, oldest first, one attempt
    each; remove what was acknowledged or refused for good from ``items``.

    Returns whether the receiver looked down, and problems to report.
    """
    mine = [item for item in items if item.url == url]
    if not mine:
        return False, []
    problems: list[str] = []
    sent = 0
    print(f"::group::session-buddy-ci: sending {len(mine)} spooled result(s) first", flush=True)
    try:
        for item in mine:
            answer, _ = send(item, token, policy=policy, deadline=deadline, attempts=1)
            if answer.ok:
                items.remove(item)
                sent += 1
            elif answer.retryable:
                log(f"receiver still unreachable ({answer.describe()}); keeping the spool")
                return True, problems
            elif answer.status in (401, 403):
                # This step's token is refused; another step's may not be.
                problems.append(f"spooled results kept: the receiver refused the token ({answer.describe()})")
                return False, problems
            else:
                items.remove(item)
                problems.append(f"a spooled result was refused and dropped: {answer.describe()}")
        return False, problems
    finally:
        log(f"{sent} of {len(mine)} spooled result(s) delivered")
        print("::endgroup::", flush=True)


def deliver(
    url: str,
    token: str,
    payload: dict[str, Any],
    *,
    spool_dir: Path,
    policy: RetryPolicy | None = None,
    log: Callable[[str], None] | None = None,
) -> Report:
    """Send what the spool holds for ``url``, then this result; spool this
    result when the receiver cannot be reached."""
    policy = policy or POLICY
    log = log or (lambda text: print("session-buddy-ci: " + escape_data(text), flush=True))
    target = url + API_PATH
    item = Pending(str(uuid.uuid4()), target, json.dumps(payload, separators=(",", ":")))
    deadline = time.monotonic() + policy.budget
    with spool(spool_dir) as items:
        down, problems = replay(items, target, token, policy=policy, deadline=deadline, log=log)
        # A receiver that just failed the spool gets one try, not the full
        # back-off: a down receiver must not slow every step of the job.
        answer, made = send(
            item, token, policy=policy, deadline=deadline, attempts=1 if down else policy.attempts
        )
        if answer.ok:
            return Report(Delivered.TRUE, answer.body, problems)
        if answer.retryable:
            items.append(item)
            problems.append(
                f"the stage result could not be delivered to {where(url)} after {made} attempt(s) "
                f"({answer.describe()}); it is spooled in RUNNER_TEMP and the next session-buddy-ci "
                "step of this job sends it first"
            )
            return Report(Delivered.SPOOLED, answer.body, problems)
        if answer.unsendable:
            problems.append(f"the stage result was not sent: {answer.reason}")
        else:
            problems.append(f"the receiver at {where(url)} refused the stage result ({answer.describe()})")
        return Report(Delivered.NOT_SENT, answer.body, problems)
