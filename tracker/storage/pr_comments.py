"""The PR comment's work queue: one ``comment`` job per pull request, and
``resolve`` jobs that find the PR of a fork's run.

Writes to one PR are serialised across processes by a lease on its job
row, and coalesced by two generations: each request bumps ``requested``; a
worker renders what is stored when it claims (generation ``g``), writes,
then sets ``done = g``, renewing its lease before each GitHub call (a
worker that finds the job taken over stops). Requests made meanwhile leave ``requested > done``
and the job pending, so several workflows finishing at once cost one write
(or two), never two comments.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select, update

from ..github.workflows import PipelineRun
from ..records import utcnow
from .leases import claim_rows
from .schema import github_comment_job, github_pr_run, github_run
from .webhooks import DeliveryStatus, WebhookDeliveryStore

cj = github_comment_job
#: How long a claimed job stays its worker's without a renewal. Longer than
#: one GitHub call with its retries (RetryPolicy: 4 attempts of up to 15 s,
#: 60 s of waits); the worker renews before each call.
COMMENT_LEASE_SECONDS = 300.0


class CommentJobKind(enum.StrEnum):
    COMMENT = "comment"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class CommentJob:
    """A claimed job; ``generation`` is what finishing it settles."""

    job_key: str
    kind: CommentJobKind
    repository: str
    pr_number: int | None
    run_id: int | None
    run_attempt: int | None
    installation_id: int | None
    generation: int
    attempts: int
    comment_id: int | None
    delivery_id: str | None


def comment_key(repository: str, pr_number: int) -> str:
    return f"comment:{repository.lower()}#{pr_number}"


def resolve_key(repository: str, run_id: int, run_attempt: int) -> str:
    return f"resolve:{repository.lower()}:{run_id}:{run_attempt}"


class CommentQueue(WebhookDeliveryStore):
    """``github_comment_job`` and ``github_pr_run``."""

    def _request(self, conn: Connection, values: dict[str, Any]) -> int:
        now = utcnow()
        row = {
            "requested": 1,
            "done": 0,
            "status": "pending",
            "attempts": 0,
            "updated_at": now,
            **values,
        }
        make = self.excluded(cj)
        self.upsert(
            conn,
            cj,
            row,
            ["job_key"],
            {
                "requested": cj.c.requested + 1,
                "status": "pending",
                "updated_at": now,
                "delivery_id": func.coalesce(make.delivery_id, cj.c.delivery_id),
                "installation_id": func.coalesce(make.installation_id, cj.c.installation_id),
            },
        )
        return 1

    def link_run_to_pr(
        self, conn: Connection, repository: str, pr_number: int, run_id: int, run_attempt: int
    ) -> None:
        self.upsert(
            conn,
            github_pr_run,
            {
                "repository": repository,
                "pr_number": pr_number,
                "run_id": run_id,
                "run_attempt": run_attempt,
                "linked_at": utcnow(),
            },
            ["repository", "pr_number", "run_id", "run_attempt"],
        )

    def _request_for_run(
        self, conn: Connection, repository: str, run_id: int, run_attempt: int, delivery_id: str | None
    ) -> int:
        """Ask for the comment of every PR the run attempt belongs to."""
        installation = conn.execute(
            select(github_run.c.installation_id).where(
                github_run.c.run_id == run_id, github_run.c.run_attempt == run_attempt
            )
        ).scalar()
        numbers = conn.execute(
            select(github_pr_run.c.pr_number).where(
                github_pr_run.c.repository == repository,
                github_pr_run.c.run_id == run_id,
                github_pr_run.c.run_attempt == run_attempt,
            )
        ).scalars()
        return sum(
            self._request(
                conn,
                {
                    "job_key": comment_key(repository, n),
                    "kind": CommentJobKind.COMMENT.value,
                    "repository": repository,
                    "pr_number": n,
                    "installation_id": installation,
                    "delivery_id": delivery_id,
                },
            )
            for n in numbers
        )

    def request_fork_lookup(self, conn: Connection, run: PipelineRun, delivery_id: str | None) -> int:
        """Ask for the PR of a fork's run to be looked up through the API."""
        return self._request(
            conn,
            {
                "job_key": resolve_key(run.repository, run.run_id, run.run_attempt),
                "kind": CommentJobKind.RESOLVE.value,
                "repository": run.repository,
                "run_id": run.run_id,
                "run_attempt": run.run_attempt,
                "installation_id": run.installation_id,
                "delivery_id": delivery_id,
            },
        )

    def link_pull_request(
        self, repository: str, pr_number: int, run_id: int, run_attempt: int, *, delivery_id: str | None
    ) -> int:
        """Link a run attempt to a PR found through the API, and ask for
        the PR's comment."""
        with self.write("linking a run to its pull request") as conn:
            self.link_run_to_pr(conn, repository, pr_number, run_id, run_attempt)
            return self._request_for_run(conn, repository, run_id, run_attempt, delivery_id)

    # -- workers ----------------------------------------------------------

    def claim_comment_jobs(
        self, owner: str, *, limit: int = 10, lease_seconds: float = COMMENT_LEASE_SECONDS
    ) -> list[CommentJob]:
        """Take pending jobs nobody holds, oldest request first."""
        now = utcnow()
        free = and_(
            cj.c.status == "pending",
            cj.c.requested > cj.c.done,
            or_(cj.c.lease_until.is_(None), cj.c.lease_until < now),
        )
        with self.write("claiming PR comment jobs") as conn:
            rows = claim_rows(
                conn,
                cj,
                cj.c.job_key,
                free=free,
                oldest_first=cj.c.updated_at,
                limit=limit,
                owner=owner,
                now=now,
                lease_seconds=lease_seconds,
            )
        return [
            CommentJob(
                job_key=r.job_key,
                kind=CommentJobKind(r.kind),
                repository=r.repository,
                pr_number=r.pr_number,
                run_id=r.run_id,
                run_attempt=r.run_attempt,
                installation_id=r.installation_id,
                generation=int(r.requested),
                attempts=int(r.attempts),
                comment_id=r.comment_id,
                delivery_id=r.delivery_id,
            )
            for r in rows
        ]

    def renew_comment_job(
        self, job: CommentJob, owner: str, *, lease_seconds: float = COMMENT_LEASE_SECONDS
    ) -> bool:
        """Extend ``owner``'s lease on ``job`` to ``lease_seconds`` from now,
        as long as nobody else has taken it over: ``False`` then, and the
        job is no longer ``owner``'s to write.

        A worker renews before each GitHub call, so a job slowed by
        GitHub's retries is not taken over (and its comment written twice)
        while it still runs."""
        now = utcnow()
        with self.write("renewing a PR comment job's lease") as conn:
            return (
                conn.execute(
                    update(cj)
                    .where(cj.c.job_key == job.job_key, cj.c.lease_owner == owner)
                    .values(lease_until=now + timedelta(seconds=lease_seconds))
                ).rowcount
                > 0
            )

    def finish_comment_job(self, job: CommentJob, owner: str, *, comment_id: int | None = None) -> bool:
        """Settle ``job.generation``; pending again if asked for meanwhile.
        ``False`` when the lease was lost (another worker took over)."""
        with self.write("finishing a PR comment job") as conn:
            return (
                conn.execute(
                    update(cj)
                    .where(cj.c.job_key == job.job_key, cj.c.lease_owner == owner)
                    .values(
                        done=case((cj.c.done < job.generation, job.generation), else_=cj.c.done),
                        status=case((cj.c.requested > job.generation, "pending"), else_="done"),
                        attempts=0,
                        last_error=None,
                        lease_owner=None,
                        lease_until=None,
                        comment_id=func.coalesce(comment_id, cj.c.comment_id),
                        updated_at=utcnow(),
                    )
                ).rowcount
                > 0
            )

    def fail_comment_job(self, job: CommentJob, owner: str, error: str) -> None:
        """Record a failure that retries did not overcome, on the job and on
        the delivery that asked for it (``replay-deliveries`` retries it)."""
        with self.write("recording a PR comment failure") as conn:
            conn.execute(
                update(cj)
                .where(cj.c.job_key == job.job_key, cj.c.lease_owner == owner)
                .values(
                    status=case((cj.c.requested > job.generation, "pending"), else_="failed"),
                    last_error=error[:4000],
                    lease_owner=None,
                    lease_until=None,
                    updated_at=utcnow(),
                )
            )
            if job.delivery_id is not None:
                self.finish_delivery(job.delivery_id, DeliveryStatus.FAILED, error=error, conn=conn)

    def comment_jobs(self, **equal: Any) -> list[dict[str, Any]]:
        """Stored comment jobs matching every ``column=value`` given."""
        query = select(cj).order_by(cj.c.job_key)
        for name, value in equal.items():
            query = query.where(cj.c[name] == value)
        with self.read("reading PR comment jobs") as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def pull_request_runs(self, repository: str, pr_number: int) -> list[dict[str, Any]]:
        """The latest run attempt of each pipeline linked to a PR, newest
        first (the sections of its comment)."""
        r = github_run
        ranked = (
            select(
                r,
                func.row_number()
                .over(
                    partition_by=r.c.pipeline_name,
                    order_by=(
                        func.coalesce(r.c.run_started_at, r.c.created_at).desc(),
                        r.c.run_attempt.desc(),
                    ),
                )
                .label("position"),
            )
            .join(
                github_pr_run,
                and_(github_pr_run.c.run_id == r.c.run_id, github_pr_run.c.run_attempt == r.c.run_attempt),
            )
            .where(github_pr_run.c.repository == repository, github_pr_run.c.pr_number == pr_number)
            .subquery()
        )
        query = select(ranked).where(ranked.c.position == 1).order_by(ranked.c.pipeline_name)
        with self.read("reading a pull request's runs") as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def run_pull_requests(self, run_id: int, run_attempt: int) -> list[tuple[str, int]]:
        """(repository, PR number) of each PR a run attempt belongs to."""
        with self.read("reading a run's pull requests") as conn:
            return [
                (row.repository, int(row.pr_number))
                for row in conn.execute(
                    select(github_pr_run.c.repository, github_pr_run.c.pr_number).where(
                        github_pr_run.c.run_id == run_id, github_pr_run.c.run_attempt == run_attempt
                    )
                )
            ]
