"""Reading GitHub payloads field by field, with errors that name the field.

Pure helpers of :mod:`tracker.github.workflows`: a missing or mistyped
field raises :class:`PayloadError` with its path (``workflow_job.steps[3].number``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..records import to_utc_naive
from .errors import PayloadError

_HEX = re.compile(r"^[0-9a-fA-F]{7,40}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
#: Largest id (of a run, a job, an installation): a signed 64-bit column.
MAX_ID = 2**63 - 1
#: Largest counter (run_attempt, run_number, step and PR numbers): a 32-bit column.
MAX_COUNT = 2**31 - 1
#: Timestamps outside these years are no GitHub clock's (and year 1 breaks
#: the date arithmetic of reports).
MIN_YEAR, MAX_YEAR = 1970, 2199


def clean_name(value: str, limit: int) -> str:
    """One line without control characters, at most ``limit`` characters."""
    text = " ".join(_CONTROL.sub(" ", value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- field readers ------------------------------------------------------------


def get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    """``obj[key]``; :raises PayloadError: ``<where>.<key> is missing``."""
    if key not in obj:
        raise PayloadError(f"{where}.{key} is missing")
    return obj[key]


def required_object(obj: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    """``obj[key]``, which must be a JSON object."""
    value = get(obj, key, where)
    if not isinstance(value, dict):
        raise PayloadError(f"{where}.{key} must be an object")
    return value


def integer(
    obj: Mapping[str, Any], key: str, where: str, default: int | None = None, *, maximum: int = MAX_ID
) -> int:
    """``obj[key]`` as an integer from 0 to ``maximum`` (``default`` when
    absent, if given): what the database's column holds, checked before
    the delivery is acknowledged."""
    value = obj.get(key, default) if default is not None else get(obj, key, where)
    if value is None and default is not None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise PayloadError(f"{where}.{key} must be an integer from 0 to {maximum}")
    return value


def optional_id(value: Any) -> int | None:
    """An optional id (``repository.id``, ``installation.id``): the integer,
    or ``None`` when it is absent, mistyped or out of range."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        return None
    return value


def label(obj: Mapping[str, Any], key: str, where: str, limit: int, *, optional: bool = False) -> str | None:
    """``obj[key]``, a string, as :func:`clean_name` keeps it (``None`` when
    ``optional`` and absent, null or blank)."""
    value = text(obj, key, where, optional=optional)
    if value is None:
        return None
    return clean_name(value, limit) or (None if optional else "")


def text(obj: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> str | None:
    """``obj[key]`` as a string (``None`` when ``optional`` and absent or null)."""
    value = obj.get(key) if optional else get(obj, key, where)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{where}.{key} must be a string")
    return value


def timestamp(obj: Mapping[str, Any], key: str, where: str, *, optional: bool = True) -> datetime | None:
    """``obj[key]``, an ISO 8601 time, as naive UTC."""
    value = obj.get(key) if optional else get(obj, key, where)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{where}.{key} must be an ISO 8601 timestamp")
    try:
        moment = to_utc_naive(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved to UTC
        raise PayloadError(f"{where}.{key} is not an ISO 8601 timestamp: {value[:40]!r}") from None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise PayloadError(f"{where}.{key} must be in the years {MIN_YEAR} to {MAX_YEAR}: {value[:40]!r}")
    return moment


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from ``start`` to ``end`` (never negative: clocks drift)."""
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def sha(obj: Mapping[str, Any], key: str, where: str) -> str:
    """``obj[key]``, a 7-40 digit hex commit id, lower case."""
    value = text(obj, key, where)
    assert value is not None
    if not _HEX.match(value):
        raise PayloadError(f"{where}.{key} must be a 7-40 digit hex commit id")
    return value.lower()


def repository_of(payload: Mapping[str, Any]) -> str:
    """``repository.full_name`` of a delivery (``owner/name``)."""
    repo = required_object(payload, "repository", "payload")
    name = text(repo, "full_name", "repository")
    assert name is not None
    if name.count("/") != 1 or any(c.isspace() for c in name) or _CONTROL.search(name) or len(name) > 255:
        raise PayloadError("repository.full_name must look like owner/name")
    return name


def installation_of(payload: Mapping[str, Any]) -> int | None:
    """``installation.id`` of a GitHub App delivery, else ``None``."""
    inst = payload.get("installation")
    return optional_id(inst.get("id")) if isinstance(inst, dict) else None


def sub(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``obj[key]`` when it is an object, else an empty one (optional parts)."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def text_or_none(value: Any) -> str | None:
    """A non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def safe_url(value: Any) -> str | None:
    """An http(s) URL safe to put in a Markdown link (no spaces, brackets
    or quotes), else ``None``."""
    if isinstance(value, str) and re.match(r"^https?://[^\s()<>\[\]\"']+$", value) and len(value) <= 500:
        return value
    return None
