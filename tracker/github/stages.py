"""A completed ``workflow_job`` as a stage: one skill invocation per step.

Pure. A job payload has no run number and no event, so its records need
the :class:`RunIdentity` of its run (from a ``workflow_run`` delivery of
any attempt: the run number is the same for every attempt).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..context import CIPipelineContext, build_number_for
from ..phases import Outcome, Source
from ..records import InvocationRecord
from .fields import clean_name
from .rules import PhaseRules
from .workflows import JobStep, PipelineRun, WorkflowJob

#: The environment webhook records carry; the Action's default too, so both
#: sources describe a build with the same context.
ENVIRONMENT = "ci"


@dataclass(frozen=True)
class RunIdentity:
    """What a job's records take from its run."""

    pipeline: str
    run_number: int
    event: str
    head_branch: str | None

    @classmethod
    def of(cls, run: PipelineRun) -> RunIdentity:
        return cls(run.pipeline, run.run_number, run.event, run.head_branch)


def job_context(job: WorkflowJob, run: RunIdentity) -> CIPipelineContext:
    """The pipeline context of a job: build ``<run_number>[.<attempt>]``."""
    return CIPipelineContext(
        pipeline_name=run.pipeline,
        build_number=build_number_for(str(run.run_number), job.run_attempt),
        git_commit=job.head_sha,
        git_branch=clean_name(job.head_branch or run.head_branch or "HEAD", 255).replace(" ", "_"),
        environment=ENVIRONMENT,
        triggered_by=run.event,
        repository=job.repository,
        run_id=str(job.run_id),
        run_attempt=job.run_attempt,
        job=clean_name(job.name, 255),
    )


def _failure_message(name: str, conclusion: str | None, outcome: Outcome) -> str | None:
    if outcome is not Outcome.FAILURE:
        return None
    return f"{name} ({conclusion or 'failure'})"


def _step_record(
    job: WorkflowJob,
    step: JobStep,
    ctx: CIPipelineContext,
    rules: PhaseRules,
    *,
    queue_seconds: float | None,
    fallback_time: datetime,
) -> InvocationRecord:
    outcome = step.outcome
    return InvocationRecord(
        skill_name=step.name,
        session_id=ctx.session_id,
        workflow_phase=rules.step_phase(step.name, rules.job_phase(job.name)),
        source=Source.WEBHOOK,
        outcome=outcome,
        duration_seconds=step.duration_seconds,
        invoked_at=step.started_at or fallback_time,
        stage=job.name,
        context=ctx,
        error_message=_failure_message(step.name, step.conclusion, outcome),
        workflow_path=ctx.pipeline_name,
        workflow_step_id=ctx.job,
        queue_seconds=queue_seconds,
        artifacts={"job_id": job.job_id, "step_number": step.number, "conclusion": step.conclusion},
        external_id=f"gh:job:{job.job_id}:step:{step.number}",
    )


def job_records(job: WorkflowJob, run: RunIdentity, rules: PhaseRules) -> list[InvocationRecord]:
    """One record per step of a completed job (a job without steps — one
    skipped by its ``if:`` — is one record of its own).

    The job's queue time rides on its first step only, so a stage's mean
    queue time is per job, and it is never added to a duration.

    :raises ValueError: for a job that has not completed.
    """
    if not job.completed:
        raise ValueError(f"job {job.job_id} has not completed (status {job.status!r})")
    ctx = job_context(job, run)
    # GitHub always sends created_at; the epoch only guards a hand-made payload.
    when = job.started_at or job.created_at or job.completed_at or datetime(1970, 1, 1)
    queue = job.queue_seconds
    if not job.steps:
        outcome = job.outcome
        return [
            InvocationRecord(
                skill_name=job.name,
                session_id=ctx.session_id,
                workflow_phase=rules.job_phase(job.name),
                source=Source.WEBHOOK,
                outcome=outcome,
                duration_seconds=job.duration_seconds or 0.0,
                invoked_at=when,
                stage=job.name,
                context=ctx,
                error_message=_failure_message(job.name, job.conclusion, outcome),
                workflow_path=ctx.pipeline_name,
                workflow_step_id=ctx.job,
                queue_seconds=queue,
                artifacts={"job_id": job.job_id, "conclusion": job.conclusion},
                external_id=f"gh:job:{job.job_id}",
            )
        ]
    first = min(s.number for s in job.steps)
    return [
        _step_record(
            job,
            step,
            ctx,
            rules,
            queue_seconds=queue if step.number == first else None,
            fallback_time=when,
        )
        for step in job.steps
    ]


# -- the Action and the webhooks describing the same job -----------------------


@dataclass(frozen=True)
class ActionJob:
    """Results the Action recorded for one build and one ``GITHUB_JOB``
    (``job`` is ``None`` when the Action sent no job)."""

    job: str | None
    first_started: datetime
    last_started: datetime


@dataclass(frozen=True)
class JobWindow:
    """A job of the same run attempt and when it ran."""

    name: str
    started_at: datetime | None
    completed_at: datetime | None

    def contains(self, start: datetime, end: datetime) -> bool:
        if self.started_at is None or self.completed_at is None:
            return False
        return self.started_at <= start and end <= self.completed_at


def names_job(key: str, job_name: str) -> bool:
    """Whether ``GITHUB_JOB`` (the job's key) names a job shown as
    ``job_name``: equal, or the matrix form ``key (a, b)``.

    >>> names_job("test", "test (3.12, ubuntu-latest)"), names_job("test", "testing")
    (True, False)
    """
    k, n = key.strip().lower(), job_name.strip().lower()
    return n == k or n.startswith(k + " (")


def action_covers(job: WorkflowJob, action: list[ActionJob], siblings: list[JobWindow]) -> bool:
    """Whether the Action already recorded this job's results (then the
    webhook adds no step rows for it: the Action's rows take precedence).

    A job is covered by Action results of its build that (1) carry no job
    (they cannot be told apart: the whole build is covered), (2) carry the
    job's key (``names_job``), or (3) carry a key that names no job of the
    run attempt (a job with a custom ``name:``) and started inside this
    job's run window, this job being the only one of the attempt whose
    window holds them.
    """
    window = JobWindow(job.name, job.started_at, job.completed_at)
    for found in action:
        if found.job is None or names_job(found.job, job.name):
            return True
        if any(names_job(found.job, s.name) for s in siblings):
            continue
        holders = [w for w in [*siblings, window] if w.contains(found.first_started, found.last_started)]
        if holders == [window]:
            return True
    return False
