"""Group commit and the raw SQLite write path: batching across threads,
each thread getting its own outcome, and the writer lock between
processes."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tracker.errors import IdempotencyConflict, StorageError
from tracker.phases import WorkflowPhase
from tracker.storage import SkillsStorage
from tracker.storage.groupcommit import GroupCommit
from tracker.storage.rawwrite import raw_write, writer_lock

from .helpers import NOW, record

# Not time.monotonic and time.sleep at call time: the linger tests replace them.
_monotonic = time.monotonic


def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = _monotonic() + timeout
    pause = threading.Event()
    while not condition():
        assert _monotonic() < deadline, "condition not met in time"
        pause.wait(0.001)


def recording_writer() -> tuple[list[list[int]], Callable[[Sequence[int]], list[int]]]:
    """A ``write_batch`` that answers each item with itself, and the list
    of the batches it was given."""
    batches: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return list(items)

    return batches, write


def leader_then_three(group: GroupCommit[int, int], sleeps: list[float]) -> list[int]:
    """Submit 1 from one thread and, once it has slept or yielded, 2, 3
    and 4 from three others; the four answers."""
    with ThreadPoolExecutor(4) as pool:
        leader = pool.submit(group.submit, 1)
        wait_until(lambda: bool(sleeps))
        others = [pool.submit(group.submit, n) for n in (2, 3, 4)]
        return [leader.result(), *(f.result() for f in others)]


class TestGroupCommit:
    def test_waiting_items_share_the_next_batch(self) -> None:
        batches: list[list[int]] = []
        first_started = threading.Event()
        release_first = threading.Event()

        def write(items: Sequence[int]) -> list[int]:
            batches.append(list(items))
            if len(batches) == 1:
                first_started.set()
                assert release_first.wait(10)
            return [i * 10 for i in items]

        group: GroupCommit[int, int] = GroupCommit(write)
        with ThreadPoolExecutor(8) as pool:
            first = pool.submit(group.submit, 0)
            assert first_started.wait(10)
            rest = [pool.submit(group.submit, n) for n in range(1, 8)]
            # All seven queue up behind the running batch…
            wait_until(lambda: len(group._queue) == 7)
            release_first.set()
            results = [first.result(), *(f.result() for f in rest)]
        # …and go in one transaction, each thread getting its own answer.
        assert results == [n * 10 for n in range(8)]
        assert batches == [[0], [1, 2, 3, 4, 5, 6, 7]]

    def test_max_batch_is_respected(self) -> None:
        sizes: list[int] = []
        gate = threading.Event()

        def write(items: Sequence[int]) -> list[int]:
            sizes.append(len(items))
            gate.wait(10)
            return list(items)

        group: GroupCommit[int, int] = GroupCommit(write, max_batch=3)
        with ThreadPoolExecutor(10) as pool:
            futures = [pool.submit(group.submit, 0)]
            wait_until(lambda: sizes == [1])
            futures += [pool.submit(group.submit, n) for n in range(1, 10)]
            wait_until(lambda: len(group._queue) == 9)
            gate.set()
            assert sorted(f.result() for f in futures) == list(range(10))
        assert sizes == [1, 3, 3, 3]

    def test_an_item_error_fails_that_item_only(self) -> None:
        def write(items: Sequence[int]) -> list[int | BaseException]:
            return [ValueError(f"bad {i}") if i % 2 else i for i in items]

        group: GroupCommit[int, int] = GroupCommit(write)
        assert group.submit(2) == 2
        with pytest.raises(ValueError, match="bad 3"):
            group.submit(3)

    def test_a_batch_error_fails_every_item_and_the_next_batch_runs(self) -> None:
        calls = 0

        def write(items: Sequence[int]) -> list[int]:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise StorageError("disk on fire")
            return list(items)

        group: GroupCommit[int, int] = GroupCommit(write)
        with pytest.raises(StorageError, match="disk on fire"):
            group.submit(1)
        assert group.submit(2) == 2

    def test_wrong_number_of_outcomes_is_an_error(self) -> None:
        group: GroupCommit[int, int] = GroupCommit(lambda items: [])
        with pytest.raises(RuntimeError, match="0 outcomes for 1 items"):
            group.submit(1)

    def test_max_batch_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="max_batch"):
            GroupCommit(lambda items: list(items), max_batch=0)
        with pytest.raises(ValueError, match="linger"):
            GroupCommit(lambda items: list(items), linger=-1)


class TestLinger:
    """A busy leader waits ``linger`` seconds so that more items join its
    batch; after a pause it does not wait."""

    def test_items_arriving_while_the_leader_lingers_join_its_batch(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        batches, write = recording_writer()
        group: GroupCommit[int, int] = GroupCommit(write, linger=0.5)
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            # While the leader lingers, three more threads submit.
            sleeps.append(seconds)
            wait_until(lambda: len(group._queue) == 4)

        assert group.submit(0) == 0  # after a pause: no lingering
        assert sleeps == []
        group._mean_size = 3.0  # as after a few batches of several items
        monkeypatch.setattr("tracker.storage.groupcommit.time.sleep", sleep)
        assert leader_then_three(group, sleeps) == [1, 2, 3, 4]
        assert sleeps == [0.5]
        assert batches == [[0], [1, 2, 3, 4]]

    def test_no_lingering_after_a_pause_or_without_linger(self, monkeypatch: pytest.MonkeyPatch) -> None:
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            if seconds:  # a yield (sleep(0)) is not a wait: TestGather counts those
                sleeps.append(seconds)

        monkeypatch.setattr("tracker.storage.groupcommit.time.sleep", sleep)
        eager: GroupCommit[int, int] = GroupCommit(lambda items: list(items))
        assert [eager.submit(n) for n in range(3)] == [0, 1, 2]
        assert sleeps == []
        lingering: GroupCommit[int, int] = GroupCommit(lambda items: list(items), linger=0.001)
        # A lone client, one write after another: its batches hold one item.
        assert [lingering.submit(n) for n in range(20)] == list(range(20))
        assert sleeps == []
        lingering._mean_size = 3.0  # as after a few batches of several items
        assert lingering.submit(1) == 1
        assert lingering.submit(2) == 2  # right after the first: busy
        assert sleeps == [0.001, 0.001]
        monotonic = time.monotonic
        monkeypatch.setattr("tracker.storage.groupcommit.time.monotonic", lambda: monotonic() + 1.0)
        assert lingering.submit(3) == 3  # a second later: a pause, no wait
        assert sleeps == [0.001, 0.001]


class TestGather:
    """A leader that does not linger yields while yielding brings new
    items (the requests of the process that are ready), for at most
    ``linger`` seconds."""

    def test_items_submitted_while_the_leader_yields_join_its_batch(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        batches, write = recording_writer()
        group: GroupCommit[int, int] = GroupCommit(write, linger=0.5)
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            # The first yield lets three more threads submit; the second
            # brings nothing new, and the leader takes its batch.
            sleeps.append(seconds)
            if len(sleeps) == 1:
                wait_until(lambda: len(group._queue) == 4)

        monkeypatch.setattr("tracker.storage.groupcommit.time.sleep", sleep)
        assert leader_then_three(group, sleeps) == [1, 2, 3, 4]
        assert sleeps == [0, 0]
        assert batches == [[1, 2, 3, 4]]

    def test_a_lone_client_yields_once_and_never_waits(self, monkeypatch: pytest.MonkeyPatch) -> None:
        sleeps: list[float] = []
        monkeypatch.setattr("tracker.storage.groupcommit.time.sleep", sleeps.append)
        eager: GroupCommit[int, int] = GroupCommit(lambda items: list(items))
        assert [eager.submit(n) for n in range(3)] == [0, 1, 2]
        assert sleeps == []  # no linger: no yield either
        gathering: GroupCommit[int, int] = GroupCommit(lambda items: list(items), linger=0.5)
        assert [gathering.submit(n) for n in range(20)] == list(range(20))
        assert sleeps == [0] * 20

    def test_a_leader_stopped_while_it_gathers_leaves_nothing_queued(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Under gevent a request can be killed or time out at its yield.
        batches, write = recording_writer()
        group: GroupCommit[int, int] = GroupCommit(write, linger=0.5)

        class Stopped(BaseException):
            pass

        def stop(_: float) -> None:
            raise Stopped

        monkeypatch.setattr("tracker.storage.groupcommit.time.sleep", stop)
        with pytest.raises(Stopped):
            group.submit(1)
        monkeypatch.undo()
        # The next write goes alone: 1, whose caller saw it fail, is not in it.
        assert group.submit(2) == 2
        assert batches == [[2]]

    def test_gathering_stops_at_the_linger_or_a_full_batch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        batches, write = recording_writer()
        clock = [0.0]
        monkeypatch.setattr("tracker.storage.groupcommit.time.monotonic", lambda: clock[0])

        def run(group: GroupCommit[int, int]) -> list[int]:
            """The leader submits 0; each of its yields takes 1 ms and lets
            one more thread submit, until it stops yielding."""
            pool = ThreadPoolExecutor(8)
            futures: list[Future[int]] = []

            def sleep(_: float) -> None:
                clock[0] += 0.001
                futures.append(pool.submit(group.submit, len(futures) + 1))
                wait_until(lambda: len(group._queue) == len(futures) + 1)

            monkeypatch.setattr("tracker.storage.groupcommit.time.sleep", sleep)
            try:
                assert group.submit(0) == 0
                return [0, *(f.result() for f in futures)]
            finally:
                pool.shutdown()

        # 1 ms a yield, at most 2.5 ms: three yields, then the batch goes.
        assert run(GroupCommit(write, linger=0.0025)) == [0, 1, 2, 3]
        assert batches == [[0, 1, 2, 3]]
        batches.clear()
        # A batch of at most three: it stops as soon as three are queued.
        assert run(GroupCommit(write, max_batch=3, linger=1.0)) == [0, 1, 2]
        assert batches == [[0, 1, 2]]


class TestStageResultsFromThreads:
    def test_concurrent_results_each_stored_once(self, storage: SkillsStorage) -> None:
        def post(n: int) -> Any:
            rec = record("test", "pytest-run", "success", 1.0 + n, NOW, session=f"CI-{n}")
            return storage.record_stage_result(rec, idempotency_key=f"k-{n}", body={"n": n})

        with ThreadPoolExecutor(16) as pool:
            first = list(pool.map(post, range(400)))
            again = list(pool.map(post, range(400)))
        assert [r.duplicate for r in first] == [False] * 400
        assert [r.duplicate for r in again] == [True] * 400
        assert [r.id for r in again] == [r.id for r in first]
        assert len({r.id for r in first}) == 400
        assert storage.count_invocations() == 400
        assert {r["session_id"] for r in storage.invocations(limit=1000)} == {f"CI-{n}" for n in range(400)}

    def test_same_key_twice_in_one_batch(self, storage: SkillsStorage) -> None:
        rec = record("test", "pytest-run", "success", 1.0, NOW)
        writes = storage._stage_results()._write_batch
        from tracker.storage.stage_results import _StageWrite

        outcomes = writes(
            [
                _StageWrite(rec, "same", "digest-a"),
                _StageWrite(rec, "same", "digest-a"),
                _StageWrite(rec, "same", "digest-b"),
            ]
        )
        assert [type(o).__name__ for o in outcomes] == ["StoredResult", "StoredResult", "IdempotencyConflict"]
        assert not isinstance(outcomes[0], BaseException) and not outcomes[0].duplicate
        assert not isinstance(outcomes[1], BaseException) and outcomes[1].duplicate
        assert isinstance(outcomes[2], IdempotencyConflict)
        assert storage.count_invocations() == 1

    def test_a_mixed_batch(self, storage: SkillsStorage) -> None:
        from tracker.storage.stage_results import _StageWrite

        writes = storage._stage_results()._write_batch
        [earlier] = writes([_StageWrite(record("test", "pytest-run", "success", 1.0, NOW), "old", "d-old")])
        assert not isinstance(earlier, BaseException)
        batch = [
            _StageWrite(record("lint", "ruff-check", "success", 2.0, NOW, session="CI-1"), "new-1", "d1"),
            _StageWrite(record("test", "pytest-run", "success", 3.0, NOW, session="CI-2"), None, "d2"),
            _StageWrite(record("test", "pytest-run", "success", 1.0, NOW), "old", "d-old"),  # replay
            _StageWrite(record("test", "pytest-run", "success", 1.0, NOW), "old", "d-other"),  # conflict
            _StageWrite(record("lint", "ruff-check", "success", 2.0, NOW, session="CI-1"), "new-1", "d1"),
            _StageWrite(
                record("build", "make", "failure", 4.0, NOW, session="CI-3", phase=WorkflowPhase.SETUP),
                "new-2",
                "d3",
            ),
            _StageWrite(record("lint", "ruff-check", "success", 9.0, NOW), "new-1", "d-changed"),
        ]
        out = writes(batch)
        assert [type(o).__name__ for o in out] == [
            "StoredResult",
            "StoredResult",
            "StoredResult",
            "IdempotencyConflict",
            "StoredResult",
            "StoredResult",
            "IdempotencyConflict",
        ]
        first, unkeyed, replay, _, repeat, failed, _ = out
        assert not isinstance(first, BaseException) and not isinstance(unkeyed, BaseException)
        assert not isinstance(replay, BaseException) and not isinstance(repeat, BaseException)
        assert not isinstance(failed, BaseException)
        # New rows get increasing ids in the order of the batch…
        assert earlier.id < first.id < unkeyed.id < failed.id
        assert [first.duplicate, unkeyed.duplicate, failed.duplicate] == [False, False, False]
        # …a key seen before answers as it did, a key repeated in the batch
        # answers as its first write.
        assert (replay.id, replay.duplicate) == (earlier.id, True)
        assert (repeat.id, repeat.duplicate, repeat.session_id) == (first.id, True, "CI-1")
        rows = {r["id"]: r for r in storage.invocations(limit=10)}
        assert len(rows) == 4
        assert (rows[first.id]["stage"], rows[unkeyed.id]["session_id"]) == ("lint", "CI-2")
        assert (rows[failed.id]["stage"], rows[failed.id]["outcome"]) == ("build", "failure")
        assert rows[failed.id]["workflow_phase"] == failed.workflow_phase == "setup"
        with storage.engine.connect() as conn:
            keyed: dict[str, int] = dict(
                conn.exec_driver_sql("SELECT idempotency_key, invocation_id FROM stage_result_request").all()
            )
        assert keyed == {"old": earlier.id, "new-1": first.id, "new-2": failed.id}

    def test_a_batch_without_returning(self, storage: SkillsStorage, monkeypatch: pytest.MonkeyPatch) -> None:
        """SQLite before 3.35 has no RETURNING: rows go in one by one, with
        the same answers."""
        from tracker.storage.rawwrite import compiled_for
        from tracker.storage.stage_results import _StageWrite

        assert compiled_for(storage.engine).returning  # this driver's SQLite is newer
        monkeypatch.setattr(compiled_for(storage.engine), "returning", False)
        batch = [
            _StageWrite(
                record("test", "pytest-run", "success", 1.0 + n, NOW, session=f"CI-{n}"), f"k{n}", "d"
            )
            for n in range(3)
        ]
        out = storage._stage_results()._write_batch([*batch, batch[1]])
        ids = [o.id for o in out if not isinstance(o, BaseException)]
        assert len(ids) == 4 and ids[0] < ids[1] < ids[2] and ids[3] == ids[1]
        rows = {r["id"]: r["session_id"] for r in storage.invocations(limit=10)}
        assert rows == {ids[0]: "CI-0", ids[1]: "CI-1", ids[2]: "CI-2"}


class TestRawWrite:
    def test_values_read_back_typed(self, storage: SkillsStorage) -> None:
        rec = record("lint", "ruff-check", "failure", 2.5, NOW, error="E501")
        rec = dataclasses.replace(rec, artifacts={"report": "ruff.json", "n": [1, 2]})
        new_id = storage.record_invocation(rec)
        [row] = storage.invocations(id=new_id)
        assert row["invoked_at"] == NOW
        assert row["completed"] is False
        assert row["artifacts"] == {"report": "ruff.json", "n": [1, 2]}

    def test_database_errors_become_storage_errors(self, storage: SkillsStorage) -> None:
        with pytest.raises(StorageError, match="while testing"), raw_write(storage.engine, "testing") as conn:
            conn._cursor.execute("INSERT INTO no_such_table VALUES (1)")

    def test_a_failed_block_rolls_back(self, storage: SkillsStorage) -> None:
        rec = record("test", "pytest-run", "success", 1.0, NOW)
        with pytest.raises(KeyError), raw_write(storage.engine, "testing") as conn:
            storage._insert(conn, rec)
            raise KeyError("after the insert")
        assert storage.count_invocations() == 0

    def test_writer_lock_excludes_other_processes(self, storage: SkillsStorage, db_path: Path) -> None:
        lock = writer_lock(storage.engine)
        assert lock.path == f"{db_path}-writer.lock"
        probe = (
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDWR)\n"
            "try:\n"
            "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "except BlockingIOError:\n"
            "    print('busy')\n"
            "else:\n"
            "    print('free')\n"
        )

        def other_process_sees() -> str:
            return subprocess.run(
                [sys.executable, "-c", probe, lock.path or ""], capture_output=True, text=True, check=True
            ).stdout.strip()

        with lock.held():
            assert other_process_sees() == "busy"
        assert other_process_sees() == "free"


# The start of the gevent scripts: the process is patched as gunicorn's
# gevent worker patches it, and another process holds the lock for
# sys.argv[2] seconds.
GEVENT_PROLOGUE = """
from gevent import monkey

monkey.patch_all()
import fcntl, os, subprocess, sys, time

import gevent

from tracker.storage.rawwrite import WriterLock

path = sys.argv[1]
holder = subprocess.Popen(
    [sys.executable, "-c",
     "import fcntl, os, sys, time\\n"
     "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\\n"
     "fcntl.flock(fd, fcntl.LOCK_EX)\\n"
     "print('held', flush=True)\\n"
     "time.sleep(float(sys.argv[2]))\\n",
     path, sys.argv[2]],
    stdout=subprocess.PIPE, text=True,
)
assert holder.stdout.readline().strip() == "held"
"""

WAITER = """
from tests.support.gevent_ticker import start_ticker, ticks_between

ticks = start_ticker()
start = time.monotonic()
with WriterLock(path).held():
    waited = time.monotonic() - start
print(round(waited, 3), ticks_between(ticks, start, start + waited))
holder.wait()
"""

KILLED_WAITER = """
lock = WriterLock(path)

def wait_for_the_lock():
    with lock.held():
        print("never", flush=True)

waiter = gevent.spawn(wait_for_the_lock)
gevent.sleep(0.1)
waiter.kill()  # while it waits for the other process
holder.wait()
gevent.sleep(0.3)  # the pool thread gets the lock, and lets it go
probe = os.open(path, os.O_RDWR)
try:
    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("leaked")
fcntl.flock(probe, fcntl.LOCK_UN)
with lock.held():  # and this process can take it again
    print("taken")
"""


def run_under_gevent(script: str, lock_path: Path, hold_seconds: float) -> list[str]:
    """The words ``script`` prints, run after :data:`GEVENT_PROLOGUE`."""
    return subprocess.run(
        [sys.executable, "-c", GEVENT_PROLOGUE + script, str(lock_path), str(hold_seconds)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    ).stdout.split()


class TestWriterLockUnderGevent:
    def test_waiting_for_another_process_lets_other_greenlets_run(self, tmp_path: Path) -> None:
        waited, ticks = run_under_gevent(WAITER, tmp_path / "db-writer.lock", 0.5)
        # It waited for the other process's lock…
        assert float(waited) >= 0.3
        # …while the process's other greenlet kept running (a plain flock
        # would have stopped it for the whole wait).
        assert int(ticks) >= 10

    def test_a_killed_waiter_does_not_keep_the_lock(self, tmp_path: Path) -> None:
        assert run_under_gevent(KILLED_WAITER, tmp_path / "db-writer.lock", 0.4) == ["free", "taken"]


GREENLETS_SUBMIT = """
from gevent import monkey

monkey.patch_all()
import gevent

from tracker.storage.groupcommit import GroupCommit

batches = []


def write(items):
    batches.append(list(items))
    return list(items)


group = GroupCommit(write, linger=0.5)
# As in a gevent worker: each request runs to its submit without yielding.
gevent.joinall([gevent.spawn(group.submit, n) for n in range(8)])
print(batches)
"""


def test_greenlets_ready_together_share_one_batch() -> None:
    # One gevent worker whose requests never wait for the writer lock:
    # before, each of them committed alone.
    out = subprocess.run(
        [sys.executable, "-c", GREENLETS_SUBMIT],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    ).stdout.strip()
    assert out == str([list(range(8))])
