"""Group commit: the writes of concurrent threads share one transaction.

A stage result touches ~25 B-tree pages (the invocation, its indexes, the
rollups). Committed one by one, every result writes all of them to the WAL
and takes the write lock once. When several threads of a process (the
greenlets of gunicorn's ``gevent`` worker, or ``gthread`` threads) write
at the same time, the first becomes the leader:
it takes every waiting item, writes them in one transaction, commits, and
only then hands each thread its own outcome. Nobody is answered before the
commit that holds their write, so an acknowledged write survives a crash of
the process as surely as with one transaction per write.

No background thread: a batch is whatever queued up while the previous
one committed. A commit costs about as much as three results (the pages of
every table and index it touched go to the WAL), so under load a leader
may *linger* a moment before it takes the batch, letting the requests
already being parsed join it, as PostgreSQL's ``commit_delay`` does. It
lingers only when the previous batch ended a moment ago and recent
batches held several items: the first write after a pause, and a lone
client's writes, never linger.

When it does not linger, the leader still *gathers*: it yields, so the
requests of the process that are ready run up to their own ``submit`` and
join the batch, and yields again while that brings more (until ``linger``
has passed, checked after each yield). Without it, a gevent worker whose
requests never wait for the writer lock (the only worker, or the only one
writing) ran each request from its first byte to its commit without a
yield: every batch held one result, so the average never rose and the
leader never lingered. One worker then made a commit per result: ~1,150
results/s where it now makes ~1,550 (bench/ingest.py with ``--workers 1``,
keep-alive).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    __slots__ = ("done", "error", "item", "value")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.value: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """Runs ``write_batch`` on batches of items submitted by many threads.

    :param write_batch: writes its items in one transaction and returns one
        outcome per item, in order: a value, or an exception to raise in
        that item's thread (the others' writes still commit). If it raises,
        every item of the batch gets that exception.
    :param max_batch: the most items one transaction takes.
    :param linger: seconds a leader waits for more items while the process
        is busy, and the most it spends gathering them otherwise (see the
        module's docstring); 0 never waits nor yields.
    """

    def __init__(
        self,
        write_batch: Callable[[Sequence[T]], Sequence[R | BaseException]],
        max_batch: int = 64,
        *,
        gate: Callable[[], AbstractContextManager[object]] | None = None,
        linger: float = 0.0,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if linger < 0:
            raise ValueError("linger must not be negative")
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._gate = gate or self.no_gate
        self._linger = linger
        self._cond = threading.Condition()
        self._queue: list[_Slot[T, R]] = []
        self._leading = False
        # Is the process busy? When the last batch ended (monotonic), and
        # the recent batches' mean size (an exponential moving average).
        self._last_end = float("-inf")
        self._mean_size = 1.0

    def submit(self, item: T) -> R:
        """Write ``item`` (with whatever else is waiting) and return its
        outcome once the transaction holding it has committed."""
        mine: _Slot[T, R] = _Slot(item)
        with self._cond:
            self._queue.append(mine)
            try:
                while not mine.done:
                    if self._leading:
                        self._cond.wait()
                        continue
                    self._leading = True
                    self._cond.release()
                    try:
                        self._lead()
                    finally:
                        self._cond.acquire()
                        self._leading = False
                        self._cond.notify_all()
            except BaseException:
                # Stopped before a batch took the item (a greenlet killed, a
                # gevent.Timeout while it waited or gathered): withdraw it, so
                # that no later batch writes what its caller saw fail. Once
                # taken, it commits or fails with its batch.
                if mine in self._queue:
                    self._queue.remove(mine)
                raise
        if mine.error is not None:
            raise mine.error
        return mine.value  # type: ignore[return-value]

    @staticmethod
    def no_gate() -> AbstractContextManager[object]:
        """The gate of a database whose writers need no lock of ours."""
        return nullcontext()

    def _lead(self) -> None:
        if self._busy():
            # time.sleep, looked up now: under gevent it is the patched one,
            # and the other requests of the process run meanwhile.
            time.sleep(self._linger)
        elif self._linger > 0:
            self._gather()
        # The batch is picked once the gate (the database's writer lock) is
        # held: what arrived while another process was writing joins it.
        with self._gate():
            with self._cond:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
            try:
                self._run(batch)
            finally:
                self._last_end = time.monotonic()
                self._mean_size += (len(batch) - self._mean_size) / 5

    def _gather(self) -> None:
        """Yield while yielding brings new items, until ``linger`` has
        passed (checked after each yield) or the batch is full. A lone
        client's write waits one yield: whatever else of the process is
        ready runs first, up to its own next wait."""
        deadline = time.monotonic() + self._linger
        seen = len(self._queue)
        while seen < self._max_batch:
            # Under gevent, sleep(0) runs every greenlet that is ready once;
            # under threads it hands over the GIL.
            time.sleep(0)
            now = len(self._queue)
            if now == seen or time.monotonic() >= deadline:
                return
            seen = now

    def _busy(self) -> bool:
        """Whether lingering may grow the batch: the last one ended less
        than ten lingers ago, recent batches held more than one item (a
        lone client sending one request after another gains nothing by
        waiting), and this one is not full yet."""
        return (
            self._linger > 0
            and self._mean_size > 1.2
            and len(self._queue) < self._max_batch
            and time.monotonic() - self._last_end < 10 * self._linger
        )

    def _run(self, batch: list[_Slot[T, R]]) -> None:
        try:
            outcomes = self._write_batch([slot.item for slot in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"write_batch returned {len(outcomes)} outcomes for {len(batch)} items")
        except BaseException as exc:
            for slot in batch:
                slot.error, slot.done = exc, True
            if not isinstance(exc, Exception):
                raise  # SystemExit, KeyboardInterrupt: stop this thread too
            return
        for slot, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                slot.error = outcome
            else:
                slot.value = outcome
            slot.done = True
