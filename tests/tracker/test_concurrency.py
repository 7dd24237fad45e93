"""Four processes write one SQLite file at once while a fifth reads: no
"database is locked", no lost row, rollups equal to the raw rows."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, FixedClock
from tracker.cicd import CICDTracker
from tracker.phases import Outcome
from tracker.records import InvocationRecord
from tracker.settings import Settings
from tracker.storage import SkillsStorage

from .helpers import NOW, assert_same_rollups, expected_rollups, record, snapshot

WRITERS = 4
PER_WRITER = 300
STAGES = ("test", "lint", "build")


def writer_records(writer: int) -> list[InvocationRecord]:
    """The same few stages and days from every writer, so they contend for
    the same rollup rows."""
    return [
        record(
            STAGES[i % 3],
            f"skill-{i % 4}",
            Outcome.FAILURE if i % 5 == 0 else Outcome.SUCCESS,
            1.0 + i % 10,
            NOW - timedelta(minutes=17 * i),
            session=f"CI-{writer}-{i // 30}",
            error=f"error {i % 3}" if i % 5 == 0 else None,
        )
        for i in range(PER_WRITER)
    ]


def open_storage(path: str) -> SkillsStorage:
    return SkillsStorage(path, settings=Settings(database_url=f"sqlite:///{path}"))


def write(path: str, writer: int, ready: Any, results: Any) -> None:
    storage = open_storage(path)
    errors = []
    ready.wait(timeout=120)  # start together
    try:
        for rec in writer_records(writer):
            try:
                storage.record_invocation(rec)
            except Exception as exc:  # report, don't stop: every failure counts
                errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        storage.close()
        results.put(("writer", errors))


def read(path: str, ready: Any, done: Any, results: Any) -> None:
    """Analytics in a loop while the writers write; the runs counted may
    only grow."""
    storage = open_storage(path)
    tracker = CICDTracker(storage=storage, clock=FixedClock(NOW))
    errors: list[str] = []
    totals: list[int] = []
    ready.wait(timeout=120)
    try:
        while not done.is_set() or not totals:
            try:
                totals.append(tracker.get_pipeline_analytics("CI", days=30).total_runs)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        storage.close()
        if totals != sorted(totals):
            errors.append(f"runs went down: {totals}")
        results.put(("reader", errors))


def test_four_writers_and_a_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "shared.db")
    open_storage(path).close()  # migrated before the race starts
    monkeypatch.syspath_prepend(str(REPO))  # spawned workers import this module by name
    mp = multiprocessing.get_context("spawn")
    ready, done, results = mp.Barrier(WRITERS + 1), mp.Event(), mp.Queue()
    writers = [mp.Process(target=write, args=(path, w, ready, results)) for w in range(WRITERS)]
    reader = mp.Process(target=read, args=(path, ready, done, results))
    for process in (*writers, reader):
        process.start()
    try:
        for process in writers:
            process.join(timeout=240)
        done.set()
        reader.join(timeout=60)
        reports = [results.get(timeout=10) for _ in range(WRITERS + 1)]
    finally:
        for process in (*writers, reader):
            if process.is_alive():
                process.kill()
    assert [p.exitcode for p in (*writers, reader)] == [0] * (WRITERS + 1)
    assert sorted(kind for kind, _ in reports) == ["reader"] + ["writer"] * WRITERS
    assert [e for _, errors in reports for e in errors] == []

    storage = open_storage(path)
    try:
        rows = storage.invocations(limit=100_000)
        assert len(rows) == WRITERS * PER_WRITER
        assert_same_rollups(snapshot(storage), expected_rollups(rows))
        # And the analytics count each writer's runs exactly once.
        written = [r for w in range(WRITERS) for r in writer_records(w)]
        analytics = CICDTracker(storage=storage, clock=FixedClock(NOW)).get_pipeline_analytics("CI", days=30)
        for stage in STAGES:
            mine = [r for r in written if r.stage == stage]
            metrics = analytics.stage(stage)
            assert metrics is not None
            assert metrics.total_runs == len(mine)
            assert metrics.failed_runs == sum(r.outcome is Outcome.FAILURE for r in mine)
            assert metrics.total_duration == pytest.approx(sum(r.duration_seconds for r in mine))
    finally:
        storage.close()
