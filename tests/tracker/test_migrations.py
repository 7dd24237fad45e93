"""Migrations: an empty database goes to head, the result equals the
SQLAlchemy metadata, downgrades work, and many processes may open (and so
migrate) one new file at once."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from tests.conftest import REPO
from tracker.settings import Settings
from tracker.storage import SkillsStorage, migrate
from tracker.storage.engine import make_engine
from tracker.storage.schema import metadata

from .helpers import NOW, record


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    engine, _vector = make_engine(f"sqlite:///{db_path}")
    yield engine
    engine.dispose()


def differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_from_empty_matches_metadata(engine: Engine) -> None:
    assert migrate.current_revision(engine) is None
    assert tables(engine) == set()
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert set(metadata.tables) <= tables(engine)
    assert differences(engine) == []


def test_downgrade_to_base_and_up_again(engine: Engine) -> None:
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert tables(engine) - {"alembic_version"} == set()
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert differences(engine) == []


def test_rollup_tables_are_clustered(engine: Engine) -> None:
    migrate.upgrade(engine)
    with engine.connect() as conn:
        sql: dict[str, str] = dict(
            conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all()
        )
    assert "WITHOUT ROWID" in sql["stage_daily_histogram"]
    assert "PRIMARY KEY (pipeline_name, day, stage, bucket)" in sql["stage_daily_histogram"]
    assert "WITHOUT ROWID" in sql["skill_session_day"]


def test_database_of_the_first_revision_upgrades_with_its_data(engine: Engine, settings: Settings) -> None:
    migrate.upgrade(engine, "0001")
    assert migrate.current_revision(engine) == "0001"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO skill_invocation (skill_name, invoked_at, session_id, completed, "
                "duration_seconds, workflow_phase, source, outcome, duration_bucket, recorded_at) "
                "VALUES ('ruff-check', '2026-11-20 10:00:00.000000', 's1', 1, 2.0, 'verification', "
                "'ide', 'success', 1, '2026-11-20 10:00:00.000000')"
            )
        )
    with SkillsStorage(settings=settings) as storage:
        assert migrate.current_revision(storage.engine) == migrate.head_revision()
        assert storage.count_invocations(skill_name="ruff-check") == 1
    assert differences(engine) == []


def test_opening_the_same_database_twice(settings: Settings) -> None:
    first = SkillsStorage(settings=settings)
    second = SkillsStorage(settings=settings)
    try:
        first.record_invocation(record("test", "pytest-run", "success", 1.0, NOW))
        assert second.count_invocations() == 1
        second.record_invocation(record("test", "pytest-run", "failure", 2.0, NOW))
        assert first.count_invocations(outcome="failure") == 1
    finally:
        first.close()
        second.close()


def _open_and_write(path: str, n: int) -> str:
    storage = SkillsStorage(path, settings=Settings(database_url=f"sqlite:///{path}"))
    try:
        storage.record_invocation(record("test", "pytest-run", "success", float(n), NOW, session=f"CI-{n}"))
        return migrate.current_revision(storage.engine) or ""
    finally:
        storage.close()


def test_processes_opening_a_new_database_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "fresh.db")
    monkeypatch.syspath_prepend(str(REPO))  # spawned workers import this module by name
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        revisions = pool.starmap_async(_open_and_write, [(path, n) for n in range(8)]).get(timeout=120)
    assert revisions == [migrate.head_revision()] * 8
    with SkillsStorage(path, settings=Settings(database_url=f"sqlite:///{path}")) as storage:
        assert storage.count_invocations() == 8
        engine = storage.engine
        assert differences(engine) == []
