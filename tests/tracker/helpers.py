"""Shared by the tracker tests: contexts, records, and a reference model of
the rollup tables computed in plain Python from the raw invocations."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Table, select

from tracker.context import CIPipelineContext
from tracker.phases import Outcome, Source, WorkflowPhase
from tracker.records import InvocationRecord
from tracker.storage import SkillsStorage
from tracker.storage.rollups import ROLLUP_TABLES

#: "Now" of the FixedClock in most tests: a Wednesday, 06:00 UTC.
NOW = datetime(2026, 11, 25, 6, 0, 0)


def context(pipeline: str = "CI", build: str = "42", **extra: Any) -> CIPipelineContext:
    fields: dict[str, Any] = {
        "pipeline_name": pipeline,
        "build_number": build,
        "git_commit": "abc123def456",
        "git_branch": "main",
        "environment": "staging",
        "triggered_by": "push",
    }
    fields.update(extra)
    return CIPipelineContext(**fields)


def record(
    stage: str | None,
    skill: str,
    outcome: Outcome | str,
    duration: float,
    at: datetime,
    *,
    pipeline: str | None = "CI",
    session: str = "CI-42",
    phase: WorkflowPhase = WorkflowPhase.EXECUTION,
    error: str | None = None,
    queue: float | None = None,
    path: str | None = None,
) -> InvocationRecord:
    return InvocationRecord(
        skill_name=skill,
        session_id=session,
        workflow_phase=phase,
        source=Source.CI if pipeline else Source.IDE,
        outcome=Outcome(outcome),
        duration_seconds=duration,
        invoked_at=at,
        stage=stage,
        context=context(pipeline) if pipeline else None,
        error_message=error,
        queue_seconds=queue,
        workflow_path=path,
    )


def _primary_key(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


def snapshot(storage: SkillsStorage) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
    """Every rollup table as {primary key: other columns}."""
    result = {}
    with storage.read() as conn:
        for table in ROLLUP_TABLES:
            keys = _primary_key(table)
            others = [c.name for c in table.columns if c.name not in keys]
            result[table.name] = {
                tuple(row._mapping[k] for k in keys): tuple(row._mapping[o] for o in others)
                for row in conn.execute(select(table))
            }
    return result


def expected_rollups(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
    """The rollups as the design defines them, computed row by row in
    Python from ``skill_invocation`` rows (dicts, as
    :meth:`SkillsStorage.invocations` returns them)."""
    stage_daily: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0.0, 0, 0.0])
    histogram: dict[tuple[Any, ...], int] = defaultdict(int)
    failures: dict[tuple[Any, ...], int] = defaultdict(int)
    stage_skill: dict[tuple[Any, ...], list[Any]] = {}
    metrics: dict[tuple[Any, ...], list[Any]] = {}
    counts: dict[tuple[Any, ...], int] = defaultdict(int)
    sessions: set[tuple[Any, ...]] = set()
    series: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0, 0.0])
    for r in rows:
        outcome, day, at = r["outcome"], r["invoked_at"].date(), r["invoked_at"]
        decisive = outcome in ("success", "failure")
        if r["pipeline_name"] and r["stage"] is not None:
            key = (r["pipeline_name"], r["stage"], day)
            d = stage_daily[key]
            d[0] += decisive
            d[1] += outcome == "success"
            d[2] += outcome == "failure"
            d[3] += outcome == "skipped"
            d[4] += outcome == "cancelled"
            d[5] += r["duration_seconds"] if decisive else 0.0
            d[6] += r["queue_seconds"] is not None
            d[7] += r["queue_seconds"] or 0.0
            if decisive:
                histogram[(r["pipeline_name"], day, r["stage"], r["duration_bucket"])] += 1
            if outcome == "failure" and r["error_key"] is not None:
                failures[(*key, r["error_key"])] += 1
            if outcome != "skipped":
                k = (r["pipeline_name"], r["stage"], r["skill_name"])
                s = stage_skill.setdefault(k, [0, at, at])
                s[0] += 1
                s[1], s[2] = min(s[1], at), max(s[2], at)
        if outcome == "skipped":
            continue
        for phase in ("all", r["workflow_phase"]):
            m = metrics.setdefault((r["skill_name"], phase), [0, 0, 0, 0.0, at, at])
            m[0] += 1
            m[1] += outcome == "success"
            m[2] += outcome != "success"
            m[3] += r["duration_seconds"]
            m[4], m[5] = min(m[4], at), max(m[5], at)
        if r["workflow_path"]:
            counts[(r["skill_name"], "workflow_path", r["workflow_path"][:300])] += 1
        if outcome == "failure" and r["error_key"]:
            counts[(r["skill_name"], "error_type", r["error_key"][:300])] += 1
        sessions.add((r["skill_name"], day, r["session_id"]))
        t = series[(r["skill_name"], day)]
        t[0] += 1
        t[1] += outcome == "success"
        t[2] += r["duration_seconds"]
    unique: dict[tuple[Any, ...], int] = defaultdict(int)
    for skill, day, _session in sessions:
        unique[(skill, day)] += 1
    return {
        "stage_daily": {k: tuple(v) for k, v in stage_daily.items()},
        "stage_daily_histogram": {k: (v,) for k, v in histogram.items()},
        "stage_failure_daily": {k: (v,) for k, v in failures.items()},
        "stage_skill": {k: tuple(v) for k, v in stage_skill.items()},
        "skill_metrics": {k: tuple(v) for k, v in metrics.items()},
        "skill_metric_counts": {k: (v,) for k, v in counts.items()},
        "skill_time_series": {k: (*v, unique[k]) for k, v in series.items()},
        "skill_session_day": {k: () for k in sessions},
    }


def assert_same_rollups(
    got: Mapping[str, Mapping[tuple[Any, ...], tuple[Any, ...]]],
    want: Mapping[str, Mapping[tuple[Any, ...], tuple[Any, ...]]],
) -> None:
    """Equal table by table: same keys, integers equal, sums of floats equal
    up to rounding (the order of additions differs)."""
    assert set(got) == set(want)
    for name in want:
        assert set(got[name]) == set(want[name]), name
        for key, values in want[name].items():
            have = got[name][key]
            assert len(have) == len(values), (name, key)
            for a, b in zip(have, values, strict=True):
                if isinstance(b, float):
                    assert a == pytest.approx(b, rel=1e-9, abs=1e-9), (name, key, have, values)
                else:
                    assert a == b, (name, key, have, values)
