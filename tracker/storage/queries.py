"""Plain reads of invocations and skill metrics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from .base import StorageBase
from .schema import (
    skill_invocation,
    skill_metric_counts,
    skill_metrics,
    skill_time_series,
)

inv = skill_invocation


class InvocationQueries(StorageBase):
    """Look-ups by session, skill or build."""

    def count_invocations(self, **equal: Any) -> int:
        """How many invocations match every ``column=value`` given.

        >>> storage.count_invocations(pipeline_name="CI", stage="test")  # doctest: +SKIP
        3
        """
        query = select(func.count()).select_from(inv)
        for name, value in equal.items():
            query = query.where(inv.c[name] == value)
        with self.read("counting invocations") as conn:
            return int(conn.execute(query).scalar_one())

    def invocations(self, *, limit: int = 1000, **equal: Any) -> list[dict[str, Any]]:
        """Invocations matching every ``column=value`` given, oldest first."""
        query = select(inv).order_by(inv.c.invoked_at, inv.c.id).limit(limit)
        for name, value in equal.items():
            query = query.where(inv.c[name] == value)
        with self.read("reading invocations") as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def skill_metrics(self, skill_name: str, workflow_phase: str = "all") -> dict[str, Any] | None:
        """The running aggregates of a skill, with per-path counts and
        common errors, or ``None`` for a skill never recorded."""
        sm, counts = skill_metrics, skill_metric_counts
        with self.read("reading skill metrics") as conn:
            row = conn.execute(
                select(sm).where(sm.c.skill_name == skill_name, sm.c.workflow_phase == workflow_phase)
            ).first()
            if row is None:
                return None
            extra = conn.execute(
                select(counts.c.kind, counts.c.key, counts.c.count)
                .where(counts.c.skill_name == skill_name)
                .order_by(counts.c.count.desc(), counts.c.key)
            ).all()
        data = dict(row._mapping)
        total = data["total_invocations"]
        data["completion_rate"] = data["completed_invocations"] / total if total else 0.0
        data["mean_duration_seconds"] = data["total_duration_seconds"] / total if total else 0.0
        data["workflow_paths"] = {r.key: r.count for r in extra if r.kind == "workflow_path"}
        data["common_errors"] = [(r.key, r.count) for r in extra if r.kind == "error_type"]
        return data

    def skill_time_series(self, skill_name: str) -> list[dict[str, Any]]:
        """Per-day figures of a skill, oldest first."""
        ts = skill_time_series
        with self.read("reading a skill's time series") as conn:
            rows = conn.execute(
                select(ts).where(ts.c.skill_name == skill_name).order_by(ts.c.period_start)
            ).all()
        result = []
        for r in rows:
            data = dict(r._mapping)
            n = data["invocation_count"]
            data["completion_rate"] = data["completed_count"] / n if n else 0.0
            data["mean_duration_seconds"] = data["total_duration_seconds"] / n if n else 0.0
            result.append(data)
        return result
