"""Recording invocations and keeping their rollups in the same transaction."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Insert, insert
from sqlalchemy.dialects import postgresql, sqlite

from ..histogram import bucket_of
from ..phases import Outcome
from ..records import InvocationRecord, utcnow
from .base import StorageBase
from .rawwrite import RawConnection, raw_write
from .schema import (
    skill_invocation,
    skill_metric_counts,
    skill_metrics,
    skill_session_day,
    skill_time_series,
    stage_daily,
    stage_daily_histogram,
    stage_failure_daily,
    stage_result_request,
    stage_skill,
)

_STAGE_COUNTERS = (
    "runs",
    "successes",
    "failures",
    "skipped",
    "cancelled",
    "total_duration_seconds",
    "queued_runs",
    "total_queue_seconds",
)


def _upsert(dialect: str, table: Any, keys: list[str], counters: Iterable[str]) -> Insert:
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = make(table)
    counters = list(counters)
    if not counters:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(
        index_elements=keys, set_={c: table.c[c] + stmt.excluded[c] for c in counters}
    )


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """Statements of the hot path, built once per dialect (SQLAlchemy then
    reuses their compiled form)."""
    sm = skill_metrics
    metrics = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(sm)
    later = metrics.excluded.last_invoked_at > sm.c.last_invoked_at
    earlier = metrics.excluded.first_invoked_at < sm.c.first_invoked_at
    from sqlalchemy import case

    metrics = metrics.on_conflict_do_update(
        index_elements=["skill_name", "workflow_phase"],
        set_={
            **{
                c: sm.c[c] + metrics.excluded[c]
                for c in (
                    "total_invocations",
                    "completed_invocations",
                    "abandoned_invocations",
                    "total_duration_seconds",
                )
            },
            "last_invoked_at": case((later, metrics.excluded.last_invoked_at), else_=sm.c.last_invoked_at),
            "first_invoked_at": case(
                (earlier, metrics.excluded.first_invoked_at),
                else_=sm.c.first_invoked_at,
            ),
        },
    )
    ss = stage_skill
    skill = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ss)
    skill = skill.on_conflict_do_update(
        index_elements=["pipeline_name", "stage", "skill_name"],
        set_={
            "runs": ss.c.runs + skill.excluded.runs,
            "last_seen": case(
                (skill.excluded.last_seen > ss.c.last_seen, skill.excluded.last_seen),
                else_=ss.c.last_seen,
            ),
            "first_seen": case(
                (
                    skill.excluded.first_seen < ss.c.first_seen,
                    skill.excluded.first_seen,
                ),
                else_=ss.c.first_seen,
            ),
        },
    )
    return {
        "invocation": insert(skill_invocation),
        # These two are read for their rowcount (was the row new?), which
        # SQLAlchemy 2 keeps for an INSERT only when asked: PostgreSQL said -1.
        "invocation_external": _upsert(dialect, skill_invocation, ["external_id"], ()).execution_options(
            preserve_rowcount=True
        ),
        "stage_daily": _upsert(dialect, stage_daily, ["pipeline_name", "stage", "day"], _STAGE_COUNTERS),
        "histogram": _upsert(
            dialect,
            stage_daily_histogram,
            ["pipeline_name", "stage", "day", "bucket"],
            ["count"],
        ),
        "failure": _upsert(
            dialect,
            stage_failure_daily,
            ["pipeline_name", "stage", "day", "error_key"],
            ["count"],
        ),
        "stage_skill": skill,
        "metrics": metrics,
        "metric_count": _upsert(dialect, skill_metric_counts, ["skill_name", "kind", "key"], ["count"]),
        "session_day": _upsert(
            dialect, skill_session_day, ["skill_name", "period_start", "session_id"], ()
        ).execution_options(preserve_rowcount=True),
        "time_series": _upsert(
            dialect,
            skill_time_series,
            ["skill_name", "period_start"],
            [
                "invocation_count",
                "completed_count",
                "total_duration_seconds",
                "unique_sessions",
            ],
        ),
        "request": _upsert(dialect, stage_result_request, ["idempotency_key"], ()),
    }


def _row(record: InvocationRecord, now: Any) -> dict[str, Any]:
    ctx = record.context
    return {
        "skill_name": record.skill_name,
        "invoked_at": record.invoked_at,
        "session_id": record.session_id,
        "workflow_path": record.workflow_path,
        "completed": record.completed,
        "duration_seconds": record.duration_seconds,
        "user_query": record.user_query,
        "alternatives_considered": record.alternatives_considered,
        "selection_rank": record.selection_rank,
        "follow_up_actions": record.follow_up_actions,
        "error_type": record.error_type,
        "workflow_phase": record.workflow_phase.value,
        "workflow_step_id": record.workflow_step_id,
        "source": record.source.value,
        "stage": record.stage,
        "outcome": record.outcome.value,
        "error_message": record.error_message,
        "error_key": record.error_key,
        "exit_code": record.exit_code,
        "duration_bucket": bucket_of(record.duration_seconds),
        "queue_seconds": record.queue_seconds,
        "artifacts": record.artifacts,
        "pipeline_name": ctx.pipeline_name if ctx else None,
        "build_number": ctx.build_number if ctx else None,
        "git_commit": ctx.git_commit if ctx else None,
        "git_branch": ctx.git_branch if ctx else None,
        "environment": ctx.environment if ctx else None,
        "triggered_by": ctx.triggered_by if ctx else None,
        "repository": ctx.repository if ctx else None,
        "run_id": ctx.run_id if ctx else None,
        "run_attempt": ctx.run_attempt if ctx else None,
        "job": ctx.job if ctx else None,
        "external_id": record.external_id,
        "recorded_at": now,
    }


class InvocationStore(StorageBase):
    """Writes of skill invocations."""

    def _stmts(self) -> dict[str, Any]:
        return _statements(self.dialect)

    def _writing(self, doing: str) -> AbstractContextManager[Connection | RawConnection]:
        """The write transaction of the invocation path: on SQLite the
        pre-built statements run on the DBAPI cursor (see ``rawwrite``)."""
        if self.dialect == "sqlite":
            return raw_write(self.engine, doing)
        return self.write(doing)

    def record_invocation(self, record: InvocationRecord) -> int | None:
        """Store one invocation and update every rollup, atomically.

        Returns the new row id, or ``None`` when ``record.external_id`` was
        already stored (nothing is counted twice).

        :raises StorageFullError: when the disk is full; nothing is stored.
        """
        with self._writing("recording an invocation") as conn:
            return self._insert(conn, record)

    def record_invocations(self, records: Iterable[InvocationRecord]) -> list[int | None]:
        """Store several invocations in one transaction (all or none)."""
        with self._writing("recording invocations") as conn:
            return [self._insert(conn, r) for r in records]

    def _insert(self, conn: Connection | RawConnection, record: InvocationRecord) -> int | None:
        stmts = self._stmts()
        now = utcnow()
        row = _row(record, now)
        if record.external_id is not None:
            result = conn.execute(stmts["invocation_external"], row)
            if result.rowcount == 0:
                return None
        else:
            result = conn.execute(stmts["invocation"], row)
        assert result.inserted_primary_key is not None
        new_id = int(result.inserted_primary_key[0])
        self._roll_up(conn, record)
        return new_id

    def _roll_up(self, conn: Connection | RawConnection, record: InvocationRecord) -> None:
        stmts = self._stmts()
        day = record.invoked_at.date()
        outcome = record.outcome
        decisive = record.decisive
        duration = record.duration_seconds if decisive else 0.0
        ctx = record.context
        pipeline = ctx.pipeline_name if ctx else None
        if pipeline and record.stage:
            key = {"pipeline_name": pipeline, "stage": record.stage, "day": day}
            conn.execute(
                stmts["stage_daily"],
                {
                    **key,
                    "runs": int(decisive),
                    "successes": int(outcome is Outcome.SUCCESS),
                    "failures": int(outcome is Outcome.FAILURE),
                    "skipped": int(outcome is Outcome.SKIPPED),
                    "cancelled": int(outcome is Outcome.CANCELLED),
                    "total_duration_seconds": duration,
                    "queued_runs": int(record.queue_seconds is not None),
                    "total_queue_seconds": record.queue_seconds or 0.0,
                },
            )
            if decisive:
                conn.execute(
                    stmts["histogram"],
                    {**key, "bucket": bucket_of(duration), "count": 1},
                )
            if record.error_key is not None:
                conn.execute(stmts["failure"], {**key, "error_key": record.error_key, "count": 1})
            if outcome is not Outcome.SKIPPED:
                conn.execute(
                    stmts["stage_skill"],
                    {
                        "pipeline_name": pipeline,
                        "stage": record.stage,
                        "skill_name": record.skill_name,
                        "runs": 1,
                        "first_seen": record.invoked_at,
                        "last_seen": record.invoked_at,
                    },
                )
        if outcome is Outcome.SKIPPED:
            return  # a skipped step never ran: no skill metrics
        completed = int(record.completed)
        for phase in ("all", record.workflow_phase.value):
            conn.execute(
                stmts["metrics"],
                {
                    "skill_name": record.skill_name,
                    "workflow_phase": phase,
                    "total_invocations": 1,
                    "completed_invocations": completed,
                    "abandoned_invocations": 1 - completed,
                    "total_duration_seconds": record.duration_seconds,
                    "first_invoked_at": record.invoked_at,
                    "last_invoked_at": record.invoked_at,
                },
            )
        for kind, value in (
            ("workflow_path", record.workflow_path),
            ("error_type", record.error_key),
        ):
            if value:
                conn.execute(
                    stmts["metric_count"],
                    {
                        "skill_name": record.skill_name,
                        "kind": kind,
                        "key": value[:300],
                        "count": 1,
                    },
                )
        new_session = conn.execute(
            stmts["session_day"],
            {
                "skill_name": record.skill_name,
                "period_start": day,
                "session_id": record.session_id,
            },
        ).rowcount
        conn.execute(
            stmts["time_series"],
            {
                "skill_name": record.skill_name,
                "period_start": day,
                "invocation_count": 1,
                "completed_count": completed,
                "total_duration_seconds": record.duration_seconds,
                "unique_sessions": int(new_session > 0),
            },
        )
