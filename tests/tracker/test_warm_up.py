"""``StageResultStore.warm_up``: the write path run once and rolled back,
without ever waiting for another writer (a gunicorn worker calls it before
it serves anything, ``/healthz`` included)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tracker.storage import SkillsStorage
from tracker.storage.engine import BUSY_TIMEOUT_MS
from tracker.storage.rawwrite import WriterBusy, compiled_for
from tracker.storage.stage_results import MAX_BATCH

from .helpers import NOW, record

HOLD_SQLITE_WRITE_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""
TABLES = ("skill_invocation", "stage_result_request", "stage_daily", "skill_metrics", "stage_skill")


def rows(storage: SkillsStorage) -> dict[str, int]:
    with storage.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}  # noqa: S608


def warm_up_in_a_thread(storage: SkillsStorage) -> BaseException | None:
    """Run warm_up where a hang cannot hang the test run; its error."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            storage.warm_up(record("test", "pytest-run", "success", 1.0, NOW))
        except BaseException as exc:  # handed to the test
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(20)
    assert outcome, "warm_up waited for the other writer"
    return outcome[0]


def test_warm_up_compiles_and_stores_nothing(storage: SkillsStorage) -> None:
    storage.warm_up(record("test", "pytest-run", "success", 1.0, NOW))
    assert set(rows(storage).values()) == {0}
    assert len(compiled_for(storage.engine)._expanded) == MAX_BATCH
    # Rolled back, id counter included: the first real result is number 1.
    assert (
        storage.record_stage_result(
            record("test", "pytest-run", "success", 1.0, NOW), idempotency_key="k", body={}
        ).id
        == 1
    )


@pytest.fixture
def lock_held_elsewhere(db_path: Path, storage: SkillsStorage) -> Iterator[None]:
    # flock belongs to the open file description: a descriptor of our own
    # conflicts with the storage's as another process's would.
    fd = os.open(f"{db_path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
    os.close(fd)


def test_warm_up_does_not_wait_for_the_writer_lock(storage: SkillsStorage, lock_held_elsewhere: None) -> None:
    assert isinstance(warm_up_in_a_thread(storage), WriterBusy)


def test_warm_up_does_not_wait_for_a_writer_without_the_lock(storage: SkillsStorage, db_path: Path) -> None:
    """A tool that writes without the WriterLock (the sqlite3 shell):
    SQLite's own lock, which a connection otherwise waits 30 s for. In
    another process: POSIX locks of one process never conflict."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SQLITE_WRITE_LOCK, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        error = warm_up_in_a_thread(storage)
    finally:
        holder.communicate("done\n", timeout=20)
    assert isinstance(error, WriterBusy)
    # The connection it used waits as long as ever for the next writes.
    raw = storage.engine.raw_connection()
    try:
        assert raw.driver_connection.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS  # type: ignore[union-attr]
    finally:
        raw.close()
    assert warm_up_in_a_thread(storage) is None
