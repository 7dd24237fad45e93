"""Times for tests whose charts bucket runs by day (UTC)."""

from __future__ import annotations

from datetime import datetime, timedelta


def earlier_today(now: datetime, **ago: float) -> datetime:
    """``now - timedelta(**ago)``, but not before today's midnight: a run
    "an hour ago" lands on yesterday when the tests run just after midnight.

    >>> earlier_today(datetime(2026, 11, 26, 0, 30), hours=1)
    datetime.datetime(2026, 11, 26, 0, 0)
    >>> earlier_today(datetime(2026, 11, 26, 9, 30), hours=1)
    datetime.datetime(2026, 11, 26, 8, 30)
    """
    return max(now - timedelta(**ago), now.replace(hour=0, minute=0, second=0, microsecond=0))
