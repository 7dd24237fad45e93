"""Log-scale duration buckets: percentiles from per-day counts.

Exact percentiles over a million rows cost seconds (see STACK_NOTES); counts
per bucket, kept per day, cost milliseconds. A bucket spans a factor of
``exp(1/BUCKETS_PER_E_FOLD)``, so the geometric middle of a bucket is within
``exp(1 / (2 * BUCKETS_PER_E_FOLD)) - 1`` (1.26%) of every value in it.
Durations under :data:`MIN_DURATION` (1 ms) share bucket 0 and read as 0:
an absolute error under 1 ms, not a relative one.

>>> bucket_of(0.0), bucket_of(50.0) > bucket_of(45.0)
(0, True)
>>> abs(bucket_value(bucket_of(45.2)) / 45.2 - 1) < MAX_RELATIVE_ERROR
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable

BUCKETS_PER_E_FOLD = 40
#: Durations below this share bucket 0, whose value is 0.
MIN_DURATION = 0.001
MAX_RELATIVE_ERROR = math.exp(1 / (2 * BUCKETS_PER_E_FOLD)) - 1


def bucket_of(duration_seconds: float) -> int:
    """The bucket index of a duration (0 for anything under 1 ms)."""
    if duration_seconds < MIN_DURATION:
        return 0
    return int(math.log(duration_seconds / MIN_DURATION) * BUCKETS_PER_E_FOLD) + 1


def bucket_value(bucket: int) -> float:
    """The geometric middle of a bucket: its representative duration."""
    if bucket <= 0:
        return 0.0
    return MIN_DURATION * math.exp((bucket - 0.5) / BUCKETS_PER_E_FOLD)


def percentile_from_buckets(counts: Iterable[tuple[int, int]], q: float) -> float | None:
    """The ``q`` quantile (0..1) of the values counted in ``counts``.

    ``counts`` holds ``(bucket, count)`` pairs in any order. The two values
    around rank ``q * (n - 1)`` are each taken as their bucket's value, then
    interpolated with the same weight as :func:`interpolated_percentile`:
    each stand-in is within :data:`MAX_RELATIVE_ERROR` of the value it
    replaces, so their weighted mean is within it of the exact quantile.

    >>> counts = [(bucket_of(10.0), 1), (bucket_of(20.0), 1)]
    >>> abs(percentile_from_buckets(counts, 0.5) / 15.0 - 1) < MAX_RELATIVE_ERROR
    True
    """
    ordered = sorted((b, c) for b, c in counts if c > 0)
    total = sum(c for _, c in ordered)
    if total == 0:
        return None
    low, high, weight = percentile_ranks(total, q)
    values: dict[int, float] = {}
    seen = 0
    for bucket, count in ordered:
        seen += count
        for rank in (low, high):
            if rank not in values and seen > rank:
                values[rank] = bucket_value(bucket)
        if high in values:
            break
    return values[low] + (values[high] - values[low]) * weight


def percentile_ranks(n: int, q: float) -> tuple[int, int, float]:
    """Zero-based ranks below and above quantile ``q`` of ``n`` sorted values,
    and the weight of the upper one (linear interpolation, as numpy's default
    and spreadsheets' PERCENTILE.INC)."""
    position = q * (n - 1)
    low = math.floor(position)
    return low, min(low + 1, n - 1), position - low


def interpolated_percentile(sorted_values: list[float], q: float) -> float | None:
    """Exact ``q`` quantile of already sorted values (linear interpolation).

    >>> interpolated_percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.5
    """
    if not sorted_values:
        return None
    low, high, weight = percentile_ranks(len(sorted_values), q)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * weight
