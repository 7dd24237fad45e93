"""Group commit: the writes of concurrent threads share one transaction.

A stage result touches ~25 B-tree pages (the invocation, its indexes, the
rollups). Committed one by one, every result writes all of them to the WAL
and takes the write lock once. When several threads of a process (gunicorn
``gthread`` workers) write at the same time, the first becomes the leader:
it takes every waiting item, writes them in one transaction, commits, and
only then hands each thread its own outcome. Nobody is answered before the
commit that holds their write, so an acknowledged write survives a crash of
the process as surely as with one transaction per write.

No timer, no background thread: a batch is whatever queued up while the
previous one committed, so a lone writer pays nothing extra and a busy
process batches more.
"""

from __future__ import annotations

import threading
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
    """

    def __init__(
        self,
        write_batch: Callable[[Sequence[T]], Sequence[R | BaseException]],
        max_batch: int = 64,
        *,
        gate: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._gate = gate or self.no_gate
        self._cond = threading.Condition()
        self._queue: list[_Slot[T, R]] = []
        self._leading = False

    def submit(self, item: T) -> R:
        """Write ``item`` (with whatever else is waiting) and return its
        outcome once the transaction holding it has committed."""
        mine: _Slot[T, R] = _Slot(item)
        with self._cond:
            self._queue.append(mine)
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
        if mine.error is not None:
            raise mine.error
        return mine.value  # type: ignore[return-value]

    @staticmethod
    def no_gate() -> AbstractContextManager[object]:
        """The gate of a database whose writers need no lock of ours."""
        return nullcontext()

    def _lead(self) -> None:
        # The batch is picked once the gate (the database's writer lock) is
        # held: what arrived while another process was writing joins it.
        with self._gate():
            with self._cond:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
            self._run(batch)

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
