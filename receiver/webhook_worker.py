"""Work that follows a webhook's answer: applying stored deliveries,
reading the runs that no delivery told of (:mod:`receiver.run_lookup`),
then writing PR comments.

One :class:`WebhookWorker` per process. Under gunicorn a daemon thread per
worker process applies deliveries when one is stored (``notify``) and
every ``poll_seconds`` otherwise (to pick up what another process left: a
crash, an expired lease). Tests and ``session-buddy-ci replay-deliveries``
call :meth:`WebhookWorker.process_pending` directly. Several processes can
run it at once: deliveries and comment jobs are claimed with leases, and
applying a delivery is idempotent.

Only one process applies deliveries at a time (a lease in the database):
SQLite has one writer, and processes applying at once only wait on each
other. The thread gives way to the answers. Applying a job costs milliseconds of
SQLite's single write lock and of CPU; an answer needs a fraction of one,
but waits behind the lock (SQLite's busy handler sleeps 1, 2, 5, 10… ms
between tries). So while deliveries keep arriving (the newest pending one
is younger than ``quiet_seconds``), the thread waits, unless the oldest
has waited ``max_defer_seconds``; then it works in small batches,
checking again between them. A burst is answered first and applied right
after it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from tracker.errors import StorageError
from tracker.github.ingest import Ingestor, ProcessStats
from tracker.github.pr_report import build_pr_report
from tracker.github.render import render_pr_comment
from tracker.github.rules import PhaseRules
from tracker.records import utcnow
from tracker.storage import SkillsStorage
from tracker.storage.pr_comments import CommentJob, CommentJobKind

from .github_retry import GitHubCallFailed
from .pr_comments import PRCommenter
from .run_lookup import NO_CREDENTIALS, RunLookup

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """A comment job's lease could not be renewed: another worker took the
    job over (its lease ran out), or the database did not answer. This
    worker stops without writing; the job stays pending for whoever holds
    it next."""


#: The lease of the process applying deliveries, and how long it lasts
#: unrenewed (a worker that dies is replaced after this).
LEASE = "webhook-deliveries"
LEASE_SECONDS = 30.0
#: The lease of the process reading awaited runs from the API.
RUN_LOOKUP_LEASE = "run-lookups"
RUN_LOOKUP_LEASE_SECONDS = 300.0


@dataclass
class WorkerStats:
    """What one round did: deliveries, then comments."""

    deliveries: ProcessStats = field(default_factory=ProcessStats)
    comments_written: int = 0
    comments_failed: int = 0
    prs_found: int = 0
    errors: list[str] = field(default_factory=list)


class WebhookWorker:
    """Applies deliveries and writes PR comments.

    :param commenter: ``None`` (no GitHub credentials) turns PR comments off.
    """

    def __init__(
        self,
        storage: SkillsStorage,
        rules: PhaseRules,
        *,
        commenter: PRCommenter | None = None,
        poll_seconds: float = 5.0,
        quiet_seconds: float = 0.3,
        max_defer_seconds: float = 10.0,
        batch: int = 5,
    ) -> None:
        self.storage = storage
        self.rules = rules
        self.commenter = commenter if commenter is not None and commenter.enabled else None
        self.ingestor = Ingestor(storage, rules, comments=self.commenter is not None)
        self.poll_seconds = poll_seconds
        self.quiet_seconds = quiet_seconds
        self.max_defer_seconds = max_defer_seconds
        self.batch = batch
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.runs = RunLookup(storage, self.commenter)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    # -- synchronous ------------------------------------------------------

    def process_pending(self, *, limit: int = 10_000) -> WorkerStats:
        """Apply every pending delivery, then every pending comment job."""
        stats = WorkerStats(deliveries=self.ingestor.process_pending(self.owner, limit=limit))
        stats.errors += stats.deliveries.errors
        if self.commenter is not None:
            self.process_comment_jobs(stats)
        return stats

    def look_up_runs(self, *, now: datetime | None = None) -> int:
        """Read the run attempts that completed jobs wait for, and store
        the completed ones as deliveries (see :mod:`receiver.run_lookup`);
        returns how many were stored."""
        return self.runs.read(self.runs.due(now=now), now=now)

    def process_comment_jobs(self, stats: WorkerStats, *, limit: int = 1000) -> None:
        """Claim and run comment jobs until none is left (a fork look-up
        queues the PR's comment job, which this loop then picks up)."""
        handled = 0
        while handled < limit:
            jobs = self.storage.claim_comment_jobs(self.owner, limit=10)
            if not jobs:
                return
            for job in jobs:
                handled += 1
                self._run(job, stats)

    def _keep_lease(self, job: CommentJob) -> None:
        """Renew the lease on ``job`` (before each GitHub call).

        :raises LeaseLost: when another worker holds it now."""
        try:
            renewed = self.storage.renew_comment_job(job, self.owner)
        except StorageError as exc:
            # Not the job's failure: leave it pending; the lease runs out and
            # a later round takes it again.
            raise LeaseLost(f"its lease could not be renewed ({exc})") from exc
        if not renewed:
            raise LeaseLost("another worker took it over")

    def _run(self, job: CommentJob, stats: WorkerStats) -> None:
        assert self.commenter is not None
        try:
            # Jobs are claimed ten at a time: this one may have waited.
            self._keep_lease(job)
            if job.kind is CommentJobKind.RESOLVE:
                stats.prs_found += self._resolve(job)
                self.storage.finish_comment_job(job, self.owner)
                return
            assert job.pr_number is not None
            report = build_pr_report(self.storage, job.repository, job.pr_number, self.rules)
            if not report.sections:
                self.storage.finish_comment_job(job, self.owner)
                return
            written = self.commenter.upsert_comment(
                job.repository,
                job.pr_number,
                render_pr_comment(report),
                installation_id=job.installation_id,
                comment_id=job.comment_id,
                keep_lease=lambda: self._keep_lease(job),
            )
            self.storage.finish_comment_job(job, self.owner, comment_id=written.comment_id)
            stats.comments_written += 1
            log.info(
                "%s the report comment %s on %s#%s",
                "created" if written.created else "updated",
                written.comment_id,
                job.repository,
                job.pr_number,
            )
        except LeaseLost as exc:
            log.warning("comment job %s stopped before writing: %s", job.job_key, exc)
        except Exception as exc:  # recorded on the job and its delivery, for replay
            if not isinstance(exc, GitHubCallFailed):
                log.exception("comment job %s failed", job.job_key)
            message = f"PR comment ({job.job_key}) failed: {exc}"
            log.warning("%s (delivery %s)", message, job.delivery_id)
            self.storage.fail_comment_job(job, self.owner, message)
            stats.comments_failed += 1
            stats.errors.append(message)

    def _resolve(self, job: CommentJob) -> int:
        """Find the open PR of a fork's run; link it (which queues its comment)."""
        assert self.commenter is not None and job.run_id is not None and job.run_attempt is not None
        run = self.storage.github_run(job.run_id, job.run_attempt)
        if run is None or not run["head_owner"] or not run["head_branch"]:
            log.info("fork run %s has no head owner or branch: no pull request to find", job.run_id)
            return 0
        number = self.commenter.find_fork_pull_request(
            job.repository,
            head_owner=run["head_owner"],
            head_branch=run["head_branch"],
            head_sha=run["head_sha"],
            installation_id=job.installation_id,
            keep_lease=lambda: self._keep_lease(job),
        )
        if number is None:
            log.info(
                "no open pull request of %s for %s:%s", job.repository, run["head_owner"], run["head_branch"]
            )
            return 0
        self.storage.link_pull_request(
            job.repository, number, job.run_id, job.run_attempt, delivery_id=job.delivery_id
        )
        return 1

    # -- background -------------------------------------------------------

    def notify(self) -> None:
        """A delivery was stored: process soon (starts the thread if needed)."""
        self.ensure_started()
        self._wake.set()

    def ensure_started(self) -> None:
        """Start the thread in this process (again after a fork: threads do
        not survive ``fork``, e.g. gunicorn ``--preload``)."""
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        self._pid = os.getpid()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="webhook-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _busy(self) -> bool:
        """Deliveries are still arriving and none has waited too long."""
        oldest, newest = self.storage.pending_window()
        if oldest is None or newest is None:
            return False
        now = utcnow()
        arriving = (now - newest).total_seconds() < self.quiet_seconds
        return arriving and (now - oldest).total_seconds() < self.max_defer_seconds

    def _round(self) -> None:
        """Read the runs jobs wait for, then apply pending deliveries in
        small batches, giving way to a burst; one process at a time (the
        others' threads find the lease taken). Then write PR comments."""
        try:
            self._look_up_runs()
        except Exception:  # the deliveries and the comments go on all the same
            log.exception("reading awaited runs failed")
        while not self._stop.is_set():
            if self._busy():
                self._stop.wait(self.quiet_seconds)
                continue
            if not self.storage.take_lease(LEASE, self.owner, LEASE_SECONDS):
                break
            done = self.ingestor.process_pending(self.owner, limit=self.batch, batch=self.batch)
            if done.total == 0:
                # Idle: let go, so the next delivery's own process can start at once.
                self.storage.drop_lease(LEASE, self.owner)
                break
        if self.commenter is not None:
            self.process_comment_jobs(WorkerStats())

    def _look_up_runs(self) -> None:
        # One process at a time (its own lease: GitHub's retry waits may
        # outlast the deliveries' one), taken only when a run is due.
        noted = NO_CREDENTIALS if self.commenter is not None else None
        if not self.storage.runs_due(utcnow(), limit=1, noted_as=noted):
            return
        if self.storage.take_lease(RUN_LOOKUP_LEASE, self.owner, RUN_LOOKUP_LEASE_SECONDS):
            try:
                # Asked under the lease: another process may have read them
                # since. The lease is renewed before each (slow) read.
                self.runs.read(
                    self.runs.due(),
                    keep_going=lambda: self.storage.take_lease(
                        RUN_LOOKUP_LEASE, self.owner, RUN_LOOKUP_LEASE_SECONDS
                    ),
                )
            finally:
                self.storage.drop_lease(RUN_LOOKUP_LEASE, self.owner)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._round()
            except Exception:  # keep the thread alive; the next round retries
                log.exception("webhook worker round failed")
            self._wake.wait(self.poll_seconds)
