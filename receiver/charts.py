"""Server-side SVG charts for the dashboard: no JavaScript, no CDN, and every
label goes through Jinja's autoescaping (the caller passes plain data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Chart:
    """A chart ready for the template: bars, axis labels and its size."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    labels: tuple[tuple[float, float, str], ...]  # x, y, text
    max_label: str


def daily_runs_chart(rows: list[dict[str, Any]], first: date, last: date, *, width: int = 720) -> Chart:
    """Stacked bars per day: successes under failures.

    ``rows`` are :meth:`tracker.storage.SkillsStorage.daily_totals` rows
    (per day and stage); days without runs show as gaps.
    """
    days = (last - first).days + 1
    per_day: dict[date, list[int]] = {}
    for row in rows:
        ok_fail = per_day.setdefault(row["day"], [0, 0])
        ok_fail[0] += int(row["successes"])
        ok_fail[1] += int(row["failures"])
    height, top, bottom = 180, 10, 24
    plot = height - top - bottom
    peak = max((sum(v) for v in per_day.values()), default=0) or 1
    step = width / max(days, 1)
    bar_width = max(step * 0.8, 1.0)
    bars: list[Bar] = []
    for i in range(days):
        day = first + timedelta(days=i)
        ok, failed = per_day.get(day, [0, 0])
        x = i * step + (step - bar_width) / 2
        ok_h = plot * ok / peak
        fail_h = plot * failed / peak
        base = top + plot
        if ok:
            bars.append(Bar(x, base - ok_h, bar_width, ok_h, "ok", f"{day}: {ok} succeeded"))
        if failed:
            bars.append(Bar(x, base - ok_h - fail_h, bar_width, fail_h, "fail", f"{day}: {failed} failed"))
    labels = (
        (0.0, float(height - 6), first.isoformat()),
        (float(width - 70), float(height - 6), last.isoformat()),
    )
    return Chart(width, height, tuple(bars), labels, str(peak))


def horizontal_bars(
    items: list[tuple[str, float, str]],
    *,
    css: str,
    width: int = 480,
    label_width: int = 120,
    scale_max: float | None = None,
) -> Chart:
    """One bar per item (label, value, shown value); the largest value (or
    ``scale_max``) spans the width left after the labels."""
    row, label_w = 24, label_width
    height = max(row * len(items), row)
    peak = scale_max or max((v for _, v, _ in items), default=0) or 1
    bars: list[Bar] = []
    labels: list[tuple[float, float, str]] = []
    for i, (label, value, shown) in enumerate(items):
        y = i * row + 4
        bar_w = (width - label_w - 70) * value / peak
        bars.append(Bar(float(label_w), float(y), max(bar_w, 1.0), float(row - 8), css, f"{label}: {shown}"))
        labels.append((0.0, float(y + row - 10), label))
        labels.append((label_w + bar_w + 6, float(y + row - 10), shown))
    return Chart(width, height, tuple(bars), tuple(labels), f"{peak:g}")
