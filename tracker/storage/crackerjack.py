"""Crackerjack phase figures of a project, over every recorded run.

Crackerjack invocations have ``source = 'crackerjack'``, the Crackerjack
phase in ``stage`` and the project in ``workflow_path``; everything here is
one ``GROUP BY`` over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from .base import StorageBase
from .schema import skill_invocation

inv = skill_invocation
_DECISIVE = ("success", "failure")
TOP_FAILURES = 5


@dataclass(frozen=True)
class ToolFigures:
    skill_name: str
    invocations: int
    completed: int
    mean_duration: float

    @property
    def completion_rate(self) -> float:
        return self.completed / self.invocations if self.invocations else 0.0


@dataclass(frozen=True)
class PhaseFigures:
    """Every decisive run of one Crackerjack phase in one project."""

    phase: str
    invocations: int
    completed: int
    mean_duration: float
    total_duration: float
    runs: int
    first_at: datetime | None
    last_at: datetime | None
    tools: list[ToolFigures] = field(default_factory=list)
    common_failures: list[tuple[str, int]] = field(default_factory=list)

    @property
    def completion_rate(self) -> float:
        return self.completed / self.invocations if self.invocations else 0.0


class CrackerjackQueries(StorageBase):
    """Per-phase figures of a Crackerjack project."""

    def crackerjack_phases(self, project: str, phase: str | None = None) -> dict[str, PhaseFigures]:
        """Figures per phase (or of ``phase``) over all of ``project``'s runs."""
        where: list[Any] = [
            inv.c.source == "crackerjack",
            inv.c.workflow_path == project,
            inv.c.outcome.in_(_DECISIVE),
        ]
        if phase is not None:
            where.append(inv.c.stage == phase)
        ok = func.sum(case((inv.c.outcome == "success", 1), else_=0))
        with self.read("reading Crackerjack figures") as conn:
            phases = conn.execute(
                select(
                    inv.c.stage,
                    func.count().label("n"),
                    ok.label("ok"),
                    func.avg(inv.c.duration_seconds).label("mean"),
                    func.sum(inv.c.duration_seconds).label("total"),
                    func.count(func.distinct(inv.c.session_id)).label("runs"),
                    func.min(inv.c.invoked_at).label("first_at"),
                    func.max(inv.c.invoked_at).label("last_at"),
                )
                .where(*where)
                .group_by(inv.c.stage)
            ).all()
            tools = conn.execute(
                select(
                    inv.c.stage,
                    inv.c.skill_name,
                    func.count().label("n"),
                    ok.label("ok"),
                    func.avg(inv.c.duration_seconds).label("mean"),
                )
                .where(*where)
                .group_by(inv.c.stage, inv.c.skill_name)
                .order_by(inv.c.stage, func.count().desc(), inv.c.skill_name)
            ).all()
            failures = conn.execute(
                select(inv.c.stage, inv.c.error_key, func.count().label("n"))
                .where(*where, inv.c.outcome == "failure", inv.c.error_key.is_not(None))
                .group_by(inv.c.stage, inv.c.error_key)
                .order_by(inv.c.stage, func.count().desc(), inv.c.error_key)
            ).all()
        result = {
            r.stage: PhaseFigures(
                r.stage,
                int(r.n),
                int(r.ok or 0),
                float(r.mean or 0.0),
                float(r.total or 0.0),
                int(r.runs),
                r.first_at,
                r.last_at,
            )
            for r in phases
        }
        for t in tools:
            result[t.stage].tools.append(
                ToolFigures(t.skill_name, int(t.n), int(t.ok or 0), float(t.mean or 0.0))
            )
        for f in failures:
            if len(result[f.stage].common_failures) < TOP_FAILURES:
                result[f.stage].common_failures.append((f.error_key, int(f.n)))
        return result

    def crackerjack_runs(self, project: str) -> int:
        """How many Crackerjack sessions ``project`` has recorded."""
        with self.read("counting Crackerjack runs") as conn:
            return int(
                conn.execute(
                    select(func.count(func.distinct(inv.c.session_id))).where(
                        inv.c.source == "crackerjack", inv.c.workflow_path == project
                    )
                ).scalar_one()
            )
