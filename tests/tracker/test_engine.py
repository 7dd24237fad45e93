"""Driver choice and the extension fallback: sqlite-vec where a driver can
load it, storage without vector search where none can (said once), and
the pragmas every connection gets."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import types
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import FixedClock
from tracker.cicd import CICDTracker
from tracker.settings import Settings
from tracker.storage import SkillsStorage, engine
from tracker.storage.engine import SQLiteDriver, choose_sqlite_driver
from tracker.storage.rawwrite import raw_write, writer_lock

from .helpers import NOW, context


def fake_sqlite(name: str, *, can_load: bool) -> types.ModuleType:
    module = types.ModuleType(name)

    class Connection:
        pass

    if can_load:
        Connection.enable_load_extension = lambda self, on: None  # type: ignore[attr-defined]
    module.Connection = Connection  # type: ignore[attr-defined]
    return module


def test_prefers_the_first_driver_that_can_load_extensions() -> None:
    cannot, can = fake_sqlite("sqlite3", can_load=False), fake_sqlite("pysqlite3", can_load=True)
    chosen = choose_sqlite_driver([("sqlite3", cannot), ("pysqlite3", can)])
    assert chosen == SQLiteDriver("pysqlite3", can, True)


def test_keeps_the_stdlib_driver_when_it_can_load() -> None:
    stdlib, other = fake_sqlite("sqlite3", can_load=True), fake_sqlite("pysqlite3", can_load=True)
    assert choose_sqlite_driver([("sqlite3", stdlib), ("pysqlite3", other)]) == SQLiteDriver(
        "sqlite3", stdlib, True
    )


def test_falls_back_to_a_driver_without_extensions() -> None:
    cannot = fake_sqlite("sqlite3", can_load=False)
    assert choose_sqlite_driver([("sqlite3", cannot), ("pysqlite3", None)]) == SQLiteDriver(
        "sqlite3", cannot, False
    )


def test_no_driver_at_all() -> None:
    with pytest.raises(RuntimeError, match="no SQLite driver could be imported"):
        choose_sqlite_driver([("sqlite3", None), ("pysqlite3", None)])


@pytest.fixture
def warnings_reset() -> Iterator[None]:
    engine._warn_once.cache_clear()
    yield
    engine._warn_once.cache_clear()


def use_all_of_it(storage: SkillsStorage) -> None:
    """Record, read analytics, render and rebuild: storage works fully."""
    tracker = CICDTracker(storage=storage, clock=FixedClock(NOW))
    tracker.track_pipeline_stage(
        context(), "test", "pytest-run", True, 12.0, started_at=NOW - timedelta(hours=1)
    )
    tracker.track_pipeline_stage(
        context(), "test", "pytest-run", False, 30.0, error_message="boom", started_at=NOW - timedelta(days=2)
    )
    test = tracker.get_pipeline_analytics("CI").stage("test")
    assert test is not None
    assert (test.total_runs, test.failed_runs, test.p50_duration) == (2, 1, 21.0)
    assert "| test | execution | 2 | 50.0% |" in tracker.generate_pipeline_report("CI")
    assert storage.rebuild_rollups()["stage_daily"] == 2


def test_storage_without_vector_search(
    settings: Settings, warnings_reset: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), SkillsStorage(settings=settings, vector=False) as storage:
        assert storage.vector_enabled is False
        use_all_of_it(storage)
    assert not caplog.records  # asked for no vectors: nothing to warn about


def test_no_driver_can_load_extensions_warns_once(
    settings: Settings,
    warnings_reset: None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The standard library's sqlite3, as if it could not load extensions
    # and pysqlite3 were not installed.
    monkeypatch.setattr(engine, "sqlite_driver", lambda: SQLiteDriver("sqlite3", None, False))
    with caplog.at_level(logging.WARNING, logger="tracker.storage.engine"):
        first = SkillsStorage(settings=settings)
        second = SkillsStorage(settings=settings)
    try:
        assert first.vector_enabled is second.vector_enabled is False
        # The standard library's module, not pysqlite3's.
        assert first.engine.dialect.dbapi.__name__ == "sqlite3.dbapi2"  # type: ignore[union-attr]
        use_all_of_it(first)
        assert second.count_invocations() == 2
    finally:
        first.close()
        second.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "vector search runs in Python without sqlite-vec: "
        "no SQLite driver here can load extensions (install pysqlite3-binary)"
    ]


def test_missing_sqlite_vec_warns_once(
    settings: Settings,
    warnings_reset: None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine, "_sqlite_vec", lambda: None)
    with caplog.at_level(logging.WARNING, logger="tracker.storage.engine"):
        for _ in range(3):
            with SkillsStorage(settings=settings) as storage:
                assert storage.vector_enabled is False
    assert [r.getMessage() for r in caplog.records] == [
        "vector search runs in Python without sqlite-vec: sqlite_vec is not installed"
    ]


def test_vec0_loads_where_the_driver_can(storage: SkillsStorage) -> None:
    if not storage.vector_enabled:
        pytest.skip("no SQLite driver of this Python can load extensions")
    with storage.read() as conn:
        assert conn.execute(text("SELECT vec_version()")).scalar_one().startswith("v0.")


@pytest.mark.parametrize(("synchronous", "level"), [("NORMAL", 1), ("FULL", 2)])
def test_connection_pragmas(settings: Settings, synchronous: str, level: int) -> None:
    storage = SkillsStorage(settings=settings.with_(sqlite_synchronous=synchronous))
    with storage, storage.read() as conn:

        def pragma(name: str) -> Any:
            return conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()

        assert pragma("journal_mode") == "wal"
        assert pragma("busy_timeout") == 30000
        assert pragma("foreign_keys") == 1
        assert pragma("synchronous") == level


def test_a_connection_opens_while_another_thread_holds_the_writer_lock(tmp_path: Path) -> None:
    """Under gunicorn a writer holding the lock waited for SQLAlchemy's
    first-connect mutex while the thread inside it waited for the lock: the
    connect hook must not take the writer lock."""
    made, _ = engine.make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    opened = threading.Event()

    def connect() -> None:
        with made.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        opened.set()

    with writer_lock(made).held():
        thread = threading.Thread(target=connect, daemon=True)
        thread.start()
        assert opened.wait(10), "opening a connection waited for the writer lock"
    thread.join(10)
    made.dispose()


def test_the_wal_switch_waits_for_a_lock_on_a_new_file(tmp_path: Path) -> None:
    """Switching to WAL needs an exclusive lock and SQLite refuses at once
    ("database is locked") instead of waiting: the connect hook retries
    until the holder lets go (gunicorn workers opening a new file together)."""
    path = tmp_path / "rollback.db"
    dbapi: Any = engine.sqlite_driver().module or sqlite3
    holder = dbapi.connect(str(path), isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    made, _ = engine.make_engine(f"sqlite:///{path}")
    start = time.monotonic()
    release.start()
    try:
        with made.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    finally:
        release.join()
        holder.close()
        made.dispose()
    assert time.monotonic() - start >= 0.25


def test_a_writer_never_waits_for_the_pool(tmp_path: Path) -> None:
    """The group-commit leader checks a connection out while it holds the
    writer lock; threads waiting for that lock may hold every pooled
    connection. The pool must not make the leader wait (a bounded pool
    of 15 did, for its 30 s timeout)."""
    made, _ = engine.make_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    held = [made.connect() for _ in range(24)]
    written = threading.Event()

    def write() -> None:
        with writer_lock(made).held(), raw_write(made, "testing") as conn:
            conn._cursor.execute("CREATE TABLE t (x)")
        written.set()

    try:
        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        assert written.wait(10), "the writer waited for a pooled connection"
        thread.join(10)
    finally:
        for conn in held:
            conn.close()
        made.dispose()
