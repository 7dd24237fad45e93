"""Validating a stage-result request body, field by field.

Pure functions (no Flask): the view turns a :class:`FieldError` into a 400
that names the field. The limits here are the ones the OpenAPI document
states, so a body the document allows is never refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tracker.context import CIPipelineContext
from tracker.phases import Integration
from tracker.records import MAX_NAME_LENGTH, check_duration, check_name

#: Exit codes are 0-255 on POSIX but unsigned 32-bit on Windows (0xC0000005…).
MIN_EXIT_CODE, MAX_EXIT_CODE = -(2**31), 2**32 - 1
MAX_IDEMPOTENCY_KEY = 200
#: Whole numbers given for build_number and run_id: what JSON carries exactly.
MAX_BUILD_NUMBER = 2**53
#: run_attempt is a 32-bit column on PostgreSQL.
MAX_RUN_ATTEMPT = 2**31 - 1
#: started_at outside these years is a client's clock or parser gone wrong.
MIN_START_YEAR, MAX_START_YEAR = 1900, 2199

_KEY = re.compile(rf"[\x20-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}")
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
_CONTEXT_FIELDS = (
    "pipeline_name",
    "build_number",
    "git_commit",
    "git_branch",
    "environment",
    "triggered_by",
    "repository",
    "run_id",
    "run_attempt",
    "job",
)


def find_bad_text(value: Any, path: str = "body") -> str | None:
    """The path of the first string in a parsed JSON value that cannot be
    stored as UTF-8 (a lone surrogate sent as ``"\\ud800"``), else ``None``.

    >>> find_bad_text({"stage": "ok", "context": {"job": "\\ud800"}})
    'context.job'
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            name = key if path == "body" else f"{path}.{key}"
            found = find_bad_text(key, name) or find_bad_text(item, name)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_bad_text(item, f"{path}[{index}]")
            if found:
                return found
    return None


class FieldError(ValueError):
    """A request field is missing or malformed.

    :param field: the field's path (``context.git_commit``, ``stage``,
        ``Idempotency-Key``…).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class StageResult:
    """A validated stage-result request."""

    context: CIPipelineContext
    stage: str
    skill: str
    success: bool
    duration_seconds: float
    exit_code: int | None
    error: str | None
    started_at: datetime | None
    integration: Integration


def parse_idempotency_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header: absent is fine, else 1-200 printable
    ASCII characters.

    >>> parse_idempotency_key("b7e1c0de-0000-4000-8000-000000000001")
    'b7e1c0de-0000-4000-8000-000000000001'
    """
    if value is None:
        return None
    if not _KEY.fullmatch(value):
        raise FieldError(
            "Idempotency-Key",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters",
        )
    return value


def parse_rfc3339(value: str, name: str = "started_at") -> datetime:
    """An RFC 3339 timestamp with its offset, as naive UTC.

    >>> parse_rfc3339("2026-11-25T07:00:00+01:00")
    datetime.datetime(2026, 11, 25, 6, 0)
    """
    match = _RFC3339.fullmatch(value)
    if not match:
        raise FieldError(name, f"{name} must be an RFC 3339 timestamp such as 2026-11-25T06:00:00Z")
    day, hour_minute, second, fraction, offset = match.groups()
    if not MIN_START_YEAR <= int(day[:4]) <= MAX_START_YEAR:
        raise FieldError(name, f"{name} must be in the years {MIN_START_YEAR} to {MAX_START_YEAR}")
    # RFC 3339 allows a leap second; datetime does not.
    second = "59" if second == "60" else second
    fraction = (fraction or "")[:7]  # datetime keeps microseconds
    try:
        moment = datetime.fromisoformat(f"{day}T{hour_minute}:{second}{fraction}{offset.upper()}")
        return moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise FieldError(name, f"{name} {value!r} is not a valid date and time") from None


def whole_number(value: Any) -> int | None:
    """``value`` as an int when JSON would call it an integer (``42`` or
    ``42.0``, as JSON Schema does), else ``None``.

    >>> whole_number(42), whole_number(42.0), whole_number(4.2), whole_number(True)
    (42, 42, None, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _context(value: Any) -> CIPipelineContext:
    if not isinstance(value, dict):
        raise FieldError("context", "context must be a JSON object")
    value = dict(value)
    for name in ("build_number", "run_id"):
        found = value.get(name)
        if found is None or isinstance(found, str):
            continue
        number = whole_number(found)
        if number is None or abs(number) > MAX_BUILD_NUMBER:
            raise FieldError(
                f"context.{name}",
                f"context.{name} must be a string or a whole number up to {MAX_BUILD_NUMBER}",
            )
        value[name] = str(number)
    attempt = value.get("run_attempt")
    if attempt is not None:
        number = whole_number(attempt)
        if number is None or not 1 <= number <= MAX_RUN_ATTEMPT:
            raise FieldError(
                "context.run_attempt",
                f"context.run_attempt must be a whole number from 1 to {MAX_RUN_ATTEMPT}",
            )
        value["run_attempt"] = number
    try:
        return CIPipelineContext.from_dict(value)
    except ValueError as exc:
        message = str(exc)
        # The tracker's messages name the field first ("git_commit … must …",
        # "context is missing pipeline_name, …"): point at that field.
        words = re.findall(r"[a-z_]+", message)
        named = next((w for w in words if w in _CONTEXT_FIELDS), None)
        field = f"context.{named}" if named else "context"
        raise FieldError(field, f"{field}: {message}") from None


def _name(body: dict[str, Any], field: str) -> str:
    if field not in body or body[field] is None:
        raise FieldError(field, f"{field} is required")
    try:
        return check_name(body[field], field, MAX_NAME_LENGTH)
    except ValueError as exc:
        raise FieldError(field, str(exc)) from None


def _optional_text(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise FieldError(field, f"{field} must be a string or null")
    return value


def parse_stage_result(body: Any) -> StageResult:
    """Validate a request body; unknown fields are ignored.

    :raises FieldError: for the first missing or malformed field.
    """
    if not isinstance(body, dict):
        raise FieldError("body", "the request body must be a JSON object")
    if "context" not in body:
        raise FieldError("context", "context is required")
    context = _context(body["context"])
    stage = _name(body, "stage")
    skill = _name(body, "skill")

    success = body.get("success")
    if not isinstance(success, bool):
        raise FieldError("success", "success is required and must be true or false")

    if "duration_seconds" not in body:
        raise FieldError("duration_seconds", "duration_seconds is required")
    try:
        duration = check_duration(body["duration_seconds"])
    except ValueError as exc:
        raise FieldError("duration_seconds", str(exc)) from None

    raw_exit = body.get("exit_code")
    exit_code = whole_number(raw_exit)
    if raw_exit is not None and (exit_code is None or not MIN_EXIT_CODE <= exit_code <= MAX_EXIT_CODE):
        raise FieldError(
            "exit_code", f"exit_code must be an integer from {MIN_EXIT_CODE} to {MAX_EXIT_CODE}, or null"
        )

    error = _optional_text(body, "error")
    started_raw = _optional_text(body, "started_at")
    started_at = parse_rfc3339(started_raw) if started_raw is not None else None

    raw_integration = body.get("integration")
    if raw_integration is None:
        integration = Integration.CI
    elif isinstance(raw_integration, str) and raw_integration in Integration._value2member_map_:
        integration = Integration(raw_integration)
    else:
        valid = ", ".join(i.value for i in Integration)
        raise FieldError("integration", f"integration must be one of {valid}")

    return StageResult(
        context=context,
        stage=stage,
        skill=skill,
        success=success,
        duration_seconds=duration,
        exit_code=exit_code,
        error=error,
        started_at=started_at,
        integration=integration,
    )
