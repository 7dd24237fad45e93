"""A full disk: StorageFullError with a clear message, and nothing of the
failed write stored (simulated with SQLite's max_page_count)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from tracker.errors import StorageFullError
from tracker.storage import SkillsStorage

from .helpers import NOW, assert_same_rollups, expected_rollups, record, snapshot


@pytest.fixture
def full(storage: SkillsStorage) -> Iterator[SkillsStorage]:
    """``storage`` whose connections may not grow the file past its size now."""
    with storage.read() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()

    def cap(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(storage.engine, "connect", cap)
    storage.engine.dispose()  # new connections get the cap
    yield storage
    event.remove(storage.engine, "connect", cap)
    storage.engine.dispose()


def fill_until_full(storage: SkillsStorage) -> tuple[int, StorageFullError]:
    for i in range(5000):
        try:
            storage.record_invocation(
                record(
                    f"stage-{i % 7}",
                    f"skill-{i}",
                    "failure",
                    float(i),
                    NOW - timedelta(minutes=i),
                    session=f"CI-{i}",
                    error=f"error number {i} " + "x" * 200,
                )
            )
        except StorageFullError as exc:
            return i, exc
    raise AssertionError("the database never filled up")


def test_full_disk_stores_nothing_of_the_failed_write(full: SkillsStorage) -> None:
    stored, error = fill_until_full(full)
    assert str(error) == "disk full while recording an invocation: nothing was stored"
    assert "full" in str(error.__cause__).lower()
    # Every acknowledged write is there, the failed one not at all, and every
    # rollup agrees with the rows.
    rows = full.invocations(limit=10_000)
    assert len(rows) == stored
    assert f"skill-{stored}" not in {r["skill_name"] for r in rows}
    assert_same_rollups(snapshot(full), expected_rollups(rows))
    # Still full for a batch: all or nothing.
    batch = [record("test", "pytest-run", "success", 1.0, NOW, session=f"B-{i}") for i in range(50)]
    with pytest.raises(
        StorageFullError, match=r"^disk full while recording invocations: nothing was stored$"
    ):
        full.record_invocations(batch)
    assert full.count_invocations() == stored


def test_writes_resume_once_there_is_room(storage: SkillsStorage) -> None:
    with storage.read() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()

    def cap(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(storage.engine, "connect", cap)
    storage.engine.dispose()
    stored, _ = fill_until_full(storage)
    event.remove(storage.engine, "connect", cap)
    storage.engine.dispose()
    storage.record_invocation(record("test", "pytest-run", "success", 1.0, NOW))
    assert storage.count_invocations() == stored + 1


def test_full_disk_during_rebuild_keeps_the_old_rollups(full: SkillsStorage) -> None:
    # Invocations written without their rollups (as an import by hand
    # would), until the file is full: a rebuild then needs room it lacks.
    sql = (
        "INSERT INTO skill_invocation (skill_name, invoked_at, session_id, completed, duration_seconds, "
        "workflow_phase, source, outcome, duration_bucket, recorded_at, stage, pipeline_name) VALUES "
        "(?, ?, ?, 1, 1.0, 'execution', 'ci', 'success', 1, '2026-11-25 06:00:00.000000', ?, 'CI')"
    )
    stored = 0
    with pytest.raises(StorageFullError):
        for i in range(20_000):
            with full.write() as conn:
                day = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d} 06:00:00.000000"
                conn.exec_driver_sql(sql, (f"skill-{i}", day, f"S-{i}", f"stage-{i}"))
            stored += 1
    assert all(not rows for rows in snapshot(full).values())
    with pytest.raises(StorageFullError, match=r"^disk full while rebuilding rollups: nothing was stored$"):
        full.rebuild_rollups()
    assert all(not rows for rows in snapshot(full).values())
    assert full.count_invocations() == stored
    # With room again, the same (pooled) connection rebuilds.
    with full.write() as conn:
        conn.exec_driver_sql("PRAGMA max_page_count = 1073741823")
    assert full.rebuild_rollups()["stage_daily"] == stored
