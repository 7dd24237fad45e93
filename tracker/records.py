"""What storage records: one validated skill invocation."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .context import CIPipelineContext
from .phases import Outcome, Source, WorkflowPhase

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

#: Error texts are stored cut to this many bytes of UTF-8.
MAX_ERROR_BYTES = 4096
MAX_NAME_LENGTH = 200


def utcnow() -> datetime:
    """Now, as the naive UTC datetime that storage keeps."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_utc_naive(moment: datetime) -> datetime:
    """Naive UTC from an aware datetime; a naive one is taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def cut_utf8(text: str | None, limit: int = MAX_ERROR_BYTES) -> str | None:
    """``text`` cut to at most ``limit`` bytes of UTF-8, never mid-character."""
    if text is None:
        return None
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def without_nul(text: str | None) -> str | None:
    """``text`` with each NUL character replaced by U+FFFD. Free text (an
    error message, a query) is stored as sent but for NUL, which
    PostgreSQL cannot store in a text column: the same on every database.

    >>> without_nul("boom\\x00x")
    'boom�x'
    """
    if text is None or "\x00" not in text:
        return text
    return text.replace("\x00", "\ufffd")


def error_key(error_type: str | None, error_message: str | None) -> str | None:
    """The label a failure is counted under: its type, else the first line
    of its message (cut to 200 characters)."""
    if error_type:
        return error_type[:MAX_NAME_LENGTH]
    if error_message and error_message.strip():
        return error_message.strip().splitlines()[0][:MAX_NAME_LENGTH]
    return None


#: Longest run a result may report: a year. Also keeps ``now - duration``
#: (a run's start) inside the range of a datetime, and sums of durations
#: finite.
MAX_DURATION_SECONDS = 366 * 86_400


def check_duration(value: Any, name: str = "duration_seconds") -> float:
    """A finite number of seconds from 0 to :data:`MAX_DURATION_SECONDS`.

    :raises ValueError: otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond any float
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} must be finite and >= 0, not {value!r}"[:200])
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{name} must be at most {MAX_DURATION_SECONDS}")
    return seconds


def check_name(value: Any, name: str, limit: int = MAX_NAME_LENGTH) -> str:
    """A non-empty name of at most ``limit`` characters, without control characters.

    :raises ValueError: naming the field.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    text = value.strip()
    if len(text) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    if _CONTROL.search(text):
        raise ValueError(f"{name} must not contain control characters")
    return text


def check_length(value: str | None, name: str, limit: int) -> str | None:
    """``value`` unchanged if it is ``None`` or at most ``limit`` characters.

    Every database refuses what does not fit its column, or, as SQLite
    does, none does: checked here, a long value is the same error on all.

    :raises ValueError: naming the field.
    """
    if value is not None and len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return value


#: Longest workflow_path, workflow_step_id and external_id (their columns).
MAX_PATH_LENGTH = 300


@dataclass(frozen=True)
class InvocationRecord:
    """One skill run, ready to store. Validated on construction."""

    skill_name: str
    session_id: str
    workflow_phase: WorkflowPhase
    source: Source
    outcome: Outcome
    duration_seconds: float
    invoked_at: datetime = field(default_factory=utcnow)
    stage: str | None = None
    context: CIPipelineContext | None = None
    error_message: str | None = None
    error_type: str | None = None
    exit_code: int | None = None
    workflow_path: str | None = None
    workflow_step_id: str | None = None
    user_query: str | None = None
    alternatives_considered: list[str] | None = None
    selection_rank: int | None = None
    follow_up_actions: list[str] | None = None
    queue_seconds: float | None = None
    artifacts: dict[str, Any] | None = None
    external_id: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "skill_name", check_name(self.skill_name, "skill_name"))
        set_(self, "session_id", check_name(self.session_id, "session_id", limit=300))
        set_(self, "workflow_phase", WorkflowPhase.parse(self.workflow_phase))
        set_(self, "source", Source(self.source))
        set_(self, "outcome", Outcome(self.outcome))
        set_(self, "duration_seconds", check_duration(self.duration_seconds))
        if self.queue_seconds is not None:
            set_(
                self,
                "queue_seconds",
                check_duration(self.queue_seconds, "queue_seconds"),
            )
        if self.stage is not None:
            set_(self, "stage", check_name(self.stage, "stage"))
        set_(self, "invoked_at", to_utc_naive(self.invoked_at))
        set_(self, "error_message", cut_utf8(without_nul(self.error_message)))
        set_(self, "user_query", without_nul(self.user_query))
        # A label, cut as error_key is; the others identify and must match
        # exactly when queried, so a longer one is refused.
        if self.error_type is not None:
            set_(self, "error_type", without_nul(self.error_type[:MAX_NAME_LENGTH]))
        for name in ("workflow_path", "workflow_step_id", "external_id"):
            check_length(getattr(self, name), name, MAX_PATH_LENGTH)

    @property
    def completed(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    @property
    def decisive(self) -> bool:
        """Succeeded or failed: counts in rates and durations."""
        return self.outcome in (Outcome.SUCCESS, Outcome.FAILURE)

    @property
    def error_key(self) -> str | None:
        if self.outcome is not Outcome.FAILURE:
            return None
        return error_key(self.error_type, self.error_message)
