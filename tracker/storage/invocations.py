"""Recording invocations and keeping their rollups in the same transaction."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Insert, insert
from sqlalchemy.dialects import postgresql, sqlite

from ..histogram import bucket_of
from ..records import InvocationRecord, utcnow
from .base import StorageBase
from .pending_rollups import PendingRollups
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
        "invocations_returning": insert(skill_invocation).returning(
            skill_invocation.c.id, sort_by_parameter_order=True
        ),
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

    def _writing(
        self, doing: str, *, wait: bool = True
    ) -> AbstractContextManager[Connection | RawConnection]:
        """The write transaction of the invocation path: on SQLite the
        pre-built statements run on the DBAPI cursor (see ``rawwrite``).
        ``wait=False``: fail rather than wait for another SQLite writer."""
        if self.dialect == "sqlite":
            return raw_write(self.engine, doing, wait=wait)
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
        pending = PendingRollups()
        with self._writing("recording invocations") as conn:
            ids = [self._insert(conn, r, pending) for r in records]
            pending.flush(conn, self._stmts())
        return ids

    def _insert_many(
        self,
        conn: Connection | RawConnection,
        records: Sequence[InvocationRecord],
        pending: PendingRollups,
    ) -> list[int]:
        """Insert ``records`` (none with an ``external_id``) in one
        statement; their rollups go to ``pending``. Returns the new ids, in
        the order of ``records``."""
        if not records:
            return []
        if any(r.external_id is not None for r in records):
            raise ValueError("_insert_many takes records without an external_id")
        now = utcnow()
        rows = [_row(r, now) for r in records]
        stmts = self._stmts()
        if isinstance(conn, RawConnection):
            ids = conn.insert_returning(stmts["invocation"], rows, skill_invocation.c.id.name)
        else:
            ids = [int(i) for i in conn.execute(stmts["invocations_returning"], rows).scalars()]
        for record in records:
            pending.add(record)
        return ids

    def _insert(
        self,
        conn: Connection | RawConnection,
        record: InvocationRecord,
        pending: PendingRollups | None = None,
    ) -> int | None:
        """Insert ``record``; its rollups are added to ``pending`` (which the
        caller flushes before the transaction commits) or, without it,
        written at once."""
        stmts = self._stmts()
        row = _row(record, utcnow())
        if record.external_id is not None:
            result = conn.execute(stmts["invocation_external"], row)
            if result.rowcount == 0:
                return None
        else:
            result = conn.execute(stmts["invocation"], row)
        assert result.inserted_primary_key is not None
        new_id = int(result.inserted_primary_key[0])
        if pending is None:
            alone = PendingRollups()
            alone.add(record)
            alone.flush(conn, stmts)
        else:
            pending.add(record)
        return new_id
