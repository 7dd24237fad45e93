"""Rollup increments of several invocations, merged before they are written.

Every invocation adds to about ten rollup rows. Written one invocation at a
time, a batch of stage results that share a pipeline, stage, skill and day
(the usual case: the jobs of one build) updated the same rows over and
over: each upsert costs a statement and its parameters. :class:`PendingRollups`
sums the increments by key in Python and :meth:`PendingRollups.flush` runs
each statement once per distinct key, in the same transaction as the
invocations.

The rules are those listed in ``rollups.py`` (and recomputed by
``RollupMaintenance.rebuild_rollups``): a skipped run counts only in
``stage_daily``; only decisive runs count in ``runs``, durations and the
histogram; the stage tables need a pipeline and a stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import Connection

from ..histogram import bucket_of
from ..phases import Outcome
from ..records import InvocationRecord
from .rawwrite import RawConnection

#: Longest key of ``skill_metric_counts``.
COUNT_KEY_LENGTH = 300

_StageKey = tuple[str, str, date]


class PendingRollups:
    """Rollup increments not yet written, summed by each table's key: one
    object per write transaction, flushed once before it commits."""

    __slots__ = (
        "counts",
        "failures",
        "histogram",
        "metrics",
        "series",
        "sessions",
        "stage_daily",
        "stage_skill",
    )

    def __init__(self) -> None:
        # [runs, successes, failures, skipped, cancelled, duration, queued, queue seconds]
        self.stage_daily: dict[_StageKey, list[Any]] = {}
        self.histogram: dict[tuple[str, str, date, int], int] = {}
        self.failures: dict[tuple[str, str, date, str], int] = {}
        # [runs, first seen, last seen]
        self.stage_skill: dict[tuple[str, str, str], list[Any]] = {}
        # [invocations, completed, duration, first, last]
        self.metrics: dict[tuple[str, str], list[Any]] = {}
        self.counts: dict[tuple[str, str, str], int] = {}
        # The sessions seen per (skill, day), in order of arrival.
        self.sessions: dict[tuple[str, date, str], None] = {}
        # [invocations, completed, duration]
        self.series: dict[tuple[str, date], list[Any]] = {}

    def add(self, record: InvocationRecord) -> None:
        """Count ``record`` (an invocation just inserted)."""
        at = record.invoked_at
        day = at.date()
        outcome = record.outcome
        skipped = outcome is Outcome.SKIPPED
        decisive = outcome is Outcome.SUCCESS or outcome is Outcome.FAILURE
        duration = record.duration_seconds
        error = record.error_key
        skill = record.skill_name
        ctx = record.context
        pipeline = ctx.pipeline_name if ctx else None
        stage = record.stage
        if pipeline and stage:
            key = (pipeline, stage, day)
            queue = record.queue_seconds
            row = self.stage_daily.get(key)
            if row is None:
                row = self.stage_daily[key] = [0, 0, 0, 0, 0, 0.0, 0, 0.0]
            if decisive:
                row[0] += 1
                row[5] += duration
                bucket = (pipeline, stage, day, bucket_of(duration))
                self.histogram[bucket] = self.histogram.get(bucket, 0) + 1
            if outcome is Outcome.SUCCESS:
                row[1] += 1
            elif outcome is Outcome.FAILURE:
                row[2] += 1
            elif skipped:
                row[3] += 1
            else:
                row[4] += 1
            if queue is not None:
                row[6] += 1
                row[7] += queue
            if error is not None:
                failure = (pipeline, stage, day, error)
                self.failures[failure] = self.failures.get(failure, 0) + 1
            if not skipped:
                found = self.stage_skill.get((pipeline, stage, skill))
                if found is None:
                    self.stage_skill[(pipeline, stage, skill)] = [1, at, at]
                else:
                    found[0] += 1
                    if at < found[1]:
                        found[1] = at
                    if at > found[2]:
                        found[2] = at
        if skipped:
            return  # a skipped step never ran: no skill metrics
        completed = int(outcome is Outcome.SUCCESS)
        for phase in ("all", record.workflow_phase.value):
            metric = self.metrics.get((skill, phase))
            if metric is None:
                self.metrics[(skill, phase)] = [1, completed, duration, at, at]
            else:
                metric[0] += 1
                metric[1] += completed
                metric[2] += duration
                if at < metric[3]:
                    metric[3] = at
                if at > metric[4]:
                    metric[4] = at
        for kind, value in (("workflow_path", record.workflow_path), ("error_type", error)):
            if value:
                count = (skill, kind, value[:COUNT_KEY_LENGTH])
                self.counts[count] = self.counts.get(count, 0) + 1
        self.sessions[(skill, day, record.session_id)] = None
        series = self.series.get((skill, day))
        if series is None:
            self.series[(skill, day)] = [1, completed, duration]
        else:
            series[0] += 1
            series[1] += completed
            series[2] += duration

    def flush(self, conn: Connection | RawConnection, stmts: Mapping[str, Any]) -> None:
        """Write every pending increment (one statement per distinct key,
        keys in sorted order so that concurrent PostgreSQL transactions
        lock rows in the same order), then forget them."""
        _many(
            conn,
            stmts["stage_daily"],
            [
                {
                    "pipeline_name": pipeline,
                    "stage": stage,
                    "day": day,
                    "runs": r[0],
                    "successes": r[1],
                    "failures": r[2],
                    "skipped": r[3],
                    "cancelled": r[4],
                    "total_duration_seconds": r[5],
                    "queued_runs": r[6],
                    "total_queue_seconds": r[7],
                }
                for (pipeline, stage, day), r in _sorted(self.stage_daily)
            ],
        )
        _many(
            conn,
            stmts["histogram"],
            [
                {"pipeline_name": p, "stage": s, "day": d, "bucket": b, "count": n}
                for (p, s, d, b), n in _sorted(self.histogram)
            ],
        )
        _many(
            conn,
            stmts["failure"],
            [
                {"pipeline_name": p, "stage": s, "day": d, "error_key": e, "count": n}
                for (p, s, d, e), n in _sorted(self.failures)
            ],
        )
        _many(
            conn,
            stmts["stage_skill"],
            [
                {
                    "pipeline_name": p,
                    "stage": s,
                    "skill_name": k,
                    "runs": r[0],
                    "first_seen": r[1],
                    "last_seen": r[2],
                }
                for (p, s, k), r in _sorted(self.stage_skill)
            ],
        )
        _many(
            conn,
            stmts["metrics"],
            [
                {
                    "skill_name": skill,
                    "workflow_phase": phase,
                    "total_invocations": m[0],
                    "completed_invocations": m[1],
                    "abandoned_invocations": m[0] - m[1],
                    "total_duration_seconds": m[2],
                    "first_invoked_at": m[3],
                    "last_invoked_at": m[4],
                }
                for (skill, phase), m in _sorted(self.metrics)
            ],
        )
        _many(
            conn,
            stmts["metric_count"],
            [{"skill_name": s, "kind": k, "key": v, "count": n} for (s, k, v), n in _sorted(self.counts)],
        )
        # Whether a session is new that day is known only from the insert
        # itself: one statement per distinct (skill, day, session).
        new_sessions: dict[tuple[str, date], int] = {}
        for skill, day, session in sorted(self.sessions):
            inserted = conn.execute(
                stmts["session_day"], {"skill_name": skill, "period_start": day, "session_id": session}
            ).rowcount
            if inserted > 0:
                new_sessions[(skill, day)] = new_sessions.get((skill, day), 0) + 1
        _many(
            conn,
            stmts["time_series"],
            [
                {
                    "skill_name": skill,
                    "period_start": day,
                    "invocation_count": t[0],
                    "completed_count": t[1],
                    "total_duration_seconds": t[2],
                    "unique_sessions": new_sessions.get((skill, day), 0),
                }
                for (skill, day), t in _sorted(self.series)
            ],
        )


def _sorted(table: dict[Any, Any]) -> list[tuple[Any, Any]]:
    if len(table) < 2:
        return list(table.items())
    return sorted(table.items(), key=_first)


def _first(item: tuple[Any, Any]) -> Any:
    return item[0]


def _many(conn: Connection | RawConnection, statement: Any, rows: list[dict[str, Any]]) -> None:
    if len(rows) == 1:
        conn.execute(statement, rows[0])
    elif rows:
        conn.execute(statement, rows)
