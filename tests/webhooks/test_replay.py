"""Processing that fails after the answer is recorded, and replayed from
the stored delivery: ``session-buddy-ci replay-deliveries``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from receiver.cli import main
from receiver.webhook_worker import WebhookWorker
from tests.webhooks.helpers import body, job_payload, post, run_payload
from tracker.errors import StorageError
from tracker.storage import SkillsStorage
from tracker.storage.webhooks import DeliveryStatus

NO_GITHUB = {"SESSION_BUDDY_CI_GITHUB_TOKEN": "", "SESSION_BUDDY_CI_GITHUB_APP_ID": ""}


def _broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("disk on fire")


def test_replay_reprocesses_a_failed_delivery(
    client: FlaskClient,
    worker: WebhookWorker,
    storage: SkillsStorage,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    post(client, "workflow_run", run_payload(), delivery="run-ok")
    post(client, "workflow_job", job_payload(), delivery="job-broken")
    monkeypatch.setattr(SkillsStorage, "ingest_workflow_job", _broken)
    stats = worker.process_pending()
    assert (stats.deliveries.processed, stats.deliveries.failed) == (1, 1)
    failed = storage.delivery("job-broken")
    assert failed is not None
    assert (failed.status, failed.attempts, failed.last_error) == (
        DeliveryStatus.FAILED,
        1,
        "RuntimeError: disk on fire",
    )
    assert storage.count_invocations() == 0
    monkeypatch.undo()

    result = CliRunner().invoke(main, ["--database", str(db_path), "replay-deliveries"], env=NO_GITHUB)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "Requeued 1 failed deliveries; processed 1, failed 0, retry later 0; 12 step invocations stored; "
        "0 PR comments written, 0 failed."
    )
    replayed = storage.delivery("job-broken")
    assert replayed is not None
    assert (replayed.status, replayed.attempts, replayed.last_error) == (DeliveryStatus.PROCESSED, 2, None)
    assert storage.count_invocations() == 12

    again = CliRunner().invoke(main, ["--database", str(db_path), "replay-deliveries"], env=NO_GITHUB)
    assert again.output.startswith("Requeued 0 failed deliveries; processed 0,")
    assert storage.count_invocations() == 12


def test_replay_reports_what_still_fails(storage: SkillsStorage, db_path: Path) -> None:
    payload = job_payload()
    del payload["workflow_job"]["run_id"]  # stored by an older receiver that did not check
    storage.store_delivery(
        delivery_id="old-1",
        event="workflow_job",
        action="completed",
        hook_id=None,
        body=body(payload),
        content_type="application/json",
        status=DeliveryStatus.FAILED,
    )
    result = CliRunner().invoke(
        main, ["--database", str(db_path), "replay-deliveries", "--delivery", "old-1"], env=NO_GITHUB
    )
    assert result.exit_code == 1
    assert "old-1: PayloadError: workflow_job.run_id is missing" in result.output
    stored = storage.delivery("old-1")
    assert stored is not None and stored.status is DeliveryStatus.FAILED


def test_database_trouble_leaves_the_delivery_pending(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(*args: Any, **kwargs: Any) -> Any:
        raise StorageError("database is locked")

    post(client, "workflow_run", run_payload(), delivery="run-busy")
    monkeypatch.setattr(SkillsStorage, "ingest_workflow_run", busy)
    stats = worker.process_pending()
    assert (stats.deliveries.retried, stats.deliveries.failed) == (1, 0)
    pending = storage.delivery("run-busy")
    assert pending is not None and pending.status is DeliveryStatus.PENDING
    assert pending.last_error == "database error: database is locked"
    assert worker.process_pending().deliveries.total == 0  # not taken again before its retry time
    monkeypatch.undo()
    storage.release_delivery("run-busy", error="retry now", retry_in=0.0)
    assert worker.process_pending().deliveries.processed == 1
    assert storage.github_run(2202229078) is not None
