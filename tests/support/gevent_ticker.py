"""For scripts that run under gevent's monkey-patching (as a gunicorn
gevent worker does): a greenlet that ticks every 10 ms, to show whether
the process's other greenlets ran while one of them waited."""

from __future__ import annotations

import time

import gevent


def start_ticker() -> list[float]:
    """Start ticking; returns the list the ticks' times are appended to."""
    ticks: list[float] = []

    def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            gevent.sleep(0.01)

    gevent.spawn(tick)
    return ticks


def ticks_between(ticks: list[float], start: float, end: float) -> int:
    """How many ticks fell between ``start`` and ``end`` (monotonic)."""
    return sum(1 for t in ticks if start < t < end)
