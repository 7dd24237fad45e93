"""Per-stage figures, as the analytics and reports use them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .phases import WorkflowPhase


@dataclass(frozen=True)
class PipelineStageMetrics:
    """What a pipeline's stage did over a window.

    ``total_runs`` counts runs that succeeded or failed; skipped and
    cancelled runs are counted apart and weigh on neither the success rate
    nor the durations.

    >>> m = PipelineStageMetrics("test", total_runs=4, successful_runs=3,
    ...     failed_runs=1, total_duration=100.0)
    >>> m.success_rate, m.mean_duration
    (0.75, 25.0)
    """

    stage_name: str
    total_runs: int = 0
    successful_runs: int = 0
    failed_runs: int = 0
    total_duration: float = 0.0
    skills_used: tuple[str, ...] = ()
    common_failures: tuple[tuple[str, int], ...] = ()
    skipped_runs: int = 0
    cancelled_runs: int = 0
    p50_duration: float | None = None
    p95_duration: float | None = None
    percentile_method: str = "exact"  # "exact" | "histogram"
    queued_runs: int = 0
    total_queue_seconds: float = 0.0
    workflow_phase: WorkflowPhase = WorkflowPhase.EXECUTION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        """Successful runs over runs (0.0 when there were none)."""
        return self.successful_runs / self.total_runs if self.total_runs else 0.0

    @property
    def mean_duration(self) -> float:
        """Mean seconds per run (0.0 when there were none)."""
        return self.total_duration / self.total_runs if self.total_runs else 0.0

    @property
    def mean_queue_seconds(self) -> float | None:
        """Mean wait before a run started, where the source knows it."""
        return self.total_queue_seconds / self.queued_runs if self.queued_runs else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["workflow_phase"] = self.workflow_phase.value
        data["skills_used"] = list(self.skills_used)
        data["common_failures"] = [{"error": k, "count": n} for k, n in self.common_failures]
        data["success_rate"] = self.success_rate
        data["mean_duration"] = self.mean_duration
        data["mean_queue_seconds"] = self.mean_queue_seconds
        data.pop("extra")
        data.update(self.extra)
        return data
