"""``workflow_run`` and ``workflow_job`` payloads as domain objects.

Pure: a payload dict in, frozen dataclasses out, with a precise
:class:`PayloadError` (the field's path) for anything missing or mistyped.
The same functions read GitHub's REST objects (backfill): a run or job of
``GET /repos/{o}/{r}/actions/runs`` has the shape of the webhook's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..context import build_number_for, url_safe_name
from ..phases import Outcome
from ..records import MAX_DURATION_SECONDS
from . import fields as F
from .errors import PayloadError

#: Status order: a payload never moves a run or job to a lower rank.
STATUS_RANK = {"requested": 0, "pending": 0, "waiting": 0, "queued": 0, "in_progress": 1, "completed": 2}
COMPLETED = 2

_OUTCOMES = {
    "success": Outcome.SUCCESS,
    "neutral": Outcome.SUCCESS,
    "failure": Outcome.FAILURE,
    "timed_out": Outcome.FAILURE,
    "startup_failure": Outcome.FAILURE,
    "cancelled": Outcome.CANCELLED,
    "stale": Outcome.CANCELLED,
    "skipped": Outcome.SKIPPED,
    "action_required": Outcome.SKIPPED,
}


def outcome_of(conclusion: str | None) -> Outcome:
    """A GitHub conclusion as an :class:`Outcome`. Skipped and cancelled are
    not failures; a step that never finished (no conclusion) was cancelled.

    >>> [outcome_of(c).value for c in ("success", "timed_out", "skipped", None)]
    ['success', 'failure', 'skipped', 'cancelled']
    """
    if conclusion is None:
        return Outcome.CANCELLED
    return _OUTCOMES.get(conclusion, Outcome.FAILURE)


# -- workflow_run -------------------------------------------------------------


class _Status:
    """``rank`` and ``completed`` of a run or job from its ``status``."""

    status: str

    @property
    def rank(self) -> int:
        return STATUS_RANK.get(self.status, 0)

    @property
    def completed(self) -> bool:
        return self.rank == COMPLETED


@dataclass(frozen=True)
class PullRequestRef:
    """An entry of ``workflow_run.pull_requests``."""

    number: int
    base_repo_id: int | None
    head_ref: str | None
    head_sha: str | None


@dataclass(frozen=True)
class PipelineRun(_Status):
    """One attempt of a workflow run: the pipeline's build."""

    run_id: int
    run_attempt: int
    run_number: int
    repository: str
    repository_id: int | None
    pipeline: str
    workflow_path: str | None
    head_sha: str
    head_branch: str | None
    event: str
    status: str
    conclusion: str | None
    created_at: datetime | None
    run_started_at: datetime | None
    updated_at: datetime | None
    pull_requests: tuple[PullRequestRef, ...]
    head_repository: str | None
    head_owner: str | None
    html_url: str | None
    installation_id: int | None

    @property
    def build_number(self) -> str:
        """The build, as the Action names it: ``163`` or ``163.2`` (attempt 2)."""
        return build_number_for(str(self.run_number), self.run_attempt)

    @property
    def duration_seconds(self) -> float | None:
        """``run_started_at`` → ``updated_at`` of a completed run."""
        if not self.completed:
            return None
        return F.seconds_between(self.run_started_at or self.created_at, self.updated_at)

    @property
    def state_at(self) -> datetime | None:
        """The payload's own time: later states replace earlier ones."""
        return self.updated_at or self.run_started_at or self.created_at

    @property
    def from_fork(self) -> bool:
        """Built from another repository's branch (a fork pull request)."""
        return self.head_repository is not None and self.head_repository.lower() != self.repository.lower()

    def own_pull_requests(self) -> tuple[int, ...]:
        """Numbers of the listed PRs whose base is this repository (GitHub
        also lists PRs of other repositories whose branch matches)."""
        return tuple(
            pr.number
            for pr in self.pull_requests
            if self.repository_id is None or pr.base_repo_id in (None, self.repository_id)
        )


def _pull_requests(run: Mapping[str, Any]) -> tuple[PullRequestRef, ...]:
    raw = run.get("pull_requests") or []
    if not isinstance(raw, list):
        raise PayloadError("workflow_run.pull_requests must be a list")
    refs = []
    for i, pr in enumerate(raw):
        where = f"workflow_run.pull_requests[{i}]"
        if not isinstance(pr, dict):
            raise PayloadError(f"{where} must be an object")
        head = F.sub(pr, "head")
        repo_id = F.sub(F.sub(pr, "base"), "repo").get("id")
        refs.append(
            PullRequestRef(
                number=F.integer(pr, "number", where, maximum=F.MAX_COUNT),
                base_repo_id=F.optional_id(repo_id),
                head_ref=head.get("ref") if isinstance(head.get("ref"), str) else None,
                head_sha=head.get("sha") if isinstance(head.get("sha"), str) else None,
            )
        )
    return tuple(refs)


def pipeline_name_of(run: Mapping[str, Any], workflow: Mapping[str, Any] | None) -> str:
    """``workflow_run.name``, else ``workflow.name``, else the workflow file."""
    for candidate in (run.get("name"), (workflow or {}).get("name"), run.get("path")):
        if isinstance(candidate, str) and candidate.strip():
            # 200 keeps the session id "<pipeline>-<build>" within its 300.
            return url_safe_name(F.clean_name(candidate, 200))
    raise PayloadError("workflow_run has no name, workflow.name or path to name its pipeline")


def parse_workflow_run(payload: Mapping[str, Any]) -> PipelineRun:
    """A ``workflow_run`` delivery (any action) as a :class:`PipelineRun`.

    :raises PayloadError: naming the first missing or mistyped field.
    """
    run = F.required_object(payload, "workflow_run", "payload")
    w = "workflow_run"
    workflow = F.sub(payload, "workflow")
    head_repo = F.sub(run, "head_repository")
    repo_id = F.sub(payload, "repository").get("id")
    status = F.label(run, "status", w, 20)
    assert status is not None
    event = F.text(run, "event", w)
    assert event is not None
    path = F.text(run, "path", w, optional=True)
    return PipelineRun(
        run_id=F.integer(run, "id", w),
        run_attempt=max(1, F.integer(run, "run_attempt", w, default=1, maximum=F.MAX_COUNT)),
        run_number=F.integer(run, "run_number", w, maximum=F.MAX_COUNT),
        repository=F.repository_of(payload),
        repository_id=F.optional_id(repo_id),
        pipeline=pipeline_name_of(run, workflow),
        workflow_path=F.clean_name(path, 300) if path else None,
        head_sha=F.sha(run, "head_sha", w),
        head_branch=F.label(run, "head_branch", w, 255, optional=True),
        event=F.clean_name(event, 100) or "unknown",
        status=status,
        conclusion=F.label(run, "conclusion", w, 30, optional=True),
        created_at=F.timestamp(run, "created_at", w),
        run_started_at=F.timestamp(run, "run_started_at", w),
        updated_at=F.timestamp(run, "updated_at", w),
        pull_requests=_pull_requests(run),
        head_repository=F.label(head_repo, "full_name", "workflow_run.head_repository", 255, optional=True),
        head_owner=F.label(
            F.sub(head_repo, "owner"), "login", "workflow_run.head_repository.owner", 255, optional=True
        ),
        html_url=F.safe_url(run.get("html_url")),
        installation_id=F.installation_of(payload),
    )


# -- workflow_job -------------------------------------------------------------


@dataclass(frozen=True)
class JobStep:
    """One step of a job."""

    number: int
    name: str
    status: str
    conclusion: str | None
    started_at: datetime | None
    completed_at: datetime | None

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.conclusion)

    @property
    def duration_seconds(self) -> float:
        return F.seconds_between(self.started_at, self.completed_at) or 0.0


@dataclass(frozen=True)
class WorkflowJob(_Status):
    """One job of a run attempt: a stage of the build."""

    job_id: int
    run_id: int
    run_attempt: int
    repository: str
    name: str
    workflow_name: str | None
    head_sha: str
    head_branch: str | None
    status: str
    conclusion: str | None
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    steps: tuple[JobStep, ...]
    runner_name: str | None
    labels: tuple[str, ...]
    html_url: str | None
    installation_id: int | None

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.conclusion)

    @property
    def queue_seconds(self) -> float | None:
        """Waiting for a runner: ``created_at`` → ``started_at``, once started."""
        return F.seconds_between(self.created_at, self.started_at) if self.rank >= 1 else None

    @property
    def duration_seconds(self) -> float | None:
        """Running: ``started_at`` → ``completed_at``, once completed."""
        return F.seconds_between(self.started_at, self.completed_at) if self.completed else None

    @property
    def state_at(self) -> datetime | None:
        """The latest time the payload knows of (job and steps)."""
        times = [self.created_at, self.started_at, self.completed_at]
        for s in self.steps:
            times += [s.started_at, s.completed_at]
        known = [t for t in times if t is not None]
        return max(known) if known else None


def _steps(job: Mapping[str, Any]) -> tuple[JobStep, ...]:
    raw = job.get("steps") or []
    if not isinstance(raw, list):
        raise PayloadError("workflow_job.steps must be a list")
    steps = []
    for i, step in enumerate(raw):
        where = f"workflow_job.steps[{i}]"
        if not isinstance(step, dict):
            raise PayloadError(f"{where} must be an object")
        name = F.text(step, "name", where)
        status = F.label(step, "status", where, 20)
        assert name is not None and status is not None
        steps.append(
            JobStep(
                number=F.integer(step, "number", where, maximum=F.MAX_COUNT),
                name=F.clean_name(name, 200) or f"step {i + 1}",
                status=status,
                conclusion=F.label(step, "conclusion", where, 30, optional=True),
                started_at=F.timestamp(step, "started_at", where),
                completed_at=F.timestamp(step, "completed_at", where),
            )
        )
    return tuple(steps)


def parse_workflow_job(payload: Mapping[str, Any]) -> WorkflowJob:
    """A ``workflow_job`` delivery (any action) as a :class:`WorkflowJob`.

    :raises PayloadError: naming the first missing or mistyped field.
    """
    job = F.required_object(payload, "workflow_job", "payload")
    w = "workflow_job"
    name = F.text(job, "name", w)
    status = F.label(job, "status", w, 20)
    assert name is not None and status is not None
    job_id = F.integer(job, "id", w)
    raw_labels = job.get("labels")
    labels: list[Any] = raw_labels if isinstance(raw_labels, list) else []
    workflow_name = F.text(job, "workflow_name", w, optional=True)
    runner = F.text(job, "runner_name", w, optional=True)
    parsed = WorkflowJob(
        job_id=job_id,
        run_id=F.integer(job, "run_id", w),
        run_attempt=max(1, F.integer(job, "run_attempt", w, default=1, maximum=F.MAX_COUNT)),
        repository=F.repository_of(payload),
        name=F.clean_name(name, 200) or f"job {job_id}",
        workflow_name=F.clean_name(workflow_name, 255) if workflow_name else None,
        head_sha=F.sha(job, "head_sha", w),
        head_branch=F.label(job, "head_branch", w, 255, optional=True),
        status=status,
        conclusion=F.label(job, "conclusion", w, 30, optional=True),
        created_at=F.timestamp(job, "created_at", w),
        started_at=F.timestamp(job, "started_at", w),
        completed_at=F.timestamp(job, "completed_at", w),
        steps=_steps(job),
        runner_name=F.clean_name(runner, 200) if runner else None,
        labels=tuple(F.clean_name(x, 100) for x in labels if isinstance(x, str)),
        html_url=F.safe_url(job.get("html_url")),
        installation_id=F.installation_of(payload),
    )
    _check_spans(parsed)
    return parsed


def _check_spans(job: WorkflowJob) -> None:
    """Refuse a job whose timestamps span more than a year (the longest run
    a record holds): on receipt, not in the worker after a 202."""
    spans = [
        ("workflow_job.created_at → started_at", job.created_at, job.started_at),
        ("workflow_job.started_at → completed_at", job.started_at, job.completed_at),
    ] + [
        (f"workflow_job.steps[{i}].started_at → completed_at", step.started_at, step.completed_at)
        for i, step in enumerate(job.steps)
    ]
    for where, start, end in spans:
        seconds = F.seconds_between(start, end)
        if seconds is not None and seconds > MAX_DURATION_SECONDS:
            raise PayloadError(f"{where} spans {seconds / 86_400:.0f} days: more than a year")
