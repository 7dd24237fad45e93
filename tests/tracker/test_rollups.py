"""Rollups: kept up to date by every write, recomputed by rebuild_rollups,
loaded in bulk — and always equal to a plain Python reference computed from
the raw invocations."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from click.testing import CliRunner

from receiver.cli import main
from tracker.errors import StorageError
from tracker.phases import Outcome, WorkflowPhase
from tracker.records import InvocationRecord
from tracker.storage import SkillsStorage

from .helpers import NOW, assert_same_rollups, expected_rollups, record, snapshot


def varied_records(n: int, seed: int = 7) -> list[InvocationRecord]:
    """Records that reach every branch of the rollup rules: each outcome,
    no stage, no pipeline, queue times, failures with and without text,
    several days, phases, sessions and workflow paths (one as long as the
    300-character key)."""
    rnd = random.Random(seed)
    long_path = "p" * 300
    result = []
    for _ in range(n):
        outcome = rnd.choice(list(Outcome))
        pipeline = rnd.choice(["CI", "CI", "Nightly", None])
        result.append(
            record(
                stage=rnd.choice(["test", "lint", "e2e", None]) if pipeline else None,
                skill=rnd.choice(["pytest-run", "ruff-check", "mypy-check"]),
                outcome=outcome,
                duration=rnd.choice([0.0, 0.0004, round(rnd.uniform(0.5, 900), 3)]),
                at=NOW - timedelta(hours=rnd.uniform(0, 24 * 5)),
                pipeline=pipeline,
                session=f"CI-{rnd.randint(1, 6)}",
                phase=rnd.choice(list(WorkflowPhase)),
                error=rnd.choice([None, "AssertionError: boom\n  at x.py:1", "   ", "TimeoutError"]),
                queue=rnd.choice([None, 2.5]),
                path=rnd.choice([None, "", "CI", long_path]),
            )
        )
    return result


def test_incremental_rollups_equal_reference_and_rebuild(storage: SkillsStorage) -> None:
    for r in varied_records(250):
        storage.record_invocation(r)
    rows = storage.invocations(limit=10_000)
    assert len(rows) == 250
    want = expected_rollups(rows)
    # Every branch was reached, so the comparison means something.
    assert {r["outcome"] for r in rows} == {o.value for o in Outcome}
    assert want["stage_failure_daily"] and want["skill_metric_counts"]
    assert any(len(k[2]) == 300 for k in want["skill_metric_counts"] if k[1] == "workflow_path")

    incremental = snapshot(storage)
    assert_same_rollups(incremental, want)

    counts = storage.rebuild_rollups()
    rebuilt = snapshot(storage)
    assert_same_rollups(rebuilt, want)
    assert counts == {name: len(rows_) for name, rows_ in want.items()}


def test_rebuild_repairs_damaged_rollups(storage: SkillsStorage) -> None:
    for r in varied_records(60, seed=3):
        storage.record_invocation(r)
    want = snapshot(storage)
    with storage.write() as conn:
        conn.exec_driver_sql("DELETE FROM stage_daily_histogram")
        conn.exec_driver_sql("UPDATE stage_daily SET runs = runs + 100")
        conn.exec_driver_sql(
            "INSERT INTO skill_session_day (skill_name, period_start, session_id) "
            "VALUES ('x', '2020-01-01', 's')"
        )
    storage.rebuild_rollups()
    assert_same_rollups(snapshot(storage), want)


def test_rebuild_of_empty_database(storage: SkillsStorage) -> None:
    assert storage.rebuild_rollups() == dict.fromkeys(snapshot(storage), 0)


COLUMNS = (
    "skill_name",
    "invoked_at",
    "session_id",
    "workflow_path",
    "duration_seconds",
    "workflow_phase",
    "source",
    "stage",
    "outcome",
    "error_key",
    "queue_seconds",
    "pipeline_name",
)


def bulk_row(r: InvocationRecord) -> tuple[object, ...]:
    """``r`` as a row of :data:`COLUMNS` for ``bulk_load_invocations``."""
    return (
        r.skill_name,
        r.invoked_at,
        r.session_id,
        r.workflow_path,
        r.duration_seconds,
        r.workflow_phase.value,
        r.source.value,
        r.stage,
        r.outcome.value,
        r.error_key,
        r.queue_seconds,
        r.context.pipeline_name if r.context else None,
    )


def test_bulk_load_stores_rows_and_rollups(storage: SkillsStorage) -> None:
    records = varied_records(120, seed=11)
    rows = [bulk_row(r) for r in records]
    assert storage.bulk_load_invocations(COLUMNS, rows, batch_size=50) == 120
    stored = storage.invocations(limit=1000)
    assert len(stored) == 120
    # Derived columns are what record_invocation would have stored.
    by_time = sorted(records, key=lambda r: r.invoked_at)
    for row, rec in zip(stored, by_time, strict=True):
        assert row["invoked_at"] == rec.invoked_at
        assert row["completed"] is (rec.outcome is Outcome.SUCCESS)
        assert row["duration_bucket"] == rec_bucket(rec.duration_seconds)
    assert_same_rollups(snapshot(storage), expected_rollups(stored))


def rec_bucket(seconds: float) -> int:
    # 40 buckets per e-fold above 1 ms, bucket 0 below (tracker.histogram).
    import math

    return 0 if seconds < 0.001 else int(math.log(seconds / 0.001) * 40) + 1


def test_bulk_load_is_all_or_nothing(storage: SkillsStorage) -> None:
    good = ("pytest-run", NOW, "CI-1", None, 1.0, "execution", "ci", "test", "success", None, None, "CI")
    bad = (None, NOW, "CI-1", None, 1.0, "execution", "ci", "test", "success", None, None, "CI")
    with pytest.raises(StorageError, match="bulk loading invocations"):
        storage.bulk_load_invocations(COLUMNS, [good, good, bad], batch_size=2)
    assert storage.count_invocations() == 0
    assert all(not rows for rows in snapshot(storage).values())


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ((*COLUMNS, "nope"), r"unknown \['nope'\]"),
        (COLUMNS[1:], r"missing \['skill_name'\]"),
        ((*COLUMNS, "id"), r"unknown \['id'\]"),
        ((*COLUMNS, "stage"), "at most once"),
    ],
)
def test_bulk_load_rejects_bad_columns(
    storage: SkillsStorage, columns: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        storage.bulk_load_invocations(columns, [])


def test_cli_rebuild_rollups(storage: SkillsStorage, db_path: object) -> None:
    for r in varied_records(40, seed=5):
        storage.record_invocation(r)
    want = snapshot(storage)
    with storage.write() as conn:
        conn.exec_driver_sql("DELETE FROM stage_daily")
    result = CliRunner().invoke(main, ["--database", str(db_path), "rebuild-rollups"])
    assert result.exit_code == 0, result.output
    assert f"stage_daily: {len(want['stage_daily'])} rows" in result.output
    assert "rebuilt 8 rollup tables" in result.output
    assert_same_rollups(snapshot(storage), want)
