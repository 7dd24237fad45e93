"""The stage-result path (group commit, idempotency keys) on PostgreSQL,
where it runs through SQLAlchemy rather than the raw SQLite cursor."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from sqlalchemy import text

from tracker.context import CIPipelineContext
from tracker.errors import IdempotencyConflict, StorageError
from tracker.phases import Outcome, Source, WorkflowPhase
from tracker.records import InvocationRecord
from tracker.storage import SkillsStorage
from tracker.storage.stage_results import StoredResult


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


def test_one_batch_with_new_repeated_and_conflicting_keys_on_postgres(pg: SkillsStorage) -> None:
    # The batch path itself (one key look-up, one multi-row insert with
    # RETURNING in parameter order), as a busy group commit calls it.
    from tracker.storage.stage_results import _StageWrite

    write = pg._stage_results()._write_batch
    [old] = write([_StageWrite(_record(0), "old", "d0")])
    out = write(
        [
            _StageWrite(_record(1), "new", "d1"),
            _StageWrite(_record(2), None, "d2"),
            _StageWrite(_record(0), "old", "d0"),
            _StageWrite(_record(1), "new", "d1"),
            _StageWrite(_record(3), "new", "d-other"),
            _StageWrite(_record(4), "other", "d4"),
        ]
    )
    assert [type(o).__name__ for o in out] == ["StoredResult"] * 4 + ["IdempotencyConflict", "StoredResult"]
    new, unkeyed, replay, repeat, _, last = out
    assert not isinstance(old, BaseException)
    assert not isinstance(new, BaseException) and not isinstance(unkeyed, BaseException)
    assert not isinstance(replay, BaseException) and not isinstance(repeat, BaseException)
    assert not isinstance(last, BaseException)
    assert old.id < new.id < unkeyed.id < last.id
    assert (replay.id, replay.duplicate, repeat.id, repeat.duplicate) == (old.id, True, new.id, True)
    sessions = {r["id"]: r["session_id"] for r in pg.invocations(limit=10)}
    assert sessions == {old.id: "CI-0", new.id: "CI-1", unkeyed.id: "CI-2", last.id: "CI-4"}


def test_a_key_being_written_elsewhere_is_waited_for_on_postgres(pg: SkillsStorage) -> None:
    """Another process's batch holds key "k", not yet committed: this
    batch waits for it and then answers the stored result, instead of
    missing the key and storing the result a second time."""
    import threading

    from sqlalchemy import text

    from tracker.storage.stage_results import _StageWrite

    with pg.engine.connect() as other:
        with other.begin():
            # What a concurrent batch does first: lock its keys.
            other.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('k', 0))"))
            answer: list[object] = []
            racer = threading.Thread(
                target=lambda: answer.extend(
                    pg._stage_results()._write_batch([_StageWrite(_record(1), "k", "d")])
                )
            )
            racer.start()
            racer.join(0.5)
            assert racer.is_alive()  # waiting for the other batch's key
            first = pg.record_invocation(_record(1))
            other.execute(
                text(
                    "INSERT INTO stage_result_request "
                    "(idempotency_key, request_hash, invocation_id, created_at) "
                    "VALUES ('k', 'd', :id, now())"
                ),
                {"id": first},
            )
        racer.join(30)
    [stored] = answer
    assert isinstance(stored, StoredResult)
    assert (stored.id, stored.duplicate) == (first, True)
    assert pg.count_invocations() == 1


def test_warm_up_leaves_no_row_and_never_waits_on_postgres(pg: SkillsStorage) -> None:
    pg.warm_up(_record(1))
    assert pg.count_invocations() == 0
    with pg.engine.connect() as other, other.begin():
        other.execute(text("LOCK TABLE skill_invocation IN ACCESS EXCLUSIVE MODE"))
        # Without its lock_timeout, warm_up would wait here for ever.
        with pytest.raises(StorageError, match="lock timeout"):
            pg.warm_up(_record(2))
    stored = pg.record_stage_result(_record(3), idempotency_key="after", body={})
    assert pg.count_invocations() == 1 and not stored.duplicate
