"""The same storage on PostgreSQL: one URL, same migrations, same figures."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from tests.conftest import FixedClock
from tracker.cicd import CICDTracker
from tracker.context import CIPipelineContext
from tracker.storage import SkillsStorage
from tracker.storage.schema import metadata, skill_invocation, stage_daily

NOW = datetime(2026, 11, 25, 12, 0, 0)


def _ctx(build: int) -> CIPipelineContext:
    return CIPipelineContext(
        pipeline_name="CI",
        build_number=str(build),
        git_commit="abcdef1",
        git_branch="main",
        environment="ci",
        triggered_by="push",
    )


def _load(tracker: CICDTracker) -> None:
    rng = random.Random(7)
    for build in range(60):
        for stage, skill in (("build", "uv-install"), ("test", "pytest-run"), ("lint", "ruff-check")):
            ok = rng.random() < 0.8
            tracker.track_pipeline_stage(
                _ctx(build),
                stage,
                skill,
                ok,
                round(rng.uniform(1, 400), 3),
                started_at=NOW - timedelta(hours=build * 4 + 1),
                error_message=None if ok else rng.choice(["AssertionError", "Timeout"]),
            )


def test_migrations_build_the_declared_schema(pg: SkillsStorage) -> None:
    with pg.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_analytics_match_sqlite_exactly(pg: SkillsStorage, tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    sqlite = SkillsStorage(tmp_path / "same.db")
    for store in (pg, sqlite):
        _load(CICDTracker(storage=store, clock=clock))
    on_pg = CICDTracker(storage=pg, clock=clock).get_pipeline_analytics("CI", days=7).to_dict()
    on_sqlite = CICDTracker(storage=sqlite, clock=clock).get_pipeline_analytics("CI", days=7).to_dict()
    assert on_pg["total_runs"] > 0
    assert on_pg == on_sqlite


def test_concurrent_writers_keep_rollups_whole(pg: SkillsStorage) -> None:
    tracker = CICDTracker(storage=pg, clock=FixedClock(NOW))

    def write(worker: int) -> None:
        for i in range(50):
            tracker.track_pipeline_stage(_ctx(worker * 100 + i), "test", "pytest-run", i % 5 != 0, 1.0)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    with pg.read() as conn:
        rows = conn.execute(select(func.count()).select_from(skill_invocation)).scalar_one()
        runs, ok = conn.execute(select(func.sum(stage_daily.c.runs), func.sum(stage_daily.c.successes))).one()
    assert (rows, runs, ok) == (200, 200, 160)


def test_long_fields_are_stored_as_on_sqlite(pg: SkillsStorage) -> None:
    """PostgreSQL refuses a value longer than its column: the record cuts
    error_type and stores paths up to their limit, as on SQLite."""
    from tests.skills.test_skills_tracker import long_fields_record

    pg.record_invocation(long_fields_record())
    [row] = pg.invocations(limit=5)
    assert (len(row["workflow_path"]), len(row["workflow_step_id"]), row["error_type"]) == (
        300,
        300,
        "E" * 200,
    )
