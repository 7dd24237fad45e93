"""Pipeline analytics: bottlenecks, trends and recommendations.

Pure functions over :class:`~tracker.metrics.PipelineStageMetrics`; the
figures themselves come from :mod:`tracker.storage`, aggregated in SQL.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .github.rules import PhaseRules, stage_phase
from .metrics import PipelineStageMetrics
from .phases import CI_STAGES, CRACKERJACK_PHASES, PhaseMap, WorkflowPhase, stage_key
from .settings import Settings

#: Version of the JSON export; bump on any incompatible change.
SCHEMA_VERSION = 1


class Priority(enum.StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Thresholds:
    """When a stage is a bottleneck or earns a recommendation."""

    bottleneck_success_rate: float = 0.80
    high_priority_success_rate: float = 0.70
    slow_stage_seconds: float = 300.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            settings.bottleneck_success_rate,
            settings.high_priority_success_rate,
            settings.slow_stage_seconds,
        )


@dataclass(frozen=True)
class Recommendation:
    priority: Priority
    stage: str
    kind: str  # "failures" | "slow" | "missing_skills"
    message: str
    skills: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "priority": self.priority.value,
            "stage": self.stage,
            "kind": self.kind,
            "message": self.message,
            "skills": list(self.skills),
        }


@dataclass(frozen=True)
class Bottleneck:
    stage: str
    success_rate: float
    failed_runs: int
    total_runs: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "success_rate": self.success_rate,
            "failed_runs": self.failed_runs,
            "total_runs": self.total_runs,
        }


@dataclass(frozen=True)
class Trend:
    """This window against the one before it, over whole days."""

    direction: str  # "better" | "worse" | "stable" | "new"
    success_rate_change: float | None = None  # percentage points
    mean_duration_change: float | None = None  # relative, 0.1 = 10% slower

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "success_rate_change": self.success_rate_change,
            "mean_duration_change": self.mean_duration_change,
        }


@dataclass(frozen=True)
class PipelineAnalytics:
    pipeline_name: str
    days: int
    window_start: datetime
    window_end: datetime
    stages: tuple[PipelineStageMetrics, ...]
    bottlenecks: tuple[Bottleneck, ...]
    recommendations: tuple[Recommendation, ...]
    trends: dict[str, Trend] = field(default_factory=dict)

    @property
    def total_runs(self) -> int:
        return sum(s.total_runs for s in self.stages)

    @property
    def success_rate(self) -> float:
        runs = self.total_runs
        return sum(s.successful_runs for s in self.stages) / runs if runs else 0.0

    def stage(self, name: str) -> PipelineStageMetrics | None:
        return next((s for s in self.stages if s.stage_name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with ``schema_version``."""
        return {
            "schema_version": SCHEMA_VERSION,
            "pipeline_name": self.pipeline_name,
            "days": self.days,
            "window": {
                "start": self.window_start.isoformat() + "Z",
                "end": self.window_end.isoformat() + "Z",
            },
            "total_runs": self.total_runs,
            "success_rate": self.success_rate,
            "stages": [
                s.to_dict() | {"trend": self.trends[s.stage_name].to_dict()}
                if s.stage_name in self.trends
                else s.to_dict()
                for s in self.stages
            ],
            "bottlenecks": [b.to_dict() for b in self.bottlenecks],
            "recommendations": [r.to_dict() for r in self.recommendations],
        }


def phase_of_stage(
    stage: str, ci_map: PhaseMap = CI_STAGES, rules: PhaseRules | None = None
) -> WorkflowPhase:
    """The phase of a stage name (see :func:`~tracker.github.rules.stage_phase`)."""
    return stage_phase(stage, ci_map, rules)


def usual_skills(
    stage: str, ci_map: PhaseMap = CI_STAGES, rules: PhaseRules | None = None
) -> tuple[str, ...]:
    """Skills usually seen in a stage: its own row of the vocabulary when
    the name is known, else those of every stage of its phase."""
    key = stage_key(stage)
    for table in (ci_map, CRACKERJACK_PHASES):
        if key in table.usual_skills:
            return table.usual_skills[key]
    return ci_map.skills_for_phase(phase_of_stage(stage, ci_map, rules))


def _duration_text(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{seconds:.1f}s"


def find_bottlenecks(stages: list[PipelineStageMetrics], thresholds: Thresholds) -> list[Bottleneck]:
    """Stages with runs whose success rate is below the bottleneck threshold,
    worst first."""
    found = [
        Bottleneck(s.stage_name, s.success_rate, s.failed_runs, s.total_runs)
        for s in stages
        if s.total_runs and s.success_rate < thresholds.bottleneck_success_rate
    ]
    return sorted(found, key=lambda b: (b.success_rate, b.stage))


def recommend(
    stages: list[PipelineStageMetrics],
    thresholds: Thresholds,
    ci_map: PhaseMap = CI_STAGES,
    rules: PhaseRules | None = None,
) -> list[Recommendation]:
    """High: success rate below ``high_priority_success_rate``. Medium: mean
    duration above ``slow_stage_seconds``. Low: a stage that has used none of
    the skills usually seen for it (naming them)."""
    result: list[Recommendation] = []
    for s in stages:
        if s.total_runs and s.success_rate < thresholds.high_priority_success_rate:
            top = (
                f" (most common: {s.common_failures[0][0]} ×{s.common_failures[0][1]})"
                if s.common_failures
                else ""
            )
            result.append(
                Recommendation(
                    Priority.HIGH,
                    s.stage_name,
                    "failures",
                    f"Stage {s.stage_name} succeeds in {s.success_rate:.0%} of {s.total_runs} runs: "
                    f"investigate common failures{top}.",
                )
            )
        if s.total_runs and s.mean_duration > thresholds.slow_stage_seconds:
            result.append(
                Recommendation(
                    Priority.MEDIUM,
                    s.stage_name,
                    "slow",
                    f"Stage {s.stage_name} takes {_duration_text(s.mean_duration)} on average: "
                    "consider optimisation or parallelisation.",
                )
            )
        usual = usual_skills(s.stage_name, ci_map, rules)
        if usual and not set(usual) & set(s.skills_used):
            result.append(
                Recommendation(
                    Priority.LOW,
                    s.stage_name,
                    "missing_skills",
                    f"Stage {s.stage_name} uses none of the skills usually seen in it: "
                    f"consider {', '.join(usual)}.",
                    usual,
                )
            )
    order = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2}
    return sorted(result, key=lambda r: (order[r.priority], r.stage))


def trend(current: tuple[int, int, float] | None, previous: tuple[int, int, float] | None) -> Trend:
    """Compare (runs, successes, total duration) of two periods: "worse"
    when the success rate fell by 5 points or more or runs got 10% slower,
    "better" for the reverse, else "stable"."""
    if not current or not current[0]:
        return Trend("stable")
    if not previous or not previous[0]:
        return Trend("new")
    rate_now, rate_before = current[1] / current[0], previous[1] / previous[0]
    mean_now, mean_before = current[2] / current[0], previous[2] / previous[0]
    rate_change = round((rate_now - rate_before) * 100, 1)
    duration_change = round(mean_now / mean_before - 1, 3) if mean_before > 0 else None
    slower = duration_change is not None and duration_change >= 0.10
    faster = duration_change is not None and duration_change <= -0.10
    if rate_change <= -5 or (slower and rate_change <= 0):
        direction = "worse"
    elif rate_change >= 5 or (faster and rate_change >= 0):
        direction = "better"
    else:
        direction = "stable"
    return Trend(direction, rate_change, duration_change)


def with_phases(
    stages: list[PipelineStageMetrics], ci_map: PhaseMap, rules: PhaseRules | None = None
) -> list[PipelineStageMetrics]:
    return [replace(s, workflow_phase=phase_of_stage(s.stage_name, ci_map, rules)) for s in stages]
