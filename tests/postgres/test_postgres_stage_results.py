"""The stage-result path (group commit, idempotency keys) on PostgreSQL,
where it runs through SQLAlchemy rather than the raw SQLite cursor."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from tracker.context import CIPipelineContext
from tracker.errors import IdempotencyConflict
from tracker.phases import Outcome, Source, WorkflowPhase
from tracker.records import InvocationRecord
from tracker.storage import SkillsStorage


def _record(n: int) -> InvocationRecord:
    return InvocationRecord(
        skill_name="pytest-run",
        session_id=f"CI-{n}",
        workflow_phase=WorkflowPhase.EXECUTION,
        source=Source.CI,
        outcome=Outcome.SUCCESS,
        duration_seconds=1.0 + n,
        invoked_at=datetime(2026, 11, 25, 6, 0),
        stage="test",
        context=CIPipelineContext("CI", str(n), "abcdef1", "main", "ci", "push"),
    )


def test_stage_results_exactly_once_on_postgres(pg: SkillsStorage) -> None:
    def post(n: int) -> tuple[int, bool]:
        stored = pg.record_stage_result(_record(n), idempotency_key=f"pg-{n}", body={"n": n})
        return stored.id, stored.duplicate

    with ThreadPoolExecutor(8) as pool:
        first = list(pool.map(post, range(60)))
        again = list(pool.map(post, range(60)))
    assert [d for _, d in first] == [False] * 60
    assert again == [(i, True) for i, _ in first]
    assert pg.count_invocations() == 60
    with pytest.raises(IdempotencyConflict):
        pg.record_stage_result(_record(0), idempotency_key="pg-0", body={"n": "other"})
