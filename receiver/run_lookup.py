"""Run attempts that no webhook delivered, read from the GitHub API.

A completed job becomes stage invocations once its run's number is known,
and a PR comment is asked for when a run attempt completes; only a
``workflow_run`` delivery tells either. A hook subscribed to "Workflow
jobs" alone never sends one. So each completed job whose run attempt is not
stored notes the attempt as awaited (``github_run_awaited``); a minute
later the receiver reads it (``GET /repos/{o}/{r}/actions/runs/{id}/attempts/{n}``)
and, once it has completed, stores it as a ``workflow_run`` delivery of its
own (``api-run-{id}-{attempt}``), which the usual delivery processing then
applies: the jobs' steps follow, and a pull request gets its comment.

The schedule lives in the database, so every process keeps to it: a run
still going is read again each minute, a failed read waits twice as long
as the last (up to an hour). Without GitHub credentials each awaited run is
named in the log, once a day, with what to subscribe to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from tracker.github.errors import PayloadError
from tracker.github.workflows import COMPLETED, STATUS_RANK, parse_workflow_run
from tracker.records import utcnow
from tracker.storage import SkillsStorage
from tracker.storage.github_state import AwaitedRun
from tracker.storage.webhooks import DeliveryStatus

from .pr_comments import PRCommenter

log = logging.getLogger(__name__)

#: Until a run attempt completes, it is read again this often.
RUN_RECHECK_SECONDS = 60.0
#: A failed read waits this long, twice as long after each further failure,
#: up to :data:`RUN_LOOKUP_MAX_WAIT_SECONDS`.
RUN_RETRY_SECONDS = 60.0
RUN_LOOKUP_MAX_WAIT_SECONDS = 3600.0
#: Without credentials, how often an awaited run is named in the log.
TELL_EVERY_SECONDS = 86_400.0
#: A run attempt not read this long after its first job is given up on
#: (deleted, or out of the credentials' sight): its jobs stay stored...
GIVE_UP_AFTER = timedelta(days=3)
#: ... once that many reads in a row have failed.
GIVE_UP_FAILURES = 5
#: The note on a run named without credentials: once credentials are set,
#: it is read at once, not when the next telling was due.
NO_CREDENTIALS = "no GitHub credentials to read it with"


def delivery_id(run: AwaitedRun) -> str:
    """The id of the delivery a read run attempt is stored as."""
    return f"api-run-{run.run_id}-{run.run_attempt}"


class RunLookup:
    """Reads awaited run attempts through ``commenter``'s GitHub clients
    (``None``: no credentials, so it only tells what to subscribe to)."""

    def __init__(self, storage: SkillsStorage, commenter: PRCommenter | None) -> None:
        self.storage = storage
        self.commenter = commenter

    def due(self, *, now: datetime | None = None, limit: int = 20) -> list[AwaitedRun]:
        """The awaited run attempts to read now (``now``: naive UTC).
        Without credentials there is nothing to read: they are named in
        the log instead."""
        now = now or utcnow()
        if self.commenter is not None:
            return self.storage.runs_due(now, limit=limit, noted_as=NO_CREDENTIALS)
        for run in self.storage.runs_due(now, limit=limit):
            log.warning(
                "completed jobs of run %s (attempt %s) in %s wait for its workflow_run delivery: "
                'subscribe the webhook to "Workflow runs" too, or set GitHub credentials so that '
                "the receiver reads the run from the API",
                run.run_id,
                run.run_attempt,
                run.repository,
            )
            self.storage.reschedule_run(
                run, now + timedelta(seconds=TELL_EVERY_SECONDS), error=NO_CREDENTIALS
            )
        return []

    def read(
        self,
        runs: list[AwaitedRun],
        *,
        now: datetime | None = None,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> int:
        """Read ``runs``; store each completed one as a pending delivery.
        ``keep_going`` runs before each read (the caller renews its lease
        there); false stops the reads. Returns how many were stored."""
        now = now or utcnow()
        stored = 0
        for run in runs:
            if not keep_going():
                break
            try:
                stored += self._read(run, now)
            except Exception as exc:  # whatever went wrong, wait and try again
                error = f"{type(exc).__name__}: {exc}"
                # Old and failing for a while: one bad minute after a long
                # wait (credentials set on day four) is no reason to give up.
                if now - run.since > GIVE_UP_AFTER and run.failures + 1 >= GIVE_UP_FAILURES:
                    log.warning(
                        "gave up reading run %s (attempt %s) of %s, awaited since %s: %s; its jobs stay "
                        "stored without their steps",
                        run.run_id,
                        run.run_attempt,
                        run.repository,
                        f"{run.since:%Y-%m-%d %H:%M} UTC",
                        error,
                    )
                    self.storage.forget_run(run)
                    continue
                failures = run.failures + 1
                wait = min(RUN_RETRY_SECONDS * 2 ** (failures - 1), RUN_LOOKUP_MAX_WAIT_SECONDS)
                log.warning(
                    "run %s (attempt %s) of %s, which completed jobs wait for, could not be read "
                    "(next try in %.0f s): %s",
                    run.run_id,
                    run.run_attempt,
                    run.repository,
                    wait,
                    error,
                )
                self.storage.reschedule_run(
                    run, now + timedelta(seconds=wait), failures=failures, error=error
                )
        return stored

    def _read(self, run: AwaitedRun, now: datetime) -> int:
        assert self.commenter is not None
        data = self.commenter.fetch_run(
            run.repository, run.run_id, run.run_attempt, installation_id=run.installation_id
        )
        # Read again later, whatever happens next: a stored delivery that
        # fails to apply leaves the run awaited, and it is read once more.
        self.storage.reschedule_run(run, now + timedelta(seconds=RUN_RECHECK_SECONDS))
        if STATUS_RANK.get(str(data.get("status"))) != COMPLETED:
            return 0
        repository = data.get("repository")
        payload: dict[str, object] = {
            "action": "completed",
            "workflow_run": data,
            "repository": {
                **(repository if isinstance(repository, dict) else {}),
                "full_name": run.repository,
            },
        }
        if run.installation_id is not None:
            payload["installation"] = {"id": run.installation_id}
        # Checked as a delivery is before it is stored: what would fail to
        # apply is a failed read instead, retried later and later.
        parsed = parse_workflow_run(payload)
        if (parsed.run_id, parsed.run_attempt) != (run.run_id, run.run_attempt):
            raise PayloadError(f"GitHub answered with run {parsed.run_id} attempt {parsed.run_attempt}")
        receipt = self.storage.store_delivery(
            delivery_id=delivery_id(run),
            event="workflow_run",
            action="completed",
            hook_id=None,
            body=json.dumps(payload).encode(),
            content_type="application/json",
            status=DeliveryStatus.PENDING,
        )
        if receipt.requeued:
            # Stored before and failed to apply: queued once more, but
            # counted as a failed read, so that it is not retried each minute.
            raise RuntimeError(f"delivery {delivery_id(run)} failed to apply before; queued again")
        log.info(
            "read run %s (attempt %s) of %s from GitHub, as no workflow_run delivery came: %s",
            run.run_id,
            run.run_attempt,
            run.repository,
            "queued" if receipt.new else "stored before",
        )
        return 1
