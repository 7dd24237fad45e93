"""SkillsTracker: the completer records one invocation; baselines are
computed in SQL from hand-built data and refreshed on schedule."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import cast

import pytest

from receiver.skills_services import BaselineScheduler
from tracker.catalogue import CatalogueEntry
from tracker.context import CIPipelineContext
from tracker.embeddings import HashingEmbedder
from tracker.phases import Outcome, Source, WorkflowPhase
from tracker.records import InvocationRecord
from tracker.semantic import SkillCatalogue
from tracker.skills import SkillsTracker
from tracker.storage import SkillsStorage

NOW = datetime(2026, 11, 25, 6, 0, 0)


def test_completer_records_the_invocation(storage: SkillsStorage) -> None:
    tracker = SkillsTracker("crackerjack_123", storage, project="shop")
    done = tracker.track_invocation(
        "pytest-run",
        user_query="run the tests",
        alternatives_considered=["jest-run"],
        selection_rank=1,
    )
    started = time.monotonic()
    while time.monotonic() - started < 0.05:
        pass  # work the skill does
    row_id = done(completed=False, error_type="AssertionError", follow_up_actions=["pytest-debug"])
    [row] = storage.invocations(session_id="crackerjack_123")
    assert row["id"] == row_id
    assert row["skill_name"] == "pytest-run" and row["workflow_phase"] == "execution"  # the usual phase
    assert row["completed"] is False and row["outcome"] == "failure" and row["error_type"] == "AssertionError"
    assert 0.05 <= row["duration_seconds"] < 5
    assert row["user_query"] == "run the tests" and row["alternatives_considered"] == ["jest-run"]
    assert row["selection_rank"] == 1 and row["follow_up_actions"] == ["pytest-debug"]
    assert row["workflow_path"] == "shop" and row["source"] == "session"
    assert [q["text"] for q in storage.queries()] == ["run the tests"]
    with pytest.raises(RuntimeError, match="already completed"):
        done()


def test_completer_with_a_given_duration_and_phase(storage: SkillsStorage) -> None:
    tracker = SkillsTracker("s", storage)
    tracker.track_invocation("ruff-check", WorkflowPhase.SETUP).complete(completed=True, duration=2.5)
    SkillCatalogue(storage, HashingEmbedder()).add(
        CatalogueEntry("my-deploy", "ship it", WorkflowPhase.DEPLOYMENT)
    )
    tracker.track_invocation("my-deploy")(duration=1)
    tracker.track_invocation("unknown-tool")(duration=1)
    rows = {r["skill_name"]: r for r in storage.invocations(session_id="s")}
    assert rows["ruff-check"]["workflow_phase"] == "setup" and rows["ruff-check"]["duration_seconds"] == 2.5
    assert rows["my-deploy"]["workflow_phase"] == "deployment"  # a user's skill: its catalogue phase
    assert rows["unknown-tool"]["workflow_phase"] == "execution"  # documented default
    metrics = storage.skill_metrics("ruff-check")
    assert metrics is not None and metrics["completed_invocations"] == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.track_invocation(""), "skill_name"),
        (lambda t: t.track_invocation("x", "shipping"), "valid phases"),
        (lambda t: t.track_invocation("x", selection_rank="1"), "selection_rank"),
        (lambda t: t.track_invocation("x")(duration=-1), "duration"),
        (lambda t: t.track_invocation("x")(duration=float("nan")), "duration"),
        (lambda t: t.track_invocation("x", workflow_path="p" * 301), "workflow_path is longer than 300"),
        (
            lambda t: t.track_invocation("x", workflow_step_id="s" * 301),
            "workflow_step_id is longer than 300",
        ),
    ],
)
def test_bad_input_is_refused(storage: SkillsStorage, call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(SkillsTracker("s", storage))  # type: ignore[operator]
    assert storage.count_invocations() == 0


def long_fields_record() -> InvocationRecord:
    """Paths at their 300-character limit, an error_type longer than its 200."""
    return rec(
        "pytest-run",
        "failure",
        1,
        "execution",
        workflow_path="p" * 300,
        workflow_step_id="s" * 300,
        error_type="E" * 250,
    )


def test_long_fields_fit_their_columns(storage: SkillsStorage) -> None:
    """What SQLite would keep whole and PostgreSQL refuse: paths at the
    limit are stored, a longer error_type is cut to its column."""
    record = long_fields_record()
    assert record.error_type == "E" * 200
    storage.record_invocation(record)
    [row] = storage.invocations(limit=5)
    assert (row["workflow_path"], row["workflow_step_id"], row["error_type"]) == (
        "p" * 300,
        "s" * 300,
        "E" * 200,
    )
    with pytest.raises(ValueError, match="external_id is longer than 300"):
        rec("pytest-run", "success", 1, "execution", external_id="x" * 301)


def ci(repo: str, build: str) -> CIPipelineContext:
    return CIPipelineContext("CI", build, "abc1234", "main", "ci", "push", repository=repo)


def rec(skill: str, outcome: str, seconds: float, phase: str, **extra: object) -> InvocationRecord:
    return InvocationRecord(
        skill_name=skill,
        session_id=str(extra.pop("session", "s")),
        workflow_phase=WorkflowPhase(phase),
        source=Source(str(extra.pop("source", "ci"))),
        outcome=Outcome(outcome),
        duration_seconds=seconds,
        invoked_at=NOW,
        **extra,  # type: ignore[arg-type]
    )


def test_baselines_on_hand_built_data(storage: SkillsStorage) -> None:
    storage.record_invocations(
        [
            rec("pytest-run", "success", 10, "execution", context=ci("o/a", "1"), stage="test"),
            rec("pytest-run", "success", 20, "execution", context=ci("o/a", "2"), stage="test"),
            rec("pytest-run", "failure", 30, "execution", context=ci("o/a", "3"), stage="test"),
            rec("pytest-run", "success", 40, "verification", source="crackerjack", workflow_path="shop"),
            rec("pytest-run", "skipped", 99, "deployment", workflow_path="shop"),  # never ran: not counted
            rec("ruff-check", "success", 1, "verification", workflow_path="shop"),
            rec("ruff-check", "failure", 3, "verification", session="other"),
            rec("mypy-check", "success", 6, "verification", session="x"),
        ]
    )
    assert storage.refresh_baselines(now=NOW) == 3
    rows = {r["skill_name"]: r for r in storage.community_baselines()}
    pytest_run = rows["pytest-run"]
    assert pytest_run["total_users"] == 2  # repository o/a and project shop
    assert pytest_run["total_invocations"] == 4
    assert pytest_run["global_completion_rate"] == pytest.approx(0.75)
    assert pytest_run["global_mean_duration"] == pytest.approx(25.0)
    assert pytest_run["most_common_workflow_phase"] == "execution"
    assert rows["ruff-check"]["total_users"] == 2  # project shop and session "other"
    assert rows["ruff-check"]["global_completion_rate"] == pytest.approx(0.5)
    # Effectiveness: the share of skills whose completion rate is at most this one's.
    assert [
        # The baseline rows are dict[str, object]; this column is a REAL.
        round(cast(float, rows[s]["effectiveness_percentile"]), 1)
        for s in ("ruff-check", "pytest-run", "mypy-check")
    ] == [
        33.3,
        66.7,
        100.0,
    ]
    assert {r["updated_at"] for r in rows.values()} == {NOW}
    # Recomputed from scratch: a skill whose runs are gone leaves the table.
    assert storage.refresh_baselines(now=NOW) == 3


def test_refresh_only_when_stale(storage: SkillsStorage) -> None:
    storage.record_invocation(rec("ruff-check", "success", 1, "verification"))
    assert storage.refresh_baselines_if_stale(24, now=NOW) == 1  # never computed
    assert storage.refresh_baselines_if_stale(24, now=NOW + timedelta(hours=23)) is None
    assert storage.refresh_baselines_if_stale(24, now=NOW + timedelta(hours=25)) == 1
    assert storage.baselines_refreshed_at() == NOW + timedelta(hours=25)
    assert storage.refresh_baselines_if_stale(0) is None  # 0 turns the schedule off


def test_scheduler_thread_refreshes_stale_baselines(storage: SkillsStorage) -> None:
    storage.record_invocation(rec("ruff-check", "success", 1, "verification"))
    scheduler = BaselineScheduler(storage, hours=1, check_seconds=0.02)
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while storage.baselines_refreshed_at() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert storage.community_baselines()[0]["skill_name"] == "ruff-check"
        while scheduler.checks < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert scheduler.checks >= 5 and scheduler.refreshes == 1  # fresh: not recomputed again
    finally:
        scheduler.stop()
        scheduler.join(5)
    assert not scheduler.is_alive()


def test_recommendations_refresh_stale_baselines(storage: SkillsStorage) -> None:
    storage.record_invocation(rec("ruff-check", "success", 1, "verification"))
    tracker = SkillsTracker("s", storage, catalogue=SkillCatalogue(storage, HashingEmbedder()))
    tracker.recommend_skills("lint", 2)
    assert storage.baselines_refreshed_at() is not None
    assert [r["skill_name"] for r in storage.community_baselines()] == ["ruff-check"]


def test_get_recommendations_speaks_crackerjacks_protocol(storage: SkillsStorage) -> None:
    tracker = SkillsTracker("crackerjack_1", storage, catalogue=SkillCatalogue(storage, HashingEmbedder()))
    found = tracker.get_recommendations("check python types", limit=2, workflow_phase="verification")
    assert len(found) == 2 and {"skill_name", "score", "description", "embedder"} <= set(found[0])
