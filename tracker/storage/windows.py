"""Exact time windows over daily rollups.

A window ``[start, end]`` is cut into whole UTC days, read from the rollup
tables, and the two partial days at its edges, read from the invocations
themselves. So an invocation one second older than the window is out, yet
no query scans more than two days of raw rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta


@dataclass(frozen=True)
class RawRange:
    """Raw invocations with ``low <= invoked_at`` and ``< high`` (``<=``
    when ``inclusive``)."""

    low: datetime
    high: datetime
    inclusive: bool


@dataclass(frozen=True)
class WindowPlan:
    start: datetime
    end: datetime
    first_day: date | None  # whole days from first_day to last_day, inclusive
    last_day: date | None
    raw: tuple[RawRange, ...]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min)


def plan_window(start: datetime, end: datetime) -> WindowPlan:
    """Split ``[start, end]`` into whole days and raw edge ranges.

    >>> p = plan_window(datetime(2026, 11, 18, 6), datetime(2026, 11, 25, 6))
    >>> p.first_day, p.last_day
    (datetime.date(2026, 11, 19), datetime.date(2026, 11, 24))
    >>> [(r.low.day, r.high.day) for r in p.raw]
    [(18, 19), (25, 25)]
    """
    if end < start:
        raise ValueError("window end is before its start")
    first = start.date() if start == _midnight(start.date()) else start.date() + timedelta(days=1)
    last = end.date() - timedelta(days=1)
    if first > last:
        return WindowPlan(start, end, None, None, (RawRange(start, end, True),))
    raw = []
    if start < _midnight(first):
        raw.append(RawRange(start, _midnight(first), False))
    raw.append(RawRange(_midnight(end.date()), end, True))
    return WindowPlan(start, end, first, last, tuple(raw))
