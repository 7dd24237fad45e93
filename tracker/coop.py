"""Blocking calls that must not stall gevent's cooperative workers.

``session-buddy-ci serve`` runs gunicorn's ``gevent`` worker, which
monkey-patches ``threading``, ``socket`` and ``time``: requests become
greenlets of one OS thread. What waits in Python (a lock, ``time.sleep``,
a socket) then lets the other greenlets run, but a blocking system call
that gevent does not know, such as ``flock``, or seconds spent in C
(loading the MiniLM model, torch encoding), would stop every request of
the process until it returns. :func:`run_blocking` sends such a call to
gevent's thread pool when gevent is active, and simply makes it otherwise
(threads, tests), so the code works the same under both.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def cooperative() -> bool:
    """Whether this process runs gevent's monkey-patched threads.

    >>> cooperative()   # pytest does not patch
    False
    """
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def run_blocking(call: Callable[..., T], *args: Any, abandoned: Callable[[], object] | None = None) -> T:
    """``call(*args)``; under gevent in its thread pool, so that only the
    calling greenlet waits.

    ``abandoned`` runs once the call has ended if its result was not taken:
    it raised, or the waiting greenlet was killed (the thread goes on with
    the call regardless). It releases what the call may still acquire.

    >>> run_blocking(sum, [1, 2, 3])
    6
    """
    if not cooperative():
        try:
            return call(*args)
        except BaseException:
            if abandoned is not None:
                abandoned()
            raise
    import gevent

    task = gevent.get_hub().threadpool.spawn(call, *args)
    try:
        return task.get()  # type: ignore[no-any-return]
    except BaseException:
        if abandoned is not None:
            task.rawlink(lambda _task: abandoned())
        raise
