"""Backfill: past workflow runs and their jobs, read through the GitHub API
and stored exactly as webhook deliveries are (same parsers, same storage
calls), so a team sees analytics on its first day. Running it again
stores nothing twice: runs and jobs are upserts and steps have stable ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from github import Github
from github.PaginatedList import PaginatedList
from github.WorkflowRun import WorkflowRun

from tracker.github.errors import PayloadError
from tracker.github.rules import PhaseRules
from tracker.github.workflows import parse_workflow_job, parse_workflow_run
from tracker.storage import SkillsStorage

from .github_client import listed
from .github_retry import RetryPolicy, call_with_retries


@dataclass
class BackfillSummary:
    """What a backfill read and stored."""

    runs: int = 0
    new_runs: int = 0
    other_workflows: int = 0
    jobs: int = 0
    invocations: int = 0
    #: Why each run or job that could not be stored was skipped.
    refused: list[str] = field(default_factory=list)

    def text(self) -> str:
        text = (
            f"{self.runs} runs read ({self.new_runs} new, "
            f"{self.other_workflows} of other workflows skipped), "
            f"{self.jobs} jobs, {self.invocations} step invocations stored"
        )
        if self.refused:
            text += f"; {len(self.refused)} skipped as malformed (first: {self.refused[0]})"
        return text


class Backfill:
    """Reads ``repository``'s runs created since ``since`` (of ``workflow``
    only, when given: its name or its file name) and stores them.

    :param workflow: a workflow name (``CI``) or file (``ci.yml``).
    """

    def __init__(
        self,
        storage: SkillsStorage,
        gh: Github,
        repository: str,
        rules: PhaseRules,
        *,
        since: datetime,
        workflow: str | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.storage = storage
        self.repo = gh.get_repo(repository)
        self.repository = repository
        self.rules = rules
        self.since = since
        self.workflow = workflow
        self.policy = policy or RetryPolicy()
        self.summary = BackfillSummary()
        self._runs: PaginatedList[WorkflowRun] | None = None

    def runs(self) -> PaginatedList[WorkflowRun]:
        """The runs, newest first, fetched page by page as they are read."""
        if self._runs is None:
            self._runs = self.repo.get_workflow_runs(created=f">={self.since:%Y-%m-%d}")
        return self._runs

    def total(self) -> int:
        """How many runs the API reports (for the progress bar)."""
        runs = self.runs()
        return int(call_with_retries("counting workflow runs", lambda: runs.totalCount, policy=self.policy))

    def _wanted(self, raw: dict[str, Any]) -> bool:
        if not self.workflow:
            return True
        wanted = self.workflow.lower()
        path = str(raw.get("path") or "")
        return str(raw.get("name") or "").lower() == wanted or path.lower().rsplit("/", 1)[-1] == wanted

    def store_run(self, run: WorkflowRun) -> None:
        """Store one run and every job of every attempt of it."""
        raw = listed(run)
        self.summary.runs += 1
        if not self._wanted(raw):
            self.summary.other_workflows += 1
            return
        payload = {"action": "completed", "workflow_run": raw, "repository": {"full_name": self.repository}}
        if isinstance(raw.get("repository"), dict):
            payload["repository"] = {**raw["repository"], "full_name": self.repository}
        try:
            parsed = parse_workflow_run(payload)
        except PayloadError as exc:
            # As a webhook with it would get a 422: skipped, and said.
            self.summary.refused.append(f"run {raw.get('id')}: {exc}")
            return
        if self.storage.github_run(parsed.run_id, parsed.run_attempt) is None:
            self.summary.new_runs += 1
        self.summary.invocations += self.storage.ingest_workflow_run(parsed, rules=self.rules).invocations
        jobs = call_with_retries(
            f"listing the jobs of run {parsed.run_id}",
            lambda: [listed(job) for job in run.jobs(_filter="all")],
            policy=self.policy,
        )
        for data in jobs:
            try:
                job = parse_workflow_job({"workflow_job": data, "repository": {"full_name": self.repository}})
            except PayloadError as exc:
                self.summary.refused.append(f"job {data.get('id')} of run {parsed.run_id}: {exc}")
                continue
            self.summary.jobs += 1
            self.summary.invocations += self.storage.ingest_workflow_job(
                job, data, rules=self.rules
            ).invocations
