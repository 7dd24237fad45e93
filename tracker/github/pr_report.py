"""The PR report's data: for each workflow of a pull request, its latest
run's stages against the pipeline's recent history.

History is measured back from the run itself (its last update), so a
report describes a build the same way whenever it is rendered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..analytics import Bottleneck, Recommendation
from ..cicd import CICDTracker
from ..phases import Outcome, WorkflowPhase
from ..records import utcnow
from ..storage import SkillsStorage
from ..storage.github_reports import BuildJob, BuildStage, NewFailure
from .rules import PhaseRules
from .workflows import outcome_of

#: Days of history a build is compared with.
HISTORY_DAYS = 30
#: At most this many bottlenecks and recommendations per section.
TOP_ITEMS = 5


@dataclass(frozen=True)
class StageLine:
    """One stage of the build, with its history."""

    stage: str
    phase: WorkflowPhase
    outcome: Outcome
    steps: int
    failed_steps: int
    skipped_steps: int
    duration_seconds: float
    queue_seconds: float | None
    history_builds: int
    history_mean_seconds: float | None
    history_runs: int
    history_success_rate: float | None

    @property
    def duration_change(self) -> float | None:
        """Relative to the mean of past builds: 0.25 is 25% slower."""
        if not self.history_mean_seconds:
            return None
        return self.duration_seconds / self.history_mean_seconds - 1


@dataclass(frozen=True)
class WorkflowSection:
    """One workflow (pipeline) of the PR: its latest run attempt."""

    pipeline: str
    run_id: int
    run_attempt: int
    run_number: int
    build: str
    head_sha: str
    head_branch: str | None
    event: str
    status: str
    conclusion: str | None
    duration_seconds: float | None
    html_url: str | None
    stages: tuple[StageLine, ...]
    action_jobs: tuple[BuildJob, ...]
    new_failures: tuple[NewFailure, ...]
    bottlenecks: tuple[Bottleneck, ...]
    recommendations: tuple[Recommendation, ...]
    history_days: int
    updated_at: datetime | None


@dataclass(frozen=True)
class PRReport:
    repository: str
    pr_number: int
    sections: tuple[WorkflowSection, ...]
    generated_at: datetime

    @property
    def latest_sha(self) -> str | None:
        """The commit of the most recently updated section."""
        dated = [s for s in self.sections if s.updated_at is not None]
        if not dated:
            return self.sections[0].head_sha if self.sections else None
        return max(dated, key=lambda s: s.updated_at or datetime.min).head_sha


def _stage_outcome(stage: BuildStage, job: BuildJob | None) -> Outcome:
    if job is not None and job.conclusion is not None:
        return outcome_of(job.conclusion)
    if stage.failures:
        return Outcome.FAILURE
    if stage.successes:
        return Outcome.SUCCESS
    return Outcome.CANCELLED if stage.cancelled else Outcome.SKIPPED


def build_section(
    storage: SkillsStorage, run: dict[str, Any], rules: PhaseRules, *, days: int = HISTORY_DAYS
) -> WorkflowSection:
    """The section of one stored run attempt (a ``github_run`` row)."""
    pipeline, build = run["pipeline_name"], run["build_number"]
    end = run["updated_at"] or run["run_started_at"] or run["created_at"] or utcnow()
    start = end - timedelta(days=days)
    tracker = CICDTracker(storage=storage, settings=storage.settings, clock=lambda: end)
    analytics = tracker.get_pipeline_analytics(pipeline, days)
    history = storage.stage_build_history(pipeline, start, end, exclude_build=build)
    jobs = storage.build_jobs(pipeline, build)
    by_name = {j.name: j for j in jobs}
    lines = []
    for stage in storage.build_stages(pipeline, build):
        job = by_name.get(stage.stage)
        metrics = analytics.stage(stage.stage)
        past = history.get(stage.stage)
        lines.append(
            StageLine(
                stage=stage.stage,
                phase=rules.job_phase(stage.stage),
                outcome=_stage_outcome(stage, job),
                steps=stage.invocations,
                failed_steps=stage.failures,
                skipped_steps=stage.skipped,
                duration_seconds=stage.duration_seconds,
                queue_seconds=job.queue_seconds if job is not None else stage.queue_seconds,
                history_builds=past.builds if past else 0,
                history_mean_seconds=past.mean_build_seconds if past else None,
                history_runs=metrics.total_runs if metrics else 0,
                history_success_rate=metrics.success_rate if metrics and metrics.total_runs else None,
            )
        )
    return WorkflowSection(
        pipeline=pipeline,
        run_id=int(run["run_id"]),
        run_attempt=int(run["run_attempt"]),
        run_number=int(run["run_number"]),
        build=build,
        head_sha=run["head_sha"],
        head_branch=run["head_branch"],
        event=run["event"],
        status=run["status"],
        conclusion=run["conclusion"],
        duration_seconds=run["duration_seconds"],
        html_url=run["html_url"],
        stages=tuple(lines),
        action_jobs=tuple(j for j in jobs if j.covered_by_action),
        new_failures=tuple(storage.new_failures(pipeline, build, start)),
        bottlenecks=analytics.bottlenecks[:TOP_ITEMS],
        recommendations=analytics.recommendations[:TOP_ITEMS],
        history_days=days,
        updated_at=run["updated_at"],
    )


def build_pr_report(
    storage: SkillsStorage,
    repository: str,
    pr_number: int,
    rules: PhaseRules,
    *,
    days: int = HISTORY_DAYS,
    clock: Callable[[], datetime] = utcnow,
) -> PRReport:
    """The report of a PR: one section per pipeline, from its latest run."""
    runs = storage.pull_request_runs(repository, pr_number)
    return PRReport(
        repository=repository,
        pr_number=pr_number,
        sections=tuple(build_section(storage, run, rules, days=days) for run in runs),
        generated_at=clock(),
    )
