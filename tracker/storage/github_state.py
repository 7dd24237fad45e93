"""GitHub workflow runs and jobs: state that follows the payloads' own
timestamps, and jobs turned into stage invocations.

A payload replaces the stored state of its run attempt (or job) only when
its status ranks higher (queued < in_progress < completed), or ranks the
same with a timestamp at least as late: a late ``in_progress`` after a
``completed`` never moves anything back, whatever the arrival order.

A completed job becomes invocations (one per step, :mod:`tracker.github.stages`)
once a ``workflow_run`` delivery of its run has told us the run number;
until then it waits in ``github_job`` and the run's delivery releases it.
A hook that sends only ``workflow_job`` events never tells: each completed
job's run attempt is then noted in ``github_run_awaited``, and the receiver
reads it from the API (:meth:`GitHubStateStore.runs_due`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..github.rules import PhaseRules
from ..github.stages import ActionJob, JobWindow, RunIdentity, action_covers, job_context, job_records
from ..github.workflows import COMPLETED, PipelineRun, WorkflowJob, parse_workflow_job
from ..phases import Source
from ..records import utcnow
from .invocations import InvocationStore
from .pr_comments import CommentQueue
from .schema import github_job, github_pr_run, github_run, github_run_awaited, skill_invocation
from .webhooks import DeliveryStatus, WebhookDeliveryStore

EPOCH = datetime(1970, 1, 1)
inv = skill_invocation


@dataclass(frozen=True)
class Ingested:
    """What storing one run or job payload did."""

    applied: bool  # this payload is now the stored state
    completed: bool  # the stored run (or job) is completed
    jobs_materialised: int  # jobs whose steps were stored (or found covered)
    invocations: int  # invocation rows added
    comments_requested: int  # PR comment (or fork look-up) jobs requested


@dataclass(frozen=True)
class AwaitedRun:
    """A run attempt that completed jobs wait for: no ``workflow_run``
    delivery of it was stored (``github_run_awaited``)."""

    repository: str
    run_id: int
    run_attempt: int
    installation_id: int | None
    failures: int  # reads of it that failed in a row
    since: datetime  # when its first completed job was stored


#: How long completed jobs wait for their run's own delivery before the run
#: is read from the API. A hook that sends ``workflow_run`` delivers it
#: within seconds; one that sends only ``workflow_job`` never does.
RUN_AWAIT_SECONDS = 60.0


def _insert_for(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _newer(table: Any, stmt: Any) -> Any:
    """The upsert condition: a higher rank, or the same rank and a time at
    least as late."""
    ex = stmt.excluded
    return or_(
        ex.status_rank > table.c.status_rank,
        and_(ex.status_rank == table.c.status_rank, ex.state_at >= table.c.state_at),
    )


def _run_row(run: PipelineRun, now: datetime) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "run_attempt": run.run_attempt,
        "repository": run.repository,
        "pipeline_name": run.pipeline,
        "workflow_path": run.workflow_path,
        "run_number": run.run_number,
        "build_number": run.build_number,
        "head_sha": run.head_sha,
        "head_branch": run.head_branch,
        "head_repository": run.head_repository,
        "head_owner": run.head_owner,
        "event": run.event,
        "status": run.status,
        "status_rank": run.rank,
        "conclusion": run.conclusion,
        "created_at": run.created_at,
        "run_started_at": run.run_started_at,
        "updated_at": run.updated_at,
        "state_at": run.state_at or EPOCH,
        "duration_seconds": run.duration_seconds,
        "pull_requests": list(run.own_pull_requests()),
        "html_url": run.html_url,
        "installation_id": run.installation_id,
        "recorded_at": now,
    }


def _job_row(job: WorkflowJob, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "run_id": job.run_id,
        "run_attempt": job.run_attempt,
        "repository": job.repository,
        "name": job.name,
        "status": job.status,
        "status_rank": job.rank,
        "conclusion": job.conclusion,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "state_at": job.state_at or EPOCH,
        "queue_seconds": job.queue_seconds,
        "duration_seconds": job.duration_seconds,
        "data": data,
        "installation_id": job.installation_id,
        "recorded_at": now,
    }


#: Columns a newer payload rewrites (never the materialisation ones).
_RUN_STATE = [c.name for c in github_run.c if c.name not in ("run_id", "run_attempt", "recorded_at")]
_JOB_STATE = [
    c.name
    for c in github_job.c
    if c.name
    not in ("job_id", "recorded_at", "materialised_at", "covered_by_action", "pipeline_name", "build_number")
]


class GitHubStateStore(CommentQueue, WebhookDeliveryStore, InvocationStore):
    """``github_run`` and ``github_job``, and their invocations."""

    # -- runs -------------------------------------------------------------

    def ingest_workflow_run(
        self,
        run: PipelineRun,
        *,
        rules: PhaseRules,
        delivery_id: str | None = None,
        comments: bool = False,
    ) -> Ingested:
        """Store a run attempt's state, release the jobs that waited for
        it, and (``comments``) ask for the PR comment of a completed run.
        With ``delivery_id``, the delivery is marked processed in the same
        transaction."""
        with self.write("storing a workflow run") as conn:
            stmt = _insert_for(self.dialect)(github_run).values(**_run_row(run, utcnow()))
            stmt = stmt.on_conflict_do_update(
                index_elements=["run_id", "run_attempt"],
                set_={c: stmt.excluded[c] for c in _RUN_STATE},
                where=_newer(github_run, stmt),
            )
            applied = conn.execute(stmt).rowcount > 0
            stored = conn.execute(
                select(github_run.c.status_rank).where(
                    github_run.c.run_id == run.run_id, github_run.c.run_attempt == run.run_attempt
                )
            ).scalar_one()
            conn.execute(
                delete(github_run_awaited).where(
                    github_run_awaited.c.run_id == run.run_id,
                    github_run_awaited.c.run_attempt == run.run_attempt,
                )
            )
            jobs, rows = self._materialise_waiting(conn, run.run_id, rules)
            requested = 0
            completed = stored == COMPLETED
            if completed:
                if applied:
                    self._link_pull_requests(conn, run)
                if comments and (applied or jobs):
                    requested = self._request_for_run(
                        conn, run.repository, run.run_id, run.run_attempt, delivery_id
                    )
                    if applied and run.from_fork and not run.own_pull_requests():
                        requested += self.request_fork_lookup(conn, run, delivery_id)
            if delivery_id is not None:
                self.finish_delivery(delivery_id, DeliveryStatus.PROCESSED, conn=conn)
            return Ingested(applied, completed, jobs, rows, requested)

    def _link_pull_requests(self, conn: Connection, run: PipelineRun) -> None:
        for number in run.own_pull_requests():
            self.link_run_to_pr(conn, run.repository, number, run.run_id, run.run_attempt)

    def _identity(self, conn: Connection, run_id: int) -> RunIdentity | None:
        """Pipeline, run number, event and branch of a run (any attempt:
        they are the same for every attempt)."""
        row = conn.execute(
            select(
                github_run.c.pipeline_name,
                github_run.c.run_number,
                github_run.c.event,
                github_run.c.head_branch,
            )
            .where(github_run.c.run_id == run_id)
            .order_by(github_run.c.run_attempt.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return RunIdentity(row.pipeline_name, int(row.run_number), row.event, row.head_branch)

    # -- jobs -------------------------------------------------------------

    def ingest_workflow_job(
        self,
        job: WorkflowJob,
        data: dict[str, Any],
        *,
        rules: PhaseRules,
        delivery_id: str | None = None,
        comments: bool = False,
    ) -> Ingested:
        """Store a job's state (``data`` is its ``workflow_job`` object);
        a completed job whose run is known becomes invocations at once."""
        with self.write("storing a workflow job") as conn:
            stmt = _insert_for(self.dialect)(github_job).values(**_job_row(job, data, utcnow()))
            stmt = stmt.on_conflict_do_update(
                index_elements=["job_id"],
                set_={c: stmt.excluded[c] for c in _JOB_STATE},
                where=_newer(github_job, stmt),
            )
            applied = conn.execute(stmt).rowcount > 0
            row = conn.execute(select(github_job).where(github_job.c.job_id == job.job_id)).one()
            jobs = rows = requested = 0
            if row.status_rank == COMPLETED:
                self._await_run(conn, job)
            if row.status_rank == COMPLETED and row.materialised_at is None:
                added = self._materialise(conn, row, rules)
                jobs, rows = (0, 0) if added is None else (1, added)
                run_done = conn.execute(
                    select(github_run.c.status_rank).where(
                        github_run.c.run_id == job.run_id, github_run.c.run_attempt == job.run_attempt
                    )
                ).scalar()
                # A job that finished after its run was reported: refresh the comment.
                if jobs and comments and run_done == COMPLETED:
                    requested = self._request_for_run(
                        conn, job.repository, job.run_id, job.run_attempt, delivery_id
                    )
            if delivery_id is not None:
                self.finish_delivery(delivery_id, DeliveryStatus.PROCESSED, conn=conn)
            return Ingested(applied, row.status_rank == COMPLETED, jobs, rows, requested)

    def _await_run(self, conn: Connection, job: WorkflowJob) -> None:
        """Note the job's run attempt as awaited, unless it is stored."""
        known = conn.execute(
            select(github_run.c.run_id).where(
                github_run.c.run_id == job.run_id, github_run.c.run_attempt == job.run_attempt
            )
        ).first()
        if known is not None:
            return
        now = utcnow()
        stmt = _insert_for(self.dialect)(github_run_awaited).values(
            run_id=job.run_id,
            run_attempt=job.run_attempt,
            repository=job.repository,
            installation_id=job.installation_id,
            since=now,
            next_lookup=now + timedelta(seconds=RUN_AWAIT_SECONDS),
            failures=0,
        )
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["run_id", "run_attempt"]))

    # -- awaited runs -----------------------------------------------------

    def runs_due(self, now: datetime, *, limit: int = 20, noted_as: str | None = None) -> list[AwaitedRun]:
        """Awaited run attempts whose next look-up has come (``now``: naive
        UTC), the longest due first; with ``noted_as``, also those whose
        last error is that text, whenever their next look-up."""
        a = github_run_awaited
        due = a.c.next_lookup <= now
        if noted_as is not None:
            due = or_(due, a.c.last_error == noted_as)
        query = select(a).where(due).order_by(a.c.next_lookup, a.c.run_id).limit(limit)
        with self.read("finding the runs that jobs wait for") as conn:
            rows = conn.execute(query).all()
        return [
            AwaitedRun(
                r.repository, int(r.run_id), int(r.run_attempt), r.installation_id, int(r.failures), r.since
            )
            for r in rows
        ]

    def forget_run(self, run: AwaitedRun) -> None:
        """Stop awaiting a run attempt (its jobs stay stored, waiting)."""
        a = github_run_awaited
        with self.write("forgetting an awaited run") as conn:
            conn.execute(delete(a).where(a.c.run_id == run.run_id, a.c.run_attempt == run.run_attempt))

    def reschedule_run(
        self, run: AwaitedRun, next_lookup: datetime, *, failures: int = 0, error: str | None = None
    ) -> None:
        """When to read an awaited run attempt next, and why (the error of
        the last read, if it failed)."""
        a = github_run_awaited
        with self.write("rescheduling a run look-up") as conn:
            conn.execute(
                update(a)
                .where(a.c.run_id == run.run_id, a.c.run_attempt == run.run_attempt)
                .values(next_lookup=next_lookup, failures=failures, last_error=error[:500] if error else None)
            )

    def awaited_runs(self) -> list[dict[str, Any]]:
        """Every awaited run attempt (for checks and the CLI)."""
        a = github_run_awaited
        with self.read("reading awaited runs") as conn:
            return [dict(r._mapping) for r in conn.execute(select(a).order_by(a.c.run_id, a.c.run_attempt))]

    def _materialise_waiting(self, conn: Connection, run_id: int, rules: PhaseRules) -> tuple[int, int]:
        waiting = conn.execute(
            select(github_job).where(
                github_job.c.run_id == run_id,
                github_job.c.status_rank == COMPLETED,
                github_job.c.materialised_at.is_(None),
            )
        ).all()
        jobs = rows = 0
        for row in waiting:
            added = self._materialise(conn, row, rules)
            if added is not None:
                jobs += 1
                rows += added
        return jobs, rows

    def _materialise(self, conn: Connection, row: Any, rules: PhaseRules) -> int | None:
        """Store a completed job's steps; ``None`` while its run is unknown.
        Returns how many invocation rows were added (0 when covered)."""
        identity = self._identity(conn, row.run_id)
        if identity is None:
            return None
        payload = {"workflow_job": row.data, "repository": {"full_name": row.repository}}
        job = parse_workflow_job(payload)
        ctx = job_context(job, identity)
        action = self._action_jobs(conn, ctx.pipeline_name, ctx.build_number)
        # The other jobs of the attempt matter only for Action results that
        # do not name this job (most builds have no Action results at all).
        siblings = self._siblings(conn, job) if action else []
        covered = action_covers(job, action, siblings)
        added = 0
        if not covered:
            for record in job_records(job, identity, rules):
                added += int(self._insert(conn, record) is not None)
        conn.execute(
            update(github_job)
            .where(github_job.c.job_id == job.job_id, github_job.c.materialised_at.is_(None))
            .values(
                materialised_at=utcnow(),
                covered_by_action=covered,
                pipeline_name=ctx.pipeline_name,
                build_number=ctx.build_number,
            )
        )
        return added

    def _action_jobs(self, conn: Connection, pipeline: str, build: str) -> list[ActionJob]:
        rows = conn.execute(
            select(inv.c.job, func.min(inv.c.invoked_at), func.max(inv.c.invoked_at))
            .where(
                inv.c.pipeline_name == pipeline,
                inv.c.build_number == build,
                inv.c.source == Source.CI.value,
            )
            .group_by(inv.c.job)
        ).all()
        return [ActionJob(job, first, last) for job, first, last in rows]

    def _siblings(self, conn: Connection, job: WorkflowJob) -> list[JobWindow]:
        rows = conn.execute(
            select(github_job.c.name, github_job.c.started_at, github_job.c.completed_at).where(
                github_job.c.run_id == job.run_id,
                github_job.c.run_attempt == job.run_attempt,
                github_job.c.job_id != job.job_id,
            )
        ).all()
        return [JobWindow(r.name, r.started_at, r.completed_at) for r in rows]

    # -- reads ------------------------------------------------------------

    def github_run(self, run_id: int, run_attempt: int = 1) -> dict[str, Any] | None:
        """The stored state of a run attempt."""
        with self.read("reading a workflow run") as conn:
            row = conn.execute(
                select(github_run).where(
                    github_run.c.run_id == run_id, github_run.c.run_attempt == run_attempt
                )
            ).first()
        return dict(row._mapping) if row is not None else None

    def github_jobs(self, **equal: Any) -> list[dict[str, Any]]:
        """Stored jobs matching every ``column=value`` given, by job id."""
        query = select(github_job).order_by(github_job.c.job_id)
        for name, value in equal.items():
            query = query.where(github_job.c[name] == value)
        with self.read("reading workflow jobs") as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def count_github_rows(self) -> dict[str, int]:
        """Row counts of the webhook tables (for checks and benchmarks)."""
        with self.read("counting webhook rows") as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (github_run, github_job, github_pr_run)
            }
