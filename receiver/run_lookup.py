"""Runs that no webhook delivered, read from the GitHub API.

A completed job becomes stage invocations once its run's number is known,
and only a ``workflow_run`` delivery tells it. A hook subscribed to
"Workflow jobs" alone never sends one, so its jobs would wait for ever.
After :data:`RUN_LOOKUP_AFTER_SECONDS` the receiver reads such a run from
the API (``GET /repos/{owner}/{repo}/actions/runs/{id}``) and stores it as
the delivery would have: the jobs' steps follow, and a pull request gets
its comment. Without GitHub credentials it names each such run once in the
log, with what to subscribe to.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from tracker.errors import StorageError
from tracker.github.errors import PayloadError
from tracker.github.rules import PhaseRules
from tracker.github.workflows import COMPLETED, STATUS_RANK, parse_workflow_run
from tracker.records import utcnow
from tracker.storage import SkillsStorage
from tracker.storage.github_state import AwaitedRun

from .github_client import GitHubNotConfigured
from .github_retry import GitHubCallFailed
from .pr_comments import PRCommenter

log = logging.getLogger(__name__)

#: How long completed jobs wait for their run's own delivery before the run
#: is read from the API. A hook that sends ``workflow_run`` delivers it
#: within seconds; one that sends only ``workflow_job`` never does.
RUN_LOOKUP_AFTER_SECONDS = 60.0
#: Until a looked-up run completes, it is read again this often; its jobs'
#: steps are stored (and its PR commented on) once it has.
RUN_RECHECK_SECONDS = 60.0
#: After a failed read the next waits twice as long as the last, up to this.
RUN_LOOKUP_MAX_WAIT_SECONDS = 3600.0
#: Runs named in the log without credentials, remembered to say it once.
_TOLD_AT_MOST = 10_000
#: Runs told to wait that the query leaves out (those that wait longest).
_SKIP_AT_MOST = 1000


class RunLookup:
    """Reads awaited runs through ``commenter``'s GitHub clients (``None``:
    no credentials, so it only tells). One per process; what to read again
    when is kept in memory (a restart reads sooner, nothing more)."""

    def __init__(self, storage: SkillsStorage, rules: PhaseRules, commenter: PRCommenter | None) -> None:
        self.storage = storage
        self.rules = rules
        self.commenter = commenter
        self._next: dict[int, tuple[float, int]] = {}  # run id → (monotonic time, failures)
        self._told: set[int] = set()
        self.clock: Callable[[], float] = time.monotonic  # tests move it on

    def look_up(self, *, now: datetime | None = None) -> int:
        """Read and store what :meth:`due` finds; how many runs were stored."""
        return self.read(self.due(now=now))

    def due(self, *, now: datetime | None = None, limit: int = 20) -> list[AwaitedRun]:
        """Up to ``limit`` runs to read now: their completed jobs have waited
        more than :data:`RUN_LOOKUP_AFTER_SECONDS` (from ``now``, naive
        UTC), and no earlier read asked to wait longer. Without credentials
        there is nothing to read: the runs are named in the log instead."""
        now = now or utcnow()
        stored_before = now - timedelta(seconds=RUN_LOOKUP_AFTER_SECONDS)
        if self.commenter is None:
            self._tell(self.storage.runs_awaited(stored_before=stored_before, limit=limit))
            return []
        # Runs told to wait are left out in the query, so that runs GitHub
        # keeps refusing (a deleted run, a repository the credentials cannot
        # see) never hold back the newer ones.
        clock = self.clock()
        if len(self._next) > 2 * _SKIP_AT_MOST:
            # Forget runs that are due: read again, they come back if still awaited.
            self._next = {run_id: entry for run_id, entry in self._next.items() if entry[0] > clock}
        waiting = sorted((when, run_id) for run_id, (when, _) in self._next.items() if when > clock)
        skip = {run_id for _, run_id in waiting[-_SKIP_AT_MOST:]}
        return self.storage.runs_awaited(stored_before=stored_before, limit=limit, skip=skip)

    def read(self, runs: list[AwaitedRun]) -> int:
        """Read ``runs`` and store the completed ones. A run still going is
        read again :data:`RUN_RECHECK_SECONDS` later; a failed read waits
        twice as long as the last. Returns how many runs were stored."""
        stored = 0
        for run in runs:
            failures = self._next.get(run.run_id, (0.0, 0))[1]
            try:
                completed = self._read(run)
            except (GitHubCallFailed, GitHubNotConfigured, PayloadError, StorageError) as exc:
                wait = min(RUN_LOOKUP_AFTER_SECONDS * 2**failures, RUN_LOOKUP_MAX_WAIT_SECONDS)
                self._next[run.run_id] = (self.clock() + wait, failures + 1)
                log.warning(
                    "run %s of %s, which completed jobs (%d) wait for, could not be read "
                    "(next in %.0f s): %s",
                    run.run_id,
                    run.repository,
                    run.jobs,
                    wait,
                    exc,
                )
                continue
            if completed:
                self._next.pop(run.run_id, None)
                stored += 1
            else:
                self._next[run.run_id] = (self.clock() + RUN_RECHECK_SECONDS, 0)
        return stored

    def _read(self, awaited: AwaitedRun) -> bool:
        """Read one run; store it if it has completed (and say whether)."""
        assert self.commenter is not None
        data = self.commenter.fetch_run(
            awaited.repository, awaited.run_id, installation_id=awaited.installation_id
        )
        if STATUS_RANK.get(str(data.get("status"))) != COMPLETED:
            return False
        repository = data.get("repository")
        payload: dict[str, object] = {
            "action": "completed",
            "workflow_run": data,
            "repository": {
                **(repository if isinstance(repository, dict) else {}),
                "full_name": awaited.repository,
            },
        }
        if awaited.installation_id is not None:
            payload["installation"] = {"id": awaited.installation_id}
        run = parse_workflow_run(payload)
        if run.run_id != awaited.run_id:
            raise PayloadError(f"GitHub answered with run {run.run_id} when asked for run {awaited.run_id}")
        done = self.storage.ingest_workflow_run(run, rules=self.rules, comments=True)
        log.info(
            "read run %s of %s from GitHub (no workflow_run delivery): %d jobs' steps stored",
            run.run_id,
            run.repository,
            done.jobs_materialised,
        )
        return True

    def _tell(self, awaited: list[AwaitedRun]) -> None:
        for run in awaited:
            if run.run_id in self._told:
                continue
            if len(self._told) >= _TOLD_AT_MOST:
                self._told.clear()
            self._told.add(run.run_id)
            log.warning(
                "completed jobs (%d) of run %s in %s wait for its workflow_run delivery: subscribe the "
                'webhook to "Workflow runs" too, or set GitHub credentials so that the receiver '
                "reads the run from the API",
                run.jobs,
                run.run_id,
                run.repository,
            )
